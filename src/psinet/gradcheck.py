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

``check_gradients`` compares the two, layer by layer, and first asks what the finite
differences can resolve. Their error has two parts:

* **rounding**: E is a rounded float, known to some ``δE`` (at least ε_machine times
  |E| or the output layer's |z|, more when rounding noise builds up, which is measured);
  the stencil divides it by ε: ``≈ Σ|c_i|·δE/ε`` (``1.5·δE/ε`` for ``order=4``);
* **truncation**: the ``O(ε⁴)`` (``O(ε²)``) term, estimated per weight from the same
  stencil at a second step (``2ε``): ``D(2ε) − D(ε) ≈ (2⁴ − 1)·error``.

An entry that finite differences resolve to the ``threshold`` (their error is at most
half of ``threshold·max(|bp|, |fd|)``) is compared by its **relative error**
``|bp − fd| / max(|bp|, |fd|)``; the other entries by their **absolute error**
``|bp − fd|``, which may be as large as the finite differences' own error. A layer

* **fails** when some entry differs by more than that;
* is **unresolved** when no entry is resolved to the threshold: its gradients have
  (nearly) vanished below the rounding of E, are exactly 0, or E is not smooth on the
  scale of ε (a relu kink within reach). The report says which, and what to try;
* **passes** otherwise. ``report.passed`` is True only when every layer passed.

On float64 and well-scaled problems (E of order 1) backprop agrees with the default
reference to about 1e-9 and every layer whose gradients exceed ~1e-5 is resolved.

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

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import losses as _losses
from ._checks import as_batch, as_targets, check_float, check_int
from .activations import ELU, LeakyReLU, ReLU
from .backprop import _check_l2, gradients, loss_value
from .losses import Loss
from .network import Network, check_network

Array = np.ndarray

DEFAULT_EPS = 1e-3
"""Default step ε of the fourth-order central differences (float64)."""
DEFAULT_EPS_ORDER_2 = 1e-5
"""Default step ε of the second-order central differences."""
DEFAULT_THRESHOLD = 1e-6
"""A layer passes when its max relative error is at most this."""
DEFAULT_TINY = 1e-6
"""Default floor of :func:`relative_error`'s denominator."""


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

    ``X``: ndarray of shape (N, n_0) (images: (N, C, H, W)); ``Y``: ndarray of shape
    (N, n_L). Returns a list of float64 ndarrays shaped like ``net.weights``. The network
    is left bit-identical: each weight is restored from a saved copy, also when an error
    interrupts the loop.
    A float32 network is differentiated on a float64 copy (float32 has too few digits
    for finite differences); its weights are unchanged.

    The result is never NaN or inf without a word: when E itself is not finite at the
    given weights (it overflowed float64: inputs near 1e200, say) there is nothing to
    difference, and a ValueError says what overflowed and what to scale; when E is
    finite there but not a step or two of ``eps`` away, the entries are returned as they
    are, with a RuntimeWarning naming the first such weight (:func:`check_gradients`
    reports that layer *unresolved* instead).
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
    X, _ = as_batch(X, "X", work.input_shape, work.dtype)
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
    if not all(np.isfinite(g).all() for g in numeric):
        _say_why_not_finite(work, X, Y, loss, l2, numeric, steps, eps)
    return numeric


_NOT_FINITE_NEAR = "numerical_gradients: E is not finite"


def _say_why_not_finite(
    net: Network,
    X: Array,
    Y: Array,
    loss: Loss,
    l2: float,
    numeric: list[Array],
    steps: tuple[int, ...],
    eps: float,
) -> None:
    """Called when some finite difference is NaN or inf: a ValueError when E itself (the
    point every difference is taken around) is not finite; else a RuntimeWarning naming
    the first such weight and the step at which E stopped being finite."""
    E = loss_value(net, X, Y, loss, l2)
    if not np.isfinite(E):
        try:
            y_hat = net.predict(X)  # ŷ not finite: its error says why (overflow, or a part)
        except ValueError as exc:
            raise ValueError(
                f"numerical_gradients: the loss E at the given weights is {E}, as {exc}"
            ) from None
        y_max = float(np.abs(y_hat).max())
        raise ValueError(
            f"numerical_gradients: the loss E at the given weights is {E}: it overflowed "
            f"float64 (max |X| = {float(np.abs(X).max()):.4g}, max |ŷ| = {y_max:.4g}), so "
            "every finite difference around it is NaN: scale the inputs "
            "(psinet.Standardizer), the targets or the weights down"
        )
    l = next(l for l, g in enumerate(numeric) if not np.isfinite(g).all())
    bad = ~np.isfinite(numeric[l])
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    W = net.weights[l]
    w = W[index]
    at: dict[int, float] = {}
    try:
        for step in sorted(steps, key=abs):
            W[index] = w + step * eps
            at[step] = loss_value(net, X, Y, loss, l2)
    finally:
        W[index] = w  # restore the saved value itself: bit-identical
    reach = "ε" if max(steps) == 1 else f"{max(steps)}ε"
    first = next((s for s in at if not np.isfinite(at[s])), None)
    if first is None:  # each E finite, their weighted sum not
        shown = f"E up to {max(abs(v) for v in at.values()):.4g} there: their difference overflowed"
    else:
        sign, k = "+" if first > 0 else "−", abs(first) if abs(first) > 1 else ""
        shown = f"E(w {sign} {k}ε) = {at[first]}"
    warnings.warn(
        f"{_NOT_FINITE_NEAR} within {reach} of weights[{l}]"
        f"[{', '.join(map(str, index))}] ({shown}, E(w) = {E:.4g}): {int(bad.sum())} "
        f"entr{'y' if bad.sum() == 1 else 'ies'} of weights[{l}]'s gradient "
        f"{'is' if bad.sum() == 1 else 'are'} not finite. E overflows float64 or is "
        "undefined a step away: try a smaller eps, or inputs and weights that keep E "
        "well inside float64's range",
        RuntimeWarning,
        stacklevel=3,
    )


# Central-difference stencils: ∂E/∂w ≈ Σ c_i E(w + s_i ε) / ε
_STENCILS = {
    2: ((1, -1), (1 / 2, -1 / 2)),
    4: ((2, 1, -1, -2), (-1 / 12, 8 / 12, -8 / 12, 1 / 12)),
}


def relative_error(a: Array, b: Array, tiny: float = DEFAULT_TINY) -> Array:
    """Elementwise ``|a − b| / max(|a|, |b|, tiny)``: ndarray shaped like ``a``.

    Below ``tiny`` the denominator is ``tiny``: there the error is in effect absolute.
    """
    return np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), tiny)


@dataclass
class LayerCheck:
    """One layer's row of a :class:`GradientCheck`.

    * ``max_grad``: ``max |∂E/∂W_l|`` from backprop;
    * ``fd_error``: what the finite differences can resolve here: the largest estimated
      absolute error of their entries, ``rounding + truncation``;
    * ``rounding``: ``≈ Σ|c_i|·δE/ε`` (δE the rounding error of one evaluation of E);
    * ``truncation``: the largest per-entry truncation error, estimated from the
      same stencil at two step sizes;
    * ``rel_error``: ``max |bp − fd| / max(|bp|, |fd|)`` over the ``n_relative``
      entries the finite differences resolve to the threshold (NaN when none);
    * ``abs_error``: ``max |bp − fd|`` over the other ``n_absolute`` entries, which may
      differ by their own finite-difference error (NaN when none);
    * ``status``: ``"passed"``, ``"failed"`` or ``"unresolved"``; ``cause`` in a word
      (``""``, ``"mismatch"``, ``"not finite"``, ``"zero"``, ``"vanished"``,
      ``"not smooth"``) and ``reason`` in a sentence, with what to try.
    """

    layer: int
    shape: tuple[int, ...]
    max_grad: float
    fd_error: float
    rounding: float
    truncation: float
    rel_error: float
    abs_error: float
    n_relative: int
    n_absolute: int
    status: str
    cause: str
    reason: str


@dataclass
class GradientCheck:
    """The result of :func:`check_gradients`: one :class:`LayerCheck` per weight layer.

    ``layers[l]`` is layer l's row; ``backprop[l]`` and ``numerical[l]`` are the two
    gradients, ndarray of shape (n_{l+1}, n_l + 1). ``passed`` is True only when every
    layer was resolved by the finite differences *and* agreed; ``print`` the report for
    a table, with the reason and some advice for each layer that did not pass.
    """

    layers: list[LayerCheck]
    backprop: list[Array]
    numerical: list[Array]
    threshold: float
    eps: float
    order: int
    E: float

    @property
    def passed(self) -> bool:
        """True when every layer is ``"passed"``: resolved, and agreeing."""
        return all(row.status == "passed" for row in self.layers)

    @property
    def status(self) -> str:
        """``"failed"`` if a layer failed, else ``"unresolved"`` if one was, else ``"passed"``."""
        statuses = {row.status for row in self.layers}
        return next(s for s in ("failed", "unresolved", "passed") if s in statuses)

    @property
    def errors(self) -> list[float]:
        """Each layer's max relative error over its resolved entries (NaN when none)."""
        return [row.rel_error for row in self.layers]

    @property
    def max_error(self) -> float:
        """The largest relative error over all layers' resolved entries (NaN when none)."""
        finite = [e for e in self.errors if not np.isnan(e)]
        return max(finite) if finite else float("nan")

    def _table(self) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
        """(header, one row per layer) of the report."""

        def number(x: float, n: int) -> str:
            return "—" if np.isnan(x) else f"{x:.2e} ({n})"

        header: tuple[str, ...] = (
            "layer", "W shape", "max |∂E/∂W|", "fd error ≈", "max rel. error", "max abs. error",
            "status",
        )  # fmt: skip
        rows: list[tuple[str, ...]] = [
            (
                str(r.layer),
                f"{r.shape}",
                f"{r.max_grad:.3e}",
                f"{r.fd_error:.1e}",
                number(r.rel_error, r.n_relative),
                number(r.abs_error, r.n_absolute),
                r.status,
            )
            for r in self.layers
        ]
        return header, rows

    def _notes(self) -> list[str]:
        """What the columns mean, a line per group of layers that did not pass, the verdict."""
        lines = [
            f"rel. error |bp − fd| / max(|bp|, |fd|) over the (n) entries the finite differences "
            f"resolve\nto the threshold {self.threshold:g}; abs. error |bp − fd| over the others, "
            f"allowed up to their fd error\n(order-{self.order} central differences, "
            f"ε = {self.eps:g}, E = {self.E:.6g})"
        ]
        groups: list[list[LayerCheck]] = []  # consecutive layers with the same verdict
        for r in self.layers:
            if r.status == "passed":
                continue
            last = groups[-1][-1] if groups else None
            if last and (last.layer, last.status, last.cause) == (r.layer - 1, r.status, r.cause):
                groups[-1].append(r)
            else:
                groups.append([r])
        for group in groups:
            first, worst = group[0], max(group, key=lambda r: r.max_grad)
            which = (
                f"layer {first.layer}"
                if len(group) == 1
                else (f"layers {first.layer}–{group[-1].layer}")
            )
            largest = f"; of them layer {worst.layer} has the largest gradients"
            example = "" if len(group) == 1 else largest
            lines.append(f"{which} {first.status}{example}: {worst.reason}")
        verdict = {"passed": "passed", "failed": "FAILED", "unresolved": "UNRESOLVED"}
        lines.append(f"{verdict[self.status]} (threshold {self.threshold:g})")
        return lines

    def __str__(self) -> str:
        from ._display import text_table

        return "\n".join([*text_table(*self._table()), *self._notes()])

    def __repr__(self) -> str:
        return (
            f"GradientCheck(status={self.status!r}, max_error={self.max_error:.3g}, "
            f"layers={len(self.layers)}, threshold={self.threshold:g})"
        )

    def _repr_html_(self) -> str:
        """The per-layer report for Jupyter: status in words (and colour), notes below."""
        import html

        from ._display import html_table

        header, rows = self._table()
        colours = {"passed": "#1a7f37", "failed": "#cf222e", "unresolved": "#9a6700"}
        styled = [
            [
                *(html.escape(c) for c in row[:-1]),
                f'<b style="color: {colours.get(row[-1], "inherit")}">{html.escape(row[-1])}</b>',
            ]
            for row in rows
        ]
        notes = "".join(
            f"<p>{html.escape(line).replace(chr(10), '<br>')}</p>" for line in self._notes()
        )
        caption = f"gradient check: {self.status}"
        return html_table(header, styled, caption=caption, raw_cells=True) + notes

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        """The report's text, for IPython's plain-text display."""
        from ._display import pretty

        pretty(p, cycle, str(self), "GradientCheck(...)")


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
    tiny: float | None = None,
) -> GradientCheck:
    """Compare backprop's gradients with :func:`numerical_gradients`, layer by layer.

    ``X``: ndarray of shape (N, n_0) (images: (N, C, H, W)); ``Y``: ndarray of shape
    (N, n_L). A float32 network is checked on a float64 copy. Returns a
    :class:`GradientCheck`; print it for a per-layer table. ``net`` is left bit-identical
    (its cache is refreshed).

    Per layer, the finite differences' own error is estimated (see the module
    docstring). An entry they resolve to ``threshold`` is compared by its relative
    error; the others may differ by their finite-difference error. A layer *fails*
    when some entry differs by more than that; it is *unresolved* when no entry is
    resolved to ``threshold`` (typically: gradients vanishing below the rounding of E);
    it *passes* otherwise. ``tiny`` (optional) compares entries smaller than it
    absolutely too, allowing ``threshold·tiny``.
    """
    net = check_network(net)
    threshold = check_float(threshold, "threshold", 0.0, low_open=True)
    tiny = None if tiny is None else check_float(tiny, "tiny", 0.0)
    loss = _losses.get(loss)
    work = net if net.dtype == np.float64 else net.copy(dtype=np.float64)
    with warnings.catch_warnings():  # an entry that is not finite: the report says so
        warnings.filterwarnings("ignore", _NOT_FINITE_NEAR, RuntimeWarning, __name__)
        numeric = numerical_gradients(work, X, Y, loss, eps=eps, order=order, l2=l2)
        h = (DEFAULT_EPS if order == 4 else DEFAULT_EPS_ORDER_2) if eps is None else float(eps)
        # The same stencil at a second step: its difference estimates the truncation error.
        h2 = 2 * h if 2 * h < 1 else h / 2
        numeric_2 = numerical_gradients(work, X, Y, loss, eps=h2, order=order, l2=l2)
    analytic, E = gradients(work, X, Y, loss, l2=l2)
    assert work.cache is not None
    # E is computed from the output layer's z (ŷ = f(z)): it cannot be known better than
    # ε_machine times their size, even where E itself is 0 (log-sum-exp cancels).
    z_out = work.cache.z[-1]
    E_scale = max(abs(E), float(np.abs(z_out).max(axis=1).mean()))
    kinks = _near_kinks(work, 40 * h)
    X, _ = as_batch(X, "X", work.input_shape, work.dtype)
    Y = as_targets(Y, X.shape[0], work.n_outputs, work.dtype)
    _, coefficients = _STENCILS[order]
    stencil = sum(abs(c) for c in coefficients)  # Σ|c_i|: how the stencil sums E's errors
    layers = []
    for l, (g, n, n2) in enumerate(zip(analytic, numeric, numeric_2, strict=True)):
        dE = _rounding_of_E(work, X, Y, loss, l2, l, E_scale)
        rounding = ROUNDING_SAFETY * stencil * dE / h
        # err(h) ∝ h^order, so D(h2) − D(h) = ((h2/h)^order − 1)·err(h)
        truncation = TRUNCATION_SAFETY * np.abs(n2 - n) / abs((h2 / h) ** order - 1)
        row = _compare_layer(l, g, n, rounding, truncation, threshold, tiny or 0.0, dE, h)
        if row.status == "failed" and row.cause == "mismatch" and kinks:
            row.reason += (
                f"; but {kinks} within reach of the steps (ε = {h:.0e}), where finite "
                "differences straddle the kink and are wrong themselves: check with a "
                f"smaller eps (e.g. eps={min(h / 1000, 1e-6):.0e}) or on other inputs"
            )
        layers.append(row)
    return GradientCheck(
        layers=layers,
        backprop=analytic,
        numerical=numeric,
        threshold=float(threshold),
        eps=h,
        order=order,
        E=E,
    )


ROUNDING_SAFETY = 4.0
"""The rounding error of a finite difference is taken as this many times ``Σ|c_i|·δE/ε``."""
TRUNCATION_SAFETY = 2.0
"""The truncation error is taken as this many times its two-step estimate."""
RESOLVED = 2.0
"""An entry is compared relatively when its fd error is at most threshold·|entry| / RESOLVED."""


def _near_kinks(net: Network, reach: float) -> str:
    """Which kinked built-in activations (relu, leaky_relu, elu) have some |z| < reach·|x|.

    ``net`` has just run forward; returns e.g. ``"a relu kink (layer 0, |z| = 1e-04) is"``,
    ``"relu kinks (layer 0, |z| = 1e-04; layer 1, |z| = 1e-03) are"`` or ``""``. ``|x|`` is
    the largest input entry of that layer (at least 1).
    """
    assert net.cache is not None
    found = []
    for l, f in enumerate(net.activations):
        if type(f) in (ReLU, LeakyReLU, ELU):
            z, X_bar = net.cache.z[l], net.cache.X_bar[l]
            z_min = float(np.abs(z).min())
            near = reach * max(1.0, float(np.abs(X_bar).max()))
            if z_min < near:
                found.append((f.name, f"layer {l}, |z| = {z_min:.0e}{_blank(z, X_bar, near)}"))
    if len(found) == 1:
        return f"a {found[0][0]} kink ({found[0][1]}) is"
    names = " and ".join(dict.fromkeys(name for name, _ in found))  # each name once
    return f"{names} kinks ({'; '.join(where for _, where in found)}) are" if found else ""


def _blank(z: Array, X_bar: Array, near: float) -> str:
    """A note when rows of ``X̄_l`` that are all 0 but the bias's 1 put z at the kink: there
    z is the bias itself, whatever the inputs (a convolution's patch all in its zero padding
    or on zero pixels, as an image's black border; biases start at 0)."""
    blank = ~X_bar[:, :-1].any(axis=1)
    if not blank.any() or float(np.abs(z[blank]).min()) >= near:
        return ""
    return (
        "; rows of X̄ that are all 0 (zero padding, zero pixels) give z = the bias "
        "whatever the inputs: give the biases nonzero values"
    )


def _rounding_of_E(
    net: Network, X: Array, Y: Array, loss: Loss, l2: float, l: int, E_scale: float
) -> float:
    """δE, the rounding error of one evaluation of E, seen by layer ``l``'s weights.

    At least ``ε_machine·E_scale`` (E is a rounded float, computed from numbers of
    size ``E_scale``: the larger of |E| and the output layer's |z|); larger when rounding noise
    builds up: measured from the third differences of E at 12 points spaced far less
    than ε apart along one weight of the layer (its first neuron's bias), where E's
    smooth part is a straight line and what is left is rounding.
    """
    W = net.weights[l]
    index = (0, W.shape[1] - 1)
    w = W[index]
    delta = max(1e-9, 64 * float(np.spacing(abs(w))))
    values = []
    try:
        for k in range(12):
            W[index] = w + k * delta
            values.append(loss_value(net, X, Y, loss, l2))
    finally:
        W[index] = w  # restore the saved value itself: bit-identical
    third = np.diff(values, 3)  # each: 1, −3, 3, −1 times E, so √20·δE of noise
    measured = float(np.sqrt(np.mean(third * third) / 20)) if np.isfinite(third).all() else 0.0
    return max(float(np.finfo(np.float64).eps) * E_scale, measured)


def _compare_layer(
    l: int,
    g: Array,
    n: Array,
    rounding: float,
    truncation: Array,
    threshold: float,
    tiny: float,
    dE: float,
    h: float,
) -> LayerCheck:
    """One layer's verdict: backprop ``g`` against finite differences ``n`` (same shape)."""
    size = np.maximum(np.abs(g), np.abs(n))  # max(|bp|, |fd|) per entry
    fd_error = rounding + truncation  # per entry
    diff = np.abs(g - n)
    relative = (threshold * size >= RESOLVED * fd_error) & (size >= tiny) & (size > 0)
    rel = np.divide(diff, size, out=np.zeros_like(diff), where=relative)
    allowed = fd_error + threshold * np.maximum(size, tiny)
    bad = np.where(relative, rel > threshold, diff > allowed)
    n_relative = int(relative.sum())
    row: dict[str, Any] = dict(
        layer=l,
        shape=g.shape,
        max_grad=float(np.abs(g).max()),
        fd_error=float(fd_error.max()),
        rounding=float(rounding),
        truncation=float(truncation.max()),
        rel_error=float(rel.max()) if n_relative else float("nan"),
        abs_error=float(diff[~relative].max()) if n_relative < g.size else float("nan"),
        n_relative=n_relative,
        n_absolute=g.size - n_relative,
    )
    if not np.isfinite(g).all():
        return LayerCheck(
            **row, status="failed", cause="not finite", reason="backprop's gradient is not finite"
        )
    if not np.isfinite(n).all():
        reason = "E is not finite within a few ε of some weight: use other inputs or weights"
        return LayerCheck(**row, status="unresolved", cause="not finite", reason=reason)
    if bad.any():
        excess = np.where(relative, rel / threshold, diff / allowed)
        i = np.unravel_index(int(np.argmax(excess)), g.shape)
        if relative[i]:
            what = f"relative error {rel[i]:.2e} > threshold {threshold:g}"
        else:
            what = f"|bp − fd| = {diff[i]:.2e} > its fd error {fd_error[i]:.1e}"
        reason = (
            f"entry {tuple(int(k) for k in i)}: backprop {g[i]:.6g}, finite differences "
            f"{n[i]:.6g}: {what}"
        )
        return LayerCheck(**row, status="failed", cause="mismatch", reason=reason)
    if n_relative:
        return LayerCheck(**row, status="passed", cause="", reason="")
    if row["max_grad"] == 0:
        reason = (
            "backprop's gradient is exactly 0 here (E does not depend on these weights for "
            "these inputs: dead relu units, a saturated or constant layer after them), and "
            f"finite differences see no change beyond their error ≈{row['fd_error']:.1e}: "
            "nothing to compare; use other inputs or weights"
        )
        return LayerCheck(**row, status="unresolved", cause="zero", reason=reason)
    if rounding >= row["truncation"]:
        reason = (
            f"the gradients (max {row['max_grad']:.1e}) are too small for finite differences, "
            f"which resolve ≈{row['fd_error']:.1e} here (E is known to ≈{dE:.1e}, the step is "
            f"ε = {h:g}): not to the threshold {threshold:g}. The gradient has (nearly) vanished "
            "before this layer: check a shallower network, inputs that keep the units out of "
            "saturation, other inputs or a larger batch (the check already runs in float64)"
        )
        return LayerCheck(**row, status="unresolved", cause="vanished", reason=reason)
    reason = (
        f"E is not smooth on the scale of ε = {h:g}: the differences at two steps disagree "
        f"by up to {row['truncation']:.1e} (a relu, leaky_relu or elu kink within a few ε of "
        "some z, or strong curvature): use inputs with |z| clear of 0, or a smaller eps"
    )
    return LayerCheck(**row, status="unresolved", cause="not smooth", reason=reason)
