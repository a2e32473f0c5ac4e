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

import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from . import _raw
from . import activations as _activations
from ._checks import as_batch, as_float_array, check_seed, refuse_non_finite_outputs, shown
from ._contract import annotate
from .activations import Activation
from .layers import Conv2D, Dense, Layer

if TYPE_CHECKING:
    from .losses import Loss
    from .optimizers import Optimizer
    from .training import Callback, History

Array = np.ndarray
ActivationSpec = str | Activation | dict[str, Any]
LayerSpec = int | tuple[int, ...] | Layer

_FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


@dataclass
class ForwardCache:
    """What one forward pass keeps for backprop, for a batch of N samples.

    For each weight layer ``l = 0 … L-1``:

    * ``X_bar[l]``: ``X̄_l``, ndarray of shape (N, n_l + 1), the layer's input with a
      last column of ones;
    * ``z[l]``: ``z_l = X̄_l W_lᵀ``, ndarray of shape (N, n_{l+1});
    * ``a[l]``: ``X_{l+1} = f_l(z_l)``, ndarray of shape (N, n_{l+1}); the last one is
      ``y_hat``;
    * ``psi[l]``: ``Ψ_l = ∂E/∂z_l``, ndarray of shape (N, n_{l+1}), filled in by
      :func:`psinet.backprop.backward` (an empty list until then).

    A convolution's rows are patches (:mod:`psinet.layers`): its ``X̄_l`` has shape
    (N·P, C·kh·kw + 1) and its ``z_l``, ``X_{l+1}``, ``Ψ_l`` (N·P, filters), one row
    per sample and each of its P output positions.

    ``y_hat`` is the output ``ŷ = X_L = f_{L-1}(z_{L-1})``, ndarray of shape (N, n_L).
    """

    X_bar: list[Array]
    z: list[Array]
    a: list[Array]
    psi: list[Array] = field(default_factory=list)

    @property
    def y_hat(self) -> Array:
        """``ŷ = X_L``, ndarray of shape (N, n_L): the last layer's output."""
        return self.a[-1]

    @property
    def n_samples(self) -> int:
        """N, the number of samples in the batch."""
        return int(self.a[-1].shape[0])


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
    """A feed-forward network with the bias as the last weight column.

    Parameters
    ----------
    sizes : sequence of int, or an image shape and Conv2D layers first
        Layer widths ``n_0, n_1, …, n_L``, input width first; each >= 1, at least two.
        For images, the first entry is the input shape ``(C, H, W)`` and
        :class:`psinet.layers.Conv2D` layers may follow it before the dense widths:
        ``[(1, 28, 28), Conv2D(8, 3), 10]``; X then has shape (N, C, H, W).
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
        ``W_l``, ndarray of shape (n_{l+1}, n_l + 1) for ``l = 0 … L-1``; a
        convolution's is (filters, C·kh·kw + 1).
    layers : tuple of Layer
        Each weight layer's :class:`psinet.layers.Dense` or ``Conv2D``, built for its
        input shape.
    cache : ForwardCache or None
        ``X̄_l``, ``z_l`` (and ``Ψ_l`` after backprop) of the last :meth:`forward`.

    Initialization: Glorot uniform ``U(±√(6/(n_in + n_out)))`` for sigmoid, tanh,
    identity and softmax layers, He normal ``N(0, 2/n_in)`` for the ReLU family
    (a convolution's fans count its kernel: C·kh·kw in, filters·kh·kw out);
    bias column 0. The same seed gives the same weights.
    """

    def __init__(
        self,
        sizes: Sequence[LayerSpec],
        activations: ActivationSpec | Sequence[ActivationSpec],
        *,
        seed: int | None = None,
        dtype: Any = np.float64,
    ) -> None:
        self.input_shape, self.layers = _check_sizes(sizes)
        # n_l: the values per sample of each layer's output (a convolution's: filters·Ho·Wo)
        self.sizes = (math.prod(self.input_shape), *(math.prod(q.out_shape) for q in self.layers))
        self.activations = _check_activations(activations, len(self.layers))
        self.dtype = _check_dtype(dtype)
        self.seed = check_seed(seed)
        rng = np.random.default_rng(seed)
        # the weights are views, back to back, into one flat array (an update can be one pass)
        shapes = [(layer.n_out, layer.n_in + 1) for layer in self.layers]
        self._weights = Weights(self, _raw.flat_arrays_like(shapes, self.dtype))
        for l, W in enumerate(self._weights._arrays):
            self._init_weight(l, rng, W)
        self.cache: ForwardCache | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the weights, not the cache of the last forward pass."""
        state = self.__dict__.copy()
        state["cache"] = None
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
    def architecture(self) -> list[Any]:
        """What ``Network(sizes=…)`` was given, normalized: the input (an int, or (C, H, W)),
        then a Conv2D per convolution and an int per dense layer."""
        first: Any = self.input_shape[0] if len(self.input_shape) == 1 else self.input_shape
        return [first, *(q.units if type(q) is Dense else _unbuilt(q) for q in self.layers)]

    @property
    def convolutional(self) -> bool:
        """Whether any layer is a convolution."""
        return any(isinstance(q, Conv2D) for q in self.layers)

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
        expected = self._weights._arrays[l].shape
        W = np.array(as_float_array(W, f"weights[{l}]", self.dtype), copy=True)
        if W.shape != expected:
            raise ValueError(
                f"weights[{l}] must have shape {expected} (n_{l + 1}, n_{l} + 1 for the bias "
                f"column), got {W.shape}"
            )
        return W

    def _init_weight(self, l: int, rng: np.random.Generator, W: Array) -> None:
        """Fill ``W`` = ``W_l`` (n_{l+1}, n_l + 1) in place: random weights, biases 0."""
        layer = self.layers[l]
        n_in, n_out = layer.n_in, layer.n_out
        fan_out = n_out * (n_in // layer.in_shape[0] if isinstance(layer, Conv2D) else 1)
        W[:, -1] = 0  # the bias column
        if self.activations[l].init == "he":
            W[:, :-1] = rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_out, n_in))
        else:
            limit = np.sqrt(6.0 / (n_in + fan_out))
            W[:, :-1] = rng.uniform(-limit, limit, size=(n_out, n_in))

    # ------------------------------------------------------------------ forward
    def forward(self, X: Any) -> Array:
        """Run the forward phase and keep ``X̄_l`` and ``z_l`` in :attr:`cache`.

        ``X``: ndarray of shape (N, n_0), or (n_0,) for one sample; images (N, C, H, W).
        Returns ``ŷ``, a new ndarray of shape (N, n_L) (or (n_L,) for one sample).
        """
        X, single = as_batch(X, "X", self.input_shape, self.dtype)
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported below
            cache = self._forward(X)
        self._refuse_non_finite(cache, X)
        self.cache = cache
        y_hat = cache.y_hat.copy()
        return y_hat[0] if single else y_hat

    def _forward(self, X: Array) -> ForwardCache:
        """The forward phase on a checked X (N, n_0) or (N, C, H, W), as the derivation
        writes it. A dense layer's rows are samples; a convolution's are patches (one per
        sample and position, :mod:`psinet.layers`), and the same three lines hold."""
        X_bar: list[Array] = []  # X̄_l = [X_l, 1]                          (N, n_l + 1)
        z: list[Array] = []  # z_l = X̄_l W_lᵀ                                 (N, n_{l+1})
        a: list[Array] = []  # X_{l+1} = f_l(z_l), the input of layer l + 1   (N, n_{l+1})
        layers, l = self.layers, 0
        try:
            for l, (W_l, f_l) in enumerate(zip(self.weights, self.activations, strict=True)):
                X_l = X if l == 0 else a[l - 1]  # the data, or the layer below's output
                X_l = layers[l].unfold(X_l)  # its rows: samples, or a convolution's patches
                ones = np.ones((len(X_l), 1), dtype=self.dtype)  # the bias "input" of each row
                X_bar.append(np.hstack([X_l, ones]))  # X̄_l = [X_l, 1]
                z.append(X_bar[l] @ W_l.T)  # z_l = X̄_l W_lᵀ
                a.append(f_l(z[l]))  # X_{l+1} = f_l(z_l)
        except Exception as exc:
            annotate(exc, f"the forward pass, layer {l}")  # names the part that raised
            raise
        return ForwardCache(X_bar, z, a)

    def predict(self, X: Any) -> Array:
        """The output ``ŷ`` for ``X`` without touching :attr:`cache`.

        ``X``: ndarray of shape (N, n_0), or (n_0,) for one sample; images (N, C, H, W).
        Returns a new ndarray of shape (N, n_L) (or (n_L,) for one sample).
        """
        X, single = as_batch(X, "X", self.input_shape, self.dtype)
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported below
            cache = self._forward(X)
        self._refuse_non_finite(cache, X)
        y_hat = cache.y_hat
        return y_hat[0] if single else y_hat

    def _refuse_non_finite(self, cache: ForwardCache, X: Array) -> None:
        """A ValueError when ŷ holds NaN or inf, saying why: an overflow of some ``z_l``,
        or an activation that returned NaN or inf from a finite ``z_l`` (named)."""
        if not np.isfinite(cache.y_hat).all():
            refuse_non_finite_outputs(cache.z, cache.a, self.activations, X, self.dtype)

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

        ``X``: ndarray of shape (N, n_0) or images (N, C, H, W); ``Y``: ndarray of shape (N, n_L).
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

        ``X``: ndarray of shape (N, n_0) or images (N, C, H, W); ``Y``: ndarray of shape (N, n_L).
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
        dtype = self.dtype if dtype is None else dtype
        clone = Network(self.architecture, self.activations, dtype=dtype)
        clone.seed = self.seed
        clone.weights = list(self._weights)  # checked and cast: a weight beyond float32 is refused
        return clone

    def _summary_rows(self) -> tuple[tuple[str, ...], list[tuple[str, ...]], str]:
        """(header, one row per layer, total line) of :meth:`summary`."""
        header = ("layer", "n_in -> n_out", "W shape", "activation", "params")
        rows: list[tuple[str, ...]] = [
            (
                f"{l} {q!r}" if self.convolutional else str(l),
                f"{_shape_text(q.in_shape)} -> {_shape_text(q.out_shape)}",
                f"{W.shape}",
                repr(f),
                f"{W.size:,}",
            )
            for l, (W, f, q) in enumerate(
                zip(self._weights, self.activations, self.layers, strict=True)
            )
        ]
        total = f"total parameters: {self.n_params:,} ({np.dtype(self.dtype).name})"
        return header, rows, total

    def summary(self) -> str:
        """A table of layers: widths, weight shapes, activation and parameter counts."""
        from ._display import text_table

        header, body, total = self._summary_rows()
        lines = [*text_table(header, body), total]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The :meth:`summary` table, for Jupyter."""
        from ._display import html_table

        header, rows, total = self._summary_rows()
        sizes = "-".join(map(str, self.sizes)) if not self.convolutional else "(convolutional)"
        return html_table(header, rows, caption=f"Network {sizes}", footer=total)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        """The :meth:`summary` table, for IPython's plain-text display."""
        from ._display import pretty

        pretty(p, cycle, f"{self!r}\n{self.summary()}", "Network(...)")

    def __repr__(self) -> str:
        names = [repr(f) if f.get_config().keys() - {"name"} else f.name for f in self.activations]
        return (
            f"Network(sizes={self.architecture}, activations={names}, "
            f"dtype={np.dtype(self.dtype).name}, params={self.n_params:,})"
        )


def _check_sizes(sizes: Any) -> tuple[tuple[int, ...], tuple[Layer, ...]]:
    """(the input shape, each weight layer built) from ``[input, layer, …]``: the input an
    int or (C, H, W), the layers ints (dense widths), Dense or Conv2D; the last dense."""
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        if not isinstance(sizes, np.ndarray):
            raise TypeError(f"sizes must be a sequence of ints, got {type(sizes).__name__}")
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"sizes must list at least two layer widths (input, output), got {sizes}")
    first, *rest = sizes
    if isinstance(first, (tuple, list)):
        if len(first) != 3 or not all(_is_int(n) and n >= 1 for n in first):
            raise ValueError(
                f"an image input must be a (channels, height, width) tuple of ints >= 1, "
                f"got {first!r} in {sizes}"
            )
        shape: tuple[int, ...] = tuple(int(n) for n in first)
    else:
        shape = (_width(first, sizes),)
    layers: list[Layer] = []
    for l, spec in enumerate(rest):
        layer = spec if isinstance(spec, Layer) else Dense(_width(spec, sizes))
        layers.append(layer.build(shape, first=l == 0))
        shape = layers[-1].out_shape
    if not isinstance(layers[-1], Dense):
        raise ValueError(
            f"the last layer must be a dense width (the outputs), got {rest[-1]!r} in {sizes}"
        )
    return layers[0].in_shape, tuple(layers)


def _is_int(n: Any) -> bool:
    return not isinstance(n, (bool, np.bool_)) and isinstance(n, (int, np.integer))


def _width(n: Any, sizes: list[Any]) -> int:
    if not _is_int(n):
        raise TypeError(
            f"sizes must be ints, got {n!r} ({type(n).__name__}) in {sizes} (for images: "
            "the input shape (C, H, W) first, then Conv2D layers, then ints)"
        )
    if n < 1:
        raise ValueError(f"sizes must be >= 1, got {n} in {sizes}")
    return int(n)


def _unbuilt(layer: Layer) -> Layer:
    """A layer as the user wrote it (no input shape): what rebuilds the network."""
    return type(layer)(**layer.get_config())


def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape))


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


def check_network(net: Any, name: str = "net") -> Network:
    """Return ``net`` if it is a :class:`Network`, else raise TypeError."""
    if not isinstance(net, Network):
        raise TypeError(f"{name} must be a psinet.Network, got {type(net).__name__}")
    return net
