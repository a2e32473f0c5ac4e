"""The deferred update of a wide first layer against the same fit without it.

With plain SGD on a wide first layer and a small batch, ``fit`` holds back ``W_0``'s
rank-B updates for a few steps and applies them in one pass, correcting the forward
product exactly for what is pending (``deferred.PendingFirstLayer``). Everything a user
can see must be what the per-step update gives, to rounding: the weights after every
epoch, after Ctrl-C and after a DivergenceError, the History (loss, accuracy,
grad_norms), the cache. The rule's thresholds are lowered here so that small networks
defer; the reference is the same fit with deferral switched off.
"""

import os
import signal

import numpy as np
import pytest

import psinet
from psinet import Network, optimizers, schedules
from psinet.engine import deferred
from psinet.engine.run import Engine
from psinet.training import DivergenceError

N_IN, N_HIDDEN, N_OUT = 300, 40, 5  # n_0 >= 256: an unshuffled fit copies batch by batch
N, B = 103, 8  # 12 batches of 8 and a last one of 7
TOL = {np.float64: {"rtol": 1e-10, "atol": 1e-13}, np.float32: {"rtol": 2e-4, "atol": 1e-6}}


def _data(dtype, n=N, n_in=N_IN, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in)).astype(dtype)
    Y = np.eye(N_OUT, dtype=dtype)[rng.integers(0, N_OUT, size=n)]
    return X, Y


def _fit(net, X, Y, **kwargs):
    settings = dict(
        loss="categorical_crossentropy",
        optimizer=optimizers.SGD(0.05),
        epochs=3,
        batch_size=B,
        seed=3,
        verbose=0,
    )
    settings.update(kwargs)
    return net.fit(X, Y, **settings)


def _net(dtype, n_in=N_IN, hidden="relu"):
    return Network([n_in, N_HIDDEN, N_OUT], [hidden, "softmax"], seed=1, dtype=dtype)


def _assert_same_weights(net, ref, dtype):
    for W, W_ref in zip(net.weights, ref.weights):
        np.testing.assert_allclose(W, W_ref, **TOL[dtype])


@pytest.mark.parametrize("n", [N, 96], ids=["last-batch-7", "no-smaller-batch"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shuffle", [True, False], ids=["shuffled", "unshuffled"])
def test_fit_with_deferral_is_fit_without_it(deferring, shuffle, dtype, n):
    """Several epochs, with a last smaller batch or with steps still pending at the end
    of each epoch, then a second fit with another batch size; shuffled (the pending rows
    are views of the epoch's data) and unshuffled wide inputs (copied batch by batch
    into the pending rows)."""
    X, Y = _data(dtype, n=n)
    net, ref = _net(dtype), _net(dtype)
    seen, seen_ref = [], []

    def callback(network, store):  # what a callback sees: the weights after the epoch
        return lambda record: store.append([W.copy() for W in network.weights])

    opt, ref_opt = optimizers.SGD(0.05), optimizers.SGD(0.05)
    history = _fit(net, X, Y, shuffle=shuffle, optimizer=opt, callbacks=[callback(net, seen)])
    assert len(deferring.count) > 20  # most of the 36 or 39 steps were deferred
    deferring.off()
    reference = _fit(
        ref, X, Y, shuffle=shuffle, optimizer=ref_opt, callbacks=[callback(ref, seen_ref)]
    )
    _assert_same_weights(net, ref, dtype)
    for after, after_ref in zip(seen, seen_ref, strict=True):
        for W, W_ref in zip(after, after_ref):
            np.testing.assert_allclose(W, W_ref, **TOL[dtype])
    rtol = TOL[dtype]["rtol"]
    np.testing.assert_allclose(history["loss"], reference["loss"], rtol=rtol)
    np.testing.assert_allclose(history["accuracy"], reference["accuracy"], atol=1e-12)
    for record, record_ref in zip(history.records, reference.records, strict=True):
        np.testing.assert_allclose(record["grad_norms"], record_ref["grad_norms"], rtol=rtol)
    cache, cache_ref = net.cache, ref.cache  # the last batch's X̄_0, z_0 and Ψ
    assert cache.n_samples == (n % B or B) and cache.X_bar[0].flags.owndata
    np.testing.assert_array_equal(cache.X_bar[0], cache_ref.X_bar[0])
    for a, a_ref in zip([*cache.z, *cache.psi], [*cache_ref.z, *cache_ref.psi]):
        np.testing.assert_allclose(a, a_ref, rtol=rtol, atol=TOL[dtype]["atol"])

    # a batch-size change: a second fit of each continues with batches of 16 (last of 7)
    deferring.on()
    before = len(deferring.count)
    _fit(net, X, Y, shuffle=shuffle, optimizer=opt, batch_size=16, epochs=5, initial_epoch=3)
    assert len(deferring.count) > before
    deferring.off()
    _fit(ref, X, Y, shuffle=shuffle, optimizer=ref_opt, batch_size=16, epochs=5, initial_epoch=3)
    _assert_same_weights(net, ref, dtype)
    # after fit, the network's forward product is the plain one again
    net.weights = ref.weights
    for rows in (B, 16, N % B):
        np.testing.assert_array_equal(net.forward(X[:rows]), ref.forward(X[:rows]))


def test_sample_weights_and_one_batch_larger_than_the_data(deferring):
    X, Y = _data(np.float64)
    r = np.random.default_rng(5).uniform(0.5, 2.0, size=N)
    net, ref = _net(np.float64), _net(np.float64)
    _fit(net, X, Y, sample_weight=r)
    _fit(net, X[:5], Y[:5], epochs=5, initial_epoch=3)  # one batch of 5 < batch_size
    deferring.off()
    _fit(ref, X, Y, sample_weight=r)
    _fit(ref, X[:5], Y[:5], epochs=5, initial_epoch=3)
    _assert_same_weights(net, ref, np.float64)


def test_reruns_with_deferral_are_bit_identical(deferring):
    X, Y = _data(np.float64)
    nets = [_net(np.float64), _net(np.float64)]
    for net in nets:
        _fit(net, X, Y)
    for W, W_again in zip(*(net.weights for net in nets)):
        np.testing.assert_array_equal(W, W_again)


def _before_step(monkeypatch, at, action):
    """Run ``action(engine, i)`` just before fit's step number ``at`` (1-based, over the
    whole fit): with or without deferral, the same step. (A custom activation would
    switch deferral off: no code of the user's runs while W_0 is behind.)"""
    step, calls = Engine.step, []

    def patched(self, i):
        calls.append(i)
        if len(calls) == at:
            action(self, i)
        return step(self, i)

    monkeypatch.setattr(Engine, "step", patched)


def _press_ctrl_c(presses):
    def press(engine, i):
        for _ in range(presses):
            os.kill(os.getpid(), signal.SIGINT)  # delivered before kill returns

    return press


def _overflow(engine, i):
    a = engine.batches[i][0]
    engine.data.X_bar[a, 0] = np.inf  # the first row of this step's X̄_0, in the epoch's data


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_mid_epoch_leaves_the_weights_of_the_steps_taken(deferring, presses, monkeypatch):
    """Ctrl-C in step 17 (epoch 2, step 4, three steps pending): fit stops after that step
    (or a second Ctrl-C raises KeyboardInterrupt after it), and the weights are those of
    the 17 steps, the pending ones applied."""
    X, Y = _data(np.float64)
    results = []
    for defer in (True, False):
        (deferring.on if defer else deferring.off)()
        _before_step(monkeypatch, 17, _press_ctrl_c(presses))
        net = _net(np.float64)
        if presses == 1:
            history = _fit(net, X, Y, shuffle=False)
            assert history.stopped == "interrupted"
            assert history.partial["epoch"] == 2 and history.partial["steps"] == 4
            results.append((net, history.partial["grad_norms"]))
        else:
            with pytest.raises(KeyboardInterrupt):
                _fit(net, X, Y, shuffle=False)
            results.append((net, None))
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        if defer:
            assert len(deferring.count) >= 10
    (net, norms), (ref, norms_ref) = results
    _assert_same_weights(net, ref, np.float64)
    if norms is not None:  # the last step's gradient norms, layer 0's included
        np.testing.assert_allclose(norms, norms_ref, rtol=1e-10)


def test_divergence_applies_the_pending_steps_and_not_the_bad_one(deferring, monkeypatch):
    X, Y = _data(np.float64)
    nets = []
    for defer in (True, False):
        (deferring.on if defer else deferring.off)()
        _before_step(monkeypatch, 17, _overflow)  # epoch 2, step 4: 2 steps pending
        net = _net(np.float64)
        with pytest.raises(DivergenceError, match="epoch 2, step 4 of 13"):
            _fit(net, X, Y)
        if defer:
            assert len(deferring.count) >= 10
        assert all(np.isfinite(W).all() for W in net.weights)
        nets.append(net)
    _assert_same_weights(*nets, np.float64)


def test_the_rule_defers_only_where_it_pays():
    """Plain SGD, no L2, a first layer of at least 4 MiB and n_1 > c·B²: the
    large workload of benchmarks/bench_step.py defers, medium (batch 128) does not."""

    def defers(sizes, B, dtype=np.float64, optimizer=None, l2=0.0):
        net = Network(sizes, "relu", seed=0, dtype=dtype)
        grads = [np.empty_like(W) for W in net.weights]
        opt = optimizers.SGD(0.01) if optimizer is None else optimizer
        pending = deferred.PendingFirstLayer.if_it_pays(
            net, psinet.losses.get("mse"), grads, opt, l2, B, own_rows=True
        )
        return pending is not None

    assert defers([6565, 256, 18], 32)
    assert defers([6565, 256, 18], 32, dtype=np.float32)
    assert not defers([784, 256, 256, 10], 128)
    assert not defers([6565, 256, 18], 64)  # n_1 = 256 < c·B²
    assert not defers([1000, 400, 10], 8)  # a first layer of 3.2 MB: in the CPU caches
    assert not defers([6565, 256, 18], 32, l2=1e-4)
    assert not defers([6565, 256, 18], 32, optimizer=optimizers.SGD(0.01, momentum=0.9))
    assert not defers([6565, 256, 18], 32, optimizer=optimizers.Adam())
    assert not defers([6565, 256, 18], 32, optimizer=optimizers.SGD(0.0))  # η not folded


def test_momentum_or_l2_do_not_defer(deferring):
    X, Y = _data(np.float64)
    _fit(_net(np.float64), X, Y, optimizer=optimizers.SGD(0.05, momentum=0.5))
    _fit(_net(np.float64), X, Y, l2=1e-3)
    assert deferring.count == []


def test_an_epoch_whose_rate_is_not_folded_and_a_single_layer(deferring):
    """η = 5e-11 in epoch 3 is not folded into Ψ (the ordinary update runs, every step
    computing ∂E/∂W_0 itself); one weight layer, the output layer, defers too."""
    X, Y = _data(np.float64)
    rate = schedules.StepDecay(0.05, drop=1e-9, every=2)
    for sizes, activation in (
        ([N_IN, N_HIDDEN, N_OUT], ["relu", "softmax"]),
        ([N_IN, N_OUT], "softmax"),
    ):
        nets = []
        for defer in (True, False):
            (deferring.on if defer else deferring.off)()
            net = Network(sizes, activation, seed=1)
            _fit(net, X, Y, optimizer=optimizers.SGD(rate), epochs=4)
            nets.append(net)
        _assert_same_weights(*nets, np.float64)
    assert len(deferring.count) > 20
