"""The report of :func:`psinet.check_backprop`: a verdict, a per-layer table, and a
sentence a learner can act on, with the equation of the layer that is wrong."""

from __future__ import annotations

import html
import math
import textwrap
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._display import text_table

Array = np.ndarray

DIAGNOSES = (
    "correct", "exception", "not_finite", "wrong_count", "wrong_shape", "transposed", "sign",
    "scale", "missing_derivative", "derivative_at_output", "bias_gradient", "wrong_input",
    "unknown",
)  # fmt: skip
"""Every code ``BackpropCheck.diagnosis`` can be, from right to unexplained."""


@dataclass
class LayerRow:
    """One weight layer's row of a :class:`BackpropCheck`.

    ``shape``: ``W_l``'s, (n_{l+1}, n_l + 1); ``your_shape``: that of the learner's
    gradient (None when it is not an array of numbers, or was never returned);
    ``max_diff``: ``max |yours − psinet's|`` (NaN when the shapes differ or nothing came
    back); ``psi_diff``: ``max |Ψ_l yours − psinet's|`` when ``fn`` returned its Ψ, else
    None; ``verdict``: ``"ok"``, a diagnosis code (the layer where the mistake is),
    ``"differs"`` (below it: the mistake propagates down) or ``"—"`` (not compared).
    """

    layer: int
    shape: tuple[int, ...]
    your_shape: tuple[int, ...] | None
    max_diff: float
    psi_diff: float | None
    verdict: str


@dataclass(repr=False)
class BackpropCheck:
    """The result of :func:`psinet.check_backprop`; ``print`` it for a per-layer table.

    * ``passed``: True when ``fn``'s gradients equal psinet's (to rounding), for a batch
      and for one sample;
    * ``diagnosis``: one of :data:`DIAGNOSES`;
    * ``first_wrong_layer``: the index l of ``W_l`` of the wrong layer nearest the output
      (errors propagate down, so that is where the mistake is); None when correct or when
      no layer can be named (an exception, a wrong count);
    * ``factor``: for ``"scale"``, c in ``yours = c · psinet's``; else None;
    * ``explanation``: what is wrong and the equation of that layer;
    * ``batch_only``: the mistake shows only with a batch (right for one sample);
    * ``layers``: one :class:`LayerRow` per layer, output first; ``yours`` and
      ``expected``: the gradients of the run shown (float64; ``yours`` None when ``fn``
      returned none), ndarray of shape (n_{l+1}, n_l + 1) each for ``expected``;
    * ``exception``, ``where``, ``source_line``: for ``"exception"``: ``"Type: message"``,
      ``"file:line"`` of the innermost frame in the learner's code, and that line.
    """

    passed: bool
    diagnosis: str
    first_wrong_layer: int | None
    explanation: str
    factor: float | None = None
    batch_only: bool = False
    layers: list[LayerRow] = field(default_factory=list)
    n_samples: int = 0
    title: str = ""
    yours: list[Array] | None = None
    expected: list[Array] = field(default_factory=list)
    exception: str | None = None
    where: str | None = None
    source_line: str | None = None
    notes: list[str] = field(default_factory=list)

    def _table(self) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
        """(header, one row per layer, output first)."""
        with_psi = any(r.psi_diff is not None for r in self.layers)
        header: tuple[str, ...] = ("layer", "W shape", "your shape", "max |yours − psinet's|")
        header += ("max |Ψ diff|",) * with_psi + ("verdict",)

        def number(x: float | None) -> str:
            return "—" if x is None or math.isnan(x) else f"{x:.3g}"

        rows = []
        for r in self.layers:
            shape = "—" if r.your_shape is None else str(r.your_shape)
            cells: tuple[str, ...] = (str(r.layer), str(r.shape), shape, number(r.max_diff))
            cells += (number(r.psi_diff),) * with_psi + (r.verdict,)
            rows.append(cells)
        return header, rows

    def _lines(self) -> list[str]:
        """The lines after the table: the diagnosis, the explanation, the verdict."""
        lines = []
        if self.diagnosis != "correct":
            at = "" if self.first_wrong_layer is None else f" at layer {self.first_wrong_layer}"
            factor = "" if self.factor is None else f" (factor {self.factor:.6g})"
            lines.append(f"diagnosis: {self.diagnosis}{at}{factor}")
        if self.where:
            lines.append(f"  {self.where}")
            if self.source_line:
                lines.append(f"    {self.source_line}")
        lines.append(self.explanation)
        lines += self.notes
        lines.append("passed" if self.passed else "FAILED")
        return lines

    def __str__(self) -> str:
        lines = text_table(*self._table())
        after = [
            line if line.startswith("  ") else textwrap.fill(line, 92, subsequent_indent="  ")
            for line in self._lines()
        ]
        return "\n".join([self.title, *lines, *after])

    def __repr__(self) -> str:
        return (
            f"BackpropCheck(passed={self.passed}, diagnosis={self.diagnosis!r}, "
            f"first_wrong_layer={self.first_wrong_layer})"
        )

    def _repr_html_(self) -> str:
        """The per-layer table for Jupyter, the wrong layer in red, then the explanation."""
        from .._display import html_table

        header, rows = self._table()
        styled = [
            [
                html.escape(c)
                if row[-1] in ("ok", "—", "differs")
                else f'<span style="color:#b00">{html.escape(c)}</span>'
                for c in row
            ]
            for row in rows
        ]
        notes = "".join(f"<p>{html.escape(line)}</p>" for line in self._lines())
        return html_table(header, styled, caption=self.title, raw_cells=True) + notes

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        """The report's text, for IPython's plain-text display."""
        from .._display import pretty

        pretty(p, cycle, str(self), "BackpropCheck(...)")


def grad_eq(l: int) -> str:
    """The gradient line of layer l: ``∂E/∂W_l = Ψ_lᵀ X̄_l``."""
    return f"∂E/∂W_{l} = Ψ_{l}ᵀ X̄_{l}"


def psi_eq(l: int, L: int, fused: bool = False) -> str:
    """The Ψ line of layer l: the start at the output (``(ŷ − Y)/N`` itself for sigmoid +
    binary cross-entropy and softmax + categorical cross-entropy), or the recursion."""
    if l == L - 1:
        return f"Ψ_{l} = (ŷ − Y)/N" if fused else f"Ψ_{l} = ∂E/∂ŷ ⊙ f'_{l}(z_{l})"
    return f"Ψ_{l} = (Ψ_{l + 1} W_{l + 1}[:, :-1]) ⊙ f'_{l}(z_{l})"


def _start(loss: str, fused: bool) -> str:
    """Where the 1/N and the sign are, at the output, for ``loss``."""
    if fused:
        return f"Ψ_{{L-1}} = (ŷ − Y)/N for {loss} with its output activation"
    if loss == "mse":
        return "∂E/∂ŷ = (ŷ − Y)/N for mse"
    return f"∂E/∂ŷ of {loss}, divided by N"


def _factor_advice(name: str, loss: str, fused: bool) -> str:
    """Why a factor ``name`` (``"N"``, ``"1/2"``, …) does not belong in the gradient."""
    if name == "N":
        start = _start(loss, fused)
        return f"E is a mean over the N samples, so the 1/N belongs in the start: {start}"
    if name in ("1/2", "2"):
        if loss == "mse":
            return (
                "E = 1/(2N) Σ (ŷ − y)², and the ½ cancels the 2 of the square's derivative: "
                "∂E/∂ŷ = (ŷ − Y)/N, with no ½ or 2 left"
            )
        return f"no ½ or 2 belongs in the start: {_start(loss, fused)}"
    return {
        "1/N": "the 1/N is already inside Ψ (E is a mean over the samples): divide by N once",
        "n_L": "E sums over the outputs; no factor of the number of outputs belongs in it",
        "1/n_L": "E sums over the outputs (and averages over the samples only): do not average "
        "over the outputs too",
    }[name]


_OTHER_READING = {
    "N": "the 1/N of the mean over the samples would be missing",
    "1/N": "you would have divided by N twice",
    "n_L": "no factor of the number of outputs belongs in E",
    "1/n_L": "E sums over the outputs: do not average over them too",
    "1/2": "no ½ belongs in the gradient",
    "2": "no 2 belongs in the gradient",
}


def explain(
    code: str,
    l: int | None,
    L: int,
    *,
    activation: str = "",
    factor: float | None = None,
    names: tuple[str, ...] = (),
    detail: str = "",
    shape: tuple[int, ...] = (),
    count: int = 0,
    loss: str = "mse",
    fused: bool = False,
) -> str:
    """The sentence for ``code`` at layer ``l`` (of ``L``), with that layer's equation;
    the output layer's follows ``loss`` (``fused``: sigmoid + binary cross-entropy or
    softmax + categorical cross-entropy, where Ψ_{L-1} = (ŷ − Y)/N)."""
    if code == "correct":
        return (
            "Your gradients equal psinet's ∂E/∂W_l = Ψ_lᵀ X̄_l for every layer, for a batch and "
            "for one sample."
        )
    if code == "wrong_count":
        got = detail or f"{count}"
        return (
            f"Return one gradient per weight matrix, shaped like W: {L} arrays, "
            f"∂E/∂W_0 … ∂E/∂W_{L - 1}, in that order; you returned {got}."
        )
    if code == "exception":
        if detail.startswith("timed out"):
            return f"Your function {detail}: it never returned (an endless loop?)."
        return f"Your function raised {detail}."
    assert l is not None
    g, p = grad_eq(l), psi_eq(l, L, fused)
    f = f"f'_{l}"
    kind = f" ({activation})" if activation else ""
    if code == "not_finite":
        return (
            f"Your gradient for layer {l} holds NaN or inf where psinet's is finite: look "
            f"for a division by something that can be 0, an exp that overflows, or an array "
            f"used before it was filled (np.empty), in {p} or {g}."
        )
    if code == "wrong_shape":
        return (
            f"Layer {l}'s gradient must have W_{l}'s shape {shape} (n_{l + 1} rows: the "
            f"neurons; n_{l} + 1 columns: the inputs, the bias last); yours: {detail}. "
            f"Compute it as {g}, with X̄_{l} = [X_{l}, 1] (a column of ones appended)."
        )
    if code == "transposed":
        return (
            f"Layer {l}'s gradient is the transpose of the right one: {g} has W_{l}'s shape "
            f"(rows: neurons, columns: inputs, bias last); you computed X̄_{l}ᵀ Ψ_{l}."
        )
    if code == "sign":
        if l < L - 1:
            where = f"{p} or {g}"
        elif fused:
            where = (
                f"the start, {p} for {loss} with its output activation, not (Y − ŷ)/N "
                "(gradient descent then subtracts the gradient)"
            )
        elif loss == "mse":
            where = (
                f"the start, {p}: ∂E/∂ŷ is (ŷ − Y)/N for mse, not (Y − ŷ)/N (gradient "
                "descent then subtracts the gradient)"
            )
        else:
            where = f"the start, {p}: the sign of ∂E/∂ŷ for {loss}"
        return f"Layer {l}'s gradient has the wrong sign (−1 times psinet's): check {where}."
    if code == "scale":
        assert factor is not None
        if loss != "mse":  # no ½ in a cross-entropy: the other readings first
            names = tuple(sorted(names, key=lambda n: n in ("1/2", "2")))
        named = f" = {' = '.join(_NAMES[n] for n in names)}" if names else ""
        advice = f": {_factor_advice(names[0], loss, fused)}" if names else ""
        if len(names) > 1:
            others = "; ".join(f"if it is {_NAMES[n]}, {_OTHER_READING[n]}" for n in names[1:])
            also = " and ".join(_NAMES[n] for n in names[1:])
            advice += f" (the same number is also {also} here: {others})"
        where = f"; the factor enters at layer {l}, in {p} or {g}" if l < L - 1 else ""
        return (
            f"Layer {l}'s gradient is {factor:.6g}{named} times psinet's{advice}{where}. "
            f"(The start is {psi_eq(L - 1, L, fused)}.)"
        )
    if code == "missing_derivative":
        what = "∂E/∂ŷ alone" if l == L - 1 else f"Ψ_{l + 1} W_{l + 1}[:, :-1] alone"
        return (
            f"Layer {l}'s Ψ is missing its ⊙ {f}(z_{l}){kind}: you used {what}. "
            f"The chain rule goes through the activation: {p}."
        )
    if code == "derivative_at_output":
        example = {
            "sigmoid": f"σ'(z_{l}) = a_{l}(1 − a_{l}), not σ'(a_{l}) = σ(a_{l})(1 − σ(a_{l}))",
            "tanh": f"tanh'(z_{l}) = 1 − a_{l}², not 1 − tanh(a_{l})²",
        }.get(activation, f"{f}(z_{l}), not {f}(f_{l}(z_{l}))")
        return (
            f"Layer {l} evaluates {f}{kind} at a_{l} = f_{l}(z_{l}) instead of at z_{l}: "
            f"{example}; use the cached z_{l}, or the formula in a_{l} once. {p}."
        )
    if code == "bias_gradient":
        return (
            f"Only layer {l}'s bias column is wrong" + (f" ({detail})" if detail else "") + ". "
            f"The bias column of {g} is Ψ_{l}ᵀ 1 = Σ_n Ψ_{l}[n], the sum over the samples "
            f"of the batch (the ones column of X̄_{l})."
        )
    if code == "wrong_input":
        source = (
            "the data X_0" if l == 0 else f"X_{l} = f_{l - 1}(z_{l - 1}), the layer below's output"
        )
        return (
            f"Layer {l}'s bias column is right but its weight columns are not"
            + (f" ({detail})" if detail else "")
            + f": {g} multiplies Ψ_{l} by this layer's own input, {source}, with the ones "
            "column appended."
        )
    return (
        f"Layer {l}'s gradient differs from psinet's in a way none of the usual mistakes "
        f"explains" + (f" ({detail})" if detail else "") + f": check {p} and {g} line by "
        "line against psinet.trace(net, X, Y, loss)."
    )


_NAMES = {"N": "N", "1/N": "1/N", "n_L": "n_L", "1/n_L": "1/n_L", "1/2": "½", "2": "2"}
