"""The engine's step plan against a plain reference computation, batch by batch.

``fit`` runs one ``psinet.engine.step.StepPlan`` per batch size over data arranged once
per epoch. The reference here does what the derivation says with nothing bound or folded: the
epoch's permutation, ``psinet.gradients`` on each batch (a last smaller one
included), then the update — written out by hand for plain SGD, the optimizer's own
``step`` (a separate instance) for the others. Every activation, loss, optimizer and
both dtypes; a second ``fit`` with another batch size continues from the first.
"""

import math

import numpy as np
import pytest

import psinet
from psinet import Network, optimizers
from psinet.activations import ACTIVATIONS
from psinet.training import _epoch_order, accuracy

HIDDEN = [name for name in ACTIVATIONS if name != "softmax"]
LOSSES = {  # loss: output activation
    "mse": "identity",
    "binary_crossentropy": "sigmoid",
    "categorical_crossentropy": "softmax",
}
OPTIMIZERS = {
    "sgd": lambda: optimizers.SGD(0.05),
    "momentum": lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "adagrad": lambda: optimizers.Adagrad(0.05),
    "rmsprop": lambda: optimizers.RMSprop(0.01),
    "adam": lambda: optimizers.Adam(0.01),
    "adamw": lambda: optimizers.AdamW(0.01),
}
N, SEED = 23, 7  # batches of 5 leave a last batch of 3; of 4, a last batch of 3


def _data(loss, n_out, dtype):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, 3)).astype(dtype)
    if loss == "categorical_crossentropy":
        Y = np.eye(n_out, dtype=dtype)[rng.integers(0, n_out, size=N)]
    elif loss == "binary_crossentropy":
        Y = (rng.uniform(size=(N, n_out)) > 0.5).astype(dtype)
    else:
        Y = rng.normal(size=(N, n_out)).astype(dtype)
    return X, Y


def _reference_epoch(net, X, Y, loss, make_optimizer, opt, batch_size, epoch, l2):
    """One epoch, plainly: returns (loss, accuracy or None, last grads, last psi, last X̄_0)."""
    order = _epoch_order(len(X), True, SEED, epoch)
    opt.set_epoch(epoch)
    total, correct, last = 0.0, 0.0, None
    for a in range(0, len(X), batch_size):
        index = order[a : a + batch_size]
        X_b, Y_b = X[index], Y[index]
        grads, E, psi = psinet.gradients(net, X_b, Y_b, loss, l2=l2, return_psi=True)
        if loss != "mse":
            y_hat = net.predict(X_b)
            correct += accuracy(y_hat, Y_b, multilabel=loss == "binary_crossentropy") * len(index)
        if isinstance(opt, optimizers.SGD) and opt.momentum == 0.0:
            for W, g in zip(net.weights, grads):
                W -= opt.current_lr * g  # w ← w − η ∂E/∂W, by hand
        else:
            opt.step(list(net.weights), grads)
        total += E * len(index)
        last = grads, psi, np.hstack([X_b, np.ones((len(index), 1), dtype=X.dtype)])
    return total / len(X), (None if loss == "mse" else correct / len(X)), last


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
@pytest.mark.parametrize("loss", list(LOSSES))
def test_fit_steps_are_the_reference_steps(loss, opt_name, dtype):
    tol = {"rtol": 1e-9, "atol": 1e-12} if dtype == np.float64 else {"rtol": 2e-4, "atol": 1e-6}
    for hidden in HIDDEN:
        n_out = 1 if loss == "binary_crossentropy" and hidden in ("relu", "elu") else 3
        activations = [hidden, LOSSES[loss]]
        net = Network([3, 4, n_out], activations, seed=1, dtype=dtype)
        ref = net.copy()
        X, Y = _data(loss, n_out, dtype)
        opt, ref_opt = OPTIMIZERS[opt_name](), OPTIMIZERS[opt_name]()
        l2 = 0.01 if opt_name == "adam" else 0.0
        # two epochs of 5 (last batch 3), then one of 4 (last batch 3): a batch-size change
        for epochs, batch_size in ((2, 5), (3, 4)):
            history = net.fit(
                X,
                Y,
                loss=loss,
                optimizer=opt,
                epochs=epochs,
                batch_size=batch_size,
                seed=SEED,
                l2=l2,
                verbose=0,
                initial_epoch=epochs - (2 if batch_size == 5 else 1),
            )
            for i, epoch in enumerate(history.epoch):
                E, acc, last = _reference_epoch(
                    ref, X, Y, loss, None, ref_opt, batch_size, epoch - 1, l2
                )
                where = f"{hidden}, epoch {epoch}, batch {batch_size}"
                assert math.isclose(history["loss"][i], E, rel_tol=tol["rtol"] * 10), where
                if acc is not None:
                    assert abs(history["accuracy"][i] - acc) <= 1e-12, where
            for W, W_ref in zip(net.weights, ref.weights):
                np.testing.assert_allclose(W, W_ref, **tol, err_msg=where)
            grads, psi, X_bar_0 = last
            norms = [np.linalg.norm(g) for g in grads]
            np.testing.assert_allclose(history.records[-1]["grad_norms"], norms, rtol=1e-3)
            cache = net.cache  # the last batch's X̄_0 and Ψ = ∂E/∂z (not η·Ψ)
            assert cache.X_bar[0].flags.owndata  # its own buffer, not a view of fit's data
            np.testing.assert_array_equal(cache.X_bar[0], X_bar_0)
            for p, p_ref in zip(cache.psi, psi):
                np.testing.assert_allclose(p, p_ref, rtol=1e-3, atol=1e-6, err_msg=where)
            assert all(W.dtype == dtype for W in net.weights)


def test_sample_weights_follow_the_epochs_order():
    X, Y = _data("categorical_crossentropy", 3, np.float64)
    s = np.random.default_rng(3).uniform(0.5, 2.0, size=N)
    net = Network([3, 4, 3], ["tanh", "softmax"], seed=1)
    ref = net.copy()
    history = net.fit(
        X, Y, loss="categorical_crossentropy", optimizer=optimizers.SGD(0.1), epochs=1,
        batch_size=5, seed=SEED, sample_weight=s, verbose=0,
    )  # fmt: skip
    r = s * N / s.sum()
    order = _epoch_order(N, True, SEED, 0)
    total, correct = 0.0, 0.0
    for a in range(0, N, 5):
        index = order[a : a + 5]
        r_b = r[index]
        y_hat = ref.predict(X[index])
        correct += float(np.dot(r_b, y_hat.argmax(1) == Y[index].argmax(1)))
        grads, E = psinet.gradients(
            ref, X[index], Y[index], "categorical_crossentropy", sample_weight=r_b
        )
        c = r_b.sum() / len(index)  # a batch minimises (1/B) Σ r_n ℓ_n = c · Σ r_n ℓ_n / Σ r_n
        total += c * E * len(index)
        for W, g in zip(ref.weights, grads):
            W -= 0.1 * (c * g)
    assert math.isclose(history["loss"][0], total / N, rel_tol=1e-12)
    assert math.isclose(history["accuracy"][0], correct / N, rel_tol=1e-12)
    for W, W_ref in zip(net.weights, ref.weights):
        np.testing.assert_allclose(W, W_ref, rtol=1e-10, atol=1e-13)


def test_reruns_are_bit_identical_and_fit_keeps_no_view_of_its_data():
    X, Y = _data("binary_crossentropy", 2, np.float32)
    runs = []
    for _ in range(2):
        net = Network([3, 5, 2], ["relu", "sigmoid"], seed=4, dtype=np.float32)
        net.fit(X, Y, loss="binary_crossentropy", optimizer="adam", epochs=3, batch_size=6,
                seed=1, verbose=0)  # fmt: skip
        runs.append([W.copy() for W in net.weights])
        for a in (*net.cache.X_bar, *net.cache.z, *net.cache.psi):
            assert a.base is None or a.base.size <= 6 * 6  # no view into a copy of all the data
    for W_a, W_b in zip(*runs):
        np.testing.assert_array_equal(W_a, W_b)


def test_a_wide_float32_layer_computed_transposed_is_the_same_step():
    """z_0 of a 2048-wide float32 input layer is computed as W X̄ᵀ; nothing else changes."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(40, 2048)).astype(np.float32)
    Y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, size=40)]
    net = Network([2048, 64, 3], ["relu", "softmax"], seed=2, dtype=np.float32)
    ref = net.copy()
    history = net.fit(X, Y, loss="categorical_crossentropy", optimizer=optimizers.SGD(0.05),
                      epochs=1, batch_size=16, seed=SEED, verbose=0)  # fmt: skip
    cache = net.cache
    assert not cache.z[0].flags.c_contiguous  # the wide layer's z_0 is z_0ᵀ's view, and so
    assert not cache.z[1].flags.c_contiguous and cache.z[1].flags.f_contiguous  # the softmax's
    assert cache.z[0].shape == (8, 64) and cache.z[0].dtype == np.float32  # last batch: 8
    E, _, _ = _reference_epoch(
        ref, X, Y, "categorical_crossentropy", None, optimizers.SGD(0.05), 16, 0, 0.0
    )
    assert math.isclose(history["loss"][0], E, rel_tol=1e-5)
    for W, W_ref in zip(net.weights, ref.weights):
        np.testing.assert_allclose(W, W_ref, rtol=1e-4, atol=1e-6)
    y = net.forward(X[:8])  # forward (transposed z_0) and predict (row-major) agree
    np.testing.assert_allclose(y, net.predict(X[:8]), rtol=1e-5, atol=1e-7)
    X_bar = np.hstack([X[:8], np.ones((8, 1), np.float32)])
    np.testing.assert_allclose(net.cache.z[0], X_bar @ net.weights[0].T, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "a, expected",
    [
        (np.full((2, 2), 1e200), 2e200),  # squares beyond float64: the scaled path
        (np.full((2, 2), 1e-200), 2e-200),  # squares below float64's range
        (np.full(4, 1e20, np.float32), 2e20),  # squares beyond float32, summed in float64
        (np.arange(6.0).reshape(2, 3).T, math.sqrt(55.0)),  # not contiguous
        (np.zeros((2, 3), np.float32), 0.0),
    ],
)
def test_gradient_norms_are_exact_at_any_magnitude(a, expected):
    from psinet.backprop import _frobenius_norm

    assert math.isclose(_frobenius_norm(a), expected, rel_tol=1e-6)
    assert math.isnan(_frobenius_norm(np.array([1.0, np.nan])))
    assert _frobenius_norm(np.array([np.inf, 1.0], np.float32)) == math.inf


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_sigmoid_start_writes_y_hat_and_takes_soft_targets(dtype):
    """σ + binary cross-entropy: the step's start computes σ(z) itself (from 2Y − 1), the
    forward pass skips the output activation, and ŷ is in the cache when fit returns."""
    from psinet.engine.step import StepPlan
    from psinet.training import train_step

    rng = np.random.default_rng(2)
    X = rng.normal(size=(N, 3)).astype(dtype)
    Y = rng.uniform(size=(N, 2)).astype(dtype)  # soft targets: 2Y − 1 is not just ±1
    net = Network([3, 4, 2], ["tanh", "sigmoid"], seed=1, dtype=dtype)
    ref = net.copy()
    loss = psinet.losses.get("binary_crossentropy")
    grads = [np.empty_like(W) for W in net.weights]
    assert StepPlan(net, 5, loss, optimizers.SGD(0.1), grads, 0.0, None).sigmoid_start
    assert not StepPlan(net, 5, loss, optimizers.SGD(0.1), grads, 0.0, None, True).sigmoid_start
    history = net.fit(X, Y, loss=loss, optimizer=optimizers.SGD(0.1), epochs=2,
                      batch_size=5, seed=SEED, verbose=0)  # fmt: skip
    tol = {"rtol": 1e-10, "atol": 1e-13} if dtype == np.float64 else {"rtol": 1e-4, "atol": 1e-6}
    for epoch in range(2):
        E, _, (_, psi, X_bar_0) = _reference_epoch(
            ref, X, Y, "binary_crossentropy", None, optimizers.SGD(0.1), 5, epoch, 0.0
        )
        assert math.isclose(history["loss"][epoch], E, rel_tol=tol["rtol"] * 10)
    for W, W_ref in zip(net.weights, ref.weights):
        np.testing.assert_allclose(W, W_ref, **tol)
    cache = net.cache  # the last batch (3 samples): ŷ = σ(z_{L-1}), Ψ = ∂E/∂z
    assert cache.y_hat.shape == (3, 2)
    Y_last = Y[_epoch_order(N, True, SEED, 1)[-3:]]
    np.testing.assert_array_equal(cache.X_bar[0][:, :-1], X_bar_0[:, :-1])
    np.testing.assert_allclose(cache.y_hat, 3 * psi[-1] + Y_last, **tol)  # Ψ = (ŷ − Y)/3
    np.testing.assert_allclose(cache.psi[-1], psi[-1], rtol=1e-3, atol=1e-6)
    # train_step (the textbook): the same E, ŷ = σ(z) in its cache
    before = float(loss.value(net.predict(X[:4]), Y[:4]))
    E = train_step(net, X[:4], Y[:4], loss, optimizers.SGD(0.1))
    assert math.isclose(E, before, rel_tol=tol["rtol"] * 10)
    np.testing.assert_allclose(net.cache.y_hat, 0.5 + 0.5 * np.tanh(net.cache.z[-1] / 2), **tol)
