"""Backpropagation: every ``∂E/∂W_l`` from one backward sweep of Ψ.

With ``Ψ_l = ∂E/∂z_l`` (ndarray of shape (N, n_{l+1})), the chain rule gives, for a
batch (docs/derivation.md, §7 and §11)::

    Ψ_{L-1} = ∂E/∂ŷ ⊙ f'_{L-1}(z_{L-1})                  start at the output
    for l in L-1 … 0:
        ∂E/∂W_l = Ψ_lᵀ X̄_l                              (n_{l+1}, n_l + 1)
        Ψ_{l-1} = (Ψ_l W_l[:, :-1]) ⊙ f'_{l-1}(z_{l-1})   if l > 0

:func:`backward` is that loop, line for line, in plain NumPy. One forward pass and,
per layer, at most two matrix products back give all the gradients at once; the
finite differences of :mod:`psinet.gradcheck` need two forward passes per weight.
(``fit`` runs the same recursion made fast, in :mod:`psinet.engine`; a test proves
the two equal.)

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np

from . import losses as _losses
from ._checks import (
    as_batch,
    as_sample_weight,
    as_targets,
    check_bool,
    check_float,
    refuse_overflow,
)
from ._contract import annotate, checked_array, loss_float
from .activations import Activation
from .layers import Conv2D, Layer
from .losses import Loss, fused_pair
from .network import Network, check_network

Array = np.ndarray


def backward(
    net: Network, Y: Array, loss: Loss, l2: float = 0.0, sample_weight: Array | None = None
) -> tuple[list[Array], float]:
    """The Ψ recursion over the cache of ``net``'s last forward pass: ``(∂E/∂W_l for
    every l, E)``.

    ``Y``: checked targets, ndarray of shape (N, n_L). Returns ``grad_W``, a list with
    ``grad_W[l]`` of shape (n_{l+1}, n_l + 1) like ``W_l``, and the loss E; leaves
    ``Ψ_l`` in ``net.cache.psi``. ``l2``: the L2 penalty λ (see :func:`gradients`).
    ``sample_weight``: None or relative weights ``r``, ndarray of shape (N,), with
    E = (1/N) Σ_n r_n ℓ_n (``r = s·N/Σ s`` gives Σ s_n ℓ_n / Σ s_n).
    """
    cache, W, f, layers = net.cache, net.weights, net.activations, net.layers
    assert cache is not None and cache.n_samples == len(Y), "forward must run on this batch first"
    X_bar, z, a, L = cache.X_bar, cache.z, cache.a, net.n_layers
    psi: list[Any] = [None] * L  # Ψ_l = ∂E/∂z_l                            (N, n_{l+1})
    grad_W: list[Any] = [None] * L  # ∂E/∂W_l                             (n_{l+1}, n_l + 1)

    # Ψ_{L-1} = ∂E/∂ŷ ⊙ f'_{L-1}(z_{L-1}), the start at the output
    psi[L - 1] = output_psi(loss, f[L - 1], z[L - 1], a[L - 1], Y, sample_weight)
    l = L - 1
    try:
        for l in reversed(range(L)):
            grad_W[l] = psi[l].T @ X_bar[l]  # ∂E/∂W_l = Ψ_lᵀ X̄_l
            if l > 0:  # Ψ_{l-1} = (Ψ_l W_l[:, :-1]) ⊙ f'_{l-1}(z_{l-1}), the bias column
                # dropped (no neuron of layer l feeds the constant 1); a convolution's fold
                # adds each patch row back onto its pixels (a dense layer's: nothing to do)
                dE_dX = layers[l].fold(psi[l] @ W[l][:, :-1])  # ∂E/∂X_l = fold(Ψ_l W_l[:, :-1])
                psi[l - 1] = f[l - 1].chain(dE_dX, z[l - 1], a[l - 1])
    except Exception as exc:
        annotate(exc, f"backprop, layer {l - 1}")  # names the part that raised, and where
        raise

    cache.psi = psi
    E = output_loss(loss, f[L - 1], z[L - 1], a[L - 1], Y, sample_weight)
    if l2:  # E + λ/2 Σ_l ‖W_l[:, :-1]‖², and λ W_l[:, :-1] added to ∂E/∂W_l (never the bias)
        E += l2_penalty(W, l2)
        for W_l, grad_l in zip(W, grad_W, strict=True):
            grad_l[:, :-1] += l2 * W_l[:, :-1]
    return grad_W, E


def output_psi(
    loss: Loss, f_out: Activation, z: Array, y_hat: Array, Y: Array, r: Array | None = None
) -> Array:
    """The start ``Ψ_{L-1} = ∂E/∂ŷ ⊙ f'_{L-1}(z_{L-1})``, a new ndarray of shape (N, n_L).

    For the fused pairs (:func:`psinet.losses.fused_pair`) it is ``(ŷ − Y)/N``; for any
    other loss and output it is the loss's ``gradient`` through the activation's
    ``backward`` (softmax: its Jacobian-vector product). ``r``: None or relative sample
    weights (N,): row n of ∂E/∂ŷ, and so of Ψ_{L-1}, times r_n.
    """
    try:
        if fused_pair(loss, f_out):
            psi = (y_hat - Y) / len(Y)  # Ψ_{L-1} = (ŷ − Y)/N
        else:
            psi = f_out.chain(loss.dE_dy_hat(y_hat, Y), z, y_hat)  # ∂E/∂ŷ ⊙ f'_{L-1}(z_{L-1})
    except Exception as exc:
        annotate(exc, "backprop, the output layer")
        raise
    return psi if r is None else psi * r[:, None]


def output_loss(
    loss: Loss, f_out: Activation, z: Array, y_hat: Array, Y: Array, r: Array | None = None
) -> float:
    """E of the output layer (no L2), a float: from ``z`` (N, n_L) for a fused pair
    (log-sigmoid, log-sum-exp: finite when ŷ rounds to 0 or 1), else from ``ŷ``.

    ``r``: None, or relative sample weights (N,): E = (1/N) Σ_n r_n ℓ_n from each
    sample's loss ℓ_n (the loss's ``sample_losses``).
    """
    fused = fused_pair(loss, f_out)
    try:
        if r is None:
            method = "value_from_z" if fused else "value"
            E = loss.value_from_z(z, Y) if fused else loss.value(y_hat, Y)
            return loss_float(E, loss, method)
        method = "sample_losses_from_z" if fused else "sample_losses"
        ell = loss.sample_losses_from_z(z, Y) if fused else loss.sample_losses(y_hat, Y)
        if type(ell) is not np.ndarray or ell.shape != (len(Y),):
            ell = checked_array(ell, (len(Y),), loss, method)
        return loss_float(float(np.dot(r, ell)) / len(Y), loss, method)
    except Exception as exc:
        annotate(exc, "the loss")
        raise


def l2_penalty(W: Sequence[Array], l2: float) -> float:
    """``λ/2 Σ_l ‖W_l[:, :-1]‖²``: the L2 penalty of the weights proper (never the bias)."""
    return l2 / 2 * sum(float(np.vdot(W_l[:, :-1], W_l[:, :-1])) for W_l in W)


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
    X : ndarray of shape (N, n_0), or (N, C, H, W) for images
        A batch of inputs (or one sample of shape (n_0,) or (C, H, W)).
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
        They are written only when the call succeeds.
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
    _losses.check_pair(loss, net.activations[-1])
    X, _ = as_batch(X, "X", net.input_shape, net.dtype)
    Y = as_targets(Y, X.shape[0], net.n_outputs, net.dtype)
    loss.check_targets(Y)
    l2 = _check_l2(l2)
    r = as_sample_weight(sample_weight, X.shape[0], net.dtype)
    if r is not None:  # (equal weights give r = None: the plain mean, no ℓ_n needed)
        check_weighted_loss(loss, net.activations[-1])
    targets = _gradient_arrays(net, out)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported below
        net.cache = net._forward(X)
        grads, E = backward(net, Y, loss, l2=l2, sample_weight=r)
    finite = math.isfinite(E) and all(np.isfinite(g).all() for g in grads)
    if not finite:  # an activation that made NaN or inf is named; else an overflow
        net._refuse_non_finite(net.cache, X)
    refuse_overflow(finite, "the loss or the gradients", X, net.dtype)
    if targets is not None:
        for g, target in zip(grads, targets, strict=True):
            np.copyto(target, g)
        grads = list(targets)
    if return_psi:
        return grads, E, [psi.copy() for psi in net.cache.psi]
    return grads, E


def check_weighted_loss(loss: Loss, f_out: Activation) -> None:
    """TypeError unless ``loss`` can weigh samples: it gives each sample's loss ℓ_n, and
    they are the terms of its own ``value`` (a subclass that overrides ``value`` but
    inherits ``sample_losses`` would be weighted by its parent's formula)."""
    method = "sample_losses_from_z" if fused_pair(loss, f_out) else "sample_losses"
    kind = type(loss)
    if getattr(kind, method) is getattr(Loss, method):
        raise TypeError(
            f"sample_weight needs each sample's loss: {kind.__name__} must implement "
            f"{method}(...) returning ℓ_n, ndarray of shape (N,)"
        )
    owner = {m: next(c for c in kind.__mro__ if m in vars(c)) for m in ("value", method)}
    if not issubclass(owner[method], owner["value"]):
        raise TypeError(
            f"sample_weight needs each sample's loss of {kind.__name__}'s own value: its "
            f"value is {owner['value'].__name__}'s but its {method} is "
            f"{owner[method].__name__}'s; define {method}(y_hat, Y) beside value"
        )


def loss_value(
    net: Network, X: Array, Y: Array, loss: Loss, l2: float = 0.0, r: Array | None = None
) -> float:
    """E for checked X (N, n_0) and Y (N, n_L), as :func:`backward` computes it, without
    touching ``net.cache``. ``r``: None or relative sample weights, ndarray of shape (N,)."""
    cache = net._forward(X)
    E = output_loss(loss, net.activations[-1], cache.z[-1], cache.y_hat, Y, r)
    return E + l2_penalty(net.weights, l2) if l2 else E


@dataclass
class LayerTrace:
    """One weight layer's numbers from :func:`trace` (copies, safe to keep).

    ``X_bar``: ``X̄_l``, ndarray of shape (N, n_l + 1); ``W``: ``W_l``, ndarray of shape
    (n_{l+1}, n_l + 1); ``z``: ``z_l = X̄_l W_lᵀ`` and ``a``: ``X_{l+1} = f_l(z_l)``,
    ndarrays of shape (N, n_{l+1}); ``psi``: ``Ψ_l = ∂E/∂z_l``, ndarray of shape
    (N, n_{l+1}); ``grad_W``: ``∂E/∂W_l = Ψ_lᵀ X̄_l``, ndarray of shape (n_{l+1}, n_l + 1).

    ``spec``: the layer itself (:class:`psinet.layers.Dense` or ``Conv2D``, built for its
    input shape). A convolution's ``X_bar``, ``z``, ``a`` and ``psi`` have one row per
    sample *and* output position, N·P rows (P = :attr:`positions`): ``X_bar`` (N·P,
    C·kh·kw + 1), the others (N·P, filters); ``spec.maps(t.z)`` views them as maps
    (N, filters, Ho, Wo).
    """

    layer: int
    activation: str
    X_bar: Array
    W: Array
    z: Array
    a: Array
    psi: Array
    grad_W: Array
    spec: Layer | None = None

    @property
    def positions(self) -> int:
        """P, the rows per sample: a convolution's output positions Ho·Wo, else 1."""
        return 1 if self.spec is None else self.spec.positions

    @property
    def convolution(self) -> bool:
        """Whether the layer is a convolution (its rows are patches)."""
        return isinstance(self.spec, Conv2D)

    def shape_text(self, name: str) -> str:
        """The shape of the array ``name`` ("X_bar", "W", "z", "a", "psi" or "grad_W"); a
        convolution's rows as samples·positions: ``(N·P = 2·400, 257)`` for ``X̄``,
        ``(2·400, 32)`` for ``z``, ``a`` and ``Ψ``."""
        shape = getattr(self, name).shape
        if not self.convolution or name in ("W", "grad_W"):
            return f"{shape}"
        P = self.positions
        rows = f"{shape[0] // P}·{P}"
        return f"(N·P = {rows}, {shape[1]})" if name == "X_bar" else f"({rows}, {shape[1]})"


_SMALL_WIDTH, _SMALL_BATCH = 8, 4  # up to this size a Trace shows its numbers, not only norms
_SMALL_ROWS = 8  # and at most this many rows (a convolution's: samples × positions)
_COLUMNS = ("X̄_l", "W_l", "z_l = X̄_l W_lᵀ", "f_l", "Ψ_l = ∂E/∂z_l", "∂E/∂W_l = Ψ_lᵀ X̄_l")
_FIELDS = ("X_bar", "W", "z", "f", "psi", "grad_W")  # the columns' LayerTrace fields ("f": name)
_ROWS_NOTE = (
    "a convolution's X̄_l, z_l and Ψ_l have a row per sample and output position: "
    "N·P rows (P = Ho·Wo)"
)


@dataclass(repr=False)
class Trace:
    """The record of one forward and backward pass; ``print`` it for a per-layer table.

    ``layers[l]`` is a :class:`LayerTrace`; ``E`` the loss; ``y_hat`` the output ``ŷ``,
    ndarray of shape (N, n_L). The table lists each array's shape and Frobenius norm
    ``‖·‖``, in the order of the derivation: forward left to right, then Ψ and the
    gradient, which backprop computes from the last layer back. A convolutional
    network's table also names each layer, and writes a convolution's rows as
    ``N·P`` (samples times output positions). In Jupyter (and IPython) a small trace,
    every layer at most 8 wide, at most 4 samples and at most 8 rows, shows the numbers
    themselves.
    """

    layers: list[LayerTrace]
    loss: str
    E: float
    y_hat: Array

    def _title(self) -> str:
        N = self.y_hat.shape[0]
        return f"one forward and backward pass: N = {N}, loss {self.loss}, E = {self.E:.6g}"

    @property
    def convolutional(self) -> bool:
        """Whether some layer is a convolution."""
        return any(t.convolution for t in self.layers)

    def _header(self) -> tuple[str, ...]:
        return ("l", "layer", *_COLUMNS) if self.convolutional else ("l", *_COLUMNS)

    def _cells(
        self, t: LayerTrace, cell: Callable[[LayerTrace, str], str], text: Callable[[str], str]
    ) -> list[str]:
        """One row of the table: ``cell(t, name)`` for each array of :data:`_FIELDS`,
        ``text(...)`` of the layer's index, its activation and (in a convolutional
        network) its name."""
        cells = [text(t.activation) if n == "f" else cell(t, n) for n in _FIELDS]
        if not self.convolutional:
            return [text(str(t.layer)), *cells]
        return [text(str(t.layer)), text(_layer_text(t.spec)), *cells]

    @property
    def is_small(self) -> bool:
        """Whether every layer is at most 8 wide, the batch at most 4 samples and every
        array at most 8 rows (a convolution's rows: samples × positions)."""
        widest = max(max(t.W.shape[0], t.W.shape[1] - 1) for t in self.layers)
        rows = max(t.X_bar.shape[0] for t in self.layers)
        return (
            widest <= _SMALL_WIDTH and self.y_hat.shape[0] <= _SMALL_BATCH and rows <= _SMALL_ROWS
        )

    def __str__(self) -> str:
        def cell(t: LayerTrace, name: str) -> str:
            return f"{t.shape_text(name)} {_frobenius_norm(getattr(t, name)):.4g}"

        from ._display import text_table

        rows = [self._cells(t, cell, str) for t in self.layers]
        title = (
            f"{self._title()}\n"
            "each cell: shape, then Frobenius norm; forward runs l = 0 → L-1, "
            "the Ψ recursion l = L-1 → 0"
        )
        if self.convolutional:
            title += f"\n{_ROWS_NOTE}"
        return "\n".join([title, *text_table(self._header(), rows)])

    def values(self) -> str:
        """Every array of the trace, layer by layer, to 4 significant digits."""
        from ._display import matrix_text

        lines = []
        for t in self.layers:
            if t.convolution:
                P = t.positions
                lines.append(
                    f"layer {t.layer} ({_layer_text(t.spec)}, {t.activation}; rows: sample by "
                    f"sample, each its P = {P} positions in reading order)"
                )
            else:
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

        def cell(t: LayerTrace, name: str) -> str:
            a = getattr(t, name)
            if small:
                return html_matrix(a)
            return html.escape(f"{t.shape_text(name)} ‖·‖ = {_frobenius_norm(a):.4g}")

        rows = [self._cells(t, cell, html.escape) for t in self.layers]
        samples = (
            "samples (a convolution's: samples × positions)" if self.convolutional else "samples"
        )
        how = (
            f"each cell: the array (rows are {samples}; W and ∂E/∂W: rows are neurons, bias last)"
            if small
            else "each cell: shape and Frobenius norm"
        )
        footer = f"{how}; forward runs l = 0 → L-1, the Ψ recursion l = L-1 → 0"
        if self.convolutional:
            footer += f"; {_ROWS_NOTE}"
        return html_table(
            self._header(), rows, caption=self._title(), footer=footer, raw_cells=True
        )

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        """The table (and, when small, every value) for IPython's plain-text display."""
        from ._display import pretty

        text = f"{self}\n\n{self.values()}" if self.is_small else str(self)
        pretty(p, cycle, text, "Trace(...)")


def _layer_text(layer: Layer | None) -> str:
    """A layer for the table: ``Conv2D(32, 8, stride=4) → 32×20×20`` or ``Dense(512)``."""
    if layer is None:
        return ""
    if isinstance(layer, Conv2D):
        return f"{layer!r} → {'×'.join(map(str, layer.out_shape))}"
    return repr(layer)


def trace(net: Network, X: Any, Y: Any, loss: str | Loss) -> Trace:
    """Run one forward and one backward pass and keep every intermediate, per layer.

    ``X``: ndarray of shape (N, n_0), or (N, C, H, W) for images; ``Y``: ndarray of
    shape (N, n_L). Returns a :class:`Trace` of copies of ``X̄_l``, ``z_l``, ``X_{l+1}``,
    ``Ψ_l`` and ``∂E/∂W_l`` (the weights are not changed). A convolution's ``X̄_l``,
    ``z_l``, ``X_{l+1}`` and ``Ψ_l`` have N·P rows, one per sample and output position
    (``print`` shows ``(N·P = 2·400, 257)``).

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
            spec=net.layers[l],
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


def _gradient_arrays(net: Network, out: Sequence[Array] | None) -> list[Array] | None:
    """``out`` checked: one writeable array per layer, shaped like ``W_l``, sharing no
    memory with the weights or with each other (the gradients would overwrite them)."""
    if out is None:
        return None
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
