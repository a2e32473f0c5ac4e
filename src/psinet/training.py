"""The training loop: mini-batch gradient descent with validation and callbacks.

One step is the derivation's four moves on a batch ``(X_b, Y_b)``, and
:func:`train_step` is exactly that, in plain NumPy::

    1. forward     z_l = X̄_l W_lᵀ,  X_{l+1} = f_l(z_l)          (cached)
    2. loss        E(ŷ, Y_b)
    3. backward    ∂E/∂W_l = Ψ_lᵀ X̄_l  by the Ψ recursion
    4. update      optimizer.step(W, ∂E/∂W)                     (in place)

:func:`fit` runs epochs of such steps over a seeded permutation of the data and
returns a :class:`History`; its steps are made fast by :mod:`psinet.engine`, proven
equal to :func:`train_step`'s. ``Network.fit`` is the same function as a method.

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
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TextIO, cast

import numpy as np

from . import _raw
from . import losses as _losses
from . import optimizers as _optimizers
from ._checks import (
    DivergenceError,
    as_batch,
    as_sample_weight,
    as_targets,
    check_bool,
    check_float,
    check_int,
    check_seed,
    refuse_non_finite,
    refuse_overflow,
)
from ._interrupt import DeferredInterrupt
from .backprop import _check_l2, backward, check_weighted_loss, loss_value
from .engine import Engine
from .losses import Loss
from .metrics import accuracy, weighted_correct
from .network import Network, check_network
from .optimizers import Optimizer
from .preprocessing import _stratified_test_indices

Array = np.ndarray
Record = dict[str, Any]

CLASSIFICATION_LOSSES = ("binary_crossentropy", "categorical_crossentropy")


class StopTraining(Exception):
    """Raise from a callback to stop training after the current epoch."""


class History:
    """What :func:`fit` records, one entry per completed epoch.

    Epochs are numbered from 1, as the progress lines print them; after
    ``fit(..., initial_epoch=k)`` the first one recorded is ``k + 1``.

    Attributes
    ----------
    history : dict of str to list of float
        ``"loss"`` (training loss, mean over the epoch's samples, L2 penalty included),
        ``"lr"``, and when available ``"accuracy"``, ``"val_loss"``, ``"val_accuracy"``;
        one value per completed epoch.
    epoch : list of int
        The number (from 1) of each completed epoch.
    records : list of dict
        The full per-epoch records passed to callbacks (also ``"elapsed"`` seconds and
        ``"grad_norms"``, the Frobenius norm of each layer's gradient ``∂E/∂W_l`` at
        the epoch's last step).
    partial : dict or None
        The record of an epoch that Ctrl-C cut short, or None: ``"partial": True``,
        ``"steps"`` (the steps applied, each one whole) of ``"n_steps"``, the mean
        ``"loss"`` (and ``"accuracy"``) over the samples seen, ``"lr"``,
        ``"grad_norms"``; no validation. It is not in ``history``, ``epoch`` or
        ``records``, which hold complete epochs only.
    stopped : str or None
        Why training ended early: ``"early_stopping"``, ``"callback"``,
        ``"interrupted"``, or None when all epochs ran.
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.records: list[Record] = []
        self.partial: Record | None = None
        self.stopped: str | None = None

    def append(self, record: Record) -> None:
        """Add one completed epoch's record."""
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
        partial = "" if self.partial is None else f", partial={self.partial['steps']} steps"
        return f"History(epochs={len(self)}, last={last}{partial}, stopped={self.stopped!r})"

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
    when training ends; ``best_epoch`` is that epoch's number (from 1). ``mode`` is
    ``"min"`` (losses), ``"max"`` (accuracies) or ``"auto"`` (max for names containing
    "accuracy"). :func:`fit` refuses, before training, a ``monitor`` it will not record.
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

    def check_keys(self, keys: Iterable[str]) -> None:
        """Refuse a ``monitor`` that is not among ``keys`` (what the records will hold)."""
        if self.monitor not in keys:
            hint = " (validation_data or validation_split gives val_*)"
            raise ValueError(
                f"EarlyStopping monitors {self.monitor!r}, which this training does not "
                f"record; available: {sorted(keys)}"
                + (hint if self.monitor.startswith("val_") else "")
            )

    def on_train_begin(self, net: Network) -> None:
        self._net = net
        self.best, self.best_epoch, self.wait, self._best_weights = math.inf, None, 0, None

    def on_epoch_end(self, record: Record) -> bool:
        self.check_keys([k for k, v in record.items() if isinstance(v, float) and k != "elapsed"])
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


def evaluate(
    net: Network,
    X: Any,
    Y: Any,
    loss: str | Loss,
    *,
    l2: float = 0.0,
    sample_weight: Any = None,
) -> dict[str, float]:
    """The loss (and accuracy, for classification losses) of ``net`` on ``(X, Y)``.

    ``X``: ndarray of shape (N, n_0), or (N, C, H, W) for images; ``Y``: ndarray of shape
    (N, n_L) (or (N,) for one output). Returns ``{"loss": E}`` plus ``"accuracy"`` for
    the cross-entropy losses.
    ``sample_weight``, ndarray of shape (N,) or None: weights s_n >= 0, not all zero;
    then E = Σ_n s_n ℓ_n / Σ_n s_n and the accuracy is weighted alike.
    The network's cache is not touched.
    """
    net = check_network(net)
    loss = _losses.get(loss)
    _losses.check_pair(loss, net.activations[-1])  # E must be a loss of these outputs
    X, _ = as_batch(X, "X", net.input_shape, net.dtype)
    Y = as_targets(Y, X.shape[0], net.n_outputs, net.dtype)
    loss.check_targets(Y)
    l2 = _check_l2(l2)
    r = as_sample_weight(sample_weight, X.shape[0], net.dtype)
    if r is not None:  # (equal weights give r = None: the plain mean, no ℓ_n needed)
        check_weighted_loss(loss, net.activations[-1])
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported below
        result = _evaluate(net, X, Y, loss, l2, r)
        if not math.isfinite(result["loss"]):  # an activation that made NaN or inf is named
            net._refuse_non_finite(net._forward(X), X)
    refuse_overflow(math.isfinite(result["loss"]), "the loss", X, net.dtype)
    return result


def _evaluate(
    net: Network, X: Array, Y: Array, loss: Loss, l2: float, r: Array | None = None
) -> dict[str, float]:
    result = {"loss": loss_value(net, X, Y, loss, l2, r)}
    if loss.name in CLASSIFICATION_LOSSES:
        y_hat = net._forward(X).y_hat
        multilabel = loss.name == "binary_crossentropy"
        if r is None:
            result["accuracy"] = accuracy(y_hat, Y, multilabel=multilabel)
        else:
            result["accuracy"] = weighted_correct(y_hat, Y, r, multilabel) / len(Y)
    return result


def train_step(
    net: Network,
    X: Any,
    Y: Any,
    loss: str | Loss,
    optimizer: Optimizer,
    *,
    l2: float = 0.0,
    sample_weight: Any = None,
) -> float:
    """One step of gradient descent on a batch, the textbook's four moves; returns E
    before the update.

    ``X``: ndarray of shape (B, n_0) or (B, C, H, W); ``Y``: ndarray of shape (B, n_L).
    ``sample_weight``: None or the batch's weights r_n, ndarray of shape (B,), taken as
    they are: E = (1/B) Σ_n r_n ℓ_n (:func:`fit` passes ``r = s·N/Σ s`` of the whole training set).
    Afterwards ``net.cache`` holds this batch's ``X̄_l``, ``z_l`` and ``Ψ_l = ∂E/∂z_l``.

    No update is applied whose result would not be finite: when a gradient is NaN or
    inf, or the update would write one, this raises :class:`DivergenceError` and the
    weights and the optimizer stay as they were (as in :func:`fit`, a loss that
    overflowed with every gradient finite is returned as it is, inf). With a
    learning-rate schedule, call ``optimizer.set_epoch(epoch)`` at the start of each
    epoch, as :func:`fit` does: the rate is ``schedule(epoch)``.

    >>> from psinet import Network, optimizers
    >>> net = Network([2, 2, 1], "sigmoid", seed=0)
    >>> X, Y = np.array([[0.0, 1.0]]), np.array([[1.0]])
    >>> E_before = train_step(net, X, Y, "mse", optimizers.SGD(0.5))
    >>> E_after = train_step(net, X, Y, "mse", optimizers.SGD(0.5))
    >>> E_after < E_before
    True
    """
    net = check_network(net)
    loss = _losses.get(loss)
    _losses.check_pair(loss, net.activations[-1])  # E must be a loss of these outputs
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a psinet Optimizer, got {type(optimizer).__name__}")
    X, _ = as_batch(X, "X", net.input_shape, net.dtype)
    Y = as_targets(Y, X.shape[0], net.n_outputs, net.dtype)
    loss.check_targets(Y)
    l2 = _check_l2(l2)
    r = None if sample_weight is None else _relative_weights(sample_weight, len(X), net.dtype)
    if r is not None:
        check_weighted_loss(loss, net.activations[-1])
    optimizer.bind_owner(net)  # one optimizer serves one network
    with np.errstate(over="ignore", invalid="ignore"):  # a non-finite step is refused below
        net.cache = net._forward(X)  # 1. forward: X̄_l, z_l, X_{l+1} = f_l(z_l)
        grads, E = backward(net, Y, loss, l2=l2, sample_weight=r)  # 2.–3. Ψ and ∂E/∂W_l
        for l, g in enumerate(grads):
            if not np.isfinite(g).all():
                raise DivergenceError(f"the gradient of weights[{l}] is not finite (NaN or inf)")
        G = max(float(np.abs(g).max()) for g in grads)  # max |∂E/∂W_l|: the guard's bound
        try:
            optimizer.step_if_finite(list(net.weights), grads, G)  # 4. update, in place
        except _optimizers.NonFiniteStep as exc:
            raise DivergenceError(str(exc)) from None
    return E


def _relative_weights(sample_weight: Any, n: int, dtype: np.dtype[Any]) -> Array:
    """``sample_weight`` (n,) as given, checked: finite, >= 0, in ``dtype``."""
    r = np.asarray(sample_weight, dtype=dtype)
    if r.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},), got {r.shape}")
    if not np.isfinite(r).all() or (r < 0).any():
        raise ValueError("sample_weight must be finite numbers >= 0")
    return r


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
    initial_epoch: int = 0,
    sample_weight: Any = None,
) -> History:
    """Train ``net`` by mini-batch gradient descent; returns a :class:`History`.

    Parameters
    ----------
    X : ndarray of shape (N, n_0), or (N, C, H, W) for images
    Y : ndarray of shape (N, n_L)
        Targets; shape (N,) is accepted for a single output. For
        ``categorical_crossentropy`` use one-hot rows (:func:`psinet.one_hot`).
    loss : str or Loss
    optimizer : Optimizer, name or None
        An optimizer object, or ``"sgd"``, ``"adagrad"``, ``"rmsprop"``, ``"adam"``,
        ``"adamw"`` with default settings; None means ``Adam()``. One optimizer
        serves one network: one that trained another network is refused (its
        ``reset()`` makes it new).
    epochs : int
        The number of the last epoch (epochs count from 1). From scratch this is the
        number of epochs; with ``initial_epoch=k`` the epochs run are ``k+1 … epochs``.
    batch_size : int
        Each epoch visits every sample once, in batches of ``batch_size``; the last,
        smaller batch is used, not dropped.
    shuffle, seed : bool, int >= 0 or None
        Epoch ``e``'s batches come from a permutation drawn by a generator seeded with
        the seed and ``e`` (``SeedSequence(seed, spawn_key=(e,))``): the same seed gives
        bit-identical weights, and a resumed run draws the same permutations as an
        uninterrupted one. None draws a fresh seed.
    validation_data : (X_val, Y_val) or None
    validation_split : float in [0, 1)
        Hold out this fraction of the samples, drawn at random with ``seed``; for the
        classification losses the draw is stratified (each class, by one-hot argmax
        or binary label, keeps its share on both sides).
    l2 : float
        L2 penalty λ on the weights proper (never the bias column).
    callbacks : sequence of Callback or callables ``f(record)``
        Called after each epoch; returning True (or raising :class:`StopTraining`)
        stops training. See :class:`EarlyStopping`.
    verbose : int
        0: silent; 1: one line per epoch (updated in place on a terminal).
    file : text stream or None
        Where progress goes (default ``sys.stdout``); needs ``write`` and ``flush``.
    initial_epoch : int
        Epochs already done: training continues with epoch ``initial_epoch + 1``, the
        learning-rate schedule and the shuffling where they would be. Saving with the
        optimizer (``net.save(path, optimizer=opt)``) and loading both back, then
        ``fit(..., initial_epoch=k)``, continues bit-identically.
    sample_weight : ndarray of shape (N,) or None
        Weights s_n >= 0, not all zero: the loss is E = Σ_n s_n ℓ_n / Σ_n s_n (and so
        the records' loss and accuracy). With relative weights ``r = s·N/Σ s`` a batch B
        minimises (1/|B|) Σ_{n∈B} r_n ℓ_n, whose mean over an epoch is that E. Held-out
        samples of ``validation_split`` keep their weights; ``validation_data`` is
        unweighted. Equal weights train exactly as no weights.

    Every argument is checked before anything changes. Ctrl-C stops training after the
    step under way (whole steps only) and returns the history so far, the cut epoch in
    ``History.partial``; a second Ctrl-C raises KeyboardInterrupt at once (still after
    a whole step). A step whose loss, gradient or update would not be finite raises
    :class:`DivergenceError` instead of being applied: the network keeps its last
    finite weights.

    Every step is :func:`train_step`'s (the textbook's), made fast by
    :mod:`psinet.engine`: the same numbers to rounding (``tests/test_engine.py``). With
    plain SGD (no momentum, no L2) on a wide first layer and a small batch (``W_0`` of
    4 MiB or more and ``n_1 > 0.17·B²``), and only when every activation and the loss
    are built-ins, the first layer's updates are applied two or three steps at a time,
    the forward pass in between corrected exactly for them
    (:class:`psinet.engine.deferred.PendingFirstLayer`); the weights are exact whenever
    anyone can look (at the end of every epoch, before callbacks and validation, and
    however fit returns or raises).
    """
    # 1. Check everything; nothing is changed before all checks have passed.
    net = check_network(net)
    loss = _losses.get(loss)
    _losses.check_pair(loss, net.activations[-1])  # E must be a loss of these outputs
    optimizer = _get_optimizer(optimizer)
    initial_epoch = check_int(initial_epoch, "initial_epoch", minimum=0, maximum=2**63 - 1)
    epochs = check_int(epochs, "epochs", minimum=0, maximum=2**63 - 1)
    if epochs < initial_epoch:
        raise ValueError(
            f"epochs is the number of the last epoch and must be >= initial_epoch "
            f"({initial_epoch}), got {epochs}"
        )
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    shuffle = check_bool(shuffle, "shuffle")
    seed = check_seed(seed)
    verbose = _check_verbose(verbose)
    l2 = _check_l2(l2)
    if file is not None and not all(
        callable(getattr(file, name, None)) for name in ("write", "flush")
    ):
        raise TypeError(f"file must be a text stream with write() and flush(), got {file!r}")
    X, _ = as_batch(X, "X", net.input_shape, net.dtype, check_finite=False)  # converted once
    # max|X| bounds every batch's ‖X̄_0‖² (the divergence check); a NaN or inf shows in it,
    # so it is also the check that X is finite (one pass fewer over the data)
    x_max = max(float(X.max()), -float(X.min()))
    if not math.isfinite(x_max):
        refuse_non_finite("X")
    Y = as_targets(Y, X.shape[0], net.n_outputs, net.dtype)
    loss.check_targets(Y)
    r = as_sample_weight(sample_weight, X.shape[0], net.dtype)
    if r is not None:  # (equal weights give r = None: the plain mean, no ℓ_n needed)
        check_weighted_loss(loss, net.activations[-1])
    seed = cast(int, np.random.SeedSequence().entropy) if seed is None else seed
    r_val = None
    if r is not None and validation_split:  # the same draw _split_validation makes
        held_out = _held_out(Y, loss, validation_split, seed)
        kept = np.ones(len(X), dtype=bool)
        kept[held_out] = False
        for rows, part in (
            (kept, "training part left after"),
            (held_out, "validation part held out by"),
        ):
            if not r[rows].any():  # the weights given sum to > 0; this part's do not
                raise ValueError(
                    f"sample_weight of the {part} validation_split={validation_split} sums "
                    f"to 0 (all {len(r[rows])} of its samples weigh 0): give some of them a "
                    "positive weight, or pass validation_data instead"
                )
        r_val = as_sample_weight(r[held_out], len(held_out), net.dtype)
        r = as_sample_weight(r[kept], int(kept.sum()), net.dtype)
    X, Y, validation = _split_validation(net, X, Y, loss, validation_data, validation_split, seed)
    hooks = [c if isinstance(c, Callback) else _CallableCallback(c) for c in callbacks]
    is_classifier = loss.name in CLASSIFICATION_LOSSES
    metrics = ["loss"] + (["accuracy"] if is_classifier else [])
    keys = [*metrics, "lr"] + ([f"val_{k}" for k in metrics] if validation is not None else [])
    for hook in hooks:
        if isinstance(hook, EarlyStopping):
            hook.check_keys(keys)
    grads = _raw.flat_arrays_like([W.shape for W in net.weights], net.dtype)  # one flat buffer
    optimizer._check(net.weights, grads)  # bound to other shapes? refused here
    optimizer.check_owner(net)  # bound to another network? refused here

    # 2. Train: every step is the textbook's train_step, made fast by the engine.
    optimizer.bind_owner(net)
    progress = _Progress(verbose, initial_epoch, epochs, file)
    history = History()
    n_samples = X.shape[0]
    n_steps = -(-n_samples // batch_size)

    for hook in hooks:
        hook.on_train_begin(net)
    start = time.perf_counter()
    # Divergence is detected explicitly (DivergenceError), so NumPy's overflow warnings
    # on the way there would only be noise.
    with DeferredInterrupt() as interrupt, np.errstate(over="ignore", invalid="ignore"):
        engine = Engine(net, X, Y, r, loss, optimizer, grads, l2, batch_size, shuffle, x_max)
        step = -1  # the last step taken or tried (-1: none yet)
        try:
            for epoch in range(initial_epoch, epochs):  # 0-based index; people read epoch + 1
                if interrupt.requested:
                    break
                optimizer.set_epoch(epoch)
                engine.begin_epoch(_epoch_order(n_samples, shuffle, seed, epoch), shuffle)
                seen = 0
                for step in range(n_steps):
                    try:
                        seen = engine.step(step)  # forward, Ψ, ∂E/∂W_l, update
                    except DivergenceError as exc:
                        where = f"epoch {epoch + 1}, step {step + 1} of {n_steps}"
                        cause = engine.cause(step)  # an activation that made NaN or inf
                        if cause is not None:
                            raise DivergenceError(
                                f"training stopped at {where}: {cause}. The network keeps "
                                "its last finite weights (this step was not applied)."
                            ) from None
                        raise DivergenceError(
                            f"training diverged at {where}: {exc}. The network keeps its last "
                            f"finite weights (this step was not applied). Try a smaller "
                            f"learning rate (now {optimizer.current_lr:.4g})."
                        ) from None
                    if progress.tty and progress.due(step + 1, n_steps):
                        progress.step(epoch, step + 1, n_steps, engine.loss(seen))
                    if interrupt.requested and step + 1 < n_steps:
                        break
                engine.end_epoch(step)  # the weights and net.cache exact, before anyone looks
                E = engine.loss(seen)
                if not math.isfinite(E):
                    raise DivergenceError(
                        f"training diverged in epoch {epoch + 1}: its loss is {E}, though every "
                        "update was finite. The network keeps the weights of its last step. "
                        f"Try a smaller learning rate (now {optimizer.current_lr:.4g})."
                    )
                record: Record = {"epoch": epoch + 1, "loss": E}
                if is_classifier:
                    record["accuracy"] = engine.accuracy(seen)
                if seen < n_samples:  # Ctrl-C cut this epoch short
                    record.update(partial=True, steps=step + 1, n_steps=n_steps)
                    record.update(engine.step_facts(start))
                    history.partial = record
                    break
                if validation is not None:
                    scores = _evaluate(net, validation[0], validation[1], loss, l2, r_val)
                    record.update({f"val_{k}": v for k, v in scores.items()})
                record.update(engine.step_facts(start))
                history.append(record)
                progress.epoch_end(record)
                stop = _callbacks_say_stop(hooks, record)
                if interrupt.requested:
                    break
                if stop:
                    history.stopped = _stop_reason(hooks, record)
                    break
        finally:
            engine.close(step if step >= 0 else None)
            for hook in hooks:
                hook.on_train_end(net)
            if interrupt.requested:  # anywhere in fit, even in the last callbacks
                history.stopped = "interrupted"
            progress.close(history)
    return history


def _epoch_order(n_samples: int, shuffle: bool, seed: int, epoch: int) -> Array:
    """The order of the samples in epoch ``epoch`` (0-based), a function of (seed, epoch).

    ``SeedSequence(seed, spawn_key=(epoch,))`` is the epoch-th child of the seed's
    sequence, independent of every other epoch's and of the validation split's.
    """
    if not shuffle:
        return np.arange(n_samples)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(epoch,)))
    return rng.permutation(n_samples)


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


class _Progress:
    """One line per epoch; on a terminal the line is updated in place during the epoch."""

    def __init__(self, verbose: int, initial_epoch: int, epochs: int, file: TextIO | None) -> None:
        self.verbose = verbose
        self.initial_epoch = initial_epoch
        self.epochs = epochs
        self.file = file if file is not None else sys.stdout
        self.tty = verbose > 0 and bool(getattr(self.file, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self.last_draw = 0.0

    def due(self, step: int, n_steps: int) -> bool:
        """Whether the in-place line is due for a redraw (at most every 0.1 s)."""
        return self.tty and (step == n_steps or time.perf_counter() - self.last_draw >= 0.1)

    def step(self, epoch: int, step: int, n_steps: int, running_loss: float) -> None:
        if not self.tty:
            return
        self.last_draw = time.perf_counter()
        width = len(str(self.epochs))
        self.file.write(
            f"\repoch {epoch + 1:>{width}}/{self.epochs}  step {step}/{n_steps}  "
            f"loss {_short(running_loss)}\x1b[K"
        )
        self.file.flush()

    def epoch_end(self, record: Record) -> None:
        if not self.verbose:
            return
        elapsed = record["elapsed"]
        done = record["epoch"] - self.initial_epoch  # epochs run by this call
        eta = elapsed / done * (self.epochs - record["epoch"])
        width = len(str(self.epochs))
        parts = [f"epoch {record['epoch']:>{width}}/{self.epochs}"]
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            if key in record:
                parts.append(f"{key} {_short(record[key])}")
        parts += [f"{elapsed:.1f}s", f"ETA {eta:.1f}s"]
        line = "  ".join(parts)
        self.file.write(f"\r{line}\x1b[K\n" if self.tty else line + "\n")
        self.file.flush()

    def close(self, history: History) -> None:
        if self.verbose and history.stopped:
            partial = history.partial
            cut = (
                ""
                if partial is None
                else f" (epoch {partial['epoch']} cut after step {partial['steps']}"
                f"/{partial['n_steps']})"
            )
            self.file.write(f"{'' if not self.tty else chr(13)}stopped: {history.stopped}{cut}\n")
            self.file.flush()


def _short(value: float) -> str:
    """A loss or accuracy in at most 10 characters: 0.0184, 2.0604, 3.162e+300, nan."""
    return f"{value:.4f}" if value == 0 or 1e-3 <= abs(value) < 1e4 else f"{value:.4g}"


def _split_validation(
    net: Network,
    X: Array,
    Y: Array,
    loss: Loss,
    validation_data: tuple[Any, Any] | None,
    validation_split: float,
    seed: int,
) -> tuple[Array, Array, tuple[Array, Array] | None]:
    validation_split = check_float(validation_split, "validation_split")
    if not 0 <= validation_split < 1:
        raise ValueError(f"validation_split must be a float in [0, 1), got {validation_split!r}")
    if validation_data is not None and validation_split:
        raise ValueError("give validation_data or validation_split, not both")
    if validation_data is not None:
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
            raise TypeError("validation_data must be a tuple (X_val, Y_val)")
        X_val, _ = as_batch(validation_data[0], "X_val", net.input_shape, net.dtype)
        Y_val = as_targets(validation_data[1], X_val.shape[0], net.n_outputs, net.dtype)
        loss.check_targets(Y_val)
        return X, Y, (X_val, Y_val)
    if validation_split:
        held_out = _held_out(Y, loss, validation_split, seed)
        kept = np.ones(len(X), dtype=bool)
        kept[held_out] = False
        return X[kept], Y[kept], (X[held_out], Y[held_out])
    return X, Y, None


def _held_out(Y: Array, loss: Loss, validation_split: float, seed: int) -> Array:
    """The sorted indices ``validation_split`` holds out, drawn with ``seed``."""
    n_val = round(validation_split * len(Y))
    if not 1 <= n_val < len(Y):
        raise ValueError(
            f"validation_split={validation_split} leaves {n_val} of {len(Y)} samples "
            "for validation; it must leave at least one on each side"
        )
    return np.sort(_validation_indices(Y, loss, n_val, np.random.default_rng(seed)))


def _check_verbose(verbose: object) -> int:
    """0 (silent) or 1 (progress); False and True are taken as 0 and 1."""
    if isinstance(verbose, (bool, np.bool_)):
        return int(verbose)
    return check_int(verbose, "verbose (0, 1 or a bool)", minimum=0)


def _validation_indices(Y: Array, loss: Loss, n_val: int, rng: np.random.Generator) -> Array:
    """``n_val`` random row indices; stratified by class for the classification losses.

    The class of a row is the argmax of its one-hot target (categorical cross-entropy)
    or its 0/1 label (binary cross-entropy with one output); several independent binary
    outputs, and the other losses, draw plainly at random.
    """
    if loss.name == "categorical_crossentropy":
        labels = Y.argmax(axis=1)
    elif loss.name == "binary_crossentropy" and Y.shape[1] == 1:
        labels = (Y[:, 0] > 0.5).astype(np.intp)
    else:
        return rng.permutation(len(Y))[:n_val]
    return _stratified_test_indices(labels, n_val, rng)


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
