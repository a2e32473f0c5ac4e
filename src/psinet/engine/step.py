"""The training step of one network at one batch size, bound once: what ``fit`` runs.

:class:`StepPlan` makes the textbook's four moves (forward, the start of Ψ, the Ψ
recursion, the update) on buffers it allocates once. Besides the buffers and bound
moves (:mod:`psinet.engine.buffers`, :mod:`psinet.engine.moves`) it changes how three
things are computed, never what:

* **η folded into Ψ** (plain SGD only, ``folded_rate``): the start is multiplied by η,
  so, the recursion being linear, every ``Ψ_l`` and ``∂E/∂W_l`` carries η and the
  update is one pass, ``w ← w − g``. :meth:`StepPlan.finish` divides η out of the
  cache again before anyone can look at ``Ψ``.
* **Fused starts** (the exact built-in pairs only, :func:`psinet.losses.fused_pair`):
  ``Ψ_{L-1} = (ŷ − Y)·η/B``; with a sigmoid output, ``(tanh(z/2) − (2Y − 1))·η/(2B)``
  from z, with ŷ = σ(z) written at :meth:`StepPlan.finish` (σ(z) = ½ + ½·tanh(z/2)).
* **The divergence guard** bounds ``|∂E/∂W_l|`` by Cauchy–Schwarz from batch-sized
  arrays (:func:`psinet.engine.sweep.gradient_bound`), so proving a step finite costs
  a few dot products; the optimizer turns the bound into bounds on what it writes.

A loss or activation that is not exactly a built-in runs its own ``gradient`` and
``backward`` (through ``f.chain``), as in the textbook.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from .. import _raw
from .. import optimizers as _optimizers
from .._checks import DivergenceError
from .._contract import annotate, exactly
from .._interrupt import DeferredInterrupt
from ..activations import Sigmoid
from ..losses import Loss, MeanSquaredError, fused_pair
from ..network import Network
from ..optimizers import Optimizer
from .buffers import Buffers, forward
from .deferred import PendingFirstLayer, folded_rate
from .moves import backward_move, nothing
from .sweep import Sweep, gradient_bound
from .update import bind_update

Array = np.ndarray


class StepPlan:
    """The training step of one network at one batch size B, its arrays bound once.

    Built by :func:`psinet.fit` the first time it meets a batch size (a last, smaller
    batch gets its own plan), it holds what every step of that size reuses: the buffers
    (``X̄_l``, ``z_l``, ``X_{l+1}``, ``Ψ_l``) with each layer's moves bound to them, the Ψ
    sweep (:class:`psinet.engine.sweep.Sweep`), the gradient arrays, the start, the
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
        self.buffers = Buffers(net, B)
        self.cache = cache = self.buffers.cache
        # σ + binary cross-entropy, unweighted: the start computes ŷ = σ(z) itself, so the
        # forward pass skips the output activation (ŷ is written by finish())
        self.sigmoid_start = sigmoid_start(net, loss, weighted)
        self.moves = list(self.buffers.moves)
        if self.sigmoid_start:
            self.moves[-1] = (*self.moves[-1][:4], nothing, *self.moves[-1][5:])
        self.y_hat_stale = False
        self.X_bar_norm2 = X_bar_norm2
        self.weights = list(net.weights)  # the network's own arrays, for its whole life
        self.eta: float | None = None  # the η folded into cache.psi, until finish()
        self.sweep = Sweep(net, cache, grads, l2)
        f_out = net.activations[-1]
        self.fused = fused_pair(loss, f_out)
        self.mse = exactly(loss, MeanSquaredError)
        self.psi_out, self.y_hat, self.z_out = cache.psi[-1], cache.y_hat, cache.z[-1]
        self.f_out_prime = backward_move(f_out, self.psi_out, self.z_out, self.y_hat)
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
        self.interrupt = DeferredInterrupt.active
        self.update: Callable[[float], None]
        self.deferred: PendingFirstLayer | None = None  # set by defer_first_layer
        self.begin_epoch()

    def begin_epoch(self) -> None:
        """Bind η (a schedule changes it per epoch) and the optimizer's update afresh."""
        eta = self.eta = folded_rate(self.optimizer)
        scale = 1.0 if eta is None else eta
        self.c[()] = scale / self.cache.n_samples
        self.c_half[()] = scale / (2 * self.cache.n_samples)
        self.scale = self.sweep.scale = scale
        self.eta = eta
        prescaled = eta is not None
        self.update = bind_update(
            self.optimizer, self.weights, self.grads, prescaled=prescaled, deferred=self.deferred
        )

    def defer_first_layer(self, pending: PendingFirstLayer) -> None:
        """Let ``pending`` hold back the update of ``W_0`` (see :class:`PendingFirstLayer`).

        The step keeps its four moves; two of them are bound differently: the forward
        product of layer 0 subtracts what is pending, ``z_0 = X̄_0 W_0ᵀ − (X̄_0 X̄_pendᵀ)
        Ψ_pend``, and the sweep's ``∂E/∂W_0 = Ψ_0ᵀ X̄_0`` is kept as its two factors,
        which the update pends. Both are this plan's own: the network's cache and its
        forward pass are untouched.
        """
        self.deferred = pending
        l, z_product, *rest = self.moves[0]  # layer 0's forward moves (Buffers._bind)
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
        forward(X_bar_0, self.buffers, self.moves)
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
            else:  # whole(interrupt, self.update, G), written out: this is the hot path
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
        try:
            if self.mse:  # the built-in mse: ∂E/∂ŷ = (ŷ − Y)/B
                np.subtract(self.y_hat, Y_b, psi)
            else:  # any other loss: its own gradient, checked (the 1/B is in it)
                np.copyto(psi, self.loss.dE_dy_hat(self.y_hat, Y_b))
            if r_b is not None:
                np.multiply(psi, r_b[:, None], psi)  # row n times r_n
            np.multiply(psi, self.c if self.mse else self.scale, psi)  # times η (mse: η/B)
            self.f_out_prime()  # Ψ_{L-1} = ∂E/∂ŷ ⊙ f'_{L-1}(z_{L-1}), in place
        except Exception as exc:
            annotate(exc, "backprop, the output layer")
            raise

    def targets(self, Y: Array) -> Array:
        """``Y`` (N, n_L) in the form :meth:`step` takes: ``2Y − 1`` for the sigmoid start
        (a new array), else ``Y`` itself."""
        return sigmoid_targets(Y) if self.sigmoid_start else Y

    def gradient_bound(self) -> float:
        """An upper bound on ``|∂E/∂W_l|`` over every entry (NaN or inf when unknown)."""
        g = self.flat_grads
        if self.bound_from_grads and g is not None:  # ‖g‖ itself; + size·tiny for underflow
            return math.sqrt(float(_raw.vdot(g, g)) + g.size * self.tiny)
        return gradient_bound(self.net, self.cache, self.X_bar_norm2, self.l2, self.scale)

    def finish(self) -> None:
        """Divide the folded η out of ``net.cache.psi`` (the cache keeps Ψ_l = ∂E/∂z_l),
        and write ``ŷ = σ(z_{L-1})`` where the sigmoid start left it out.

        A deferred update of ``W_0`` is applied first: the weights are exact from here.
        """
        if self.deferred is not None:
            self.deferred.flush()
        if self.y_hat_stale:
            self.buffers.moves[-1][4]()  # the output activation, bound to (z_{L-1}, ŷ)
            self.y_hat_stale = False
        if self.eta is not None:
            for psi in self.cache.psi:
                psi *= 1.0 / self.eta
            self.eta = None

    def release(self) -> None:
        """Let the cache keep its own copy of ``X̄_0`` rather than a view of fit's data."""
        cache, own = self.cache, self.buffers.X_bar_0
        if cache.X_bar[0] is not own:
            own[...] = cache.X_bar[0]
            cache.X_bar[0] = own


def sigmoid_start(net: Network, loss: Loss, weighted: bool) -> bool:
    """Whether the step's start computes ``ŷ = σ(z_{L-1})`` itself (built-in sigmoid +
    binary cross-entropy, no sample weights): 4 NumPy calls for ŷ and Ψ instead of 6."""
    return (
        not weighted
        and exactly(net.activations[-1], Sigmoid)
        and fused_pair(loss, net.activations[-1])
    )


def sigmoid_targets(Y: Array, out: Array | None = None) -> Array:
    """``2Y − 1`` (N, n_L), the targets as the sigmoid start takes them (exact for Y = 0, 1)."""
    out = np.multiply(Y, 2, out=out)
    out -= 1
    return out
