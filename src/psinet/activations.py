"""Activation functions f and what backprop needs of them.

Each activation maps the weighted sums ``z`` of a layer to its outputs ``a = f(z)``
and, on the way back, turns ``∂E/∂a`` into ``Ψ = ∂E/∂z``. For the elementwise
activations that is ``Ψ = ∂E/∂a ⊙ f'(z)``; softmax mixes the outputs of a row, so
there backprop uses its Jacobian-vector product instead (docs/notation.md, "Softmax").

Defining your own activation
----------------------------
Subclass :class:`Activation` and implement two methods, each on arrays of
shape (N, n):

* ``value(z, out=None)``: ``a = f(z)``;
* ``derivative(z, a)``: ``f'(z)`` elementwise (``a = f(z)`` is passed too, since
  many derivatives are cheapest from the output, e.g. ``σ'(z) = a(1 − a)``);

and, optionally, ``backward(grad_a, z, a, out=None)``: ``Ψ = grad_a ⊙ f'(z)``. The
default uses ``derivative``; override it for speed or for a non-elementwise function.

``out=``: the simplest code ignores it and returns a new array (``return np.sin(z)``);
psinet uses the array a method *returns*, copying it into its buffer when it is not
``out``. Writing into ``out`` and returning it (``return np.sin(z, out=out)``) only
saves that copy. A result that is not a real ndarray of the right shape is refused
with a TypeError or ValueError naming the class and method.

Set ``name`` (used by :func:`get` and in saved files) and ``init`` ("glorot" or
"he"; the initialization that suits the function). To save and load networks that
use it, register the class (``@psinet.register_activation``, i.e. :func:`register`);
an activation with parameters returns them from ``get_config()`` so that
``cls(**params)`` rebuilds it.

>>> import numpy as np
>>> z = np.array([[-1.0, 0.0, 2.0]])
>>> get("relu").value(z)
array([[0., 0., 2.]])
>>> get("sigmoid").derivative(np.zeros((1, 1)), np.full((1, 1), 0.5))
array([[0.25]])
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import numpy as np

from ._checks import check_float
from ._contract import adopt, check_signatures, checked_array, register_class

Array = np.ndarray
Move = Callable[[], object]
"""A call with its arrays bound: each call redoes one step's move in place."""


def _constant(value: float, like: Array) -> Array:
    """``value`` as a 0-d array of ``like``'s dtype: a ufunc takes it far faster than a float."""
    return np.array(value, dtype=like.dtype)


class Activation:
    """Base class: an activation ``a = f(z)`` and its derivative.

    Attributes
    ----------
    name : str
        The name :func:`get` knows it by.
    init : str
        ``"glorot"`` or ``"he"``: the weight initialization suited to this function.
    elementwise : bool
        True when ``f`` acts on each entry alone (all but softmax).
    """

    name: str = "activation"
    init: str = "glorot"
    elementwise: bool = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Refuse, when the class is defined, a method psinet could not call."""
        super().__init_subclass__(**kwargs)
        check_signatures(
            cls,
            {
                "value": (("z",), ("out",)),
                "derivative": (("z", "a"), ()),
                "backward": (("grad_a", "z", "a"), ("out",)),
            },
        )

    def value(self, z: Array, out: Array | None = None) -> Array:
        """``a = f(z)``: ndarray of shape (N, n) from z of shape (N, n).

        Return a new array, or write into ``out`` (when given) and return ``out``.
        """
        raise NotImplementedError

    def derivative(self, z: Array, a: Array) -> Array:
        """``f'(z)`` elementwise: ndarray of shape (N, n) (or one number); ``a`` is ``f(z)``."""
        raise NotImplementedError

    def backward(self, grad_a: Array, z: Array, a: Array, out: Array | None = None) -> Array:
        """``Ψ = ∂E/∂z = grad_a ⊙ f'(z)``: ndarray of shape (N, n).

        ``grad_a`` is ``∂E/∂a``, ndarray of shape (N, n); ``z`` and ``a = f(z)`` are
        the cached forward values. ``out`` may be ``grad_a`` itself (in place); an
        override may ignore it and return a new array.
        """
        f_prime = self.derivative(z, a)  # f'(z), checked: a wrong shape must not broadcast
        if type(f_prime) is not np.ndarray or f_prime.shape != z.shape:
            f_prime = checked_array(f_prime, z.shape, self, "derivative", scalar_ok=True)
        return np.multiply(grad_a, f_prime, out=out)

    def forward_move(self, z: Array, a: Array) -> Move:
        """A call that writes ``a = f(z)`` into ``a`` (both ndarrays of shape (N, n)).

        The training step binds it once per batch size and calls it every step. This
        default calls :meth:`value`, and copies what it returns into ``a`` when that is a
        new array; the built-in activations bind their ufuncs directly.
        """

        def forward() -> None:
            result = self.value(z, out=a)
            if result is not a:  # a custom f that returned a new array
                adopt(result, a, self, "value")

        return forward

    def backward_move(self, psi: Array, z: Array, a: Array) -> Move:
        """A call that turns ``psi`` (∂E/∂a, (N, n)) into ``Ψ = psi ⊙ f'(z)``, in place.

        ``z`` and ``a = f(z)`` are the cached forward values. This default calls
        :meth:`backward`; the built-in activations bind their ufuncs and a scratch array.
        """

        def backward() -> None:
            result = self.backward(psi, z, a, out=psi)
            if result is not psi:  # a custom f that returned a new array
                adopt(result, psi, self, "backward")

        return backward

    def _own(self, cls: type, *methods: str) -> bool:
        """Whether ``self``'s class still uses ``cls``'s own ``methods`` (no subclass
        overrode them): only then may a bound move stand in for them."""
        return all(getattr(type(self), m) is getattr(cls, m) for m in methods)

    def get_config(self) -> dict[str, Any]:
        """The JSON-able description that :func:`get` rebuilds this activation from."""
        return {"name": self.name}

    def __repr__(self) -> str:
        params = {k: v for k, v in self.get_config().items() if k != "name"}
        args = ", ".join(f"{k}={v!r}" for k, v in params.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Activation) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.get_config().items())))


class Sigmoid(Activation):
    """Logistic sigmoid ``σ(z) = 1 / (1 + e^(−z))``, ``σ'(z) = σ(z)(1 − σ(z))``.

    Computed as ``½(1 + tanh(z/2))``, which never overflows.
    """

    name = "sigmoid"

    def value(self, z: Array, out: Array | None = None) -> Array:
        # σ(z) = ½ + ½·tanh(z/2): one ufunc pass, finite for any z, no exp overflow.
        out = np.multiply(z, 0.5, out=out)
        np.tanh(out, out=out)
        out *= 0.5
        out += 0.5
        return out

    def derivative(self, z: Array, a: Array) -> Array:
        return a * (1 - a)

    def backward(self, grad_a: Array, z: Array, a: Array, out: Array | None = None) -> Array:
        out = np.multiply(grad_a, a, out=out)  # grad_a ⊙ a
        out -= out * a  # grad_a ⊙ a ⊙ (1 − a)
        return out

    def forward_move(self, z: Array, a: Array) -> Move:
        if not self._own(Sigmoid, "value"):
            return super().forward_move(z, a)
        half = _constant(0.5, a)
        multiply, tanh, add = np.multiply, np.tanh, np.add

        def sigmoid() -> None:  # σ(z) = ½ + ½·tanh(z/2)
            multiply(z, half, a)
            tanh(a, a)
            multiply(a, half, a)
            add(a, half, a)

        return sigmoid

    def backward_move(self, psi: Array, z: Array, a: Array) -> Move:
        if not self._own(Sigmoid, "backward"):
            return super().backward_move(psi, z, a)
        scratch = np.empty_like(psi)
        multiply, subtract = np.multiply, np.subtract

        def sigmoid_prime() -> None:  # Ψ ⊙ a ⊙ (1 − a) = Ψ⊙a − (Ψ⊙a)⊙a
            multiply(psi, a, psi)
            multiply(psi, a, scratch)
            subtract(psi, scratch, psi)

        return sigmoid_prime


class Tanh(Activation):
    """Hyperbolic tangent ``tanh(z)``, ``tanh'(z) = 1 − tanh²(z)``."""

    name = "tanh"

    def value(self, z: Array, out: Array | None = None) -> Array:
        return np.tanh(z, out=out)

    def derivative(self, z: Array, a: Array) -> Array:
        return 1 - a * a

    def backward(self, grad_a: Array, z: Array, a: Array, out: Array | None = None) -> Array:
        a2 = a * a
        np.subtract(1, a2, out=a2)
        return np.multiply(grad_a, a2, out=out)

    def forward_move(self, z: Array, a: Array) -> Move:
        if not self._own(Tanh, "value"):
            return super().forward_move(z, a)
        return partial(np.tanh, z, a)

    def backward_move(self, psi: Array, z: Array, a: Array) -> Move:
        if not self._own(Tanh, "backward"):
            return super().backward_move(psi, z, a)
        one, a2 = _constant(1.0, psi), np.empty_like(psi)
        multiply, subtract = np.multiply, np.subtract

        def tanh_prime() -> None:  # Ψ ⊙ (1 − a²)
            multiply(a, a, a2)
            subtract(one, a2, a2)
            multiply(psi, a2, psi)

        return tanh_prime


class ReLU(Activation):
    """Rectified linear unit ``max(0, z)``, ``f'(z) = 1 if z > 0 else 0``."""

    name = "relu"
    init = "he"

    def value(self, z: Array, out: Array | None = None) -> Array:
        return np.maximum(z, 0, out=out)

    def derivative(self, z: Array, a: Array) -> Array:
        return (z > 0).astype(z.dtype)

    def backward(self, grad_a: Array, z: Array, a: Array, out: Array | None = None) -> Array:
        return np.multiply(grad_a, z > 0, out=out)

    def forward_move(self, z: Array, a: Array) -> Move:
        if not self._own(ReLU, "value"):
            return super().forward_move(z, a)
        return partial(np.maximum, z, _constant(0.0, a), out=a)

    def backward_move(self, psi: Array, z: Array, a: Array) -> Move:
        if not self._own(ReLU, "backward"):
            return super().backward_move(psi, z, a)
        zero, mask = _constant(0.0, psi), np.empty_like(psi)  # a 0/1 mask in psi's dtype
        greater, multiply = np.greater, np.multiply

        def relu_prime() -> None:  # Ψ ⊙ [z > 0]
            greater(z, zero, mask)
            multiply(psi, mask, psi)

        return relu_prime


class LeakyReLU(Activation):
    """Leaky ReLU ``z if z > 0 else α·z``, ``f'(z) = 1 if z > 0 else α``."""

    name = "leaky_relu"
    init = "he"

    def __init__(self, alpha: float = 0.01) -> None:
        self.alpha = check_float(alpha, "leaky_relu alpha", 0.0, 1.0, high_open=True)

    def value(self, z: Array, out: Array | None = None) -> Array:
        out = np.multiply(z, self.alpha, out=out)
        return np.maximum(z, out, out=out)  # max(z, α·z) is leaky ReLU for 0 ≤ α < 1

    def derivative(self, z: Array, a: Array) -> Array:
        return np.where(z > 0, 1.0, self.alpha).astype(z.dtype)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "alpha": self.alpha}


class ELU(Activation):
    """Exponential linear unit ``z if z > 0 else α(e^z − 1)``.

    ``f'(z) = 1 if z > 0 else α·e^z = f(z) + α``.
    """

    name = "elu"
    init = "he"

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = check_float(alpha, "elu alpha", 0.0, low_open=True)

    def value(self, z: Array, out: Array | None = None) -> Array:
        out = np.minimum(z, 0, out=out)  # e^z is taken of the negative side only: no overflow
        np.expm1(out, out=out)
        out *= self.alpha
        np.copyto(out, z, where=z > 0)
        return out

    def derivative(self, z: Array, a: Array) -> Array:
        return np.where(z > 0, 1, a + self.alpha).astype(z.dtype, copy=False)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "alpha": self.alpha}


class Softplus(Activation):
    """Softplus ``log(1 + e^z)``, ``f'(z) = σ(z)``; computed with ``logaddexp``."""

    name = "softplus"

    def value(self, z: Array, out: Array | None = None) -> Array:
        return np.logaddexp(0, z, out=out)

    def derivative(self, z: Array, a: Array) -> Array:
        return Sigmoid().value(z)


class Identity(Activation):
    """Identity ``f(z) = z``, ``f'(z) = 1``: the output of a regression network."""

    name = "identity"

    def value(self, z: Array, out: Array | None = None) -> Array:
        if out is None:
            return z.copy()
        np.copyto(out, z)
        return out

    def derivative(self, z: Array, a: Array) -> Array:
        return np.ones_like(z)

    def backward(self, grad_a: Array, z: Array, a: Array, out: Array | None = None) -> Array:
        if out is None:
            return grad_a.copy()
        if out is not grad_a:
            np.copyto(out, grad_a)
        return out

    def forward_move(self, z: Array, a: Array) -> Move:
        if not self._own(Identity, "value"):
            return super().forward_move(z, a)
        return partial(np.copyto, a, z)

    def backward_move(self, psi: Array, z: Array, a: Array) -> Move:
        if not self._own(Identity, "backward"):
            return super().backward_move(psi, z, a)
        return _nothing  # Ψ ⊙ 1 is Ψ


class Softmax(Activation):
    """Softmax over each row: ``a_k = e^(z_k) / Σ_j e^(z_j)``.

    Not elementwise: its Jacobian is ``∂a_k/∂z_j = a_k(δ_kj − a_j)``. Backprop uses the
    Jacobian-vector product ``Ψ = a ⊙ (g − Σ_k g_k a_k)`` (row-wise), which is exact;
    :meth:`derivative` returns the full Jacobians for inspection.
    Computed with the row maximum subtracted, so it never overflows.
    """

    name = "softmax"
    elementwise = False

    def value(self, z: Array, out: Array | None = None) -> Array:
        out = np.subtract(z, row_max(z), out=out)
        np.exp(out, out=out)
        out /= row_sum(out)
        return out

    def derivative(self, z: Array, a: Array) -> Array:
        """The Jacobians ``diag(a) − a aᵀ``: ndarray of shape (N, n, n) for a of shape (N, n)."""
        return a[..., :, None] * (np.eye(a.shape[-1], dtype=a.dtype) - a[..., None, :])

    def backward(self, grad_a: Array, z: Array, a: Array, out: Array | None = None) -> Array:
        dot = np.einsum("ij,ij->i", grad_a, a)[:, None]  # Σ_k g_k a_k, shape (N, 1)
        out = np.subtract(grad_a, dot, out=out)
        out *= a
        return out

    def forward_move(self, z: Array, a: Array) -> Move:
        if not self._own(Softmax, "value"):
            return super().forward_move(z, a)
        row_max, row_sum = np.empty(len(z), dtype=a.dtype), np.empty(len(z), dtype=a.dtype)
        m, s, ones = row_max[:, None], row_sum[:, None], np.ones(z.shape[1], dtype=a.dtype)
        reduce_max, subtract, exp, dot, divide = (
            np.maximum.reduce,
            np.subtract,
            np.exp,
            np.dot,
            np.divide,
        )

        def softmax() -> None:  # e^(z − max z) / Σ e^(z − max z), row by row
            reduce_max(z, axis=1, out=row_max)
            subtract(z, m, a)
            exp(a, a)
            dot(a, ones, row_sum)  # the row sums, as one matrix-vector product
            divide(a, s, a)

        return softmax


def _nothing() -> None:
    return None


def row_max(z: Array) -> Array:
    """``max_k z[..., k]``, ndarray of shape (..., 1), NaN where a row holds NaN.

    NumPy reduces a short last axis one row at a time; for many short rows (N, k) a
    pass down each of the k columns is 3–5× faster, with the same result.
    """
    if z.ndim == 2 and 1 < z.shape[1] <= 32 and z.shape[0] >= 256:
        m = z[:, 0].copy()
        for k in range(1, z.shape[1]):
            np.maximum(m, z[:, k], out=m)
        return m[:, None]
    return z.max(axis=-1, keepdims=True)


def row_sum(a: Array) -> Array:
    """``Σ_k a[..., k]``, ndarray of shape (..., 1): for (N, k) one matrix-vector product
    with a vector of ones, as the training step's softmax sums its rows (so ``value`` and
    the step give the same ŷ), 5× faster than NumPy's sum over a short last axis."""
    if a.ndim == 2:
        return np.dot(a, np.ones(a.shape[1], dtype=a.dtype))[:, None]
    return a.sum(axis=-1, keepdims=True)


ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls for cls in (Sigmoid, Tanh, ReLU, LeakyReLU, ELU, Softplus, Identity, Softmax)
}
"""The built-in activations, by name."""

REGISTERED: dict[str, type[Activation]] = {}
"""The custom activations added with :func:`register`, by name."""

A = TypeVar("A", bound=type[Activation])


def register(cls: A) -> A:
    """Make a custom Activation class known to :func:`get` (and so to saved files) by its ``name``.

    Usable as a class decorator; returns ``cls``. Registering the same class again
    does nothing; a name that another class has (built-ins included) is a ValueError,
    so a subclass must set its own ``name``. Exported as ``psinet.register_activation``.

    >>> @register
    ... class Cube(Activation):
    ...     name = "doc_cube"
    ...     def value(self, z, out=None):
    ...         return np.power(z, 3, out=out)
    ...     def derivative(self, z, a):
    ...         return 3 * z * z
    >>> get("doc_cube")
    Cube()
    >>> del REGISTERED["doc_cube"]  # (only to keep this example repeatable)
    """
    register_class(cls, Activation, "activation", lookup, REGISTERED)
    return cls


def lookup(name: str) -> type[Activation] | None:
    """The class :func:`get` builds for ``name`` (built-in or registered), or None."""
    return ACTIVATIONS.get(name) or REGISTERED.get(name)


def get(activation: str | Activation | dict[str, Any]) -> Activation:
    """Look an activation up by name (or config dict); pass Activation objects through.

    Names are the built-ins of :data:`ACTIVATIONS` and those added with :func:`register`.

    >>> get("tanh")
    Tanh()
    >>> get({"name": "leaky_relu", "alpha": 0.2})
    LeakyReLU(alpha=0.2)
    """
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, dict):
        config = dict(activation)
        name = config.pop("name", None)
        if not isinstance(name, str):
            raise ValueError(
                "an activation's config dict needs its 'name' (a string), got "
                f"{activation!r}; get_config() returns {{'name': self.name, ...its parameters}}"
            )
    else:
        name, config = activation, {}
    if not isinstance(name, str):
        raise TypeError(
            "activation must be a name, an Activation object or a config dict, "
            f"got {type(activation).__name__}: {activation!r}"
        )
    cls = lookup(name)
    if cls is None:
        raise ValueError(
            f"unknown activation {name!r}; expected one of {sorted([*ACTIVATIONS, *REGISTERED])} "
            "(a custom Activation class is known once registered with psinet.register_activation)"
        )
    return cls(**config)
