"""One ``fit``'s engine: the data arranged per epoch, a step plan per batch size, and
the deferred first-layer update when it pays. :func:`psinet.training.fit` drives it:
``begin_epoch``, ``step`` for every batch, ``end_epoch``, and ``close`` however fit ends.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._checks import non_finite_cause
from .._raw import copyto
from ..backprop import _frobenius_norm
from ..layers import Conv2D, Dense
from ..losses import Loss
from ..network import Network
from ..optimizers import Optimizer
from .data import EpochData
from .deferred import PendingFirstLayer, folded_rate
from .patches import built_in
from .step import StepPlan

Array = np.ndarray


class Engine:
    """The fast training steps of one ``fit`` call.

    ``X`` (N, n_0), ``Y`` (N, n_L) and ``r`` (relative sample weights, (N,) or None):
    the checked training data; ``x_max``: ``max|X|``, which bounds every batch's
    ``‖X̄_0‖²`` for the divergence guard. ``grads``: one flat buffer's views shaped like
    ``net.weights`` (C-contiguous); they receive every step's ``∂E/∂W_l`` (times η while
    η is folded in).
    """

    def __init__(
        self,
        net: Network,
        X: Array,
        Y: Array,
        r: Array | None,
        loss: Loss,
        optimizer: Optimizer,
        grads: Sequence[Array],
        l2: float,
        batch_size: int,
        shuffle: bool,
        x_max: float,
    ) -> None:
        self.net, self.loss_fn, self.optimizer, self.l2 = net, loss, optimizer, l2
        self.weighted = r is not None
        self.grads = grads
        # every batch's ‖X̄_0‖² is at most B·P·(1 + n·max|X|²) for P rows of n values per
        # sample (a dense layer: P = 1, n = n_0; a convolution: P positions, n = C·kh·kw)
        # (a layer of the user's own: its rows are unknown, ‖X̄_0‖² is measured every step)
        first = net.layers[0]
        self.X_bar_norm2_per_row: float | None = None
        if built_in(first, Dense) or built_in(first, Conv2D):
            self.X_bar_norm2_per_row = first.positions * (1.0 + first.n_in * x_max * x_max)
        multilabel = loss.name == "binary_crossentropy"
        self.data = EpochData(X, Y, r, net, loss, multilabel=multilabel, shuffled=shuffle)
        self.batch_size = batch_size
        self.plans: dict[int, StepPlan] = {}  # one step plan per batch size
        self.batches: list[tuple[Any, ...]] = []  # per step (a, b, X̄_0, Y, r, outputs)
        B = min(batch_size, len(X))
        self.deferred = PendingFirstLayer.if_it_pays(  # W_0's update held back, if that pays
            net, loss, self.grads, optimizer, l2, B, own_rows=self.data.X_bar is None
        )
        self.penalty = 0.0

    def begin_epoch(self, order: Array, shuffled: bool) -> None:
        """Arrange the data in ``order`` (N,) and rebind what an epoch may change (η)."""
        self.data.arrange(order, shuffled)
        self.batches = self.data.batches(self.batch_size)  # views of the epoch's buffers
        if self.deferred is not None:  # X̄_0 after the rows pending: made step by step
            self.batches = [(a, b, None, *rest) for a, b, _, *rest in self.batches]
        N, B = len(self.data.Y), self.batch_size
        for size in sorted({min(B, N), N % B or min(B, N)}):  # B, and a last smaller batch
            self._plan(size)  # built the first time
        for plan in self.plans.values():
            plan.begin_epoch()
        self.penalty = 0.0

    def _plan(self, B: int) -> StepPlan:
        """The step plan for batches of ``B`` samples (built the first time)."""
        plan = self.plans.get(B)
        if plan is None:
            plan = self.plans[B] = StepPlan(
                self.net,
                B,
                self.loss_fn,
                self.optimizer,
                self.grads,
                self.l2,
                None if self.X_bar_norm2_per_row is None else B * self.X_bar_norm2_per_row,
                weighted=self.weighted,
            )
            if self.deferred is not None:
                plan.defer_first_layer(self.deferred)
        return plan

    def step(self, i: int) -> int:
        """Train on batch ``i`` of the epoch; returns the samples seen so far in the epoch.

        Raises :class:`DivergenceError` with the step not applied."""
        a, b, X_b, Y_b, r_b, out_b = self.batches[i]
        plan = self.plans[b - a]
        if X_b is None:  # not a view made ahead (see _rows)
            X_b = self._rows(plan, a, b)
        penalty = plan.step(X_b, Y_b, r_b)
        if penalty:  # λ/2 Σ‖W‖² before the update, for the epoch's loss (0.0 without L2)
            self.penalty += penalty * (b - a)
        copyto(out_b, plan.kept)  # the step's outputs: the epoch's loss and accuracy
        return b

    def cause(self, i: int) -> str | None:
        """Why step ``i`` diverged, when an activation made NaN or inf from a finite
        ``z_l`` (its class and layer named); None when it was the numbers themselves."""
        a, b, *_ = self.batches[i]
        cache, parts = self.plans[b - a].cache, self.net.activations
        return non_finite_cause(cache.z, cache.a, parts, self.net.dtype)

    def _rows(self, plan: StepPlan, a: int, b: int) -> Array:
        """``X̄_0`` of rows a … b-1 where it is not a view made ahead: after the rows
        pending (deferred update), or a wide input copied into the cache batch by batch."""
        if self.deferred is not None:
            return self.deferred.X_bar_b(self.data, a, b)
        return self.data.X_bar_b(a, b, plan.buffers.X_bar_0)

    def end_epoch(self, i: int | None) -> None:
        """Make everything exact before anyone looks: pending updates applied, η divided
        out of Ψ, ŷ written; ``net.cache`` then holds the X̄_l, z_l and Ψ_l of step ``i``,
        the last one taken (None: no step was)."""
        for plan in self.plans.values():
            plan.finish()
        if i is not None and self.batches:
            a, b, *_ = self.batches[i]
            self.net.cache = self.plans[b - a].cache

    def loss(self, seen: int) -> float:
        """The epoch's E over its first ``seen`` samples (L2 penalty included)."""
        return self.data.loss(seen, self.penalty)

    def accuracy(self, seen: int) -> float:
        """The epoch's accuracy over its first ``seen`` samples."""
        return self.data.accuracy(seen)

    def step_facts(self, start: float) -> dict[str, Any]:
        """The record's learning rate, elapsed time and gradient norms ‖∂E/∂W_l‖."""
        eta = folded_rate(self.optimizer)  # grads hold η·∂E/∂W_l when η was folded in
        unscale = 1.0 if eta is None else 1.0 / eta
        return {
            "lr": float(self.optimizer.current_lr),
            "elapsed": time.perf_counter() - start,
            "grad_norms": [_frobenius_norm(g) * unscale for g in self.grads],
        }

    def close(self, i: int | None) -> None:
        """However fit ends (``i``: the last step taken or tried, or None): every plan
        finished and its cache its own again."""
        self.end_epoch(i)
        for plan in self.plans.values():
            plan.release()  # the cache lets go of the epoch's data
