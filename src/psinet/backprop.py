"""Backpropagation: every ``∂E/∂W_l`` from one backward sweep of Ψ.

With ``Ψ_l = ∂E/∂z_l`` (ndarray of shape (N, n_{l+1})), the chain rule gives, for a
batch (docs/notation.md, "Backward phase")::

    Ψ_{L-1} = ∂E/∂ŷ ⊙ f'_{L-1}(z_{L-1})                  start at the output
    for l in L-1 … 0:
        ∂E/∂W_l = Ψ_lᵀ X̄_l                              (n_{l+1}, n_l + 1)
        Ψ_{l-1} = (Ψ_l W_l[:, :-1]) ⊙ f'_{l-1}(z_{l-1})   if l > 0

One forward pass and, per layer, at most two matrix products back give all the
gradients at once; the finite differences of :mod:`psinet.gradcheck` need two
forward passes per weight.

>>> import numpy as np
>>> from psinet import Network
>>> net = Network([2, 2, 1], "sigmoid", seed=0)
>>> grads, E = gradients(net, np.array([[0.0, 1.0]]), np.array([[1.0]]), "mse")
>>> [g.shape for g in grads]
[(2, 3), (1, 3)]
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np

from . import _raw
from . import losses as _losses
from ._checks import (
    as_batch,
    as_sample_weight,
    as_targets,
    check_bool,
    check_float,
    check_network,
    refuse_overflow,
)
from ._contract import adopt, annotate, checked_array, loss_float
from .losses import Loss
from .network import Network

Array = np.ndarray


@overload
def gradients(
    net: Network,
    X: Any,
    Y: Any,
    loss: str | Loss,
    *,
    l2: float = ...,
    return_psi: Literal[False] = ...,
    out: Sequence[Array] | None = ...,
    sample_weight: Any = ...,
) -> tuple[list[Array], float]: ...


@overload
def gradients(
    net: Network,
    X: Any,
    Y: Any,
    loss: str | Loss,
    *,
    l2: float = ...,
    return_psi: Literal[True],
    out: Sequence[Array] | None = ...,
    sample_weight: Any = ...,
) -> tuple[list[Array], float, list[Array]]: ...


def gradients(
    net: Network,
    X: Any,
    Y: Any,
    loss: str | Loss,
    *,
    l2: float = 0.0,
    return_psi: bool = False,
    out: Sequence[Array] | None = None,
    sample_weight: Any = None,
) -> tuple[list[Array], float] | tuple[list[Array], float, list[Array]]:
    """All weight gradients ``∂E/∂W_l`` and the loss E of the same forward pass.

    Parameters
    ----------
    net : Network
    X : ndarray of shape (N, n_0)
        A batch of inputs (or one sample of shape (n_0,)).
    Y : ndarray of shape (N, n_L)
        Targets (shape (N,) is accepted for a single output).
    loss : str or Loss
        ``"mse"``, ``"binary_crossentropy"``, ``"categorical_crossentropy"`` or a Loss.
    l2 : float
        L2 penalty λ: adds ``λ/2 Σ_l ‖W_l[:, :-1]‖²`` to E and ``λ W_l[:, :-1]`` to the
        gradients; the bias column is never penalised.
    return_psi : bool
        Also return copies of the ``Ψ_l``, ndarray of shape (N, n_{l+1}) each.
    out : sequence of ndarray or None
        Arrays shaped like ``net.weights`` to write the gradients into: writeable, of
        the network's dtype, sharing no memory with the weights or with each other.
        A call refused because the loss or the gradients overflowed (ValueError) may
        have written into them.
    sample_weight : ndarray of shape (N,) or None
        Weights s_n >= 0 (not all zero): E = Σ_n s_n ℓ_n / Σ_n s_n, where ℓ_n is
        sample n's loss; the start becomes ``Ψ_{L-1} = s ⊙ (ŷ − Y) / Σ s`` for the fused
        pairs. Equal weights give exactly the unweighted result.

    Returns
    -------
    grads : list of ndarray, ``grads[l]`` of shape (n_{l+1}, n_l + 1) like ``W_l``
    E : float
    psi : list of ndarray (only with ``return_psi=True``)
    """
    net = check_network(net)
    return_psi = check_bool(return_psi, "return_psi")
    loss = _losses.get(loss)
    X, _ = as_batch(X, "X", net.n_inputs, net.dtype)
    Y = as_targets(Y, X.shape[0], net.n_outputs, net.dtype)
    loss.check_targets(Y)
    l2 = _check_l2(l2)
    r = as_sample_weight(sample_weight, X.shape[0], net.dtype)
    if r is not None:
        check_weighted_loss(loss, net.activations[-1])
    grads = _gradient_arrays(net, out)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported below
        net._forward(X)
        E = backward(net, Y, loss, grads, l2=l2, sample_weight=r)
    finite = math.isfinite(E) and all(np.isfinite(g).all() for g in grads)
    refuse_overflow(finite, "the loss or the gradients", X, net.dtype)
    if return_psi:
        assert net.cache is not None
        return grads, E, [psi.copy() for psi in net.cache.psi]
    return grads, E


def backward(
    net: Network,
    Y: Array,
    loss: Loss,
    grad_W: Sequence[Array],
    l2: float = 0.0,
    scale: float = 1.0,
    sample_weight: Array | None = None,
) -> float:
    """The Ψ recursion over the cache of ``net``'s last forward pass; returns E.

    ``Y``: checked targets, ndarray of shape (N, n_L); ``grad_W``: arrays shaped like
    ``net.weights``, overwritten with ``∂E/∂W_l``. ``Ψ_l`` is left in ``net.cache.psi``.
    ``scale`` multiplies the start ``Ψ_{L-1}``, and so, the recursion being linear,
    every ``Ψ_l`` and ``∂E/∂W_l``. ``sample_weight``: None or relative weights ``r``,
    ndarray of shape (N,), with E = (1/N) Σ_n r_n ℓ_n (``r = s·N/Σ s`` gives
    Σ s_n ℓ_n / Σ s_n). The sweep itself is :meth:`Sweep.run`, the one the training
    step runs too.
    """
    cache, f = net.cache, net.activations
    assert cache is not None and cache.n_samples == len(Y), "forward must run on this batch first"
    L = net.n_layers

    # 1. The start: Ψ_{L-1} = ∂E/∂ŷ ⊙ f'_{L-1}(z_{L-1})
    f_out, z_out, psi_out = f[L - 1], cache.z[L - 1], cache.psi[L - 1]
    if sample_weight is None:
        E = output_psi(loss, f_out, z_out, cache.y_hat, Y, out=psi_out, scale=scale)
    else:  # E = (1/N) Σ_n r_n ℓ_n: row n of Ψ_{L-1} times r_n
        E = weighted_output_psi(loss, f_out, z_out, cache.y_hat, Y, psi_out, scale, sample_weight)
    # 2. The sweep back, reusing Ψ at every layer
    return E + Sweep(net, cache, grad_W, l2, scale).run(cache.X_bar[0])


# Products up to this many multiply-adds go through np.dot, which has less overhead per call
# than np.matmul (0.6 against 1.0 µs on tiny ones); above it np.matmul, which is as fast or
# faster (np.dot copies a strided operand such as W_l[:, :-1]).
_DOT_MAX_MULTIPLY_ADDS = 2**20


def product(m: int, k: int, n: int, out: Array | None = None) -> Any:
    """The function that computes an (m, k) by (k, n) product into ``out``, called as
    ``product(A, B, out)``: np.dot for small ones into a C-contiguous ``out`` (None:
    a buffer of psinet's, always C-contiguous), np.matmul otherwise."""
    small = m * k * n <= _DOT_MAX_MULTIPLY_ADDS
    return _raw.dot if small and (out is None or out.flags.c_contiguous) else np.matmul


class Sweep:
    """The Ψ recursion of one network over one forward cache, its arrays bound once.

    ``grad_W``: arrays shaped like ``net.weights`` (C-contiguous) that receive
    ``∂E/∂W_l``; ``l2`` and ``scale`` as in :func:`backward`. Built once per batch size
    by the training step (and once per call by :func:`backward`); :meth:`run` is the
    sweep itself, from ``Ψ_{L-1}`` (already in ``cache.psi[L-1]``) back to layer 0.
    """

    def __init__(
        self,
        net: Network,
        cache: Any,
        grad_W: Sequence[Array],
        l2: float = 0.0,
        scale: float = 1.0,
    ) -> None:
        W, f = net.weights, net.activations
        X_bar, z, a, psi = cache.X_bar, cache.z, cache.a, cache.psi
        N, sizes = cache.n_samples, net.sizes
        self.upper = [  # layers L-1 … 1: a gradient, then Ψ one layer down
            (
                l,
                product(sizes[l + 1], N, sizes[l] + 1, grad_W[l]),  # for Ψ_lᵀ X̄_l
                psi[l].T,
                X_bar[l],
                grad_W[l],
                product(N, sizes[l + 1], sizes[l]),  # for Ψ_l W_l[:, :-1]
                psi[l],
                W[l][:, :-1],  # the bias column dropped: no neuron of layer l feeds the 1
                psi[l - 1],
                f[l - 1].backward_move(psi[l - 1], z[l - 1], a[l - 1]),
            )
            for l in reversed(range(1, net.n_layers))
        ]
        self.first = (product(sizes[1], N, sizes[0] + 1, grad_W[0]), psi[0].T, grad_W[0])
        self.W, self.grad_W, self.l2, self.scale = W, grad_W, l2, scale

    def run(self, X_bar_0: Array) -> float:
        """Fill every ``∂E/∂W_l`` and ``Ψ_l`` for l < L-1; returns the L2 penalty (0 without).

        ``X_bar_0``: ``X̄_0``, ndarray of shape (N, n_0 + 1), the batch the forward pass ran.
        """
        l = -1
        try:
            for (
                l,  # noqa: B007 (named in errors)
                grad_product,
                psi_T,
                X_bar_l,
                grad_l,
                psi_product,
                psi_l,
                W_l,
                psi_down,
                f_prime,
            ) in self.upper:
                grad_product(psi_T, X_bar_l, grad_l)  # ∂E/∂W_l = Ψ_lᵀ X̄_l   (n_{l+1}, n_l + 1)
                psi_product(psi_l, W_l, psi_down)  # Ψ_l W_l[:, :-1]          (N, n_l)
                f_prime()  # Ψ_{l-1} = (Ψ_l W_l[:, :-1]) ⊙ f'_{l-1}(z_{l-1}), in place
            grad_product, psi_T, grad_0 = self.first
            grad_product(psi_T, X_bar_0, grad_0)  # ∂E/∂W_0 = Ψ_0ᵀ X̄_0
        except Exception as exc:
            annotate(exc, f"backprop, layer {l - 1}")
            raise
        if self.l2:
            return add_l2(self.W, self.grad_W, self.l2, self.scale)
        return 0.0


def output_psi(
    loss: Loss, f_out: Any, z: Array, y_hat: Array, Y: Array, out: Array, scale: float = 1.0
) -> float:
    """Write ``Ψ_{L-1}`` (ndarray of shape (N, n_L)), times ``scale``, into ``out``; return E.

    For the fused pairs (sigmoid + binary cross-entropy, softmax + categorical
    cross-entropy) ``Ψ_{L-1} = (ŷ − Y)/N`` and E comes from z (log-sigmoid,
    log-sum-exp), so both stay finite when ŷ rounds to 0 or 1. Otherwise
    ``Ψ_{L-1} = ∂E/∂ŷ ⊙ f'(z)`` (for softmax, its Jacobian-vector product).
    """
    try:
        if loss.fuses_with(f_out):
            np.subtract(y_hat, Y, out=out)  # ŷ − Y
            out *= scale / len(Y)  # Ψ_{L-1} = (ŷ − Y) / N  (times scale)
            return loss_float(loss.value_from_z(z, Y), loss, "value_from_z")
        E, g = loss.value_and_gradient(y_hat, Y, out=out, scale=scale)  # ∂E/∂ŷ
        if g is not out:  # a custom loss that returned a new array
            adopt(g, out, loss, "value_and_gradient")
        psi = f_out.backward(out, z, y_hat, out=out)  # ⊙ f'(z)
        if psi is not out:
            adopt(psi, out, f_out, "backward")
        return loss_float(E, loss, "value_and_gradient")
    except Exception as exc:
        annotate(exc, "backprop, the output layer")
        raise


def weighted_output_psi(
    loss: Loss, f_out: Any, z: Array, y_hat: Array, Y: Array, out: Array, scale: float, r: Array
) -> float:
    """:func:`output_psi` with relative sample weights ``r``, ndarray of shape (N,).

    E = (1/N) Σ_n r_n ℓ_n, and row n of ∂E/∂ŷ is r_n times its unweighted value; for the
    fused pairs ``Ψ_{L-1} = r ⊙ (ŷ − Y)/N``, which is ``s ⊙ (ŷ − Y)/Σ s`` for ``r = s·N/Σ s``.
    """
    try:
        E = weighted_loss(loss, f_out, z, y_hat, Y, r)
        if loss.fuses_with(f_out):
            np.subtract(y_hat, Y, out=out)  # ŷ − Y
            out *= r[:, None]  # r ⊙ (ŷ − Y)
            out *= scale / len(Y)  # Ψ_{L-1} = r ⊙ (ŷ − Y) / N = s ⊙ (ŷ − Y) / Σ s
            return E
        g = loss.gradient(y_hat, Y, out=out)  # ∂E/∂ŷ unweighted: row n is ∂ℓ_n/∂ŷ_n / N
        if g is not out:
            adopt(g, out, loss, "gradient")
        out *= r[:, None]  # row n times r_n
        if scale != 1.0:
            out *= scale
        psi = f_out.backward(out, z, y_hat, out=out)  # ⊙ f'(z)
        if psi is not out:
            adopt(psi, out, f_out, "backward")
        return E
    except Exception as exc:
        annotate(exc, "backprop, the output layer")
        raise


def check_weighted_loss(loss: Loss, f_out: Any) -> None:
    """TypeError unless ``loss`` can weigh samples: it gives each sample's loss ℓ_n."""
    fused = loss.fuses_with(f_out)
    method = "sample_losses_from_z" if fused else "sample_losses"
    if getattr(type(loss), method) is getattr(Loss, method):
        raise TypeError(
            f"sample_weight needs each sample's loss: {type(loss).__name__} must implement "
            f"{method}(...) returning ℓ_n, ndarray of shape (N,)"
        )


def weighted_loss(loss: Loss, f_out: Any, z: Array, y_hat: Array, Y: Array, r: Array) -> float:
    """E = (1/N) Σ_n r_n ℓ_n from each sample's loss ℓ_n (stably from z for a fused pair)."""
    fused = loss.fuses_with(f_out)
    method = "sample_losses_from_z" if fused else "sample_losses"
    ell = loss.sample_losses_from_z(z, Y) if fused else loss.sample_losses(y_hat, Y)
    if type(ell) is not np.ndarray or ell.shape != (len(Y),):
        ell = checked_array(ell, (len(Y),), loss, method)
    return loss_float(float(np.dot(r, ell)) / len(Y), loss, method)


def loss_value(
    net: Network, X: Array, Y: Array, loss: Loss, l2: float = 0.0, r: Array | None = None
) -> float:
    """E for checked X (N, n_0) and Y (N, n_L), computed as backprop does but buffer-free.

    ``r``: None or relative sample weights, ndarray of shape (N,) (see :func:`backward`).
    """
    y_hat, z = net._propagate(X)
    fused = loss.fuses_with(net.activations[-1])
    try:
        if r is not None:
            E = weighted_loss(loss, net.activations[-1], z, y_hat, Y, r)
        else:
            E = loss.value_from_z(z, Y) if fused else loss.value(y_hat, Y)
            E = loss_float(E, loss, "value_from_z" if fused else "value")
    except Exception as exc:
        annotate(exc, "the loss")
        raise
    if l2:
        E += l2 / 2 * sum(float(np.vdot(W[:, :-1], W[:, :-1])) for W in net.weights)
    return E


def add_l2(W: Sequence[Array], grad_W: Sequence[Array], l2: float, scale: float = 1.0) -> float:
    """Add ``scale·λ W_l[:, :-1]`` to each gradient (never the bias); return ``λ/2 Σ‖W‖²``."""
    penalty = 0.0
    for W_l, g_l in zip(W, grad_W, strict=True):
        weights = W_l[:, :-1]
        penalty += float(np.vdot(weights, weights))
        g_l[:, :-1] += (scale * l2) * weights
    return l2 / 2 * penalty


@dataclass
class LayerTrace:
    """One weight layer's numbers from :func:`trace` (copies, safe to keep).

    ``X_bar``: ``X̄_l``, ndarray of shape (N, n_l + 1); ``W``: ``W_l``, ndarray of shape
    (n_{l+1}, n_l + 1); ``z``: ``z_l = X̄_l W_lᵀ`` and ``a``: ``X_{l+1} = f_l(z_l)``,
    ndarrays of shape (N, n_{l+1}); ``psi``: ``Ψ_l = ∂E/∂z_l``, ndarray of shape
    (N, n_{l+1}); ``grad_W``: ``∂E/∂W_l = Ψ_lᵀ X̄_l``, ndarray of shape (n_{l+1}, n_l + 1).
    """

    layer: int
    activation: str
    X_bar: Array
    W: Array
    z: Array
    a: Array
    psi: Array
    grad_W: Array


_SMALL_WIDTH, _SMALL_BATCH = 8, 4  # up to this size a Trace shows its numbers, not only norms
_COLUMNS = ("X̄_l", "W_l", "z_l = X̄_l W_lᵀ", "f_l", "Ψ_l = ∂E/∂z_l", "∂E/∂W_l = Ψ_lᵀ X̄_l")


@dataclass(repr=False)
class Trace:
    """The record of one forward and backward pass; ``print`` it for a per-layer table.

    ``layers[l]`` is a :class:`LayerTrace`; ``E`` the loss; ``y_hat`` the output ``ŷ``,
    ndarray of shape (N, n_L). The table lists each array's shape and Frobenius norm
    ``‖·‖``, in the order of the derivation: forward left to right, then Ψ and the
    gradient, which backprop computes from the last layer back. In Jupyter (and
    IPython) a small trace, every layer at most 8 wide and at most 4 samples, shows
    the numbers themselves.
    """

    layers: list[LayerTrace]
    loss: str
    E: float
    y_hat: Array

    def _title(self) -> str:
        N = self.y_hat.shape[0]
        return f"one forward and backward pass: N = {N}, loss {self.loss}, E = {self.E:.6g}"

    def _arrays(self, t: LayerTrace) -> list[Array | str]:
        return [t.X_bar, t.W, t.z, t.activation, t.psi, t.grad_W]

    @property
    def is_small(self) -> bool:
        """Whether every layer is at most 8 wide and the batch at most 4 samples."""
        widest = max(max(t.W.shape[0], t.W.shape[1] - 1) for t in self.layers)
        return widest <= _SMALL_WIDTH and self.y_hat.shape[0] <= _SMALL_BATCH

    def __str__(self) -> str:
        def cell(a: Array | str) -> str:
            return a if isinstance(a, str) else f"{a.shape} {_frobenius_norm(a):.4g}"

        rows: list[tuple[str, ...]] = [("l", *_COLUMNS)]
        rows += [(str(t.layer), *map(cell, self._arrays(t))) for t in self.layers]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        title = (
            f"{self._title()}\n"
            "each cell: shape, then Frobenius norm; forward runs l = 0 → L-1, "
            "the Ψ recursion l = L-1 → 0"
        )
        return "\n".join([title, lines[0], "-" * len(lines[0]), *lines[1:]])

    def values(self) -> str:
        """Every array of the trace, layer by layer, to 4 significant digits."""
        from ._display import matrix_text

        lines = []
        for t in self.layers:
            lines.append(f"layer {t.layer} ({t.activation})")
            named = {"X̄": t.X_bar, "W": t.W, "z": t.z, "Ψ": t.psi, "∂E/∂W": t.grad_W}
            for name, a in named.items():
                lines.append(f"  {name}_{t.layer} = {matrix_text(a)}")
        lines.append(f"ŷ = {matrix_text(self.y_hat)}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        shapes = [t.W.shape for t in self.layers]
        return f"Trace(loss={self.loss!r}, E={self.E:.6g}, N={self.y_hat.shape[0]}, W={shapes})"

    def _repr_html_(self) -> str:
        """The per-layer table for Jupyter; each cell the array itself when small."""
        from ._display import html_matrix, html_table

        small = self.is_small

        def cell(a: Array | str) -> str:
            if isinstance(a, str):
                return html.escape(a)
            if small:
                return html_matrix(a)
            return html.escape(f"{a.shape} ‖·‖ = {_frobenius_norm(a):.4g}")

        rows = [[str(t.layer), *map(cell, self._arrays(t))] for t in self.layers]
        how = (
            "each cell: the array (rows are samples; W and ∂E/∂W: rows are neurons, bias last)"
            if small
            else "each cell: shape and Frobenius norm"
        )
        footer = f"{how}; forward runs l = 0 → L-1, the Ψ recursion l = L-1 → 0"
        return html_table(
            ["l", *_COLUMNS], rows, caption=self._title(), footer=footer, raw_cells=True
        )

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        """The table (and, when small, every value) for IPython's plain-text display."""
        from ._display import pretty

        text = f"{self}\n\n{self.values()}" if self.is_small else str(self)
        pretty(p, cycle, text, "Trace(...)")


def trace(net: Network, X: Any, Y: Any, loss: str | Loss) -> Trace:
    """Run one forward and one backward pass and keep every intermediate, per layer.

    ``X``: ndarray of shape (N, n_0); ``Y``: ndarray of shape (N, n_L). Returns a
    :class:`Trace` of copies of ``X̄_l``, ``z_l``, ``X_{l+1}``, ``Ψ_l`` and ``∂E/∂W_l``
    (the weights are not changed).

    >>> import numpy as np
    >>> from psinet import Network
    >>> net = Network([2, 3, 1], ["tanh", "sigmoid"], seed=0)
    >>> t = trace(net, np.array([[1.0, 2.0]]), np.array([[1.0]]), "mse")
    >>> [layer.psi.shape for layer in t.layers], [layer.grad_W.shape for layer in t.layers]
    ([(1, 3), (1, 1)], [(3, 3), (1, 4)])
    """
    net = check_network(net)
    loss = _losses.get(loss)
    grads, E, psi = gradients(net, X, Y, loss, return_psi=True)
    cache = net.cache
    assert cache is not None
    layers = [
        LayerTrace(
            layer=l,
            activation=repr(f) if f.get_config().keys() - {"name"} else f.name,
            X_bar=cache.X_bar[l].copy(),
            W=net.weights[l].copy(),
            z=cache.z[l].copy(),
            a=cache.a[l].copy(),
            psi=psi[l],
            grad_W=grads[l],
        )
        for l, f in enumerate(net.activations)
    ]
    return Trace(layers=layers, loss=loss.name, E=E, y_hat=cache.y_hat.copy())


def _frobenius_norm(a: Array) -> float:
    """``‖a‖_F = √(Σ a²)`` summed in float64, scaled by ``max |a|`` first when needed: a
    float32 array of entries near 1e20 (squares beyond float32's range) still gives its
    finite norm. The usual case is one pass and no copy; squares that overflow or
    underflow float64 take the scaled path."""
    a = np.asarray(a)
    flat = a.reshape(-1)  # a view for the contiguous gradients
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # checked next
        if a.dtype == np.float64:
            total = float(np.vdot(flat, flat))
        else:
            total = float(np.einsum("i,i->", flat, flat, dtype=np.float64))
    if 1e-280 < total < math.inf:  # no square overflowed; any underflow loses < 1e-300
        return math.sqrt(total)
    a = np.abs(np.asarray(a, dtype=np.float64))
    scale = float(a.max(initial=0.0))
    if scale == 0.0 or not np.isfinite(scale):
        return scale  # 0, or inf / NaN shown as they are
    return scale * float(np.sqrt(np.sum(np.square(a / scale))))


def _check_l2(l2: Any) -> float:
    value = check_float(l2, "l2")  # a finite real number, not a bool
    if value < 0:
        raise ValueError(f"l2 must be a non-negative float, got {value!r}")
    return value


def _gradient_arrays(net: Network, out: Sequence[Array] | None) -> list[Array]:
    """``out`` checked: one writeable array per layer, shaped like ``W_l``, sharing no
    memory with the weights or with each other (the gradients would overwrite them)."""
    if out is None:
        return [np.empty_like(W) for W in net.weights]
    if isinstance(out, np.ndarray) or not isinstance(out, Sequence):
        raise TypeError(f"out must be a list of ndarrays or None, got {type(out).__name__}")
    if len(out) != net.n_layers:
        raise ValueError(f"out must hold {net.n_layers} arrays, got {len(out)}")
    for l, (g, W) in enumerate(zip(out, net.weights, strict=True)):
        if not isinstance(g, np.ndarray):
            raise TypeError(f"out[{l}] must be an ndarray, got {type(g).__name__}")
        if g.shape != W.shape or g.dtype != W.dtype:
            raise ValueError(
                f"out[{l}] must be an ndarray of shape {W.shape} and dtype {W.dtype}, "
                f"got shape {g.shape} and dtype {g.dtype}"
            )
        if not g.flags.writeable:
            raise ValueError(f"out[{l}] must be writeable, got a read-only array")
        for k, W_k in enumerate(net.weights):
            if np.may_share_memory(g, W_k):
                raise ValueError(
                    f"out[{l}] shares memory with net.weights[{k}]: the gradients would "
                    f"overwrite the weights; pass new arrays (e.g. [np.empty_like(W) for W in "
                    f"net.weights])"
                )
        for k in range(l):
            if np.may_share_memory(g, out[k]):
                raise ValueError(f"out[{l}] and out[{k}] share memory: give separate arrays")
    return list(out)
