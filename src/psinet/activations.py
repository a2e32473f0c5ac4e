"""Activation functions f and what backprop needs of them.

Each activation maps the weighted sums ``z`` of a layer to its outputs ``a = f(z)``
and, on the way back, turns ``∂E/∂a`` into ``Ψ = ∂E/∂z``. For the elementwise
activations that is ``Ψ = ∂E/∂a ⊙ f'(z)``; softmax mixes the outputs of a row, so
there backprop uses its Jacobian-vector product instead (docs/notation.md, "Softmax").

Defining your own activation
----------------------------
Subclass :class:`Activation` and implement two methods, each on arrays of
shape (N, n):

* ``value(z)``: ``a = f(z)``, a new array;
* ``derivative(z, a)``: ``f'(z)`` elementwise (``a = f(z)`` is passed too, since
  many derivatives are cheapest from the output, e.g. ``σ'(z) = a(1 − a)``);

and, only for a function that is not elementwise, ``backward(grad_a, z, a)``:
``Ψ = ∂E/∂z`` from ``grad_a = ∂E/∂a`` (the default is ``grad_a ⊙ f'(z)``). That is
the whole protocol: psinet calls these methods and nothing else of yours, in
``forward``, in backprop and in ``fit`` alike. A result that is not a real ndarray of
the right shape is refused with a TypeError or ValueError naming the class and method.

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

from typing import Any, TypeVar

import numpy as np

from ._checks import check_float
from ._contract import Part, check_signatures, checked_array, register_class

Array = np.ndarray


class Activation(Part):
    """Base class: an activation ``a = f(z)`` and its derivative.

    Attributes
    ----------
    name : str
        The name :func:`get` knows it by.
    init : str
        ``"glorot"`` or ``"he"``: the weight initialization suited to this function.
    elementwise : bool
        True when ``f`` acts on each entry alone (all but softmax).

    psinet calls an activation in two ways only: ``f(z)`` (:meth:`__call__`, which calls
    :meth:`value`) and ``f.chain(grad_a, z, a)`` (which calls :meth:`backward`, by default
    ``grad_a ⊙ derivative(z, a)``); both check what the method returned.
    """

    name: str = "activation"
    init: str = "glorot"
    elementwise: bool = True
    outputs: str | None = None
    """What the outputs are, for the losses that need it: ``"probability"`` (each in
    (0, 1), sigmoid), ``"distribution"`` (rows of probabilities summing to 1, softmax),
    ``"real"`` (any number); None: not declared (a custom activation; then psinet cannot
    tell and accepts any loss)."""
    protocol = ("value", "derivative", "backward", "chain", "__call__")
    """The methods psinet's math runs through (a fast path stands in for them only when
    every one is a built-in's own: see :func:`psinet._contract.exactly`)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Refuse, when the class is defined, a method psinet could not call."""
        super().__init_subclass__(**kwargs)
        check_signatures(
            cls,
            {
                "value": (("z",), ()),
                "derivative": (("z", "a"), ()),
                "backward": (("grad_a", "z", "a"), ()),
            },
        )

    def value(self, z: Array) -> Array:
        """``a = f(z)``: a new ndarray of shape (N, n) from z of shape (N, n)."""
        raise NotImplementedError

    def derivative(self, z: Array, a: Array) -> Array:
        """``f'(z)`` elementwise: ndarray of shape (N, n) (or one number); ``a`` is ``f(z)``."""
        raise NotImplementedError

    def backward(self, grad_a: Array, z: Array, a: Array) -> Array:
        """``Ψ = ∂E/∂z = grad_a ⊙ f'(z)``: a new ndarray of shape (N, n).

        ``grad_a`` is ``∂E/∂a``, ndarray of shape (N, n); ``z`` and ``a = f(z)`` are the
        cached forward values. Override it only for a function that is not elementwise
        (softmax); an elementwise one defines :meth:`derivative` and nothing more.
        """
        f_prime = self.derivative(z, a)  # f'(z), checked: a wrong shape must not broadcast
        if type(f_prime) is not np.ndarray or f_prime.shape != z.shape:
            f_prime = checked_array(f_prime, z.shape, self, "derivative", scalar_ok=True)
        return grad_a * f_prime

    def __call__(self, z: Array) -> Array:
        """``a = f(z)`` by :meth:`value`: checked (real numbers, z's shape), in z's dtype."""
        a = self.value(z)
        if type(a) is not np.ndarray or a.shape != z.shape or a.dtype != z.dtype:
            a = np.asarray(checked_array(a, z.shape, self, "value"), dtype=z.dtype)
        return a

    def chain(self, grad_a: Array, z: Array, a: Array) -> Array:
        """``Ψ = ∂E/∂z`` from ``grad_a = ∂E/∂a`` (N, n) by :meth:`backward`: the chain rule
        through f, ``grad_a ⊙ f'(z)`` (softmax: its Jacobian-vector product), checked."""
        psi = self.backward(grad_a, z, a)
        if type(psi) is not np.ndarray or psi.shape != grad_a.shape or psi.dtype != grad_a.dtype:
            psi = np.asarray(checked_array(psi, grad_a.shape, self, "backward"), grad_a.dtype)
        return psi

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
    outputs = "probability"

    def value(self, z: Array) -> Array:
        return 0.5 + 0.5 * np.tanh(0.5 * z)  # σ(z) = ½ + ½·tanh(z/2): no e^(−z) to overflow

    def derivative(self, z: Array, a: Array) -> Array:
        return a * (1 - a)


class Tanh(Activation):
    """Hyperbolic tangent ``tanh(z)``, ``tanh'(z) = 1 − tanh²(z)``."""

    name = "tanh"
    outputs = "real"

    def value(self, z: Array) -> Array:
        return np.tanh(z)

    def derivative(self, z: Array, a: Array) -> Array:
        return 1 - a * a


class ReLU(Activation):
    """Rectified linear unit ``max(0, z)``, ``f'(z) = 1 if z > 0 else 0``."""

    name = "relu"
    outputs = "real"
    init = "he"

    def value(self, z: Array) -> Array:
        return np.maximum(z, 0)

    def derivative(self, z: Array, a: Array) -> Array:
        return (z > 0).astype(z.dtype)


class LeakyReLU(Activation):
    """Leaky ReLU ``z if z > 0 else α·z``, ``f'(z) = 1 if z > 0 else α``."""

    name = "leaky_relu"
    outputs = "real"
    init = "he"

    def __init__(self, alpha: float = 0.01) -> None:
        self.alpha = check_float(alpha, "leaky_relu alpha", 0.0, 1.0, high_open=True)

    def value(self, z: Array) -> Array:
        return np.maximum(z, self.alpha * z)  # max(z, α·z) is leaky ReLU for 0 ≤ α < 1

    def derivative(self, z: Array, a: Array) -> Array:
        return np.where(z > 0, 1.0, self.alpha).astype(z.dtype)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "alpha": self.alpha}


class ELU(Activation):
    """Exponential linear unit ``z if z > 0 else α(e^z − 1)``.

    ``f'(z) = 1 if z > 0 else α·e^z = f(z) + α``.
    """

    name = "elu"
    outputs = "real"
    init = "he"

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = check_float(alpha, "elu alpha", 0.0, low_open=True)

    def value(self, z: Array) -> Array:
        negative = self.alpha * np.expm1(np.minimum(z, 0))  # e^z of z ≤ 0 only: no overflow
        return np.where(z > 0, z, negative)

    def derivative(self, z: Array, a: Array) -> Array:
        return np.where(z > 0, 1, a + self.alpha).astype(z.dtype, copy=False)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "alpha": self.alpha}


class Softplus(Activation):
    """Softplus ``log(1 + e^z)``, ``f'(z) = σ(z)``; computed with ``logaddexp``."""

    name = "softplus"
    outputs = "real"

    def value(self, z: Array) -> Array:
        return np.logaddexp(0, z)

    def derivative(self, z: Array, a: Array) -> Array:
        return Sigmoid().value(z)


class Identity(Activation):
    """Identity ``f(z) = z``, ``f'(z) = 1``: the output of a regression network."""

    name = "identity"
    outputs = "real"

    def value(self, z: Array) -> Array:
        return z.copy()

    def derivative(self, z: Array, a: Array) -> Array:
        return np.ones_like(z)


class Softmax(Activation):
    """Softmax over each row: ``a_k = e^(z_k) / Σ_j e^(z_j)``.

    Not elementwise: its Jacobian is ``∂a_k/∂z_j = a_k(δ_kj − a_j)``. Backprop uses the
    Jacobian-vector product ``Ψ = a ⊙ (g − Σ_k g_k a_k)`` (row-wise), which is exact;
    :meth:`derivative` returns the full Jacobians for inspection.
    Computed with the row maximum subtracted, so it never overflows.
    """

    name = "softmax"
    outputs = "distribution"
    elementwise = False

    def value(self, z: Array) -> Array:
        e = np.exp(z - row_max(z))  # the row maximum taken out: no e^z overflows
        return e / row_sum(e)

    def derivative(self, z: Array, a: Array) -> Array:
        """The Jacobians ``diag(a) − a aᵀ``: ndarray of shape (N, n, n) for a of shape (N, n)."""
        return a[..., :, None] * (np.eye(a.shape[-1], dtype=a.dtype) - a[..., None, :])

    def backward(self, grad_a: Array, z: Array, a: Array) -> Array:
        dot = np.einsum("ij,ij->i", grad_a, a)[:, None]  # Σ_k g_k a_k, shape (N, 1)
        return (grad_a - dot) * a  # Ψ = a ⊙ (g − Σ_k g_k a_k)


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
    ...     def value(self, z):
    ...         return z**3
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
