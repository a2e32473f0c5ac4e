"""Which mistake explains a learner's gradients: psinet's exact numbers, and each mistake
built from them.

For one run (a batch X, Y) :func:`reference` computes, in float64 on a copy of the
network, every ``X̄_l``, ``z_l``, ``a_l``, ``Ψ_l`` and ``∂E/∂W_l = Ψ_lᵀ X̄_l``, and the size
of the terms each gradient entry is summed from (the Ψ recursion on absolute values):
a learner's entry is right when it differs by a small multiple of that, so cancellation
never flags a correct answer. :func:`diagnose` walks the layers from the output down;
the first (highest) layer that differs is where the mistake is (errors propagate down),
and there each mistake is rebuilt from the exact cache, given correct layers above, and
compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..activations import Activation
from ..backprop import gradients
from ..losses import Loss, fused_pair
from ..network import Network

Array = np.ndarray

RTOL = {np.dtype(np.float64): 1e-7, np.dtype(np.float32): 1e-4}
"""An entry is right within this many times the size of the terms it is summed from."""


@dataclass
class Reference:
    """psinet's exact numbers for one batch (float64), and the size of their terms.

    ``X_bar[l]`` (N, n_l + 1), ``z[l]`` and ``a[l]`` (N, n_{l+1}), ``W[l]`` (n_{l+1},
    n_l + 1), ``psi[l]`` (N, n_{l+1}), ``grads[l]`` like ``W[l]``; ``dE_dy`` is ∂E/∂ŷ
    (N, n_L); ``psi_abs[l]`` bounds the terms of Ψ_l, ``scale[l]`` = ``psi_abs[l]ᵀ |X̄_l|``
    those of ∂E/∂W_l; ``rtol`` the relative tolerance of the learner's dtype.
    """

    f: tuple[Activation, ...]
    loss: Loss
    X_bar: list[Array]
    z: list[Array]
    a: list[Array]
    W: list[Array]
    psi: list[Array]
    grads: list[Array]
    dE_dy: Array
    psi_abs: list[Array]
    scale: list[Array]
    rtol: float
    floor: float

    @property
    def L(self) -> int:
        """The number of weight layers."""
        return len(self.W)

    @property
    def N(self) -> int:
        """The number of samples."""
        return int(self.z[0].shape[0])

    def tolerance(self, l: int, *extra: Array) -> Array:
        """Per entry of ∂E/∂W_l: how far a right answer may be off (rounding only)."""
        return self.rtol * (self.scale[l] + sum(extra, np.zeros_like(self.scale[l]))) + self.floor


def reference(net: Network, X: Array, Y: Array, loss: Loss) -> Reference:
    """psinet's numbers for ``X`` (N, n_0) and ``Y`` (N, n_L), from a float64 copy of
    ``net`` (the network itself, its weights and cache, are not touched)."""
    work = net.copy(dtype=np.float64)
    X64, Y64 = np.asarray(X, np.float64), np.asarray(Y, np.float64)
    grads, _, psi = gradients(work, X64, Y64, loss, return_psi=True)
    cache = work.cache
    assert cache is not None
    f, W = work.activations, [W_l.copy() for W_l in work.weights]
    y_hat, N = cache.y_hat, len(Y64)
    dE_dy = loss.dE_dy_hat(y_hat, Y64)
    g_abs = (np.abs(y_hat) + np.abs(Y64)) / N  # the terms of ŷ − Y, divided by N
    if fused_pair(loss, f[-1]):
        p = g_abs
    else:
        p = _through_abs(f[-1], g_abs + np.abs(dE_dy), cache.z[-1], y_hat)
    psi_abs: list[Any] = [None] * len(W)
    for l in reversed(range(len(W))):
        psi_abs[l] = p
        if l > 0:
            p = _through_abs(f[l - 1], p @ np.abs(W[l][:, :-1]), cache.z[l - 1], cache.a[l - 1])
    scale = [p_l.T @ np.abs(X_bar) for p_l, X_bar in zip(psi_abs, cache.X_bar, strict=True)]
    rtol = RTOL[np.dtype(net.dtype)]
    floor = 1e-300 + rtol * 1e-9 * max(float(s.max(initial=0.0)) for s in scale)
    return Reference(f, loss, cache.X_bar, cache.z, cache.a, W, psi, grads, dE_dy, psi_abs,
                     scale, rtol, floor)  # fmt: skip


def _through_abs(f: Activation, g: Array, z: Array, a: Array) -> Array:
    """A bound of the terms of ``g ⊙ f'(z)`` for ``g >= 0`` (softmax: ``a ⊙ (g + Σ g a)``)."""
    if f.elementwise:
        return g * np.abs(f.derivative(z, a))
    return a * (g + np.sum(g * a, axis=1, keepdims=True))


def close(G: Array, H: Array, tol: Array) -> bool:
    """Whether ``G`` equals ``H`` entry by entry within ``tol`` (same shape)."""
    return G.shape == H.shape and bool(np.all(np.abs(G - H) <= tol))


@dataclass
class Finding:
    """What was found at one layer: a diagnosis code, the factor of ``scale``, and a
    sentence of detail (which input, which sample, …)."""

    diagnosis: str
    factor: float | None = None
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def layer_is_right(ref: Reference, l: int, G: Array) -> bool:
    """Whether the learner's ``G`` is ∂E/∂W_l to rounding."""
    return close(G, ref.grads[l], ref.tolerance(l))


def explain_layer(ref: Reference, l: int, G: Array) -> Finding:
    """The mistake at layer ``l`` (the highest that differs), given correct layers above:
    ``G`` is the learner's gradient, finite, of any shape."""
    R = ref.grads[l]
    T = ref.tolerance(l)
    if G.shape != R.shape:
        return _wrong_shape(ref, l, G)
    if R.shape[0] == R.shape[1] and close(G, R.T, T.T):
        return Finding("transposed")
    if close(G, -R, T):
        return Finding("sign")
    found = _scale(ref, l, G)
    if found:
        return found
    for code, psi_mistaken in _mistaken_psis(ref, l):
        H = psi_mistaken.T @ ref.X_bar[l]  # ∂E/∂W_l as the mistake computes it
        if close(H, R, T):
            continue  # this mistake changes nothing here (identity, relu, …)
        p_abs = np.abs(psi_mistaken).T @ np.abs(ref.X_bar[l])
        if close(G, H, ref.tolerance(l, p_abs)):
            return Finding(code)
    if close(G[:, :-1], R[:, :-1], T[:, :-1]):
        return Finding("bias_gradient", detail=_bias_detail(ref, l, G[:, -1], T[:, -1]))
    if close(G[:, -1], R[:, -1], T[:, -1]):
        return Finding("wrong_input", detail=_input_detail(ref, l, G))
    return Finding("unknown", detail=_unknown_detail(ref, l, G))


def _scale(ref: Reference, l: int, G: Array) -> Finding | None:
    """``scale`` when G = c·R for a constant c (not 0, 1 or −1)."""
    R = ref.grads[l]
    RR = float(np.vdot(R, R))
    if RR == 0.0:
        return None
    c = float(np.vdot(G, R)) / RR
    if abs(c) < 1e-12 or not close(G, c * R, ref.tolerance(l) * max(1.0, abs(c))):
        return None
    N, n_L = ref.N, ref.W[-1].shape[0]
    # the likeliest reading first when several coincide (2 = n_L, N = n_L, …): mse's ½
    candidates = {"1/2": 0.5, "2": 2.0, "N": N, "1/N": 1 / N, "n_L": n_L, "1/n_L": 1 / n_L}
    names = [k for k, v in candidates.items() if v != 1 and abs(c - v) <= 1e-3 * abs(v)]
    for v in candidates.values():  # 5.000000000000001 is 5: rounding, not a factor
        if abs(c - v) <= 1e-9 * abs(v):
            c = float(v)
            break
    return Finding("scale", factor=c, extra={"names": names})


def _mistaken_psis(ref: Reference, l: int) -> list[tuple[str, Array]]:
    """Ψ_l as each mistake of the recursion computes it, from psinet's exact Ψ_{l+1}:
    without ``⊙ f'_l(z_l)``, and with f' evaluated at ``a_l = f(z_l)`` instead of ``z_l``."""
    f, a = ref.f[l], ref.a[l]
    if l == ref.L - 1:
        g = ref.dE_dy  # ∂E/∂ŷ
    else:
        g = ref.psi[l + 1] @ ref.W[l + 1][:, :-1]  # ∂E/∂a_l = Ψ_{l+1} W_{l+1}[:, :-1]
    with np.errstate(all="ignore"):
        at_output = f.chain(g, a, f(a))  # f'(a): derivative(z = a, a = f(a))
    mistakes = [("missing_derivative", g)]
    if np.isfinite(at_output).all():
        mistakes.append(("derivative_at_output", at_output))
    return mistakes


def _bias_detail(ref: Reference, l: int, b: Array, tol: Array) -> str:
    """What the learner's bias column ``b`` (n_{l+1},) is, when it is not Σ_n Ψ_l[n]."""
    psi, N = ref.psi[l], ref.N
    if close(b, np.zeros_like(b), tol):
        return "it is all zeros"
    for n in range(N):
        if close(b, psi[n], tol):
            return f"it is Ψ_{l} of sample {n} alone, not the sum over the N = {N} samples"
    if close(b, psi.sum(axis=0) / N, tol / N):
        return f"it is the sum divided by N = {N} once more (the 1/N is already in Ψ)"
    if close(b, psi.sum(axis=0) * N, tol * N):
        return f"it is N = {N} times too large"
    return ""


def _input_detail(ref: Reference, l: int, G: Array) -> str:
    """Which array the learner multiplied Ψ_l by, when it is not X_l: another layer's
    input, a ``z``, or a layer's output."""
    psi, Gw = ref.psi[l], G[:, :-1]
    candidates: list[tuple[str, Array]] = []
    if l > 0:
        candidates.append((f"z_{l - 1} (the weighted sums before f_{l - 1}, not X_{l} = f(z))",
                           ref.z[l - 1]))  # fmt: skip
    candidates.append((f"z_{l} (this layer's own weighted sums)", ref.z[l]))
    candidates.append((f"X_{l + 1} (this layer's output)", ref.a[l]))
    candidates += [(f"X_{k} (the input of layer {k})", ref.X_bar[k][:, :-1])
                   for k in range(ref.L) if k != l]  # fmt: skip
    for name, C in candidates:
        if C.shape[1] != Gw.shape[1]:
            continue
        tol = ref.rtol * (ref.scale[l][:, :-1] + ref.psi_abs[l].T @ np.abs(C)) + ref.floor
        if close(Gw, psi.T @ C, tol):
            return f"your weight columns are Ψ_{l}ᵀ {name}"
    return ""


def _unknown_detail(ref: Reference, l: int, G: Array) -> str:
    """The entry that differs most (and whether G is another layer's gradient)."""
    R = ref.grads[l]
    for k, R_k in enumerate(ref.grads):
        if k != l and R_k.shape == G.shape and close(G, R_k, ref.tolerance(k)):
            return f"your gradient {l} is ∂E/∂W_{k}: the list is in the wrong order"
    if not np.any(G):
        return "your gradient is all zeros"
    i = np.unravel_index(int(np.argmax(np.abs(G - R))), R.shape)
    where = "the bias" if i[1] == R.shape[1] - 1 else f"weight {i[1]}"
    return (
        f"entry {tuple(int(k) for k in i)} (neuron {i[0]}, {where}): yours {G[i]:.6g}, "
        f"psinet's {R[i]:.6g}"
    )


def _wrong_shape(ref: Reference, l: int, G: Array) -> Finding:
    """``transposed`` when G is Rᵀ; else ``wrong_shape``, saying what the shape looks like."""
    R, T = ref.grads[l], ref.tolerance(l)
    if G.shape == R.T.shape and close(G, R.T, T.T):
        return Finding("transposed")
    n_out, n_in = R.shape[0], R.shape[1] - 1
    if G.shape == (n_out, n_in):
        right = close(G, R[:, :-1], T[:, :-1])
        detail = f"the bias column is missing: shape (n_{l + 1}, n_{l}) = {G.shape}" + (
            "; the weight columns themselves are right" if right else ""
        )
    elif G.shape == R.T.shape:
        detail = f"the shape is the transpose's, {G.shape}, and the values are not Rᵀ either"
    elif G.ndim == 1 or (G.ndim == 2 and 1 in G.shape and G.size in (n_out, n_in + 1)):
        detail = f"a vector of shape {G.shape}, not a matrix: Ψ_{l}ᵀ X̄_{l} is an outer product"
    else:
        detail = f"shape {G.shape}"
    return Finding("wrong_shape", detail=detail)


def as_gradient(g: Any) -> Array | None:
    """A returned gradient as a float64 ndarray, or None when it is not numbers."""
    try:
        G = np.array(g, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return G


def reversed_order(grads: Sequence[Array], ref: Reference) -> bool:
    """Whether the gradients' shapes are psinet's in reverse (the list not reversed back)."""
    shapes = [g.shape for g in grads]
    expected = [R.shape for R in ref.grads]
    return shapes != expected and shapes == expected[::-1]
