"""fit, evaluate, accuracy, callbacks, interrupts, divergence, reproducibility."""

import io
import signal

import numpy as np
import pytest

from psinet import Network, datasets, gradients, optimizers
from psinet import preprocessing as pp
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
        verbose=0,
    )
    assert history.epoch == [0, 1, 2]
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert all(len(v) == 3 for v in history.history.values())
    assert len(history.records[0]["grad_norms"]) == 2
    val = net.evaluate(X[150:], y[150:], "binary_crossentropy")
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
    assert stopper.best_epoch == best and len(history) == best + 1 + 3
    for W, W_best in zip(net.weights, seen[best]):
        np.testing.assert_array_equal(W, W_best)


def test_a_callback_can_stop_training():
    X, Y = _regression(4)
    net = Network([3, 1], "identity", seed=0)
    history = net.fit(
        X, Y, loss="mse", epochs=50, verbose=0, callbacks=[lambda record: record["epoch"] == 4]
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
    assert len(history) == 1  # epoch 0 (4 steps) complete; epoch 1 cut after 3 steps
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
    grads = [np.empty_like(W) for W in net.weights]
    from psinet.losses import get

    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(DivergenceError):
            train_step(net, X, Y, get("mse"), optimizers.SGD(0.1), grads)
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
