"""The training loop: mini-batch gradient descent with validation and callbacks.

One step is the derivation's four moves on a batch ``(X_b, Y_b)``::

    1. forward     z_l = X̄_l W_lᵀ,  X_{l+1} = f_l(z_l)          (cached)
    2. loss        E(ŷ, Y_b)
    3. backward    ∂E/∂W_l = Ψ_lᵀ X̄_l  by the Ψ recursion
    4. update      optimizer.step(W, ∂E/∂W)                     (in place)

:func:`fit` runs epochs of such steps over a seeded permutation of the data and
returns a :class:`History`. ``Network.fit`` is the same function as a method.

>>> import numpy as np
>>> from psinet import Network, datasets, optimizers
>>> X, y = datasets.xor()
>>> net = Network([2, 4, 1], ["tanh", "sigmoid"], seed=1)
>>> history = net.fit(X, y, loss="binary_crossentropy", optimizer=optimizers.Adam(0.05),
...                   epochs=300, batch_size=4, seed=0, verbose=0)
>>> history.history["accuracy"][-1]
1.0
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TextIO

import numpy as np

from . import losses as _losses
from . import optimizers as _optimizers
from ._checks import (
    as_batch,
    as_targets,
    check_bool,
    check_float,
    check_int,
    check_network,
    check_seed,
    refuse_masked,
    refuse_overflow,
)
from .backprop import _check_l2, _frobenius_norm, backward, loss_value
from .losses import Loss
from .network import Network
from .optimizers import Optimizer

Array = np.ndarray
Record = dict[str, Any]

CLASSIFICATION_LOSSES = ("binary_crossentropy", "categorical_crossentropy")


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss or gradient; the weights were not updated."""


class StopTraining(Exception):
    """Raise from a callback to stop training after the current epoch."""


class History:
    """What :func:`fit` records, one entry per completed epoch.

    Attributes
    ----------
    history : dict of str to list of float
        ``"loss"`` (training loss, mean over the epoch's batches, L2 penalty included),
        ``"lr"``, and when available ``"accuracy"``, ``"val_loss"``, ``"val_accuracy"``.
    epoch : list of int
        The 0-based index of each recorded epoch.
    records : list of dict
        The full per-epoch records passed to callbacks (also ``"elapsed"`` seconds and
        ``"grad_norms"``, the Frobenius norm of each layer's gradient at the epoch's
        last step).
    stopped : str or None
        Why training ended early: ``"early_stopping"``, ``"callback"``,
        ``"interrupted"``, or None when all epochs ran.
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.records: list[Record] = []
        self.stopped: str | None = None

    def append(self, record: Record) -> None:
        """Add one epoch's record."""
        self.records.append(record)
        self.epoch.append(record["epoch"])
        for key, value in record.items():
            if isinstance(value, float) and key != "elapsed":
                self.history.setdefault(key, []).append(value)

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __len__(self) -> int:
        return len(self.epoch)

    def __repr__(self) -> str:
        last = {k: round(v[-1], 6) for k, v in self.history.items() if v}
        return f"History(epochs={len(self)}, last={last}, stopped={self.stopped!r})"

    def _table(self) -> tuple[list[str], list[list[str]]]:
        """(header, rows): the first 3 and last 3 epochs (all when <= 8), "…" between."""
        keys = [k for k in self.history if k != "lr"] + (["lr"] if "lr" in self.history else [])
        n = len(self)
        shown = list(range(n)) if n <= 8 else [0, 1, 2, None, n - 3, n - 2, n - 1]
        rows = []
        for i in shown:
            if i is None:
                rows.append(["…"] * (len(keys) + 1))
                continue
            rows.append(
                [str(self.epoch[i])]
                + [f"{self.history[k][i]:.4g}" if i < len(self.history[k]) else "" for k in keys]
            )
        return ["epoch", *keys], rows

    def _caption(self) -> str:
        ended = f"stopped: {self.stopped}" if self.stopped else "all epochs ran"
        return f"History: {len(self)} epochs, {ended}"

    def _repr_html_(self) -> str:
        """A short table for Jupyter: the first and last epochs' numbers."""
        from ._display import html_table

        header, rows = self._table()
        return html_table(header, rows, caption=self._caption())

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        """The same short table, for IPython's plain-text display."""
        from ._display import pretty

        header, rows = self._table()
        table = [header, *rows]
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in table]
        pretty(p, cycle, "\n".join([self._caption(), *lines]), "History(...)")


class Callback:
    """Base class of callbacks; plain callables ``f(record)`` work too.

    ``on_epoch_end`` may return True (or raise :class:`StopTraining`) to stop training.
    """

    def on_train_begin(self, net: Network) -> None:
        """Called once before the first epoch."""

    def on_epoch_end(self, record: Record) -> bool | None:
        """Called after each epoch with its record; return True to stop."""
        return None

    def on_train_end(self, net: Network) -> None:
        """Called once when training ends, however it ends."""


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    With ``restore_best=True`` the network gets back the weights of the best epoch
    when training ends. ``mode`` is ``"min"`` (losses), ``"max"`` (accuracies) or
    ``"auto"`` (max for names containing "accuracy").
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        restore_best: bool = True,
        mode: str = "auto",
    ) -> None:
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a str, got {type(monitor).__name__} {monitor!r}")
        patience = check_int(patience, "patience", minimum=0)
        min_delta = check_float(min_delta, "min_delta", 0.0)
        restore_best = check_bool(restore_best, "restore_best")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.restore_best = restore_best
        self.sign = -1.0 if mode == "max" or (mode == "auto" and "accuracy" in monitor) else 1.0
        self.best: float = math.inf
        self.best_epoch: int | None = None
        self.wait = 0
        self._net: Network | None = None
        self._best_weights: list[Array] | None = None

    def on_train_begin(self, net: Network) -> None:
        self._net = net
        self.best, self.best_epoch, self.wait, self._best_weights = math.inf, None, 0, None

    def on_epoch_end(self, record: Record) -> bool:
        if self.monitor not in record:
            available = sorted(k for k, v in record.items() if isinstance(v, float))
            raise ValueError(
                f"EarlyStopping monitors {self.monitor!r}, which this training does not "
                f"record; available: {available}"
            )
        value = self.sign * record[self.monitor]
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = value, record["epoch"], 0
            if self.restore_best and self._net is not None:
                self._best_weights = [W.copy() for W in self._net.weights]
            return False
        self.wait += 1
        return self.wait >= self.patience

    def on_train_end(self, net: Network) -> None:
        if self.restore_best and self._best_weights is not None:
            net.weights = self._best_weights


def accuracy(y_hat: Any, Y: Any, *, multilabel: bool = False) -> float:
    """The fraction of correct predictions.

    ``y_hat``: ndarray of shape (N, k), the network's output. ``Y``: one-hot (or
    probability) targets of shape (N, k), or integer labels of shape (N,). One output
    (k = 1) is a binary classifier: the class is ``ŷ > 0.5``. With k > 1 the class is
    the argmax, unless ``multilabel`` (k independent binary outputs: the mean over all
    N·k thresholded outputs).

    >>> accuracy(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([0, 0]))
    0.5
    """
    refuse_masked(y_hat, "y_hat")
    refuse_masked(Y, "Y")
    multilabel = check_bool(multilabel, "multilabel")
    y_hat, Y = np.asarray(y_hat), np.asarray(Y)
    if y_hat.ndim == 1:
        y_hat = y_hat[:, None]
    if y_hat.ndim != 2 or len(Y) != len(y_hat):
        raise ValueError(
            f"y_hat must have shape (N, k) and Y N rows, got {y_hat.shape} and {Y.shape}"
        )
    k = y_hat.shape[1]
    if Y.ndim == 1 and k > 1:  # integer labels
        return float(np.mean(y_hat.argmax(axis=1) == Y))
    Y = Y.reshape(len(Y), -1)
    if Y.shape != y_hat.shape:
        raise ValueError(f"Y must have shape {y_hat.shape} or ({len(y_hat)},), got {Y.shape}")
    if k == 1 or multilabel:
        return float(np.mean((y_hat > 0.5) == (Y > 0.5)))
    return float(np.mean(y_hat.argmax(axis=1) == Y.argmax(axis=1)))


def evaluate(
    net: Network, X: Any, Y: Any, loss: str | Loss, *, l2: float = 0.0
) -> dict[str, float]:
    """The loss (and accuracy, for classification losses) of ``net`` on ``(X, Y)``.

    ``X``: ndarray of shape (N, n_0); ``Y``: ndarray of shape (N, n_L) (or (N,) for one
    output). Returns ``{"loss": E}`` plus ``"accuracy"`` for the cross-entropy losses.
    The network's cache is not touched.
    """
    net = check_network(net)
    loss = _losses.get(loss)
    X, _ = as_batch(X, "X", net.n_inputs, net.dtype)
    Y = as_targets(Y, X.shape[0], net.n_outputs, net.dtype)
    loss.check_targets(Y)
    l2 = _check_l2(l2)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported below
        result = _evaluate(net, X, Y, loss, l2)
    refuse_overflow(math.isfinite(result["loss"]), "the loss", X, net.dtype)
    return result


def _evaluate(net: Network, X: Array, Y: Array, loss: Loss, l2: float) -> dict[str, float]:
    result = {"loss": loss_value(net, X, Y, loss, l2)}
    if loss.name in CLASSIFICATION_LOSSES:
        y_hat = net._propagate(X)[0]
        multilabel = loss.name == "binary_crossentropy"
        result["accuracy"] = accuracy(y_hat, Y, multilabel=multilabel)
    return result


def train_step(
    net: Network,
    X_b: Array,
    Y_b: Array,
    loss: Loss,
    optimizer: Optimizer,
    grads: Sequence[Array],
    l2: float = 0.0,
) -> float:
    """One step of gradient descent on a checked batch; returns E before the update.

    ``X_b``: ndarray of shape (B, n_0), or (B, n_0 + 1) already ending in a column of
    ones (``X̄_0``: then nothing is copied); ``Y_b``: ndarray of shape (B, n_L); both in
    ``net.dtype``. ``grads``: arrays shaped like ``net.weights``, reused every step.
    Raises :class:`DivergenceError` *before* updating when E or Ψ is not finite.
    """
    # 1. forward, caching X̄_l and z_l
    if X_b.shape[1] == net.sizes[0]:
        net._forward(X_b)
    else:
        net._forward_bar(X_b)
    # 2.-3. the loss and the Ψ recursion; plain SGD's η is folded into Ψ_{L-1} for free
    eta = optimizer.gradient_scale()
    E = backward(net, Y_b, loss, grads, l2=l2, scale=1.0 if eta is None else eta)
    # A NaN or inf anywhere in the Ψ recursion reaches Ψ_0, and the bias column of
    # ∂E/∂W_0 is Σ_n Ψ_0 (X̄_0 ends in ones): checking n_1 numbers is enough.
    if not (math.isfinite(E) and math.isfinite(float(grads[0][:, -1].sum()))):
        raise DivergenceError(f"the loss became {E}" if not math.isfinite(E) else "Ψ overflowed")
    # 4. update, in place
    optimizer.step(net.weights, grads, prescaled=eta is not None)
    return E


def fit(
    net: Network,
    X: Any,
    Y: Any,
    *,
    loss: str | Loss,
    optimizer: Optimizer | str | None = None,
    epochs: int = 1,
    batch_size: int = 32,
    shuffle: bool = True,
    seed: int | None = None,
    validation_data: tuple[Any, Any] | None = None,
    validation_split: float = 0.0,
    l2: float = 0.0,
    callbacks: Iterable[Callback | Callable[[Record], Any]] = (),
    verbose: int = 1,
    file: TextIO | None = None,
) -> History:
    """Train ``net`` by mini-batch gradient descent; returns a :class:`History`.

    Parameters
    ----------
    X : ndarray of shape (N, n_0)
    Y : ndarray of shape (N, n_L)
        Targets; shape (N,) is accepted for a single output. For
        ``categorical_crossentropy`` use one-hot rows (:func:`psinet.one_hot`).
    loss : str or Loss
    optimizer : Optimizer, name or None
        An optimizer object, or ``"sgd"``, ``"adagrad"``, ``"rmsprop"``, ``"adam"``,
        ``"adamw"`` with default settings; None means ``Adam()``.
    epochs, batch_size : int
        Each epoch visits every sample once, in batches of ``batch_size``; the last,
        smaller batch is used, not dropped.
    shuffle, seed : bool, int or None
        Batches come from a permutation drawn each epoch by
        ``numpy.random.default_rng(seed)``: the same seed gives bit-identical weights.
    validation_data : (X_val, Y_val) or None
    validation_split : float in [0, 1)
        Hold out this fraction of the samples (the last ones, before shuffling).
    l2 : float
        L2 penalty λ on the weights proper (never the bias column).
    callbacks : sequence of Callback or callables ``f(record)``
        Called after each epoch; returning True (or raising :class:`StopTraining`)
        stops training. See :class:`EarlyStopping`.
    verbose : int
        0: silent; 1: one line per epoch (updated in place on a terminal).
    file : text stream or None
        Where progress goes (default ``sys.stdout``).

    Ctrl-C stops training cleanly after the current step and returns the history so
    far. A non-finite loss raises :class:`DivergenceError`; the network keeps its
    last finite weights.
    """
    net = check_network(net)
    loss = _losses.get(loss)
    optimizer = _get_optimizer(optimizer)
    epochs = check_int(epochs, "epochs", minimum=0, maximum=2**63 - 1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    shuffle = check_bool(shuffle, "shuffle")
    seed = check_seed(seed)
    verbose = _check_verbose(verbose)
    l2 = _check_l2(l2)
    X, _ = as_batch(X, "X", net.n_inputs, net.dtype)  # converted once, here
    Y = as_targets(Y, X.shape[0], net.n_outputs, net.dtype)
    loss.check_targets(Y)
    X, Y, validation = _split_validation(net, X, Y, loss, validation_data, validation_split)
    hooks = [c if isinstance(c, Callback) else _CallableCallback(c) for c in callbacks]
    progress = _Progress(verbose, epochs, file)

    history = History()
    rng = np.random.default_rng(seed)
    grads = [np.empty_like(W) for W in net.weights]  # reused by every step
    n_samples = X.shape[0]
    n_steps = -(-n_samples // batch_size)
    Y_batches: dict[int, Array] = {}  # one target buffer per batch size
    is_classifier = loss.name in CLASSIFICATION_LOSSES
    multilabel = loss.name == "binary_crossentropy"

    for hook in hooks:
        hook.on_train_begin(net)
    start = time.perf_counter()
    # Divergence is detected explicitly (DivergenceError), so NumPy's overflow warnings
    # on the way there would only be noise.
    with _DeferredInterrupt() as interrupt, np.errstate(over="ignore", invalid="ignore"):
        try:
            for epoch in range(epochs):
                optimizer.set_epoch(epoch)
                order = rng.permutation(n_samples) if shuffle else np.arange(n_samples)
                total_loss, total_correct, seen = 0.0, 0.0, 0
                for step in range(n_steps):
                    X_b, Y_b = _gather_batch(
                        net, X, Y, order[step * batch_size :][:batch_size], Y_batches
                    )
                    try:
                        E = train_step(net, X_b, Y_b, loss, optimizer, grads, l2)
                    except DivergenceError as exc:
                        kept = "its last finite weights (this step was not applied)"
                        if not all(np.isfinite(W).all() for W in net.weights):
                            kept = "non-finite weights: the previous step's update overflowed"
                        raise DivergenceError(
                            f"training diverged at epoch {epoch}, step {step}: {exc}. The "
                            f"network keeps {kept}. Try a smaller learning rate "
                            f"(now {optimizer.current_lr:g})."
                        ) from None
                    seen += len(X_b)
                    total_loss += E * len(X_b)
                    if is_classifier:
                        assert net.cache is not None
                        y_hat = net.cache.y_hat
                        total_correct += accuracy(y_hat, Y_b, multilabel=multilabel) * len(X_b)
                    progress.step(epoch, step + 1, n_steps, total_loss / seen)
                    if interrupt.requested:
                        history.stopped = "interrupted"
                        break
                if history.stopped == "interrupted":
                    break  # the interrupted epoch is incomplete: not recorded
                record: Record = {"epoch": epoch, "loss": total_loss / n_samples}
                if is_classifier:
                    record["accuracy"] = total_correct / n_samples
                if validation is not None:
                    scores = _evaluate(net, validation[0], validation[1], loss, l2)
                    record.update({f"val_{k}": v for k, v in scores.items()})
                record["lr"] = float(optimizer.current_lr)
                record["elapsed"] = time.perf_counter() - start
                eta = optimizer.gradient_scale()  # grads hold η·∂E/∂W when η was folded in
                unscale = 1.0 if eta is None else 1.0 / eta
                record["grad_norms"] = [_frobenius_norm(g) * unscale for g in grads]
                history.append(record)
                progress.epoch_end(record)
                if _callbacks_say_stop(hooks, record):
                    history.stopped = _stop_reason(hooks, record)
                    break
        finally:
            for hook in hooks:
                hook.on_train_end(net)
            progress.close(history)
    return history


def _gather_batch(
    net: Network, X: Array, Y: Array, index: Array, Y_batches: dict[int, Array]
) -> tuple[Array, Array]:
    """The batch ``X[index]`` written straight into the cache's ``X̄_0 = [X_b, 1]``.

    No copy of the whole data set is ever made; each step gathers its B rows once.
    """
    B = len(index)
    X_bar_0 = net._buffers_for(B).X_bar_0  # (B, n_0 + 1), ones column already there
    np.take(X, index, axis=0, out=X_bar_0[:, :-1], mode="clip")  # indices are valid
    Y_b = Y_batches.get(B)
    if Y_b is None:
        Y_b = Y_batches[B] = np.empty((B, Y.shape[1]), dtype=Y.dtype)
    np.take(Y, index, axis=0, out=Y_b, mode="clip")
    return X_bar_0, Y_b


def _callbacks_say_stop(hooks: Sequence[Callback], record: Record) -> bool:
    stop = False
    for hook in hooks:  # every callback sees every epoch, even after one says stop
        try:
            stop |= bool(hook.on_epoch_end(record))
        except StopTraining:
            stop = True
    return stop


def _stop_reason(hooks: Sequence[Callback], record: Record) -> str:
    for hook in hooks:
        if isinstance(hook, EarlyStopping) and hook.wait >= hook.patience:
            return "early_stopping"
    return "callback"


class _CallableCallback(Callback):
    def __init__(self, function: Callable[[Record], Any]) -> None:
        if not callable(function):
            raise TypeError(f"callbacks must be Callback objects or callables, got {function!r}")
        self.function = function

    def on_epoch_end(self, record: Record) -> bool:
        return self.function(record) is True


class _DeferredInterrupt:
    """Turn Ctrl-C into a flag the loop checks after each step (main thread only)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def _handler(self, signum: int, frame: Any) -> None:
        self.requested = True

    def __enter__(self) -> _DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class _Progress:
    """One line per epoch; on a terminal the line is updated in place during the epoch."""

    def __init__(self, verbose: int, epochs: int, file: TextIO | None) -> None:
        self.verbose = verbose
        self.epochs = epochs
        self.file = file if file is not None else sys.stdout
        self.tty = verbose > 0 and bool(getattr(self.file, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self.last_draw = 0.0

    def step(self, epoch: int, step: int, n_steps: int, running_loss: float) -> None:
        if not self.tty:
            return
        now = time.perf_counter()
        if now - self.last_draw < 0.1 and step < n_steps:
            return
        self.last_draw = now
        width = len(str(self.epochs))
        self.file.write(
            f"\repoch {epoch + 1:>{width}}/{self.epochs}  step {step}/{n_steps}  "
            f"loss {running_loss:.4f}\x1b[K"
        )
        self.file.flush()

    def epoch_end(self, record: Record) -> None:
        if not self.verbose:
            return
        elapsed = record["elapsed"]
        done = record["epoch"] + 1
        eta = elapsed / done * (self.epochs - done)
        width = len(str(self.epochs))
        parts = [f"epoch {done:>{width}}/{self.epochs}", f"loss {record['loss']:.4f}"]
        for key in ("accuracy", "val_loss", "val_accuracy"):
            if key in record:
                parts.append(f"{key} {record[key]:.4f}")
        parts += [f"{elapsed:.1f}s", f"ETA {eta:.1f}s"]
        line = "  ".join(parts)
        self.file.write(f"\r{line}\x1b[K\n" if self.tty else line + "\n")
        self.file.flush()

    def close(self, history: History) -> None:
        if self.verbose and history.stopped:
            self.file.write(f"{'' if not self.tty else chr(13)}stopped: {history.stopped}\n")
            self.file.flush()


def _split_validation(
    net: Network,
    X: Array,
    Y: Array,
    loss: Loss,
    validation_data: tuple[Any, Any] | None,
    validation_split: float,
) -> tuple[Array, Array, tuple[Array, Array] | None]:
    validation_split = check_float(validation_split, "validation_split")
    if not 0 <= validation_split < 1:
        raise ValueError(f"validation_split must be a float in [0, 1), got {validation_split!r}")
    if validation_data is not None and validation_split:
        raise ValueError("give validation_data or validation_split, not both")
    if validation_data is not None:
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
            raise TypeError("validation_data must be a tuple (X_val, Y_val)")
        X_val, _ = as_batch(validation_data[0], "X_val", net.n_inputs, net.dtype)
        Y_val = as_targets(validation_data[1], X_val.shape[0], net.n_outputs, net.dtype)
        loss.check_targets(Y_val)
        return X, Y, (X_val, Y_val)
    if validation_split:
        n_val = round(validation_split * len(X))
        if not 1 <= n_val < len(X):
            raise ValueError(
                f"validation_split={validation_split} leaves {n_val} of {len(X)} samples "
                "for validation; it must leave at least one on each side"
            )
        return X[:-n_val], Y[:-n_val], (X[-n_val:], Y[-n_val:])
    return X, Y, None


def _check_verbose(verbose: object) -> int:
    """0 (silent) or 1 (progress); False and True are taken as 0 and 1."""
    if isinstance(verbose, (bool, np.bool_)):
        return int(verbose)
    return check_int(verbose, "verbose (0, 1 or a bool)", minimum=0)


_OPTIMIZERS: dict[str, Callable[[], Optimizer]] = {
    "sgd": _optimizers.SGD,
    "adagrad": _optimizers.Adagrad,
    "rmsprop": _optimizers.RMSprop,
    "adam": _optimizers.Adam,
    "adamw": _optimizers.AdamW,
}


def _get_optimizer(optimizer: Optimizer | str | None) -> Optimizer:
    if optimizer is None:
        return _optimizers.Adam()
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in _OPTIMIZERS:
        return _OPTIMIZERS[optimizer.lower()]()
    raise (ValueError if isinstance(optimizer, str) else TypeError)(
        f"optimizer must be an Optimizer or one of {sorted(_OPTIMIZERS)}, got {optimizer!r}"
    )
