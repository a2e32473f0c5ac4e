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
from typing import Any, ClassVar, TextIO, cast

import numpy as np

from . import _raw
from . import losses as _losses
from . import optimizers as _optimizers
from ._checks import (
    as_batch,
    as_sample_weight,
    as_targets,
    check_bool,
    check_float,
    check_int,
    check_network,
    check_seed,
    refuse_masked,
    refuse_non_finite,
    refuse_overflow,
)
from ._contract import loss_float
from .activations import Sigmoid, _nothing
from .backprop import (
    Sweep,
    _check_l2,
    _frobenius_norm,
    check_weighted_loss,
    loss_value,
    output_psi,
    weighted_loss,
    weighted_output_psi,
)
from .losses import Loss
from .network import ForwardCache, Network
from .optimizers import Optimizer
from .preprocessing import _stratified_test_indices

Array = np.ndarray
Record = dict[str, Any]

CLASSIFICATION_LOSSES = ("binary_crossentropy", "categorical_crossentropy")


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss, gradient or update; the step was not applied."""


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
    net: Network,
    X: Any,
    Y: Any,
    loss: str | Loss,
    *,
    l2: float = 0.0,
    sample_weight: Any = None,
) -> dict[str, float]:
    """The loss (and accuracy, for classification losses) of ``net`` on ``(X, Y)``.

    ``X``: ndarray of shape (N, n_0); ``Y``: ndarray of shape (N, n_L) (or (N,) for one
    output). Returns ``{"loss": E}`` plus ``"accuracy"`` for the cross-entropy losses.
    ``sample_weight``, ndarray of shape (N,) or None: weights s_n >= 0, not all zero;
    then E = Σ_n s_n ℓ_n / Σ_n s_n and the accuracy is weighted alike.
    The network's cache is not touched.
    """
    net = check_network(net)
    loss = _losses.get(loss)
    X, _ = as_batch(X, "X", net.n_inputs, net.dtype)
    Y = as_targets(Y, X.shape[0], net.n_outputs, net.dtype)
    loss.check_targets(Y)
    l2 = _check_l2(l2)
    r = as_sample_weight(sample_weight, X.shape[0], net.dtype)
    if r is not None:
        check_weighted_loss(loss, net.activations[-1])
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported below
        result = _evaluate(net, X, Y, loss, l2, r)
    refuse_overflow(math.isfinite(result["loss"]), "the loss", X, net.dtype)
    return result


def _evaluate(
    net: Network, X: Array, Y: Array, loss: Loss, l2: float, r: Array | None = None
) -> dict[str, float]:
    result = {"loss": loss_value(net, X, Y, loss, l2, r)}
    if loss.name in CLASSIFICATION_LOSSES:
        y_hat = net._propagate(X)[0]
        multilabel = loss.name == "binary_crossentropy"
        if r is None:
            result["accuracy"] = accuracy(y_hat, Y, multilabel=multilabel)
        else:
            result["accuracy"] = _weighted_correct(y_hat, Y, r, multilabel) / len(Y)
    return result


def _weighted_correct(
    y_hat: Array, Y: Array, r: Array | None, multilabel: bool, threshold: float = 0.5
) -> float:
    """Σ_n r_n c_n, c_n the fraction of sample n's outputs classified right (checked (N, k)).

    ``r``: (N,) or None for ones. An output counts as class 1 above ``threshold`` (0.5 for
    ŷ; 0 for the z of a sigmoid, since σ(z) > ½ exactly when z > 0).
    """
    k = y_hat.shape[1]
    if k == 1 or multilabel:
        hit = (y_hat > threshold) == (Y > 0.5)  # (N, k)
        correct = hit[:, 0] if k == 1 else np.dot(hit, np.ones(k)) / k  # row means, fast
    else:
        correct = y_hat.argmax(axis=1) == Y.argmax(axis=1)
    if r is None:
        return float(np.count_nonzero(correct) if correct.dtype == bool else correct.sum())
    return float(np.dot(r, correct))


def train_step(
    net: Network,
    X_b: Array,
    Y_b: Array,
    loss: Loss,
    optimizer: Optimizer,
    grads: Sequence[Array],
    l2: float = 0.0,
    *,
    X_bar_norm2: float | None = None,
    sample_weight: Array | None = None,
) -> float:
    """One step of gradient descent on a checked batch; returns E before the update.

    ``X_b``: ndarray of shape (B, n_0), or (B, n_0 + 1) already ending in a column of
    ones (``X̄_0``: then nothing is copied); ``Y_b``: ndarray of shape (B, n_L); both in
    ``net.dtype``. ``grads``: C-contiguous arrays shaped like ``net.weights``, reused
    every step; they receive ``∂E/∂W_l`` (times η when plain SGD's η is folded in, see
    below). ``X_bar_norm2``: an upper bound on ``‖X̄_0‖²`` for this batch (:func:`fit`
    knows one for its whole data set); None computes it from ``X_b``.
    ``sample_weight``: None or the batch's relative weights r, ndarray of shape (B,):
    E = (1/B) Σ_n r_n ℓ_n.

    No update is applied whose result would not be finite: when the loss, a Ψ, a
    gradient, the update or the optimizer's state would be NaN or inf, this raises
    :class:`DivergenceError` and the weights and the optimizer stay as they were.
    The check costs a dot product or a few over batch-sized arrays: by Cauchy–Schwarz
    each entry of ``∂E/∂W_l = Ψ_lᵀ X̄_l`` is at most ``‖Ψ_l‖ ‖X̄_l‖`` in size, and the
    optimizer turns that bound into bounds on what it writes
    (:meth:`psinet.optimizers.Optimizer.step_if_finite`). Afterwards ``net.cache.psi``
    holds ``Ψ_l = ∂E/∂z_l``.

    This runs the very step :func:`fit` runs, :meth:`_StepPlan.step`, once.
    """
    optimizer.bind_owner(net)  # one optimizer serves one network
    B = X_b.shape[0]
    plan = _StepPlan(net, B, loss, optimizer, grads, l2, X_bar_norm2, sample_weight is not None)
    if X_b.shape[1] == net.sizes[0]:  # X̄_0 = [X_b, 1] in the cache's own buffer
        plan.cache.X_bar_0[:, :-1] = X_b
        X_b = plan.cache.X_bar_0
    cache = plan.cache
    E = math.nan

    def loss_before_update(penalty: float) -> None:
        nonlocal E
        z, y_hat = cache.z[-1], cache.y_hat
        E = _batch_loss(loss, net, z, y_hat, Y_b, sample_weight) + penalty
        if not math.isfinite(E):
            raise DivergenceError(f"the loss became {E}")

    try:
        plan.step(X_b, plan.targets(Y_b), sample_weight, loss_before_update)
    finally:
        plan.finish()
    return E


def _batch_loss(
    loss: Loss, net: Network, z: Array, y_hat: Array, Y: Array, r: Array | None
) -> float:
    """E of ``net``'s output: from ``z`` (N, n_L) for a fused pair, else from ``y_hat``."""
    f_out = net.activations[-1]
    with np.errstate(over="ignore", invalid="ignore"):  # a non-finite E is reported
        if r is not None:
            return weighted_loss(loss, f_out, z, y_hat, Y, r)
        if loss.fuses_with(f_out):
            return loss_float(loss.value_from_z(z, Y), loss, "value_from_z")
        return loss_float(loss.value(y_hat, Y), loss, "value")


class _StepPlan:
    """The training step of one network at one batch size B, its arrays bound once.

    Built by :func:`fit` the first time it meets a batch size (a last, smaller batch
    gets its own plan), it holds what every step of that size reuses: the forward
    cache (``X̄_l``, ``z_l``, ``X_{l+1}``, ``Ψ_l``) with each layer's moves bound to it,
    the Ψ sweep (:class:`psinet.backprop.Sweep`), the gradient arrays, the start, the
    guard and the optimizer's update. :meth:`step` is then nothing but the
    derivation's four moves. Plain SGD's η is folded into Ψ (see :meth:`step`);
    :meth:`finish` divides it out again, so that ``net.cache.psi`` holds ``Ψ_l =
    ∂E/∂z_l`` whenever anyone can look (fit calls it before callbacks and on the way
    out). :meth:`begin_epoch` rebinds what may change between epochs (η, the arrays
    a callback may have touched).
    """

    def __init__(
        self,
        net: Network,
        B: int,
        loss: Loss,
        optimizer: Optimizer,
        grads: Sequence[Array],
        l2: float,
        X_bar_norm2: float | None,
        weighted: bool = False,
    ) -> None:
        self.net, self.loss, self.optimizer, self.grads, self.l2 = net, loss, optimizer, grads, l2
        self.cache = cache = net._buffers_for(B)
        # σ + binary cross-entropy, unweighted: the start computes ŷ = σ(z) itself, so the
        # forward pass skips the output activation (ŷ is written by finish())
        self.sigmoid_start = _sigmoid_start(net, loss, weighted)
        self.moves = list(cache.moves)
        if self.sigmoid_start:
            self.moves[-1] = (*self.moves[-1][:4], _nothing, *self.moves[-1][5:])
        self.y_hat_stale = False
        self.X_bar_norm2 = X_bar_norm2
        self.weights = list(net.weights)  # the network's own arrays, for its whole life
        self.eta: float | None = None  # the η folded into cache.psi, until finish()
        self.sweep = Sweep(net, cache, grads, l2)
        self.fused = loss.fuses_with(net.activations[-1])
        self.psi_out, self.y_hat, self.z_out = cache.psi[-1], cache.y_hat, cache.z[-1]
        self.c = np.zeros((), dtype=net.dtype)  # the start's factor η/B (1/B unfolded)
        self.c_half = np.zeros((), dtype=net.dtype)  # η/(2B), for the sigmoid start
        self.half = np.array(0.5, dtype=net.dtype)
        self.flat_grads = _raw.flat_view(grads)
        batch_size = sum(p.size for p in cache.psi) + sum(a.size for a in cache.a[:-1])
        # ‖∂E/∂W‖ from the gradients themselves (one vdot) when they are not much bigger
        # than the batch-sized arrays the Cauchy–Schwarz bound reads (measured: small,
        # 2,410 weights, 12% faster by the gradients; medium, 2.0× its batch arrays, 2%
        # faster by Cauchy–Schwarz)
        self.bound_from_grads = self.flat_grads is not None and (
            self.flat_grads.size <= 1.5 * batch_size + 4096
        )
        self.tiny = float(np.finfo(net.dtype).tiny)
        self.kept = cache.z[-1] if self.fused else cache.y_hat  # what fit keeps of a step
        self.interrupt = _DeferredInterrupt.active
        self.update: Callable[[float], None]
        self.deferred: _PendingFirstLayer | None = None  # set by defer_first_layer
        self.begin_epoch()

    def begin_epoch(self) -> None:
        """Bind η (a schedule changes it per epoch) and the optimizer's update afresh."""
        eta = self.eta = _folded_rate(self.optimizer)
        scale = 1.0 if eta is None else eta
        self.c[()] = scale / self.cache.n_samples
        self.c_half[()] = scale / (2 * self.cache.n_samples)
        self.scale = self.sweep.scale = scale
        self.eta = eta
        prescaled = eta is not None
        if self.deferred is None:  # (an optimizer's own bind_step need not know `deferred`)
            self.update = self.optimizer.bind_step(self.weights, self.grads, prescaled=prescaled)
        else:
            self.update = self.optimizer.bind_step(
                self.weights, self.grads, prescaled=prescaled, deferred=self.deferred
            )

    def defer_first_layer(self, pending: _PendingFirstLayer) -> None:
        """Let ``pending`` hold back the update of ``W_0`` (see :class:`_PendingFirstLayer`).

        The step keeps its four moves; two of them are bound differently: the forward
        product of layer 0 subtracts what is pending, ``z_0 = X̄_0 W_0ᵀ − (X̄_0 X̄_pendᵀ)
        Ψ_pend``, and the sweep's ``∂E/∂W_0 = Ψ_0ᵀ X̄_0`` is kept as its two factors,
        which the update pends. Both are this plan's own: the network's cache and its
        forward pass are untouched.
        """
        self.deferred = pending
        l, z_product, *rest = self.moves[0]  # layer 0's forward moves (Network._bind_forward)
        self.moves[0] = (l, pending.forward_product(z_product), *rest)
        _, psi_T, grad_0 = self.sweep.first
        self.sweep.first = (pending.hold, psi_T, grad_0)
        self.bound_from_grads = False  # grads[0] is not this step's: bound from Ψ and X̄
        self.begin_epoch()

    def step(
        self,
        X_bar_0: Array,
        Y_b: Array,
        r_b: Array | None = None,
        before_update: Callable[[float], None] | None = None,
    ) -> float:
        """One step on ``X̄_0`` (B, n_0 + 1, ones column last) and ``Y_b`` (B, n_L).

        ``Y_b``: the targets in the form :meth:`targets` gives them (Y itself, or
        ``2Y − 1`` for the sigmoid start). ``r_b``: None or relative sample weights,
        ndarray of shape (B,). Returns the L2
        penalty ``λ/2 Σ‖W_l‖²`` of the weights before the update (0.0 without L2); the
        loss itself is computed from the cached outputs (see :func:`fit`).
        ``before_update(penalty)``, if given, runs between the sweep and the update.
        Raises :class:`DivergenceError`, with nothing applied, when the step would
        write NaN or inf.
        """
        # 1. forward, caching X̄_l and z_l
        self.net._forward_bar(X_bar_0, self.cache, self.moves)
        # 2. the start Ψ_{L-1} = ∂E/∂ŷ ⊙ f'_{L-1}(z_{L-1}). Plain SGD's η is folded into it
        # (and so into every Ψ_l and ∂E/∂W_l), which makes the update one pass, w ← w − g.
        self.start(Y_b, r_b)
        # 3. the Ψ recursion back to layer 0: ∂E/∂W_l = Ψ_lᵀ X̄_l for every l
        penalty = self.sweep.run(X_bar_0)
        if before_update is not None:
            before_update(penalty)
        # 4. update, in place, never half-applied (a second Ctrl-C waits for its end)
        G = self.gradient_bound()
        interrupt = self.interrupt
        try:
            if interrupt is None:
                self.update(G)
            else:  # _whole(interrupt, self.update, G), written out: this is the hot path
                interrupt.critical = True
                try:
                    self.update(G)
                finally:
                    interrupt.leave_critical()
        except _optimizers.NonFiniteStep as exc:
            raise DivergenceError(str(exc)) from None
        return penalty

    def start(self, Y_b: Array, r_b: Array | None) -> None:
        """``Ψ_{L-1}`` (B, n_L) into ``cache.psi[-1]``, times η when η is folded in."""
        psi = self.psi_out
        if self.sigmoid_start:  # Ψ = (σ(z) − Y)·η/B, with σ(z) = ½ + ½·tanh(z/2):
            np.multiply(self.z_out, self.half, psi)  # z/2
            np.tanh(psi, psi)  # tanh(z/2) = 2σ(z) − 1
            np.subtract(psi, Y_b, psi)  # (2σ(z) − 1) − (2Y − 1) = 2(ŷ − Y)
            np.multiply(psi, self.c_half, psi)  # Ψ_{L-1} = (ŷ − Y)·η/B
            self.y_hat_stale = True
            return
        if self.fused:  # sigmoid + binary or softmax + categorical cross-entropy
            np.subtract(self.y_hat, Y_b, psi)  # ŷ − Y
            if r_b is not None:
                np.multiply(psi, r_b[:, None], psi)  # r ⊙ (ŷ − Y)
            np.multiply(psi, self.c, psi)  # Ψ_{L-1} = (ŷ − Y)·η/B
            return
        f_out, z, y_hat = self.net.activations[-1], self.z_out, self.y_hat
        if r_b is None:
            output_psi(self.loss, f_out, z, y_hat, Y_b, out=psi, scale=self.scale)
        else:
            weighted_output_psi(self.loss, f_out, z, y_hat, Y_b, psi, self.scale, r_b)

    def targets(self, Y: Array) -> Array:
        """``Y`` (N, n_L) in the form :meth:`step` takes: ``2Y − 1`` for the sigmoid start
        (a new array), else ``Y`` itself."""
        return _sigmoid_targets(Y) if self.sigmoid_start else Y

    def gradient_bound(self) -> float:
        """An upper bound on ``|∂E/∂W_l|`` over every entry (NaN or inf when unknown)."""
        g = self.flat_grads
        if self.bound_from_grads and g is not None:  # ‖g‖ itself; + size·tiny for underflow
            return math.sqrt(float(_raw.vdot(g, g)) + g.size * self.tiny)
        return _gradient_bound(self.net, self.cache, self.X_bar_norm2, self.l2, self.scale)

    def finish(self) -> None:
        """Divide the folded η out of ``net.cache.psi`` (the cache keeps Ψ_l = ∂E/∂z_l),
        and write ``ŷ = σ(z_{L-1})`` where the sigmoid start left it out.

        A deferred update of ``W_0`` is applied first: the weights are exact from here.
        """
        if self.deferred is not None:
            self.deferred.flush()
        if self.y_hat_stale:
            self.cache.moves[-1][4]()  # the output activation, bound to (z_{L-1}, ŷ)
            self.y_hat_stale = False
        if self.eta is not None:
            for psi in self.cache.psi:
                psi *= 1.0 / self.eta
            self.eta = None

    def release(self) -> None:
        """Let the cache keep its own copy of ``X̄_0`` rather than a view of fit's data."""
        cache = self.cache
        if cache.X_bar[0] is not cache.X_bar_0:
            cache.X_bar_0[...] = cache.X_bar[0]
            cache.X_bar[0] = cache.X_bar_0


# The deferred update of a wide first layer (plain SGD only): W_0's rank-B updates of m
# steps applied in one pass. It pays when the passes over W_0 it saves cost more than the
# correction products it adds: per group of m steps, m − 1 passes over the n_1 × (n_0 + 1)
# weights and gradient against m(m − 1)/2 products of B·B·(n_0 + 1) multiply-adds, so
# when n_1 > c·B², and only for a first layer well beyond the CPU caches. Per dtype
# (m, c): m as measured best through fit on the large workload [6565, 256, 18], batch 32,
# at one BLAS thread (ratio over the products alone, float64: 1.46–1.54 without, m = 2
# 1.29–1.30, m = 3 1.24–1.27, m = 4 1.22–1.25; float32: 1.20–1.25 without, m = 2
# 1.06–1.10, m = 3 1.12–1.15); c = 0.17 from a standalone prototype, between large
# (n_1 = 256 > 0.17·32²) and medium (batch 128: 256 < 0.17·128², which must not defer).
_DEFER = {np.dtype(np.float64): (3, 0.17), np.dtype(np.float32): (2, 0.17)}
_DEFER_MIN_BYTES = 1 << 22


class _PendingFirstLayer:
    """The update of a wide first layer, held back over a few steps and applied at once.

    Plain SGD (η folded into Ψ) changes ``W_0`` by ``−Ψ_0ᵀ X̄_0`` every step: a rank-B
    change that costs a pass over all of ``W_0`` (n_1, n_0 + 1), and one more to write
    ``∂E/∂W_0``, which on a wide first layer with a small batch is most of the memory
    traffic of a step. Instead the factors of the steps since the last application are
    kept, stacked in the order of the steps, ``X̄_pend = [X̄_1; …; X̄_p]`` (k, n_0 + 1)
    and ``Ψ_pend = [Ψ_1; …; Ψ_p]`` (k, n_1), k = Σ_p B_p rows, and every
    m steps (2 or 3, see ``_DEFER``) they are applied in one product and one pass::

        W_0 ← W_0 − Σ_p Ψ_pᵀ X̄_p = W_0 − Ψ_pendᵀ X̄_pend

    Meanwhile the forward product of a batch sees the weights as they would be, exactly
    (to rounding)::

        z_0 = X̄_0 (W_0 − Σ_p Ψ_pᵀ X̄_p)ᵀ = X̄_0 W_0ᵀ − (X̄_0 X̄_pendᵀ) Ψ_pend

    ``X̄_0 X̄_pendᵀ`` is (B, k): B·k·(n_0 + 1) multiply-adds, a fraction k/n_1 of the
    forward product. Layers l >= 1 are updated every step as usual.

    Nobody sees a held-back update: :meth:`flush` applies them (fit calls it through
    :meth:`_StepPlan.finish` at the end of every epoch, before the loss, validation,
    grad_norms and callbacks, and on the way out however fit ends) and leaves the last
    step's gradient in ``grads[0]``. A step's pair is pended only after the divergence
    guard has passed it (in the update, :meth:`pend`); any other update first applies
    everything (:meth:`materialize`) and runs as without deferral. Shared by every step
    plan of one fit (a last, smaller batch included): the rows pending are one block.

    Memory: ``Ψ_pend`` and the correction's scratch are batch-sized; ``X̄_pend`` is a
    view of fit's arranged data, or, for a wide unshuffled input that fit copies batch
    by batch, m·B rows of its own (large workload, float64: 5 MB beside 13 MB of weights).
    """

    def __init__(
        self, net: Network, grads: Sequence[Array], B: int, steps: int, own_rows: bool
    ) -> None:
        n_in, n_out = net.sizes[0] + 1, net.sizes[1]
        self.W_0, self.grad_0 = net.weights[0], grads[0]
        self.B, self.capacity = B, steps * B
        self.k = 0  # rows pending: X̄_pend = X_rows[a0 : a0 + k], Ψ_pend = psi[:k]
        self.k_last = 0  # where the last pended step's rows start
        self.psi = np.empty((self.capacity, n_out), dtype=net.dtype)
        # X̄_pend: rows of fit's epoch data when it has them (views: nothing copied), else
        # each batch is copied into its own rows here (in place of the cache's X̄_0)
        self.own = np.empty((self.capacity, n_in), dtype=net.dtype) if own_rows else None
        if self.own is not None:
            self.own[:, -1] = 1  # the bias "input"
        self.X_rows: Array = self.own if self.own is not None else np.empty((0, n_in), net.dtype)
        self.a0 = 0
        self.held: tuple[Array, Array] | None = None  # this step's (Ψ_0ᵀ, X̄_0)
        # scratch of the correction: X̄_0 X̄_pendᵀ (B, k) and its product with Ψ_pend (B, n_1)
        self.C = np.empty(B * self.capacity, dtype=net.dtype)
        self.D = np.empty(B * n_out, dtype=net.dtype)
        self.interrupt = _DeferredInterrupt.active

    @classmethod
    def if_it_pays(
        cls,
        net: Network,
        grads: Sequence[Array],
        optimizer: Optimizer,
        l2: float,
        B: int,
        own_rows: bool,
    ) -> _PendingFirstLayer | None:
        """One for this fit when the rule on the shapes says deferring pays, else None.

        Plain SGD only (η folded in; no L2, whose gradient needs W_0 every step)."""
        W_0 = net.weights[0]
        steps, cost = _DEFER.get(W_0.dtype, (0, math.inf))
        sgd = isinstance(optimizer, _optimizers.SGD) and optimizer.momentum == 0.0
        sgd = sgd and type(optimizer).bind_step is _optimizers.SGD.bind_step
        if not sgd or l2 or _folded_rate(optimizer) is None:
            return None
        if W_0.nbytes < _DEFER_MIN_BYTES or net.sizes[1] <= cost * B * B:
            return None
        return cls(net, grads, B, steps, own_rows)

    # --- the step's moves -------------------------------------------------------------

    def X_bar_b(self, data: _EpochData, a: int, b: int) -> Array:
        """``X̄_0`` of rows a … b-1 (b − a, n_0 + 1), so that it follows the rows pending.

        Makes room first: when the batch does not fit, what is pending is applied."""
        if self.k + (b - a) > self.capacity:
            self._critical(self._apply_all)
        if data.X_bar is not None:  # fit's arranged data: the pending rows are a view
            if self.k == 0:
                self.X_rows, self.a0 = data.X_bar, a
            return data.X_bar[a:b]
        assert self.own is not None
        self.X_rows, self.a0 = self.own, 0
        return data.X_bar_b(a, b, self.own[self.k : self.k + b - a])

    def forward_product(self, z_product: Callable[..., None]) -> Callable[..., None]:
        """Layer 0's forward product ``z_product(X̄_0, W_0ᵀ, z_0)``, corrected for what is
        pending: ``z_0 = X̄_0 W_0ᵀ − (X̄_0 X̄_pendᵀ) Ψ_pend``."""
        matmul, subtract = np.matmul, np.subtract

        def z_0_product(X_bar_0: Array, W_T: Array, z_0: Array) -> None:
            z_product(X_bar_0, W_T, z_0)  # z_0 = X̄_0 W_0ᵀ             (B, n_1)
            k = self.k
            if k:
                B = X_bar_0.shape[0]
                C, D = self.C[: B * k].reshape(B, k), self.D[: z_0.size].reshape(z_0.shape)
                X_pend = self.X_rows[self.a0 : self.a0 + k]
                matmul(X_bar_0, X_pend.T, C)  # X̄_0 X̄_pendᵀ                (B, k)
                matmul(C, self.psi[:k], D)  # (X̄_0 X̄_pendᵀ) Ψ_pend         (B, n_1)
                subtract(z_0, D, z_0)  # z_0 = X̄_0 (W_0 − Ψ_pendᵀ X̄_pend)ᵀ

        return z_0_product

    def hold(self, psi_T: Array, X_bar_0: Array, grad_0: Array) -> None:
        """The sweep's ``∂E/∂W_0 = Ψ_0ᵀ X̄_0``, kept as its two factors (nothing computed)."""
        self.held = psi_T, X_bar_0

    def pend(self) -> None:
        """This step's ``W_0 ← W_0 − Ψ_0ᵀ X̄_0``, pended (its X̄_0 already follows the rows
        pending): the update calls it once the guard has passed the step."""
        assert self.held is not None
        psi_T, X_bar_0 = self.held
        k, B = self.k, X_bar_0.shape[0]
        _raw.copyto(self.psi[k : k + B], psi_T.T)  # Ψ_pend gets Ψ_0's rows
        self.k, self.k_last, self.held = k + B, k, None

    def materialize(self) -> None:
        """Apply what is pending, then ``∂E/∂W_0 = Ψ_0ᵀ X̄_0`` into ``grads[0]``: the update
        then runs as without deferral."""
        self._apply_all()
        if self.held is not None:
            psi_T, X_bar_0 = self.held
            np.matmul(psi_T, X_bar_0, self.grad_0)  # ∂E/∂W_0 = Ψ_0ᵀ X̄_0 (times η)
            self.held = None

    def flush(self) -> None:
        """Apply what is pending, so that ``W_0`` is exact; ``grads[0]`` is left holding
        the last pended step's gradient (the records' grad_norms)."""
        if self.k:
            self._critical(self._flush)

    # --- applying ---------------------------------------------------------------------

    def _flush(self) -> None:
        k, k_last = self.k, self.k_last
        if k_last:
            self._apply(0, k_last)
        self._apply(k_last, k)  # the last step alone: grads[0] is its gradient
        self.k = 0

    def _apply_all(self) -> None:
        if self.k:
            self._apply(0, self.k)
            self.k = 0

    def _apply(self, i: int, j: int) -> None:
        """``W_0 ← W_0 − Ψ_pendᵀ X̄_pend`` over pending rows i … j-1, via ``grads[0]``."""
        X_pend = self.X_rows[self.a0 + i : self.a0 + j]  # (j − i, n_0 + 1)
        np.matmul(self.psi[i:j].T, X_pend, self.grad_0)  # Σ_p Ψ_pᵀ X̄_p     (n_1, n_0 + 1)
        np.subtract(self.W_0, self.grad_0, self.W_0)  # one pass over W_0

    def _critical(self, apply: Callable[[], None]) -> None:
        """Run ``apply`` whole: a second Ctrl-C waits for its end (as for an update)."""
        _whole(self.interrupt, apply)


# Plain SGD's η is folded into Ψ only when it is a moderate number: then Ψ·η·(1/η) gives
# Ψ back to rounding. η = 0 (a schedule at its end) or an extreme η takes the ordinary
# update w ← w − η·g.
_FOLD_RANGE = (1e-8, 1e8)


def _sigmoid_start(net: Network, loss: Loss, weighted: bool) -> bool:
    """Whether the step's start computes ``ŷ = σ(z_{L-1})`` itself (built-in sigmoid +
    binary cross-entropy, no sample weights): 4 NumPy calls for ŷ and Ψ instead of 6."""
    f_out = net.activations[-1]
    return (
        not weighted
        and loss.fuses_with(f_out)
        and isinstance(f_out, Sigmoid)
        and f_out._own(Sigmoid, "value")
    )


def _sigmoid_targets(Y: Array, out: Array | None = None) -> Array:
    """``2Y − 1`` (N, n_L), the targets as the sigmoid start takes them (exact for Y = 0, 1)."""
    out = np.multiply(Y, 2, out=out)
    out -= 1
    return out


def _folded_rate(optimizer: Optimizer) -> float | None:
    eta = optimizer.gradient_scale()
    if eta is None or not _FOLD_RANGE[0] <= eta <= _FOLD_RANGE[1]:
        return None
    return eta


_TINY = {np.dtype(t).char: float(np.finfo(t).tiny) for t in (np.float32, np.float64)}


def _gradient_bound(
    net: Network, cache: ForwardCache, X_bar_norm2: float | None, l2: float, scale: float
) -> float:
    """An upper bound on ``|∂E/∂W_l|`` over every entry of every layer (NaN or inf if unknown).

    Entry (i, j) of ``Ψ_lᵀ X̄_l`` is the dot product of column i of ``Ψ_l`` and column j
    of ``X̄_l``, so by Cauchy–Schwarz it is at most ``‖Ψ_l‖ ‖X̄_l‖`` (Frobenius norms,
    one dot product each over a batch-sized array; ``‖X̄_l‖² = ‖X_l‖² + N`` for the ones
    column). A NaN or inf anywhere in Ψ makes the bound NaN or inf. Each squared entry
    that underflows loses less than the dtype's ``tiny``, so ``size·tiny`` is added back
    to each ‖·‖². The L2 term adds at most ``scale·λ·‖W‖``.
    """
    psi, X_bar = cache.psi, cache.X_bar
    tiny = _TINY[psi[0].dtype.char]

    def norm2(x: Array) -> float:  # ‖x‖², never below the true value
        return float(np.vdot(x, x)) + x.size * tiny

    if X_bar_norm2 is None:
        X_bar_norm2 = norm2(cache.X_bar[0])
    total = norm2(psi[0]) * X_bar_norm2  # a sum keeps any NaN (max would not)
    for l in range(1, len(psi)):
        total += norm2(psi[l]) * norm2(X_bar[l])  # ‖X̄_l‖² = ‖X_l‖² + N (the ones)
    bound = math.sqrt(total)
    if l2:
        w_norm = math.sqrt(sum(float(np.vdot(W, W)) for W in net.weights))
        bound += scale * l2 * max(1.0, w_norm)  # ≥ the scalar scale·λ too: it must fit the dtype
    return bound


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
    X : ndarray of shape (N, n_0)
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

    With plain SGD (no momentum, no L2) on a wide first layer and a small batch (a
    rule on the shapes: ``W_0`` of 4 MiB or more and ``n_1 > 0.17·B²``), the first
    layer's updates are applied two or three steps at a time, in one pass over ``W_0``,
    and the forward pass in between is corrected exactly for them (see
    ``_PendingFirstLayer``): the results differ from step-by-step updates by rounding
    only, and the weights are exact whenever anyone can look (at the end of every
    epoch, before callbacks and validation, and however fit returns or raises).
    """
    # 1. Check everything; nothing is changed before all checks have passed.
    net = check_network(net)
    loss = _losses.get(loss)
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
    X, _ = as_batch(X, "X", net.n_inputs, net.dtype, check_finite=False)  # converted once
    # max|X| bounds every batch's ‖X̄_0‖² (the divergence check); a NaN or inf shows in it,
    # so it is also the check that X is finite (one pass fewer over the data)
    x_max = max(float(X.max()), -float(X.min()))
    if not math.isfinite(x_max):
        refuse_non_finite("X")
    Y = as_targets(Y, X.shape[0], net.n_outputs, net.dtype)
    loss.check_targets(Y)
    r = as_sample_weight(sample_weight, X.shape[0], net.dtype)
    if r is not None:
        check_weighted_loss(loss, net.activations[-1])
    seed = cast(int, np.random.SeedSequence().entropy) if seed is None else seed
    r_val = None
    if r is not None and validation_split:  # the same draw _split_validation makes
        held_out = _held_out(Y, loss, validation_split, seed)
        kept = np.ones(len(X), dtype=bool)
        kept[held_out] = False
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

    # 2. Train.
    optimizer.bind_owner(net)
    progress = _Progress(verbose, initial_epoch, epochs, file)
    history = History()
    n_samples = X.shape[0]
    n_steps = -(-n_samples // batch_size)
    # every batch's ‖X̄_0‖² is at most B·(1 + n_0·max|X|²): the divergence check's bound
    X_bar_norm2_per_row = 1.0 + X.shape[1] * x_max * x_max
    multilabel = loss.name == "binary_crossentropy"
    data = _EpochData(X, Y, r, net, loss, multilabel=multilabel, shuffled=shuffle)
    copyto = _raw.copyto
    plans: dict[int, _StepPlan] = {}  # one step plan per batch size, built when first met
    deferred: _PendingFirstLayer | None = None  # W_0's update held back, when that pays

    for hook in hooks:
        hook.on_train_begin(net)
    start = time.perf_counter()
    # Divergence is detected explicitly (DivergenceError), so NumPy's overflow warnings
    # on the way there would only be noise.
    with _DeferredInterrupt() as interrupt, np.errstate(over="ignore", invalid="ignore"):
        B = min(batch_size, n_samples)
        deferred = _PendingFirstLayer.if_it_pays(
            net, grads, optimizer, l2, B, own_rows=data.X_bar is None
        )
        try:
            for epoch in range(initial_epoch, epochs):  # 0-based index; people read epoch + 1
                if interrupt.requested:
                    break
                optimizer.set_epoch(epoch)
                data.arrange(_epoch_order(n_samples, shuffle, seed, epoch), shuffle)
                for bound in plans.values():
                    bound.begin_epoch()
                penalty, seen = 0.0, 0
                for step, (a, b, X_b, Y_b, r_b, out_b) in enumerate(data.batches(batch_size)):
                    plan = plans.get(b - a)
                    if plan is None:
                        plan = plans[b - a] = _StepPlan(
                            net,
                            b - a,
                            loss,
                            optimizer,
                            grads,
                            l2,
                            (b - a) * X_bar_norm2_per_row,
                            weighted=r is not None,
                        )
                        if deferred is not None:
                            plan.defer_first_layer(deferred)
                    try:
                        if deferred is not None:  # X̄_0 after the rows pending
                            X_b = deferred.X_bar_b(data, a, b)
                        elif X_b is None:  # a wide input, copied into the cache batch by batch
                            X_b = data.X_bar_b(a, b, plan.cache.X_bar_0)
                        if l2:
                            penalty += plan.step(X_b, Y_b, r_b) * (b - a)
                        else:
                            plan.step(X_b, Y_b, r_b)
                    except DivergenceError as exc:
                        raise DivergenceError(
                            f"training diverged at epoch {epoch + 1}, step {step + 1} of "
                            f"{n_steps}: {exc}. The network keeps its last finite weights "
                            f"(this step was not applied). Try a smaller learning rate "
                            f"(now {optimizer.current_lr:.4g})."
                        ) from None
                    seen = b
                    copyto(out_b, plan.kept)  # the step's outputs: the epoch's loss, accuracy
                    if progress.tty and progress.due(step + 1, n_steps):
                        progress.step(epoch, step + 1, n_steps, data.loss(seen, penalty))
                    if interrupt.requested and step + 1 < n_steps:
                        break
                for plan in plans.values():
                    plan.finish()  # net.cache.psi holds Ψ_l again, before anyone looks
                E = data.loss(seen, penalty)
                if not math.isfinite(E):
                    raise DivergenceError(
                        f"training diverged in epoch {epoch + 1}: its loss is {E}, though every "
                        "update was finite. The network keeps the weights of its last step. "
                        f"Try a smaller learning rate (now {optimizer.current_lr:.4g})."
                    )
                record: Record = {"epoch": epoch + 1, "loss": E}
                if is_classifier:
                    record["accuracy"] = data.accuracy(seen)
                if seen < n_samples:  # Ctrl-C cut this epoch short
                    record.update(partial=True, steps=step + 1, n_steps=n_steps)
                    record.update(_step_facts(optimizer, grads, start))
                    history.partial = record
                    break
                if validation is not None:
                    scores = _evaluate(net, validation[0], validation[1], loss, l2, r_val)
                    record.update({f"val_{k}": v for k, v in scores.items()})
                record.update(_step_facts(optimizer, grads, start))
                history.append(record)
                progress.epoch_end(record)
                stop = _callbacks_say_stop(hooks, record)
                if interrupt.requested:
                    break
                if stop:
                    history.stopped = _stop_reason(hooks, record)
                    break
        finally:
            for plan in plans.values():
                plan.finish()
                plan.release()  # the cache lets go of the epoch's data
            for hook in hooks:
                hook.on_train_end(net)
            if interrupt.requested:  # anywhere in fit, even in the last callbacks
                history.stopped = "interrupted"
            progress.close(history)
    return history


_COPY_AHEAD_MAX_WIDTH = 256  # unshuffled inputs at least this wide are copied per batch


class _EpochData:
    """The training data in one epoch's order, and what the epoch's steps output.

    ``X̄ = [X, 1]``, one contiguous ndarray of shape (N, n_0 + 1) whose ones column is
    written once, and ``Y`` (N, n_L), ``r`` (relative sample weights, (N,) or None): a
    shuffled epoch's permutation is applied once (one pass over the data, not a gather
    per step); unshuffled, X̄ is built once per fit. Every batch is a view of them.
    Each step leaves its ``z_{L-1}`` (for a fused loss, computed stably from z) or its
    ``ŷ`` in an (N, n_L) buffer, and for the classification losses its predicted classes
    in a per-sample buffer: the epoch's loss and accuracy are computed from them once,
    at the end of the epoch, with the same functions as for a single batch.
    """

    def __init__(
        self,
        X: Array,
        Y: Array,
        r: Array | None,
        net: Network,
        loss: Loss,
        *,
        multilabel: bool,
        shuffled: bool,
    ):
        self._X, self._Y, self._r = X, Y, r
        self.net, self._loss = net, loss
        # Unshuffled, a wide input is copied batch by batch into the cache's X̄_0, where the
        # product reads it while it is still in the CPU cache; built for the whole data
        # ahead, it would be read back from memory (medium, large: 3–5% of a step).
        self.X_bar: Array | None = None
        if shuffled or X.shape[1] < _COPY_AHEAD_MAX_WIDTH:
            self.X_bar = np.empty((X.shape[0], X.shape[1] + 1), dtype=X.dtype)
            self.X_bar[:, -1] = 1  # the bias "input" of every sample
        self.Y, self.r = Y, r  # in a buffer of their own once shuffled
        # the targets as the steps take them: 2Y − 1 for the sigmoid start, else Y
        self.sigmoid_start = _sigmoid_start(net, loss, r is not None)
        self.Y_start = np.empty_like(Y) if self.sigmoid_start else Y
        self._arranged = False
        self._batches: list[tuple[Any, ...]] | None = None
        self.fused = loss.fuses_with(net.activations[-1])
        # z_{L-1} (fused) or ŷ of every sample, widened to float64 as each step copies it
        # in (exact): the epoch's loss is computed in float64 without another copy
        self.outputs = np.empty(Y.shape, dtype=np.float64)
        self._Y64: Array | None = None  # Y in float64, for the loss (when Y is not)
        self.multilabel = multilabel

    def arrange(self, order: Array, shuffled: bool) -> None:
        """Put the samples in ``order`` (N,) into the buffers (once when not shuffled)."""
        if self._arranged and not shuffled:
            return
        self._arranged, self._Y64 = True, None
        if not shuffled:  # order is 0 … N-1: the data as they are
            if self.X_bar is not None:
                self.X_bar[:, :-1] = self._X
            if self.sigmoid_start:
                _sigmoid_targets(self.Y, out=self.Y_start)
            return
        assert self.X_bar is not None  # built for every shuffled fit
        if self.Y is self._Y:
            self.Y = np.empty_like(self._Y)
            self.r = None if self._r is None else np.empty_like(self._r)
            self._batches = None  # views of the new buffers from now on
        np.take(self._X, order, axis=0, out=self.X_bar[:, :-1], mode="clip")  # valid indices
        np.take(self._Y, order, axis=0, out=self.Y, mode="clip")
        if self._r is not None and self.r is not None:
            np.take(self._r, order, out=self.r, mode="clip")
        if self.sigmoid_start:
            _sigmoid_targets(self.Y, out=self.Y_start)
        else:
            self.Y_start = self.Y

    def batches(self, batch_size: int) -> list[tuple[Any, ...]]:
        """Per step ``(a, b, X̄_0, Y, r, outputs)`` of rows a … b-1: views of the epoch's
        buffers (which every epoch refills in place), made once per fit. ``X̄_0`` is None
        for a wide unshuffled input (see :meth:`X_bar_b`), ``r`` None without weights."""
        if self._batches is None:
            N, X_bar, Y, r, out = len(self.Y), self.X_bar, self.Y_start, self.r, self.outputs
            self._batches = [
                (
                    a,
                    min(a + batch_size, N),
                    None if X_bar is None else X_bar[a : a + batch_size],
                    Y[a : a + batch_size],
                    None if r is None else r[a : a + batch_size],
                    out[a : a + batch_size],
                )
                for a in range(0, N, batch_size)
            ]
        return self._batches

    def X_bar_b(self, a: int, b: int, out: Array) -> Array:
        """``X̄_0`` of rows a … b-1, ndarray of shape (b - a, n_0 + 1), ones column last:
        a view of the arranged data, or copied into ``out`` (its ones column written)."""
        if self.X_bar is not None:
            return self.X_bar[a:b]
        out[:, :-1] = self._X[a:b]
        return out

    def loss(self, seen: int, penalty: float) -> float:
        """E over the first ``seen`` rows (mean of per-sample losses) + ``penalty``/seen."""
        out, Y = self.outputs[:seen], self.Y[:seen]  # summed in float64: no overflow of
        r = None if self.r is None else self.r[:seen]  # the squares or of the sum
        if Y.dtype != np.float64:
            if self._Y64 is None:  # once per arrangement of the data
                self._Y64 = self.Y.astype(np.float64)
            Y = self._Y64[:seen]
            r = None if r is None else r.astype(np.float64)
        return _batch_loss(self._loss, self.net, out, out, Y, r) + penalty / seen

    def accuracy(self, seen: int) -> float:
        """The (weighted) fraction of the first ``seen`` rows classified right.

        For a fused output the classes come from z itself: ``argmax_k z = argmax_k
        softmax(z)`` and ``σ(z) > ½`` exactly when ``z > 0`` (ŷ is not formed again).
        """
        out, Y = self.outputs[:seen], self.Y[:seen]
        r = None if self.r is None else self.r[:seen]
        threshold = 0.0 if self.fused else 0.5  # on z (fused) or on ŷ
        return _weighted_correct(out, Y, r, self.multilabel, threshold) / seen


def _step_facts(optimizer: Optimizer, grads: Sequence[Array], start: float) -> Record:
    """The record's learning rate, elapsed time and gradient norms ‖∂E/∂W_l‖."""
    eta = _folded_rate(optimizer)  # grads hold η·∂E/∂W_l when η was folded in
    unscale = 1.0 if eta is None else 1.0 / eta
    return {
        "lr": float(optimizer.current_lr),
        "elapsed": time.perf_counter() - start,
        "grad_norms": [_frobenius_norm(g) * unscale for g in grads],
    }


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


class _DeferredInterrupt:
    """Ctrl-C during :func:`fit` (main thread only): the first one sets a flag that the
    loop checks after each step and epoch; the second one puts the previous handler back
    and raises KeyboardInterrupt at once, unless an update is being applied
    (``critical``): then as soon as that update is complete, so that no step is ever
    half-applied."""

    active: ClassVar[_DeferredInterrupt | None] = None  # the one of the running fit

    def __init__(self) -> None:
        self.requested = False
        self.critical = False  # True while the optimizer writes the weights
        self._escalate = False
        self._previous: Any = None
        self._installed = False  # our handler is the SIGINT handler now
        self._main = False  # entered in the main thread
        self._outer: _DeferredInterrupt | None = None

    def _handler(self, signum: int, frame: Any) -> None:
        if not self.requested:
            self.requested = True
        elif self.critical:
            self._escalate = True  # raised by leave_critical, right after the update
        else:
            self._restore()
            raise KeyboardInterrupt

    def leave_critical(self) -> None:
        """End of an update: raise the KeyboardInterrupt a second Ctrl-C asked for."""
        self.critical = False
        if self._escalate:
            self._escalate = False
            self._restore()
            raise KeyboardInterrupt

    def _restore(self) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def __enter__(self) -> _DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():  # signals go there only
            self._previous = signal.signal(signal.SIGINT, self._handler)
            self._installed = self._main = True
            self._outer, _DeferredInterrupt.active = _DeferredInterrupt.active, self
        return self

    def __exit__(self, *exc: object) -> None:
        if self._main:
            _DeferredInterrupt.active = self._outer
        self._restore()


def _whole(interrupt: _DeferredInterrupt | None, apply: Callable[..., None], *args: Any) -> None:
    """``apply(*args)`` run whole: a second Ctrl-C during it raises only at its end."""
    if interrupt is None:
        apply(*args)
        return
    interrupt.critical = True
    try:
        apply(*args)
    finally:
        interrupt.leave_critical()


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
        X_val, _ = as_batch(validation_data[0], "X_val", net.n_inputs, net.dtype)
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
