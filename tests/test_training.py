"""fit, evaluate, accuracy, callbacks, interrupts, divergence, reproducibility."""

import io
import os
import re
import signal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from psinet import Network, activations, datasets, gradients, losses, optimizers, schedules
from psinet import preprocessing as pp
from psinet.io import load_with_optimizer
from psinet.training import (
    Callback,
    DivergenceError,
    EarlyStopping,
    StopTraining,
    accuracy,
    train_step,
)


def _regression(seed=0, n=64):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    Y = X @ [[1.0], [-2.0], [0.5]] + 0.3 + 0.1 * rng.normal(size=(n, 1))
    return X, Y


def test_linear_network_converges_to_least_squares():
    """One identity layer, mse, full-batch gradient descent: the lstsq solution."""
    X, Y = _regression()
    net = Network([3, 1], "identity", seed=0)
    net.fit(
        X,
        Y,
        loss="mse",
        optimizer=optimizers.SGD(0.5),
        epochs=2000,
        batch_size=len(X),
        shuffle=False,
        verbose=0,
    )
    A = np.hstack([X, np.ones((len(X), 1))])  # the bias column is the intercept
    solution, *_ = np.linalg.lstsq(A, Y[:, 0], rcond=None)
    np.testing.assert_allclose(net.weights[0][0], solution, atol=1e-6)


def test_xor_reaches_full_accuracy():
    X, y = datasets.xor()
    net = Network([2, 2, 1], "sigmoid", seed=1)
    history = net.fit(
        X,
        y,
        loss="binary_crossentropy",
        optimizer=optimizers.SGD(2.0, momentum=0.9),
        epochs=1000,
        batch_size=4,
        seed=1,
        verbose=0,
    )
    assert history.history["accuracy"][-1] == 1.0
    assert net.evaluate(X, y, "binary_crossentropy")["accuracy"] == 1.0
    np.testing.assert_array_equal(net.predict(X)[:, 0] > 0.5, y == 1)


def test_digits_reaches_95_percent_test_accuracy():
    X, y = datasets.load_digits()
    X_train, X_test, y_train, y_test = pp.train_test_split(
        X, y, test_size=0.25, seed=0, stratify=True
    )
    X_train, X_test = pp.standardize(X_train, X_test)
    net = Network([64, 128, 10], ["relu", "softmax"], seed=0)
    net.fit(
        X_train,
        pp.one_hot(y_train, 10),
        loss="categorical_crossentropy",
        optimizer=optimizers.Adam(1e-3),
        epochs=60,
        batch_size=32,
        seed=0,
        l2=1e-4,
        verbose=0,
    )
    scores = net.evaluate(X_test, pp.one_hot(y_test, 10), "categorical_crossentropy")
    assert scores["accuracy"] >= 0.95


def test_same_seeds_give_bit_identical_weights():
    X, Y = _regression(1)
    runs = []
    for _ in range(2):
        net = Network([3, 5, 1], ["tanh", "identity"], seed=3)
        net.fit(
            X,
            Y,
            loss="mse",
            optimizer=optimizers.Adam(0.01),
            epochs=5,
            batch_size=10,
            seed=7,
            verbose=0,
        )
        runs.append([W.tobytes() for W in net.weights])
    assert runs[0] == runs[1]
    net = Network([3, 5, 1], ["tanh", "identity"], seed=3)
    net.fit(
        X,
        Y,
        loss="mse",
        optimizer=optimizers.Adam(0.01),
        epochs=5,
        batch_size=10,
        seed=8,
        verbose=0,
    )
    assert [W.tobytes() for W in net.weights] != runs[0]


def test_last_smaller_batch_is_used_and_matches_manual_steps():
    X, Y = _regression(2, n=10)
    net = Network([3, 4, 1], ["tanh", "identity"], seed=0)
    twin = net.copy()
    opt = optimizers.SGD(0.1)
    net.fit(X, Y, loss="mse", optimizer=opt, epochs=1, batch_size=4, shuffle=False, verbose=0)
    assert opt.t == 3  # 4 + 4 + 2 samples
    # The same three steps by hand: fresh gradients, then w ← w − η·g. fit folds η into
    # Ψ_{L-1} instead (η·(Ψᵀ X̄) vs (ηΨ)ᵀ X̄), so the numbers agree to rounding.
    manual = optimizers.SGD(0.1)
    for batch in (slice(0, 4), slice(4, 8), slice(8, 10)):
        grads, _ = gradients(twin, X[batch], Y[batch], "mse")
        manual.step(twin.weights, grads)
    for a, b in zip(net.weights, twin.weights):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


def test_history_records_loss_accuracy_and_validation():
    X, y = datasets.moons(200, noise=0.1, seed=0)
    net = Network([2, 8, 1], ["tanh", "sigmoid"], seed=0)
    history = net.fit(
        X,
        y,
        loss="binary_crossentropy",
        optimizer="adam",
        epochs=3,
        batch_size=16,
        validation_split=0.25,
        seed=0,
        verbose=0,
    )
    assert history.epoch == [1, 2, 3]
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert all(len(v) == 3 for v in history.history.values())
    assert len(history.records[0]["grad_norms"]) == 2
    held_out = np.sort(pp._stratified_test_indices(y, 50, np.random.default_rng(0)))
    val = net.evaluate(X[held_out], y[held_out], "binary_crossentropy")
    assert history.history["val_loss"][-1] == pytest.approx(val["loss"], rel=1e-12)


def test_early_stopping_restores_the_best_weights():
    X, Y = _regression(3)
    net = Network([3, 16, 1], ["tanh", "identity"], seed=0)
    seen = []

    class Spy(Callback):
        def on_epoch_end(self, record):
            seen.append([W.copy() for W in net.weights])

    stopper = EarlyStopping(monitor="val_loss", patience=3, restore_best=True)
    # A learning rate this large makes the validation loss bounce: no steady progress.
    history = net.fit(
        X,
        Y,
        loss="mse",
        optimizer=optimizers.SGD(0.3, momentum=0.9),
        epochs=200,
        batch_size=8,
        seed=0,
        validation_split=0.25,
        callbacks=[Spy(), stopper],
        verbose=0,
    )
    assert history.stopped == "early_stopping" and len(history) < 200
    best = int(np.argmin(history.history["val_loss"]))
    assert stopper.best_epoch == best + 1 and len(history) == best + 1 + 3
    for W, W_best in zip(net.weights, seen[best]):
        np.testing.assert_array_equal(W, W_best)


def test_a_callback_can_stop_training():
    X, Y = _regression(4)
    net = Network([3, 1], "identity", seed=0)
    history = net.fit(
        X, Y, loss="mse", epochs=50, verbose=0, callbacks=[lambda record: record["epoch"] == 5]
    )
    assert len(history) == 5 and history.stopped == "callback"

    def raises(record):
        raise StopTraining

    history = net.fit(X, Y, loss="mse", epochs=50, verbose=0, callbacks=[raises])
    assert len(history) == 1 and history.stopped == "callback"


def test_interrupt_stops_after_the_current_step_and_keeps_the_weights():
    X, Y = _regression(5)
    net = Network([3, 4, 1], ["tanh", "identity"], seed=0)
    twin = net.copy()

    class InterruptingSGD(optimizers.SGD):
        def step(self, weights, grads, **kwargs):
            if self.t == 6:  # Ctrl-C arrives in the middle of the 7th step
                signal.raise_signal(signal.SIGINT)
            super().step(weights, grads, **kwargs)

    history = net.fit(
        X,
        Y,
        loss="mse",
        optimizer=InterruptingSGD(0.05),
        epochs=10,
        batch_size=16,
        shuffle=False,
        verbose=0,
    )
    assert history.stopped == "interrupted"
    assert len(history) == 1  # epoch 1 (4 steps) complete; epoch 2 cut after 3 steps
    assert history.partial["epoch"] == 2 and history.partial["steps"] == 3
    twin.fit(
        X,
        Y,
        loss="mse",
        optimizer=optimizers.SGD(0.05),
        epochs=1,
        batch_size=16,
        shuffle=False,
        verbose=0,
    )
    twin_opt = optimizers.SGD(0.05)
    for batch in (slice(0, 16), slice(16, 32), slice(32, 48)):
        grads, _ = gradients(twin, X[batch], Y[batch], "mse")
        twin_opt.step(twin.weights, grads)
    for a, b in zip(net.weights, twin.weights):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_divergence_stops_with_a_clear_error_and_finite_weights():
    X, Y = _regression(6)
    Y = Y * 1e3
    net = Network([3, 8, 1], ["relu", "identity"], seed=0)
    with pytest.raises(
        DivergenceError, match=r"diverged at epoch \d+, step \d+.*smaller learning rate"
    ):
        net.fit(
            X, Y, loss="mse", optimizer=optimizers.SGD(10.0), epochs=100, batch_size=8, verbose=0
        )
    assert all(np.isfinite(W).all() for W in net.weights)


def test_train_step_does_not_update_on_a_non_finite_loss():
    net = Network([2, 1], "identity", seed=0)
    net.weights[0] = [[1e200, 1e200, 0.0]]
    before = [W.copy() for W in net.weights]
    X, Y = np.array([[1e200, 1e200]]), np.array([[0.0]])
    from psinet.losses import get

    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(DivergenceError):
            train_step(net, X, Y, get("mse"), optimizers.SGD(0.1))
    for a, b in zip(before, net.weights):
        np.testing.assert_array_equal(a, b)


class _FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_plain_lines_in_a_log_and_in_place_on_a_terminal():
    X, Y = _regression(7)
    log = io.StringIO()
    Network([3, 1], "identity", seed=0).fit(
        X, Y, loss="mse", epochs=3, verbose=1, file=log, validation_split=0.25
    )
    lines = log.getvalue().splitlines()
    assert len(lines) == 3 and lines[0].startswith("epoch 1/3")
    assert "val_loss" in lines[0] and "ETA" in lines[0]
    assert "\r" not in log.getvalue() and "\x1b" not in log.getvalue()
    tty = _FakeTerminal()
    Network([3, 1], "identity", seed=0).fit(X, Y, loss="mse", epochs=2, verbose=1, file=tty)
    assert "\r" in tty.getvalue()
    quiet = io.StringIO()
    Network([3, 1], "identity", seed=0).fit(X, Y, loss="mse", epochs=2, verbose=0, file=quiet)
    assert quiet.getvalue() == ""


def test_bad_fit_arguments_are_refused_before_training():
    X, Y = _regression(8)
    net = Network([3, 1], "identity", seed=0)
    before = net.weights[0].copy()
    for kwargs, error, message in [
        ({"epochs": -1}, ValueError, "epochs must be >= 0"),
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
        ({"batch_size": 2.5}, TypeError, "batch_size must be an int"),
        ({"optimizer": "adamm"}, ValueError, "optimizer must be an Optimizer or one of"),
        ({"validation_split": 1.5}, ValueError, r"validation_split must be a float in \[0, 1\)"),
        ({"validation_split": 0.2, "validation_data": (X, Y)}, ValueError, "not both"),
        ({"validation_data": (X[:, :2], Y)}, ValueError, r"X_val must have shape \(N, 3\)"),
        ({"l2": -0.1}, ValueError, "l2 must be"),
    ]:
        with pytest.raises(error, match=message):
            net.fit(X, Y, loss="mse", verbose=0, **kwargs)
    with pytest.raises(ValueError, match="EarlyStopping monitors 'val_loss'"):
        net.fit(X, Y, loss="mse", verbose=0, callbacks=[EarlyStopping()])
    np.testing.assert_array_equal(net.weights[0][:, :], net.weights[0])
    assert before.shape == net.weights[0].shape


def test_accuracy_helper():
    y_hat = np.array([[0.1, 0.7, 0.2], [0.8, 0.1, 0.1], [0.3, 0.3, 0.4]])
    assert accuracy(y_hat, np.array([1, 0, 0])) == pytest.approx(2 / 3)
    assert accuracy(y_hat, np.eye(3)[[1, 0, 2]]) == 1.0
    assert accuracy(np.array([[0.2], [0.9]]), np.array([0, 1])) == 1.0
    assert accuracy(np.array([[0.2, 0.6]]), np.array([[0.0, 0.0]]), multilabel=True) == 0.5
    with pytest.raises(ValueError, match="Y must have shape"):
        accuracy(y_hat, np.zeros((3, 2)))


# --- divergence: no step is ever applied whose result is not finite -----------------


def _snapshot(net, opt):
    state = opt.state_dict()
    return (
        [W.copy() for W in net.weights],
        state["t"],
        {k: [a.copy() for a in v] for k, v in state["state"].items()},
    )


def _assert_unchanged(net, opt, snapshot):
    weights, t, state = snapshot
    for W, before in zip(net.weights, weights):
        np.testing.assert_array_equal(W, before)
        assert np.isfinite(W).all()
    now = opt.state_dict()
    assert now["t"] == t
    for key, arrays in state.items():
        for a, b in zip(now["state"][key], arrays):
            np.testing.assert_array_equal(a, b)


def test_momentum_update_that_overflows_is_refused():
    """The issue's case: fit returned normally with W = [[inf, inf]]."""
    net = Network([1, 1], "identity", seed=0)
    opt = optimizers.SGD(1e300, momentum=0.5)
    before = _snapshot(net, opt)
    with pytest.raises(
        DivergenceError, match=r"epoch 1, step 1 of 1: .*overflowed.*keeps its last"
    ):
        net.fit(np.array([[1.0]]), np.array([[1e10]]), loss="mse", optimizer=opt, verbose=0)
    _assert_unchanged(net, opt, before)


def test_adam_state_that_overflows_in_float32_is_refused():
    """Finite loss and gradient, but g² overflows float32 in Adam's v."""
    net = Network([1, 1], "sigmoid", seed=0, dtype=np.float32)
    opt = optimizers.Adam()
    before = _snapshot(net, opt)
    with pytest.raises(DivergenceError, match="epoch 1, step 1"):
        net.fit(
            np.array([[1e21]]),
            np.array([[0.0]]),
            loss="binary_crossentropy",
            optimizer=opt,
            epochs=3,
            verbose=0,
        )
    _assert_unchanged(net, opt, before)


def test_gradient_product_that_overflows_is_refused_though_loss_and_psi_are_finite():
    """E and Ψ finite, the bias gradient finite, but Ψᵀ X̄ overflows float32."""
    net = Network([1, 1], "sigmoid", seed=0, dtype=np.float32)
    opt = optimizers.SGD(1e8)  # η folded into Ψ: η·Ψ = 1e8, times X = 3e38
    before = _snapshot(net, opt)
    with pytest.raises(DivergenceError, match=r"gradient of weights\[0\] is not finite"):
        net.fit(
            np.array([[3e38]]),
            np.array([[0.0]]),
            loss="binary_crossentropy",
            optimizer=opt,
            verbose=0,
        )
    _assert_unchanged(net, opt, before)


@pytest.mark.parametrize(
    "make",
    [optimizers.SGD, optimizers.Adagrad, optimizers.RMSprop, optimizers.Adam, optimizers.AdamW],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_any_learning_rate_ends_with_finite_weights_or_a_refused_step(make, dtype):
    X, Y = _regression(9, n=32)
    for exponent in (-2, 2, 8, 40, 200, 307):
        net = Network([3, 6, 1], ["relu", "identity"], seed=0, dtype=dtype)
        opt = make(lr=10.0**exponent)
        try:
            net.fit(X, Y * 100, loss="mse", optimizer=opt, epochs=4, batch_size=8, verbose=0)
        except DivergenceError as exc:  # a refused step, or an epoch whose loss overflowed
            assert "was not applied" in str(exc) or "every update was finite" in str(exc)
        assert all(np.isfinite(W).all() for W in net.weights)
        states = opt.state_dict()["state"].values()
        assert all(np.isfinite(a).all() for arrays in states for a in arrays)


def test_custom_optimizer_update_is_guarded_too():
    class Wild(optimizers.SGD):
        def _update(self, i, w, g, lr):
            super()._update(i, w, g, lr)
            if self.t == 3:
                w[0, 0] = np.nan  # a bug in user code

    X, Y = _regression(10, n=16)
    net = Network([3, 1], "identity", seed=0)
    seen = []
    opt = Wild(0.01)
    with pytest.raises(DivergenceError, match="epoch 2, step 1 of 2"):
        net.fit(
            X,
            Y,
            loss="mse",
            optimizer=opt,
            epochs=3,
            batch_size=8,
            verbose=0,
            callbacks=[lambda r: seen.append(net.weights[0].copy())],
        )
    np.testing.assert_array_equal(net.weights[0], seen[-1])
    assert opt.t == 2


def test_normal_training_never_copies_the_weights(monkeypatch):
    """The divergence check is a few dot products, not a copy-and-check."""
    monkeypatch.setattr(
        optimizers.Optimizer, "_step_checked", lambda *a: pytest.fail("copy-and-check path")
    )
    X, y = datasets.moons(64, seed=0)
    for opt in (
        optimizers.SGD(0.1),
        optimizers.SGD(0.1, momentum=0.9),
        optimizers.Adam(0.01),
        optimizers.RMSprop(),
        optimizers.Adagrad(),
        optimizers.AdamW(),
    ):
        net = Network([2, 8, 1], ["relu", "sigmoid"], seed=0, dtype=np.float32)
        net.fit(
            X,
            y,
            loss="binary_crossentropy",
            optimizer=opt,
            epochs=3,
            batch_size=16,
            l2=1e-3,
            verbose=0,
        )


# --- lr = 0 is legal; the cache holds Ψ, grad_norms are gradient norms ---------------


class _RecordingSGD(optimizers.SGD):
    """Plain SGD that remembers the weights before each step."""

    def __init__(self, lr):
        super().__init__(lr)
        self.seen = []

    def step(self, weights, grads, **kwargs):
        self.seen.append([W.copy() for W in weights])
        super().step(weights, grads, **kwargs)


@pytest.mark.parametrize(
    "lr",
    [0.05, 0.0, schedules.CosineDecay(0.1, 2), schedules.ExponentialDecay(0.1, rate=1e-200)],
    ids=["constant", "zero", "cosine-past-its-end", "exponential-underflow"],
)
def test_cache_psi_and_grad_norms_are_the_true_gradients_for_any_rate(lr):
    X, Y = _regression(11, n=20)
    net = Network([3, 4, 1], ["tanh", "identity"], seed=0)
    opt = _RecordingSGD(lr)
    history = net.fit(
        X, Y, loss="mse", optimizer=opt, epochs=4, batch_size=8, shuffle=False, verbose=0
    )
    assert len(history) == 4 and history.stopped is None
    last = net.copy()
    last.weights = opt.seen[-1]  # the weights the last step saw
    grads, _, psi = gradients(last, X[16:], Y[16:], "mse", return_psi=True)
    for cached, true in zip(net.cache.psi, psi):
        np.testing.assert_allclose(cached, true, rtol=1e-12, atol=1e-15)
    expected = [np.linalg.norm(g) for g in grads]
    np.testing.assert_allclose(history.records[-1]["grad_norms"], expected, rtol=1e-12)
    if not isinstance(lr, float) or lr == 0.0:
        assert history["lr"][-1] == 0.0
        for W, W_before in zip(net.weights, opt.seen[-1]):
            np.testing.assert_array_equal(W, W_before)  # η = 0: nothing moves


def test_train_step_leaves_psi_not_eta_psi():
    X, Y = _regression(12, n=8)
    net = Network([3, 5, 1], ["tanh", "identity"], seed=0)
    twin = net.copy()
    from psinet.losses import get

    train_step(net, X, Y, get("mse"), optimizers.SGD(0.3))
    _, _, psi = gradients(twin, X, Y, "mse", return_psi=True)
    for cached, true in zip(net.cache.psi, psi):
        np.testing.assert_allclose(cached, true, rtol=1e-12, atol=1e-15)


# --- Ctrl-C ----------------------------------------------------------------------------


def _ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)  # delivered to this (main) thread before kill returns


def test_interrupt_in_the_last_epochs_callbacks_or_validation_is_honoured():
    X, Y = _regression(13, n=32)

    class Tripwire(activations.Identity):
        """An identity that presses Ctrl-C when the validation set (8 rows) goes through."""

        def value(self, z, out=None):
            if len(z) == 8:
                _ctrl_c()
            return super().value(z)

    for where in ("callback", "validation"):
        net = Network([3, 1], Tripwire() if where == "validation" else "identity", seed=0)

        def callback(record, where=where):
            if where == "callback" and record["epoch"] == 2:
                _ctrl_c()

        history = net.fit(
            X,
            Y,
            loss="mse",
            epochs=2,
            batch_size=6,
            validation_split=0.25,
            callbacks=[callback],
            verbose=0,
        )
        assert history.stopped == "interrupted", where
        assert history.epoch == [1, 2] or where == "validation"
        assert history.partial is None
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert history.epoch == [1]  # validation of epoch 1 was interrupted: the epoch is whole


def test_second_interrupt_raises_at_once_and_restores_the_handler():
    X, Y = _regression(14, n=32)
    net = Network([3, 4, 1], ["tanh", "identity"], seed=0)
    after_second = []

    def callback(record):
        _ctrl_c()
        _ctrl_c()
        after_second.append(True)  # never reached

    with pytest.raises(KeyboardInterrupt):
        net.fit(X, Y, loss="mse", epochs=5, batch_size=8, callbacks=[callback], verbose=0)
    assert after_second == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert all(np.isfinite(W).all() for W in net.weights)


@pytest.mark.parametrize("provable", [True, False])
def test_second_interrupt_during_an_update_waits_for_the_whole_step(provable):
    """Two Ctrl-C between the updates of layer 0 and layer 1: the step completes first."""

    class TwoPresses(optimizers.SGD):
        def _update(self, i, w, g, lr):
            super()._update(i, w, g, lr)
            if self.t == 3 and i == 0:
                _ctrl_c()
                _ctrl_c()

        if provable:  # the cheap guard; else the copy-and-check path
            _next_bounds = optimizers.SGD._next_bounds

    X, Y = _regression(15, n=32)
    net = Network([3, 4, 1], ["tanh", "identity"], seed=0)
    twin = net.copy()
    opt = TwoPresses(0.05, momentum=0.5)
    with pytest.raises(KeyboardInterrupt):
        net.fit(X, Y, loss="mse", optimizer=opt, epochs=2, batch_size=8, shuffle=False, verbose=0)
    assert opt.t == 3
    twin_opt = optimizers.SGD(0.05, momentum=0.5)
    for batch in (slice(0, 8), slice(8, 16), slice(16, 24)):
        grads, _ = gradients(twin, X[batch], Y[batch], "mse")
        twin_opt.step(twin.weights, grads)
    for a, b in zip(net.weights, twin.weights):  # layer 1 got its update too
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_interrupt_mid_epoch_records_the_partial_epoch():
    class PressOnSixthStep(activations.Identity):
        calls = 0

        def value(self, z, out=None):
            PressOnSixthStep.calls += 1
            if PressOnSixthStep.calls == 6:  # the 2nd step of epoch 2 (4 steps an epoch)
                _ctrl_c()
            return super().value(z)

    X, Y = _regression(16, n=32)
    net = Network([3, 1], PressOnSixthStep(), seed=0)
    log = io.StringIO()
    history = net.fit(X, Y, loss="mse", epochs=5, batch_size=8, shuffle=False, verbose=1, file=log)
    assert history.stopped == "interrupted" and history.epoch == [1]
    partial = history.partial
    assert partial["partial"] is True and partial["epoch"] == 2
    assert partial["steps"] == 2 and partial["n_steps"] == 4
    assert "val_loss" not in partial and len(partial["grad_norms"]) == 1
    assert "cut after step 2/4" in log.getvalue()
    assert len(history.history["loss"]) == 1  # the lists hold complete epochs only


# --- resume exactly: initial_epoch, schedules, shuffling, optimizer state ---------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: optimizers.SGD(schedules.StepDecay(0.05, drop=0.5, every=2), momentum=0.9),
        lambda: optimizers.Adam(schedules.StepDecay(0.01, drop=0.5, every=2)),
    ],
    ids=["sgd-momentum", "adam"],
)
def test_three_plus_three_epochs_equal_six_bitwise(make, tmp_path):
    X, y = datasets.moons(90, noise=0.2, seed=0)
    kwargs = dict(
        loss="binary_crossentropy",
        batch_size=16,
        shuffle=True,
        seed=5,
        validation_split=0.2,
        verbose=0,
    )
    straight = Network([2, 6, 1], ["tanh", "sigmoid"], seed=2)
    whole = straight.fit(X, y, optimizer=make(), epochs=6, **kwargs)

    first = Network([2, 6, 1], ["tanh", "sigmoid"], seed=2)
    opt = make()
    part1 = first.fit(X, y, optimizer=opt, epochs=3, **kwargs)
    first.save(tmp_path / "three.npz", optimizer=opt)
    resumed, opt2 = load_with_optimizer(tmp_path / "three.npz")
    log = io.StringIO()
    part2 = resumed.fit(
        X, y, optimizer=opt2, epochs=6, initial_epoch=3, file=log, **{**kwargs, "verbose": 1}
    )

    for a, b in zip(straight.weights, resumed.weights):
        assert a.tobytes() == b.tobytes()
    assert part1.epoch + part2.epoch == whole.epoch == [1, 2, 3, 4, 5, 6]
    for key in whole.history:
        assert part1[key] + part2[key] == whole[key], key
    assert log.getvalue().splitlines()[0].startswith("epoch 4/6")


def test_initial_epoch_is_checked():
    X, Y = _regression(17)
    net = Network([3, 1], "identity", seed=0)
    with pytest.raises(ValueError, match=r"epochs is the number of the last epoch.*\(3\), got 2"):
        net.fit(X, Y, loss="mse", epochs=2, initial_epoch=3, verbose=0)
    with pytest.raises(ValueError, match="initial_epoch must be >= 0"):
        net.fit(X, Y, loss="mse", initial_epoch=-1, verbose=0)
    assert len(net.fit(X, Y, loss="mse", epochs=3, initial_epoch=3, verbose=0)) == 0


def test_epoch_numbers_count_from_one_everywhere():
    X, Y = _regression(18)
    Y = Y * 1e3
    net = Network([3, 8, 1], ["relu", "identity"], seed=0)
    stopper = EarlyStopping(monitor="loss", patience=100)
    history = net.fit(
        X,
        Y,
        loss="mse",
        optimizer=optimizers.SGD(1e-4),
        epochs=2,
        batch_size=64,
        callbacks=[stopper],
        verbose=0,
    )
    assert history.epoch == [1, 2] and [r["epoch"] for r in history.records] == [1, 2]
    assert stopper.best_epoch == 2
    with pytest.raises(DivergenceError, match=r"diverged at epoch 1, step [12] of 8"):
        net.fit(
            X, Y, loss="mse", optimizer=optimizers.SGD(1e300), epochs=3, batch_size=8, verbose=0
        )


def test_losses_print_short_however_large():
    X, Y = _regression(19)
    log = io.StringIO()
    Network([3, 1], "identity", seed=0).fit(
        X,
        Y * 1e150,
        loss="mse",
        optimizer=optimizers.SGD(1e-310),
        epochs=1,
        verbose=1,
        file=log,
        validation_split=0.25,
        seed=0,
    )
    line = log.getvalue().splitlines()[0]
    assert re.search(r" loss \d\.\d{3}e\+\d{3} ", line) and len(line) < 80, line


# --- everything is checked before anything changes --------------------------------------


def _refused_fit_changes_nothing(net, opt, match, error=ValueError, **kwargs):
    X, Y = _regression(20)
    before = _snapshot(net, opt)
    epoch, lr = opt.epoch, opt.current_lr
    with pytest.raises(error, match=match):
        net.fit(X, Y, loss="mse", optimizer=opt, verbose=0, **kwargs)
    _assert_unchanged(net, opt, before)
    assert (opt.epoch, opt.current_lr) == (epoch, lr)


def test_early_stopping_without_its_monitor_is_refused_before_training():
    net, opt = Network([3, 1], "identity", seed=0), optimizers.SGD(0.1, momentum=0.5)
    _refused_fit_changes_nothing(
        net,
        opt,
        r"EarlyStopping monitors 'val_loss'.*validation_split",
        callbacks=[EarlyStopping()],
    )
    _refused_fit_changes_nothing(
        net,
        opt,
        r"monitors 'accuracy'.*available: \['loss', 'lr'\]",
        callbacks=[EarlyStopping("accuracy")],
    )


def test_a_file_without_write_is_refused_before_training():
    net, opt = Network([3, 1], "identity", seed=0), optimizers.Adam()
    _refused_fit_changes_nothing(net, opt, "file must be a text stream", TypeError, file=42)


def test_an_optimizer_bound_to_other_shapes_is_refused_before_it_is_rewound():
    X, Y = _regression(21)
    opt = optimizers.SGD(schedules.StepDecay(0.1, drop=0.5, every=1), momentum=0.5)
    Network([3, 2, 1], ["tanh", "identity"], seed=0).fit(
        X, Y, loss="mse", optimizer=opt, epochs=4, verbose=0
    )
    assert opt.epoch == 3 and opt.current_lr == 0.0125
    other = Network([3, 5, 1], ["tanh", "identity"], seed=0)
    _refused_fit_changes_nothing(other, opt, r"weights\[0\]: expected shape \(2, 4\)")


def test_one_optimizer_serves_one_network_in_fit():
    X, Y = _regression(22)
    opt = optimizers.SGD(0.05, momentum=0.9)
    first = Network([3, 2, 1], ["tanh", "identity"], seed=0)
    first.fit(X, Y, loss="mse", optimizer=opt, epochs=2, verbose=0)
    twin = Network([3, 2, 1], ["tanh", "identity"], seed=0)  # same shapes
    _refused_fit_changes_nothing(twin, opt, r"another network.*optimizer\.reset\(\)")
    first.fit(X, Y, loss="mse", optimizer=opt, epochs=1, verbose=0)  # its own: fine
    opt.reset()
    twin.fit(X, Y, loss="mse", optimizer=opt, epochs=1, verbose=0)


def test_bad_seed_and_shuffle_are_refused():
    net, opt = Network([3, 1], "identity", seed=0), optimizers.Adam()
    _refused_fit_changes_nothing(net, opt, "shuffle must be True or False", TypeError, shuffle="no")
    _refused_fit_changes_nothing(net, opt, "seed must be None or an int", TypeError, seed=True)
    _refused_fit_changes_nothing(net, opt, "seed must be >= 0", seed=-1)


# --- validation_split: a seeded random, stratified subset --------------------------------


def test_validation_split_is_random_and_stratified_for_classification():
    from psinet.training import _split_validation

    X = np.arange(300.0)[:, None]
    labels = np.repeat([0, 1, 2], [150, 90, 60])  # grouped by class, as data often come
    Y = pp.one_hot(labels, 3)
    net = Network([1, 3], "softmax", seed=0)
    cce = losses.get("categorical_crossentropy")
    _, Y_train, (X_val, Y_val) = _split_validation(net, X, Y, cce, None, 0.2, 7)
    assert np.bincount(Y_val.argmax(1)).tolist() == [30, 18, 12]
    assert np.bincount(Y_train.argmax(1)).tolist() == [120, 72, 48]
    again = _split_validation(net, X, Y, cce, None, 0.2, 7)[2][0]
    other = _split_validation(net, X, Y, cce, None, 0.2, 8)[2][0]
    assert np.array_equal(X_val, again) and not np.array_equal(X_val, other)
    assert not np.array_equal(X_val[:, 0], np.arange(240.0, 300.0))  # not the last rows

    binary = (labels == 0).astype(float)[:, None]
    net1 = Network([1, 1], "sigmoid", seed=0)
    bce = losses.get("binary_crossentropy")
    Y_val = _split_validation(net1, X, binary, bce, None, 0.2, 7)[2][1]
    assert Y_val.sum() == 30 and len(Y_val) == 60
    X_val = _split_validation(net1, X, binary, losses.get("mse"), None, 0.2, 7)[2][0]
    assert len(X_val) == 60 and not np.array_equal(X_val[:, 0], np.arange(240.0, 300.0))


def test_validation_split_on_class_grouped_spirals_validates_every_class():
    X, y = datasets.spirals(300, seed=0)
    order = np.argsort(y, kind="stable")  # grouped by class, as the old generators gave
    X, y = X[order], y[order]
    net = Network([2, 32, 3], ["tanh", "softmax"], seed=0)
    history = net.fit(
        X,
        pp.one_hot(y, 3),
        loss="categorical_crossentropy",
        optimizer=optimizers.Adam(0.02),
        epochs=30,
        batch_size=32,
        seed=0,
        validation_split=0.2,
        verbose=0,
    )
    assert history["val_accuracy"][-1] > 0.5


# --- Network.fit has the real signature: a type checker catches a misspelt keyword -------

USER_SCRIPT = """\
import numpy as np
import psinet

net = psinet.Network([2, 1], "sigmoid")
X, y = np.zeros((4, 2)), np.zeros(4)
history: psinet.History = net.fit(X, y, loss="mse", epochs=2, initial_epoch=1)
net.fit(X, y, los="mse")
net.evaluate(X, y, "mse", l3=0.0)
net.save("m.npz", optimiser=None)
"""


def test_mypy_catches_a_misspelt_keyword_of_network_fit(tmp_path, monkeypatch):
    api = pytest.importorskip("mypy.api")  # the dev extra, which CI installs
    script = tmp_path / "user.py"
    script.write_text(USER_SCRIPT)
    (tmp_path / "mypy.ini").write_text("[mypy]\n")
    src = Path(__file__).resolve().parents[1] / "src"
    monkeypatch.setenv("MYPYPATH", str(src))
    # numpy's stubs are left out (--no-site-packages) to keep this fast: the arrays are
    # Any, the keywords of psinet's own signatures are what is checked
    out, err, status = api.run(
        [
            str(script),
            "--config-file",
            str(tmp_path / "mypy.ini"),
            "--no-site-packages",
            "--ignore-missing-imports",
            "--follow-imports=silent",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--no-error-summary",
        ]
    )
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert status == 1, out + err
    assert len(errors) == 3, out
    assert 'user.py:7: error: Unexpected keyword argument "los" for "fit"' in errors[0]
    assert 'user.py:8: error: Unexpected keyword argument "l3" for "evaluate"' in errors[1]
    assert 'user.py:9: error: Unexpected keyword argument "optimiser" for "save"' in errors[2]


def test_after_any_interrupt_no_guard_is_left_active():
    from psinet._interrupt import DeferredInterrupt

    X, Y = _regression(23, n=16)
    net = Network([3, 1], "identity", seed=0)

    def twice(record):
        _ctrl_c()
        _ctrl_c()

    with pytest.raises(KeyboardInterrupt):
        net.fit(X, Y, loss="mse", epochs=2, callbacks=[twice], verbose=0)
    assert DeferredInterrupt.active is None
    net.fit(X, Y, loss="mse", epochs=1, callbacks=[lambda r: _ctrl_c()], verbose=0)
    assert DeferredInterrupt.active is None
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_squared_psi_that_underflows_does_not_hide_an_overflowing_update():
    """Ψ = 1e-30: ‖Ψ‖² underflows float32 to 0, yet ∂E/∂W = Ψ·X = 100 and η·100 overflows."""
    net = Network([1, 1], "identity", seed=0, dtype=np.float32)
    net.weights[0] = [[0.0, 1e-30]]
    opt = optimizers.SGD(1e37)
    before = _snapshot(net, opt)
    with pytest.raises(DivergenceError, match="overflowed"):
        net.fit(np.array([[1e32]]), np.array([[0.0]]), loss="mse", optimizer=opt, verbose=0)
    _assert_unchanged(net, opt, before)


def test_an_overflowing_gradient_is_refused_however_small_the_rate():
    """Ψ_0 = 1e10, X = 1e30: ∂E/∂W_0 is inf in float32; η = 1e-40 would make η·inf = inf."""
    net = Network([1, 1, 1], ["identity", "sigmoid"], seed=0, dtype=np.float32)
    net.weights[0] = [[1e-30, 0.0]]
    net.weights[1] = [[1e10, 0.0]]
    opt = optimizers.SGD(1e-40)
    before = _snapshot(net, opt)
    with pytest.raises(DivergenceError, match=r"gradient of weights\[0\] is not finite"):
        net.fit(
            np.array([[1e30]]),
            np.array([[0.0]]),
            loss="binary_crossentropy",
            optimizer=opt,
            verbose=0,
        )
    _assert_unchanged(net, opt, before)


@settings(deadline=None, derandomize=True, max_examples=40)
@given(
    make=st.sampled_from(
        [
            lambda lr: optimizers.SGD(lr),
            lambda lr: optimizers.SGD(lr, momentum=0.9),
            lambda lr: optimizers.Adam(lr),
            lambda lr: optimizers.RMSprop(lr),
            lambda lr: optimizers.Adagrad(lr),
            lambda lr: optimizers.AdamW(lr),
        ]
    ),
    dtype=st.sampled_from([np.float32, np.float64]),
    hidden=st.sampled_from(["relu", "tanh", "identity", "elu"]),
    loss=st.sampled_from(["mse", "binary_crossentropy"]),
    x_exp=st.integers(-30, 38),
    w_exp=st.integers(-30, 30),
    lr_exp=st.integers(-40, 38),
    seed=st.integers(0, 1000),
)
def test_fit_ends_with_finite_weights_or_refuses_the_step(
    make, dtype, hidden, loss, x_exp, w_exp, lr_exp, seed
):
    """Any magnitudes of data, weights and rate: finite weights, or DivergenceError and the
    weights of the step before."""
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(12, 3)) * 10.0**x_exp).astype(dtype)
    Y = (rng.random((12, 1)) > 0.5).astype(dtype)
    net = Network([3, 4, 1], [hidden, "sigmoid"], seed=seed, dtype=dtype)
    with np.errstate(over="ignore"):
        scaled = [(W * 10.0**w_exp).astype(dtype) for W in net.weights]
    if not all(np.isfinite(W).all() for W in scaled):
        return
    net.weights = scaled
    opt = make(10.0**lr_exp)
    try:
        net.fit(X, Y, loss=loss, optimizer=opt, epochs=2, batch_size=5, seed=seed, verbose=0)
    except DivergenceError:
        pass
    except ValueError as exc:  # a refused input (e.g. the data overflow the dtype)
        assert "overflow" in str(exc) or "finite" in str(exc), exc
        return
    assert all(np.isfinite(W).all() for W in net.weights)
    states = opt.state_dict()["state"].values()
    assert all(np.isfinite(a).all() for arrays in states for a in arrays)
