"""The optimizer's update, bound once per epoch: ``update(G)`` with ``G`` a bound on ``|g|``.

The textbook's ``train_step`` calls ``optimizer.step_if_finite(weights, grads, G)``, which
proves from ``G`` and the optimizer's own bounds that the step writes nothing infinite.
The engine binds that call to the step's arrays once per epoch, and for plain SGD on
gradients that already carry η (η folded into Ψ, see :mod:`psinet.engine.step`) binds a
leaner call that does the same thing: ``w ← w − g`` in one subtract over the flat
weights, guarded by ``max|w| + G`` (a few scalar operations). Whatever the bounds cannot
prove, the first step, or arrays not yet checked take ``step_if_finite`` itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Protocol

import numpy as np

from .._raw import flat_view
from ..optimizers import SGD, Optimizer

Array = np.ndarray


class DeferredFirst(Protocol):
    """What holds back the update of ``weights[0]`` (the engine's ``PendingFirstLayer``)."""

    def pend(self) -> None:
        """Take this step's update of ``weights[0]``, ``w ← w − g``, to apply it later."""

    def materialize(self) -> None:
        """Apply every held-back update and write this step's gradient into ``grads[0]``."""


def plain_sgd(optimizer: Optimizer) -> bool:
    """Whether ``optimizer`` is exactly the built-in SGD's math without momentum: only then
    may the lean update (and the deferred first-layer update) stand in for its step."""
    kind = type(optimizer)
    own = all(
        getattr(kind, m) is getattr(SGD, m)
        for m in ("step", "step_if_finite", "_apply", "_update", "_next_bounds", "gradient_scale")
    )
    return isinstance(optimizer, SGD) and own and optimizer.momentum == 0.0


def bind_update(
    optimizer: Optimizer,
    weights: Sequence[Array],
    grads: Sequence[Array],
    *,
    prescaled: bool = False,
    deferred: DeferredFirst | None = None,
) -> Callable[[float], None]:
    """``update(G)``: :meth:`Optimizer.step_if_finite` on these arrays, bound once.

    ``prescaled``: the gradients already carry plain SGD's η. ``deferred``: None, or what
    holds back the update of ``weights[0]``: then ``grads[0]`` is not written by the
    sweep; the lean SGD call subtracts ``grads[1:]`` and hands ``weights[0]``'s update to
    ``deferred.pend()``; every other update first calls ``deferred.materialize()`` (which
    applies what is held back and writes this step's ``grads[0]``) and steps as usual.
    """
    step = partial(optimizer.step_if_finite, weights, grads, prescaled=prescaled)
    guarded: Callable[[float], Any] = step
    if deferred is not None:
        materialize = deferred.materialize

        def guarded(G: float) -> None:
            materialize()  # W_0 exact, grads[0] this step's gradient
            step(G)

    if not (prescaled and plain_sgd(optimizer)):
        return guarded
    return _lean_sgd(optimizer, weights, grads, guarded, deferred)


def _lean_sgd(
    optimizer: Optimizer,
    weights: Sequence[Array],
    grads: Sequence[Array],
    guarded: Callable[[float], Any],
    deferred: DeferredFirst | None,
) -> Callable[[float], None]:
    """Plain SGD on prescaled gradients: ``w ← w − g``, guarded by ``max|w|`` growing by at
    most G. With ``deferred`` the bound is the same: whether or not the update of
    ``weights[0]`` has been applied yet, ``max|w|`` is at most the sum of the Gs since the
    weights were measured."""
    first = 0 if deferred is None else 1  # the first layer this call subtracts
    flat_w, flat_g = flat_view(weights), flat_view(grads)
    if flat_w is not None and flat_g is not None:  # one subtract over all the weights
        skip = sum(w.size for w in weights[:first])
        pairs = [(flat_w[skip:], flat_g[skip:])]
    else:
        pairs = list(zip(weights[first:], grads[first:], strict=True))
    pend = None if deferred is None else deferred.pend
    subtract = np.subtract
    writeable = all(w.flags.writeable for w in weights)
    checked = False  # these very arrays passed step()'s checks: set by the first call

    def sgd(G: float) -> None:
        nonlocal checked
        b = optimizer._bounds
        if checked and b is not None:
            w_new = b["w"] + G  # |w − g| <= max|w| + G
            if w_new <= b["limit"] and G <= b["limit"]:  # False for NaN too
                optimizer.t += 1
                for w, g in pairs:
                    subtract(w, g, w)  # w ← w − η·∂E/∂W
                if pend is not None:
                    pend()  # W_0 ← W_0 − η·∂E/∂W_0, held back and applied later
                b["w"], b["step"], b["g"] = w_new, G, G
                return
        guarded(G)
        checked = writeable and optimizer._fits_layout(weights, grads)

    return sgd
