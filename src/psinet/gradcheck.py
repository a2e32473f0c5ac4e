"""Finite-difference gradients: the definition of the derivative, as a reference.

``numerical_gradients`` nudges one weight at a time and measures the change in E
with central differences. The textbook form (``order=2``)::

    ∂E/∂w ≈ (E(w + ε) − E(w − ε)) / (2ε)                        error O(ε²)

costs two forward passes per weight, ``2P`` for ``P`` weights, where backprop needs
one forward and one backward pass for all of them. As a reference psinet uses, by
default, the fourth-order central difference (``order=4``)::

    ∂E/∂w ≈ (−E(w + 2ε) + 8E(w + ε) − 8E(w − ε) + E(w − 2ε)) / (12ε)   error O(ε⁴)

at four passes per weight; its error is far smaller, so a disagreement
with backprop means a bug, not a coarse reference. Finite differences are how
psinet *tests* backprop, never how it trains.

``check_gradients`` compares the two, layer by layer, with the relative error
``|a − b| / max(|a|, |b|, tiny)`` (elementwise, maximum per layer). A layer passes
when that maximum is at most ``threshold`` (default :data:`DEFAULT_THRESHOLD`,
1e-6). On float64 and well-scaled problems (E of order 1, outputs not saturated)
backprop agrees with the default reference to about 1e-9. ``tiny`` (default
:data:`DEFAULT_TINY`, 1e-6) keeps entries that are both (nearly) zero from dividing
by zero: below it the error is in effect absolute. Rounding in E limits any finite
difference to an absolute accuracy of about ``1e-16·|E|/ε``; for large E raise
``tiny`` in proportion.

>>> import numpy as np
>>> from psinet import Network
>>> net = Network([3, 4, 2], ["tanh", "softmax"], seed=1)
>>> X = np.random.default_rng(0).normal(size=(5, 3))
>>> Y = np.eye(2)[[0, 1, 1, 0, 1]]
>>> report = check_gradients(net, X, Y, "categorical_crossentropy")
>>> report.passed
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import losses as _losses
from ._checks import as_batch, as_targets, check_float, check_int, check_network
from .backprop import _check_l2, gradients, loss_value
from .losses import Loss
from .network import Network

Array = np.ndarray

DEFAULT_EPS = 1e-3
"""Default step ε of the fourth-order central differences (float64)."""
DEFAULT_EPS_ORDER_2 = 1e-5
"""Default step ε of the second-order central differences."""
DEFAULT_THRESHOLD = 1e-6
"""A layer passes when its max relative error is at most this."""
DEFAULT_TINY = 1e-6
"""Floor of the relative error's denominator."""


def numerical_gradients(
    net: Network,
    X: Any,
    Y: Any,
    loss: str | Loss,
    *,
    eps: float | None = None,
    order: int = 4,
    l2: float = 0.0,
) -> list[Array]:
    """``∂E/∂W_l`` by central differences, one weight at a time.

    ``order`` is 4 (default; ``eps`` defaults to :data:`DEFAULT_EPS`) or 2 (the
    textbook two-point formula; ``eps`` defaults to :data:`DEFAULT_EPS_ORDER_2`).

    ``X``: ndarray of shape (N, n_0); ``Y``: ndarray of shape (N, n_L). Returns a list
    of float64 ndarrays shaped like ``net.weights``. The network is left bit-identical:
    each weight is restored from a saved copy, also when an error interrupts the loop.
    A float32 network is differentiated on a float64 copy (float32 has too few digits
    for finite differences); its weights are unchanged.
    """
    net = check_network(net)
    loss = _losses.get(loss)
    order = check_int(order, "order", minimum=2, maximum=4)
    if order not in (2, 4):
        raise ValueError(f"order must be 2 or 4, got {order!r}")
    if eps is None:
        eps = DEFAULT_EPS if order == 4 else DEFAULT_EPS_ORDER_2
    eps = check_float(eps, "eps", 0.0, 1.0, low_open=True, high_open=True)
    l2 = _check_l2(l2)
    work = net if net.dtype == np.float64 else net.copy(dtype=np.float64)
    X, _ = as_batch(X, "X", work.n_inputs, work.dtype)
    Y = as_targets(Y, X.shape[0], work.n_outputs, work.dtype)
    loss.check_targets(Y)

    steps, coefficients = _STENCILS[order]
    numeric = []
    for W in work.weights:
        grad = np.empty_like(W)
        for index in np.ndindex(*W.shape):
            w = W[index]
            total = 0.0
            try:
                for step, c in zip(steps, coefficients, strict=True):
                    W[index] = w + step * eps
                    total += c * loss_value(work, X, Y, loss, l2)
            finally:
                W[index] = w  # restore the saved value itself: bit-identical
            grad[index] = total / eps
        numeric.append(grad)
    return numeric


# Central-difference stencils: ∂E/∂w ≈ Σ c_i E(w + s_i ε) / ε
_STENCILS = {
    2: ((1, -1), (1 / 2, -1 / 2)),
    4: ((2, 1, -1, -2), (-1 / 12, 8 / 12, -8 / 12, 1 / 12)),
}


def relative_error(a: Array, b: Array, tiny: float = DEFAULT_TINY) -> Array:
    """Elementwise ``|a − b| / max(|a|, |b|, tiny)``: ndarray shaped like ``a``."""
    return np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), tiny)


@dataclass
class GradientCheck:
    """The result of :func:`check_gradients`, one entry per weight layer.

    ``errors[l]`` is the max relative error of layer l; ``backprop[l]`` and
    ``numerical[l]`` are the two gradients, ndarray of shape (n_{l+1}, n_l + 1).
    """

    errors: list[float]
    backprop: list[Array]
    numerical: list[Array]
    threshold: float

    @property
    def passed(self) -> bool:
        """True when every layer's max relative error is at most ``threshold``."""
        return all(e <= self.threshold for e in self.errors)

    @property
    def max_error(self) -> float:
        """The largest relative error over all layers."""
        return max(self.errors)

    def __str__(self) -> str:
        lines = ["layer  W shape      max |∂E/∂W|   max rel. error  ok", "-" * 52]
        for l, (e, g) in enumerate(zip(self.errors, self.backprop, strict=True)):
            ok = "yes" if e <= self.threshold else "NO"
            shape = f"{g.shape}"
            lines.append(f"{l:<5}  {shape:<11}  {np.abs(g).max():<12.4e}  {e:<14.3e}  {ok}")
        verdict = "passed" if self.passed else "FAILED"
        lines.append(f"{verdict} (threshold {self.threshold:g})")
        return "\n".join(lines)


def check_gradients(
    net: Network,
    X: Any,
    Y: Any,
    loss: str | Loss,
    *,
    eps: float | None = None,
    order: int = 4,
    l2: float = 0.0,
    threshold: float = DEFAULT_THRESHOLD,
    tiny: float = DEFAULT_TINY,
) -> GradientCheck:
    """Compare backprop's gradients with :func:`numerical_gradients`, layer by layer.

    ``X``: ndarray of shape (N, n_0); ``Y``: ndarray of shape (N, n_L). A float32
    network is checked on a float64 copy. Returns a :class:`GradientCheck`; print it
    for a per-layer table. ``net`` is left bit-identical (its cache is refreshed).
    """
    net = check_network(net)
    threshold = check_float(threshold, "threshold", 0.0)
    tiny = check_float(tiny, "tiny", 0.0, low_open=True)
    work = net if net.dtype == np.float64 else net.copy(dtype=np.float64)
    numeric = numerical_gradients(work, X, Y, loss, eps=eps, order=order, l2=l2)
    analytic, _ = gradients(work, X, Y, loss, l2=l2)
    errors = [
        float(relative_error(a, b, tiny).max()) for a, b in zip(analytic, numeric, strict=True)
    ]
    return GradientCheck(errors=errors, backprop=analytic, numerical=numeric, threshold=threshold)
