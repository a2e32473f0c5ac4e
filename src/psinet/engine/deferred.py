"""The deferred update of a wide first layer: a few steps' ``W_0`` updates in one pass.

What it changes and why the result is the same: plain SGD changes ``W_0`` by a rank-B
product every step; held back and applied m steps at a time, the sum is the same, and
the forward pass in between subtracts what is pending from ``z_0`` exactly (to
rounding). Used only when every part of the network is exactly a built-in, so no code
of the user's runs while ``W_0`` is behind.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from .. import _raw
from .._contract import exactly
from .._interrupt import DeferredInterrupt, whole
from ..activations import ACTIVATIONS
from ..layers import Dense
from ..losses import LOSSES, Loss
from ..network import Network
from ..optimizers import Optimizer
from .patches import built_in as layer_built_in
from .update import plain_sgd

Array = np.ndarray


class Rows(Protocol):
    """The epoch's data as :meth:`PendingFirstLayer.X_bar_b` reads it (an ``EpochData``)."""

    X_bar: Array | None

    def X_bar_b(self, a: int, b: int, out: Array) -> Array:
        """``X̄_0`` of rows a … b-1, a view of ``X_bar`` or copied into ``out``."""
        ...


def folded_rate(optimizer: Optimizer) -> float | None:
    """Plain SGD's η when it may be folded into Ψ (a moderate number), else None.

    Then Ψ·η·(1/η) gives Ψ back to rounding; η = 0 (a schedule at its end) or an
    extreme η takes the ordinary update w ← w − η·g.
    """
    eta = optimizer.gradient_scale()
    if eta is None or not _FOLD_RANGE[0] <= eta <= _FOLD_RANGE[1]:
        return None
    return eta


_FOLD_RANGE = (1e-8, 1e8)


def built_in(net: Network, loss: Loss) -> bool:
    """Whether every activation of ``net`` and ``loss`` are exactly built-ins."""
    parts = [(f, ACTIVATIONS.get(f.name)) for f in net.activations] + [
        (loss, LOSSES.get(loss.name))
    ]
    return all(cls is not None and exactly(part, cls) for part, cls in parts)


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


class PendingFirstLayer:
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
    ``StepPlan.finish`` at the end of every epoch, before the loss, validation,
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
        self.interrupt = DeferredInterrupt.active

    @classmethod
    def if_it_pays(
        cls,
        net: Network,
        loss: Loss,
        grads: Sequence[Array],
        optimizer: Optimizer,
        l2: float,
        B: int,
        own_rows: bool,
    ) -> PendingFirstLayer | None:
        """One for this fit when the rule on the shapes says deferring pays, else None.

        Plain SGD only (η folded in; no L2, whose gradient needs W_0 every step), and only
        when every activation and the loss are exactly built-ins: a part of the user's own
        could read ``net.weights[0]`` during a step, and must see it exact."""
        W_0 = net.weights[0]
        steps, cost = _DEFER.get(W_0.dtype, (0, math.inf))
        if not plain_sgd(optimizer) or l2 or folded_rate(optimizer) is None:
            return None
        dense = all(layer_built_in(q, Dense) for q in net.layers)  # (derived for them)
        if not built_in(net, loss) or not dense:
            return None
        if W_0.nbytes < _DEFER_MIN_BYTES or net.sizes[1] <= cost * B * B:
            return None
        return cls(net, grads, B, steps, own_rows)

    # --- the step's moves -------------------------------------------------------------

    def X_bar_b(self, data: Rows, a: int, b: int) -> Array:
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
        whole(self.interrupt, apply)
