"""One ``fit``'s engine: the data arranged per epoch, a step plan per batch size, and
the deferred first-layer update when it pays. :func:`psinet.training.fit` drives it:
``begin_epoch``, ``step`` for every batch, ``end_epoch``, and ``close`` however fit ends.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _raw
from ..backprop import _frobenius_norm
from ..losses import Loss
from ..network import Network
from ..optimizers import Optimizer
from .data import EpochData
from .deferred import PendingFirstLayer, folded_rate
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
        # every batch's ‖X̄_0‖² is at most B·(1 + n_0·max|X|²): the divergence check's bound
        self.X_bar_norm2_per_row = 1.0 + X.shape[1] * x_max * x_max
        multilabel = loss.name == "binary_crossentropy"
        self.data = EpochData(X, Y, r, net, loss, multilabel=multilabel, shuffled=shuffle)
        self.batch_size = batch_size
        self.batches = self.data.batches(batch_size)
        self.plans: dict[int, StepPlan] = {}  # one step plan per batch size, built when met
        self.last: StepPlan | None = None  # the plan of the last step taken
        B = min(batch_size, len(X))
        self.deferred = PendingFirstLayer.if_it_pays(  # W_0's update held back, if that pays
            net, loss, self.grads, optimizer, l2, B, own_rows=self.data.X_bar is None
        )
        self.penalty = 0.0

    def begin_epoch(self, order: Array, shuffled: bool) -> None:
        """Arrange the data in ``order`` (N,) and rebind what an epoch may change (η)."""
        self.data.arrange(order, shuffled)
        self.batches = self.data.batches(self.batch_size)  # views of this epoch's buffers
        for plan in self.plans.values():
            plan.begin_epoch()
        self.penalty = 0.0

    def step(self, i: int) -> None:
        """Train on batch ``i`` of the epoch; :class:`DivergenceError` leaves it unapplied."""
        a, b, X_b, Y_b, r_b, out_b = self.batches[i]
        plan = self.plans.get(b - a)
        if plan is None:
            plan = self.plans[b - a] = StepPlan(
                self.net,
                b - a,
                self.loss_fn,
                self.optimizer,
                self.grads,
                self.l2,
                (b - a) * self.X_bar_norm2_per_row,
                weighted=self.weighted,
            )
            if self.deferred is not None:
                plan.defer_first_layer(self.deferred)
        if self.deferred is not None:  # X̄_0 after the rows pending
            X_b = self.deferred.X_bar_b(self.data, a, b)
        elif X_b is None:  # a wide input, copied into the cache batch by batch
            X_b = self.data.X_bar_b(a, b, plan.buffers.X_bar_0)
        self.last = plan
        if self.l2:
            self.penalty += plan.step(X_b, Y_b, r_b) * (b - a)
        else:
            plan.step(X_b, Y_b, r_b)
        _raw.copyto(out_b, plan.kept)  # the step's outputs: the epoch's loss and accuracy

    def end_epoch(self) -> None:
        """Make everything exact before anyone looks: pending updates applied, η divided
        out of Ψ, ŷ written; ``net.cache`` then holds the last step's X̄_l, z_l and Ψ_l."""
        for plan in self.plans.values():
            plan.finish()
        if self.last is not None:
            self.net.cache = self.last.cache

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

    def close(self) -> None:
        """However fit ends: every plan finished and its cache its own again."""
        self.end_epoch()
        for plan in self.plans.values():
            plan.release()  # the cache lets go of the epoch's data
