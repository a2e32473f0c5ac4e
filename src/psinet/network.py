"""The network: one weight matrix per layer, the bias as its last column.

Code indices are 0-based: ``weights[l]`` is ``W_l``, the matrix from layer ``l``
(``n_l`` neurons) to layer ``l + 1`` (``n_{l+1}`` neurons), of shape
``(n_{l+1}, n_l + 1)``. Its last column holds the biases, because every layer's
input ``X_l`` gets a constant 1 appended: ``X̄_l = [X_l, 1]``, and then one matrix
product ``z_l = X̄_l W_lᵀ`` computes ``X_l W_l[:, :-1]ᵀ + b`` for the whole batch.

>>> import numpy as np
>>> net = Network([2, 3, 1], ["tanh", "sigmoid"], seed=0)
>>> [W.shape for W in net.weights]
[(3, 3), (1, 4)]
>>> net.forward(np.array([[0.0, 1.0], [1.0, 0.0]])).shape
(2, 1)
>>> net.cache.X_bar[1].shape, net.cache.z[1].shape
((2, 4), (2, 1))
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from . import _raw
from . import activations as _activations
from ._checks import as_batch, as_float_array, check_seed, refuse_overflow, shown
from ._contract import annotate, checked_array
from .activations import Activation

if TYPE_CHECKING:
    from .losses import Loss
    from .optimizers import Optimizer
    from .training import Callback, History

Array = np.ndarray
ActivationSpec = str | Activation | dict[str, Any]

_FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))
_MAX_CACHED_BATCH_SIZES = 4
# In float32, OpenBLAS computes a wide layer's z_l faster as z_lᵀ = W_l X̄_lᵀ: the product
# alone takes 0.72× the time for 6566 → 256 (batch 32), 0.93× for 785 → 256, 1.55× for
# 257 → 10. Through fit (the elementwise work then reads z_l transposed) it paid for
# 6566 → 256 (0.88× per step) and not for 785 → 256 (1.10×); in float64 it did not pay.
_TRANSPOSED_MIN_FAN_IN, _TRANSPOSED_MIN_WIDTH = 2048, 64


def _transposed(dtype: np.dtype[Any], n_in: int, n_out: int) -> bool:
    """Whether the cache holds z_l as the transpose of a (n_out, N) product."""
    return dtype == np.float32 and n_in >= _TRANSPOSED_MIN_FAN_IN and n_out >= _TRANSPOSED_MIN_WIDTH


class _TransposedProduct:
    """``z_lᵀ = W_l X̄_lᵀ`` into ``z_T`` (n_{l+1}, N), called like the row-major product
    ``product(X̄_l, W_lᵀ, z_l)`` it stands in for (``z_l`` is ``z_T``'s transpose)."""

    def __init__(self, W: Array, z_T: Array) -> None:
        from .backprop import product

        self.W, self.z_T = W, z_T
        self.product = product(z_T.shape[0], W.shape[1], z_T.shape[1], z_T)

    def __call__(self, X_bar: Array, W_T: Array, z: Array) -> None:
        self.product(self.W, X_bar.T, self.z_T)


@dataclass
class ForwardCache:
    """What one forward pass keeps for backprop, for a batch of N samples.

    For each weight layer ``l = 0 … L-1``:

    * ``X_bar[l]``: ``X̄_l``, ndarray of shape (N, n_l + 1), the layer's input with a
      last column of ones;
    * ``z[l]``: ``z_l = X̄_l W_lᵀ``, ndarray of shape (N, n_{l+1});
    * ``a[l]``: ``X_{l+1} = f_l(z_l)``, ndarray of shape (N, n_{l+1}), contiguous (the
      elementwise work runs at full speed there: 2–3× faster than in the strided
      ``X_bar[l+1][:, :-1]`` on small layers) and copied into ``X_bar[l+1][:, :-1]``;
      the last one is ``y_hat``;
    * ``psi[l]``: ``Ψ_l = ∂E/∂z_l``, ndarray of shape (N, n_{l+1}), filled by
      :func:`psinet.backprop.gradients` (zeros until then).

    ``y_hat`` is the output ``ŷ = X_L = f_{L-1}(z_{L-1})``, ndarray of shape (N, n_L).

    The arrays are buffers reused by the next forward pass of the same batch size, so
    their values change when the network runs again; copy what you want to keep.
    """

    X_bar: list[Array]
    z: list[Array]
    a: list[Array]
    psi: list[Array]
    y_hat: Array
    z_T: list[Array | None] = field(default_factory=list, repr=False)  # z_l as z_lᵀ's view
    n_samples: int = field(init=False)
    X_bar_0: Array = field(init=False, repr=False)  # this cache's own X̄_0 buffer
    # the forward pass's moves, bound by Network._bind_forward: per layer (l, product,
    # W_lᵀ, z_l, f_l bound to (z_l, a_l), a_l, X̄_{l+1}[:, :-1] and X̄_{l+1} (None for l = L-1))
    moves: list[tuple[Any, ...]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.n_samples = self.y_hat.shape[0]
        self.X_bar_0 = self.X_bar[0]

    @classmethod
    def allocate(
        cls,
        sizes: Sequence[int],
        n_samples: int,
        dtype: np.dtype[Any],
        transposed_out: bool = False,
    ) -> ForwardCache:
        """Buffers for a batch of ``n_samples``; every ``X̄_l`` gets its ones column here, once.

        ``transposed_out``: keep ``z_{L-1}`` as the transpose of an (n_L, N) array (a
        softmax output: its row maxima and sums then run along contiguous memory).
        """
        X_bar = [np.empty((n_samples, n + 1), dtype=dtype) for n in sizes[:-1]]
        for X_bar_l in X_bar:
            X_bar_l[:, -1] = 1  # the bias "input", written once and never overwritten
        last = len(sizes) - 2
        z_T = [
            np.empty((n, n_samples), dtype=dtype)
            if _transposed(dtype, n_in, n) or (transposed_out and l == last)
            else None
            for l, (n_in, n) in enumerate(pairwise(sizes))
        ]
        z = [
            np.empty((n_samples, n), dtype=dtype) if zt is None else zt.T
            for n, zt in zip(sizes[1:], z_T, strict=True)
        ]
        psi = [np.zeros((n_samples, n), dtype=dtype) for n in sizes[1:]]
        y_hat = np.empty((n_samples, sizes[-1]), dtype=dtype)
        a = [np.empty((n_samples, n), dtype=dtype) for n in sizes[1:-1]] + [y_hat]
        return cls(X_bar=X_bar, z=z, a=a, psi=psi, y_hat=y_hat, z_T=z_T)


class Weights(Sequence[Array]):
    """The list of weight matrices ``W_l``, ndarray of shape (n_{l+1}, n_l + 1).

    Read and assign like a list: ``net.weights[0] = W`` checks the shape and copies
    ``W``, in the network's dtype, into the network's own array (as Keras'
    ``set_weights`` does: the arrays are the network's for its whole life, so a
    reference to ``net.weights[0]`` always shows the current weights); a wrong shape,
    NaN or inf is refused and the network is left as it was. The arrays may also be
    changed in place.
    """

    def __init__(self, net: Network, arrays: list[Array]) -> None:
        self._net = net
        self._arrays = arrays

    def __getitem__(self, l: int) -> Array:  # type: ignore[override]
        if isinstance(l, (bool, np.bool_)):  # a bool would index as 0 or 1
            raise TypeError(f"weights index must be an int, got bool {l!r}")
        if isinstance(l, (int, np.integer)) and not -len(self) <= l < len(self):
            raise IndexError(f"weights index must be in [0, {len(self)}), got {shown(l)}")
        return self._arrays[l]

    def __len__(self) -> int:
        return len(self._arrays)

    def __iter__(self) -> Iterator[Array]:
        return iter(self._arrays)

    def __setitem__(self, l: int, W: Any) -> None:
        if isinstance(l, (bool, np.bool_)) or not isinstance(l, (int, np.integer)):
            raise TypeError(f"weights index must be an int, got {type(l).__name__} {shown(l)}")
        if not -len(self) <= l < len(self):
            raise IndexError(f"weights index must be in [0, {len(self)}), got {shown(l)}")
        l = int(l) % len(self)
        np.copyto(self._arrays[l], self._net._checked_weight(l, W))

    def __repr__(self) -> str:
        return f"Weights({[W.shape for W in self._arrays]})"


class Network:
    """A fully connected feed-forward network with the bias as the last weight column.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths ``n_0, n_1, …, n_L``, input width first; each >= 1, at least two.
    activations : name, Activation or sequence of them
        One activation for every weight layer, or a sequence with exactly one per
        weight layer (``len(sizes) - 1``). Names: see :data:`psinet.activations.ACTIVATIONS`.
    seed : int or None
        Seed of the ``numpy.random.Generator`` that draws the initial weights.
    dtype : numpy.float64 or numpy.float32
        The dtype of weights, caches and gradients.

    Attributes
    ----------
    weights : Weights
        ``W_l``, ndarray of shape (n_{l+1}, n_l + 1) for ``l = 0 … L-1``.
    cache : ForwardCache or None
        ``X̄_l``, ``z_l`` (and ``Ψ_l`` after backprop) of the last :meth:`forward`.

    Initialization: Glorot uniform ``U(±√(6/(n_in + n_out)))`` for sigmoid, tanh,
    identity and softmax layers, He normal ``N(0, 2/n_in)`` for the ReLU family;
    bias column 0. The same seed gives the same weights.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activations: ActivationSpec | Sequence[ActivationSpec],
        *,
        seed: int | None = None,
        dtype: Any = np.float64,
    ) -> None:
        self.sizes = _check_sizes(sizes)
        self.activations = _check_activations(activations, len(self.sizes) - 1)
        self.dtype = _check_dtype(dtype)
        self.seed = check_seed(seed)
        rng = np.random.default_rng(seed)
        # the weights are views, back to back, into one flat array (an update can be one pass)
        shapes = [(n_out, n_in + 1) for n_in, n_out in pairwise(self.sizes)]
        self._weights = Weights(self, _raw.flat_arrays_like(shapes, self.dtype))
        for l, W in enumerate(self._weights._arrays):
            self._init_weight(l, rng, W)
        self.cache: ForwardCache | None = None
        self._buffers: dict[int, ForwardCache] = {}

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the weights, not the buffers: their bound moves are rebuilt on use."""
        state = self.__dict__.copy()
        state["_buffers"], state["cache"] = {}, None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        arrays = self._weights._arrays  # unpickled one by one: put back into one flat array
        flat = _raw.flat_arrays_like([W.shape for W in arrays], self.dtype)
        for W, W_flat in zip(arrays, flat, strict=True):
            W_flat[...] = W
        arrays[:] = flat

    # ------------------------------------------------------------------ structure
    @property
    def n_layers(self) -> int:
        """L, the number of weight layers."""
        return len(self.sizes) - 1

    @property
    def n_inputs(self) -> int:
        """n_0, the input width."""
        return self.sizes[0]

    @property
    def n_outputs(self) -> int:
        """n_L, the output width."""
        return self.sizes[-1]

    @property
    def n_params(self) -> int:
        """The number of parameters: Σ_l n_{l+1}(n_l + 1), biases included."""
        return sum(W.size for W in self._weights)

    @property
    def weights(self) -> Weights:
        """The weight matrices; see :class:`Weights`."""
        return self._weights

    @weights.setter
    def weights(self, new: Sequence[Any]) -> None:
        if isinstance(new, (str, bytes)) or not isinstance(new, Sequence):
            raise TypeError(f"weights must be a sequence of arrays, got {type(new).__name__}")
        if len(new) != self.n_layers:
            raise ValueError(f"weights must hold {self.n_layers} arrays, got {len(new)}")
        checked = [self._checked_weight(l, W) for l, W in enumerate(new)]  # all, then assign
        for W, W_new in zip(self._weights._arrays, checked, strict=True):
            np.copyto(W, W_new)

    def _checked_weight(self, l: int, W: Any) -> Array:
        expected = (self.sizes[l + 1], self.sizes[l] + 1)
        W = np.array(as_float_array(W, f"weights[{l}]", self.dtype), copy=True)
        if W.shape != expected:
            raise ValueError(
                f"weights[{l}] must have shape {expected} (n_{l + 1}, n_{l} + 1 for the bias "
                f"column), got {W.shape}"
            )
        return W

    def _init_weight(self, l: int, rng: np.random.Generator, W: Array) -> None:
        """Fill ``W`` = ``W_l`` (n_{l+1}, n_l + 1) in place: random weights, biases 0."""
        n_in, n_out = self.sizes[l], self.sizes[l + 1]
        W[:, -1] = 0  # the bias column
        if self.activations[l].init == "he":
            W[:, :-1] = rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_out, n_in))
        else:
            limit = np.sqrt(6.0 / (n_in + n_out))
            W[:, :-1] = rng.uniform(-limit, limit, size=(n_out, n_in))

    # ------------------------------------------------------------------ forward
    def forward(self, X: Any) -> Array:
        """Run the forward phase and keep ``X̄_l`` and ``z_l`` in :attr:`cache`.

        ``X``: ndarray of shape (N, n_0), or (n_0,) for one sample.
        Returns ``ŷ``, a new ndarray of shape (N, n_L) (or (n_L,) for one sample).
        """
        X, single = as_batch(X, "X", self.n_inputs, self.dtype)
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported below
            y_hat = self._forward(X).copy()
        refuse_overflow(bool(np.isfinite(y_hat).all()), "the outputs", X, self.dtype)
        return y_hat[0] if single else y_hat

    def _forward(self, X: Array) -> Array:
        """Forward phase into the reusable buffers; X is a checked (N, n_0) array."""
        cache = self._buffers_for(X.shape[0])
        cache.X_bar_0[:, :-1] = X  # X̄_0 = [X_0, 1]
        return self._forward_bar(cache.X_bar_0, cache)

    def _forward_bar(
        self,
        X_bar_0: Array,
        cache: ForwardCache | None = None,
        moves: Sequence[tuple[Any, ...]] | None = None,
    ) -> Array:
        """Forward phase from an ``X̄_0`` (N, n_0 + 1) that already ends in a ones column.

        The training loop augments its data once per epoch and passes batches of it here,
        so no step copies its inputs. Each layer's product and activation are bound to
        the cache's arrays once (``cache.moves``, see :meth:`_bind_forward`); ``moves``
        replaces them (a training step whose start computes ``ŷ`` itself passes moves
        whose last activation does nothing).
        """
        if cache is None:
            cache = self._buffers_for(X_bar_0.shape[0])
        cache.X_bar[0] = X_bar_0
        X_bar_l, l, copyto = X_bar_0, 0, _raw.copyto
        try:
            for l, z_product, W_T, z_l, f_l, a_l, X_next, X_bar_next in moves or cache.moves:  # noqa: B007
                z_product(X_bar_l, W_T, z_l)  # z_l = X̄_l W_lᵀ              (N, n_{l+1})
                f_l()  # a_l = X_{l+1} = f_l(z_l)                           (N, n_{l+1})
                if X_bar_next is not None:
                    copyto(X_next, a_l)  # X̄_{l+1} = [X_{l+1}, 1]        (N, n_{l+1} + 1)
                X_bar_l = X_bar_next
        except Exception as exc:
            annotate(exc, f"the forward pass, layer {l}")
            raise
        self.cache = cache
        return cache.y_hat

    def _bind_forward(self, cache: ForwardCache) -> None:
        """Bind each layer's forward moves to ``cache``'s arrays (the weights are the
        network's own arrays for its whole life, so the views stay valid)."""
        from .backprop import product

        N = cache.n_samples
        cache.moves = []
        for l, (W, f) in enumerate(zip(self._weights, self.activations, strict=True)):
            z_product, W_T = product(N, W.shape[1], W.shape[0]), W.T
            z_T = cache.z_T[l]
            if z_T is not None:  # the same z_l, written as z_lᵀ = W_l X̄_lᵀ (see _transposed)
                z_product = _TransposedProduct(W, z_T)
            X_bar_next = cache.X_bar[l + 1] if l + 1 < self.n_layers else None
            X_next = None if X_bar_next is None else X_bar_next[:, :-1]
            move = f.forward_move(cache.z[l], cache.a[l])
            cache.moves.append(
                (l, z_product, W_T, cache.z[l], move, cache.a[l], X_next, X_bar_next)
            )

    def _buffers_for(self, n_samples: int) -> ForwardCache:
        cache = self._buffers.pop(n_samples, None)
        if cache is None:
            f_out = self.activations[-1]  # a built-in softmax reduces along contiguous z_{L-1}
            softmax = isinstance(f_out, _activations.Softmax) and f_out._own(
                _activations.Softmax, "value"
            )
            cache = ForwardCache.allocate(self.sizes, n_samples, self.dtype, softmax)
            self._bind_forward(cache)
            if len(self._buffers) >= _MAX_CACHED_BATCH_SIZES:
                self._buffers.pop(next(iter(self._buffers)))  # forget the least recently used
        self._buffers[n_samples] = cache  # most recently used last
        return cache

    def predict(self, X: Any) -> Array:
        """The output ``ŷ`` for ``X`` without touching :attr:`cache`.

        ``X``: ndarray of shape (N, n_0), or (n_0,) for one sample.
        Returns a new ndarray of shape (N, n_L) (or (n_L,) for one sample).
        """
        X, single = as_batch(X, "X", self.n_inputs, self.dtype)
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported below
            y_hat = self._propagate(X)[0]
        refuse_overflow(bool(np.isfinite(y_hat).all()), "the outputs", X, self.dtype)
        return y_hat[0] if single else y_hat

    def _propagate(self, X: Array) -> tuple[Array, Array]:
        """Buffer-free forward phase: ``(ŷ, z_{L-1})`` for a checked (N, n_0) array."""
        a, z = X, X
        try:
            for W, f in zip(self._weights, self.activations, strict=True):
                X_bar = np.empty((a.shape[0], a.shape[1] + 1), dtype=self.dtype)
                X_bar[:, :-1], X_bar[:, -1] = a, 1  # X̄_l = [X_l, 1]
                z = X_bar @ W.T  # z_l = X̄_l W_lᵀ, the same product as in forward
                a = f.value(z)
                if type(a) is not np.ndarray or a.shape != z.shape or a.dtype != self.dtype:
                    a = np.array(checked_array(a, z.shape, f, "value"), dtype=self.dtype)
        except Exception as exc:
            annotate(exc, "the forward pass (buffer-free, as in predict)")
            raise
        return a, z

    # ------------------------------------------------------------------ training
    def fit(
        self,
        X: Any,
        Y: Any,
        *,
        loss: str | Loss,
        optimizer: Optimizer | str | None = None,
        epochs: int = 1,
        batch_size: int = 32,
        shuffle: bool = True,
        seed: int | None = None,
        validation_data: tuple[Any, Any] | None = None,
        validation_split: float = 0.0,
        l2: float = 0.0,
        callbacks: Iterable[Callback | Callable[[dict[str, Any]], Any]] = (),
        verbose: int = 1,
        file: TextIO | None = None,
        initial_epoch: int = 0,
        sample_weight: Any = None,
    ) -> History:
        """Train by mini-batch gradient descent; see :func:`psinet.training.fit`.

        ``X``: ndarray of shape (N, n_0); ``Y``: ndarray of shape (N, n_L).
        Returns a :class:`psinet.training.History`.
        """
        from .training import fit

        return fit(
            self,
            X,
            Y,
            loss=loss,
            optimizer=optimizer,
            epochs=epochs,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            validation_data=validation_data,
            validation_split=validation_split,
            l2=l2,
            callbacks=callbacks,
            verbose=verbose,
            file=file,
            initial_epoch=initial_epoch,
            sample_weight=sample_weight,
        )

    def evaluate(
        self, X: Any, Y: Any, loss: str | Loss, *, l2: float = 0.0, sample_weight: Any = None
    ) -> dict[str, float]:
        """Loss and accuracy on ``(X, Y)``: see :func:`psinet.training.evaluate`.

        ``X``: ndarray of shape (N, n_0); ``Y``: ndarray of shape (N, n_L).
        """
        from .training import evaluate

        return evaluate(self, X, Y, loss, l2=l2, sample_weight=sample_weight)

    def save(self, path: str | os.PathLike[str], *, optimizer: Optimizer | None = None) -> Path:
        """Write the network (and optimizer state) to one ``.npz``: :func:`psinet.io.save`."""
        from .io import save

        return save(self, path, optimizer=optimizer)

    # ------------------------------------------------------------------ utilities
    def copy(self, dtype: Any = None) -> Network:
        """An independent copy (weights copied, no cache), optionally in another dtype."""
        clone = Network(self.sizes, self.activations, dtype=self.dtype if dtype is None else dtype)
        clone.seed = self.seed
        clone.weights = list(self._weights)  # checked and cast: a weight beyond float32 is refused
        return clone

    def _summary_rows(self) -> tuple[tuple[str, ...], list[tuple[str, ...]], str]:
        """(header, one row per layer, total line) of :meth:`summary`."""
        header = ("layer", "n_in -> n_out", "W shape", "activation", "params")
        rows: list[tuple[str, ...]] = [
            (
                str(l),
                f"{self.sizes[l]} -> {self.sizes[l + 1]}",
                f"{W.shape}",
                repr(f),
                f"{W.size:,}",
            )
            for l, (W, f) in enumerate(zip(self._weights, self.activations, strict=True))
        ]
        total = f"total parameters: {self.n_params:,} ({np.dtype(self.dtype).name})"
        return header, rows, total

    def summary(self) -> str:
        """A table of layers: widths, weight shapes, activation and parameter counts."""
        header, body, total = self._summary_rows()
        rows: list[tuple[str, ...]] = [header, *body]
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        lines.insert(1, "-" * len(lines[0]))
        lines.append(total)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The :meth:`summary` table, for Jupyter."""
        from ._display import html_table

        header, rows, total = self._summary_rows()
        sizes = "-".join(map(str, self.sizes))
        return html_table(header, rows, caption=f"Network {sizes}", footer=total)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        """The :meth:`summary` table, for IPython's plain-text display."""
        from ._display import pretty

        pretty(p, cycle, f"{self!r}\n{self.summary()}", "Network(...)")

    def __repr__(self) -> str:
        names = [repr(f) if f.get_config().keys() - {"name"} else f.name for f in self.activations]
        return (
            f"Network(sizes={list(self.sizes)}, activations={names}, "
            f"dtype={np.dtype(self.dtype).name}, params={self.n_params:,})"
        )


def _check_sizes(sizes: Any) -> tuple[int, ...]:
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        if not isinstance(sizes, np.ndarray):
            raise TypeError(f"sizes must be a sequence of ints, got {type(sizes).__name__}")
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"sizes must list at least two layer widths (input, output), got {sizes}")
    for n in sizes:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"sizes must be ints, got {n!r} ({type(n).__name__}) in {sizes}")
        if n < 1:
            raise ValueError(f"sizes must be >= 1, got {n} in {sizes}")
    return tuple(int(n) for n in sizes)


def _check_activations(spec: Any, n_layers: int) -> tuple[Activation, ...]:
    if isinstance(spec, (str, Activation, dict)):
        return (_activations.get(spec),) * n_layers
    if not isinstance(spec, Sequence):
        raise TypeError(
            "activations must be a name, an Activation, or a sequence of them, "
            f"got {type(spec).__name__}"
        )
    if len(spec) != n_layers:
        raise ValueError(
            f"activations must give one per weight layer ({n_layers} for these sizes), "
            f"got {len(spec)}: {list(spec)}"
        )
    return tuple(_activations.get(a) for a in spec)


def _check_dtype(dtype: Any) -> np.dtype[Any]:
    """float64 or float32, in the machine's byte order (">f8" is taken as float64)."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be numpy.float64 or numpy.float32, got {dtype!r}") from None
    native = dt.newbyteorder("=") if dt.kind == "f" and dt.isnative is False else dt
    if native not in _FLOAT_DTYPES:
        raise ValueError(
            f"dtype must be numpy.float64 or numpy.float32, got {dt.name} ({dt.str!r})"
        )
    return np.dtype(native.type)  # the canonical native dtype object
