"""Loss functions E(ŷ, Y) and their gradients ∂E/∂ŷ.

Every loss is a **sum over the outputs and a mean over the N samples** (docs/notation.md, "Losses"):

============================  ===========================================  ===================
loss                          E                                            ∂E/∂ŷ
============================  ===========================================  ===================
``mse``                       1/(2N) Σ_n Σ_k (ŷ_nk − y_nk)²                 (ŷ − Y) / N
``binary_crossentropy``       −1/N Σ_n Σ_k [y log ŷ + (1 − y) log(1 − ŷ)]   (ŷ − Y) / (ŷ(1 − ŷ)) / N
``categorical_crossentropy``  −1/N Σ_n Σ_k y_nk log ŷ_nk                    −Y / ŷ / N
============================  ===========================================  ===================

Two losses have a *fused* partner activation: with a sigmoid output, binary
cross-entropy gives ``Ψ_{L-1} = (ŷ − Y)/N``; with a softmax output, categorical
cross-entropy gives the same (:func:`fused_pair`: the built-in loss and the built-in
activation, exactly; a subclass that changes either's math runs its own). For those
pairs :meth:`Loss.value_from_z` computes E from the weighted sums ``z`` with
log-sigmoid / log-sum-exp, so it stays finite even when ``ŷ`` rounds to exactly 0 or
1. Unfused, the logarithms are taken of ``ŷ`` clipped to the smallest positive float,
so E stays finite there too (but is less accurate).

Defining your own loss
----------------------
Subclass :class:`Loss`, set ``name`` and implement ``value(y_hat, Y)`` (E, one float)
and ``gradient(y_hat, Y)`` (∂E/∂ŷ, a new array shaped like ``y_hat``, the 1/N
included); for ``sample_weight`` also ``sample_losses(y_hat, Y)`` (each sample's ℓ_n).
That is the whole protocol: psinet calls these methods and nothing else of yours.

>>> import numpy as np
>>> y_hat, Y = np.array([[0.5, 1.0]]), np.array([[1.0, 1.0]])
>>> get("mse").value(y_hat, Y)
0.125
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np

from ._contract import Part, check_signatures, checked_array, exactly, register_class
from .activations import Activation, Sigmoid, Softmax, row_max, row_sum

Array = np.ndarray


class Loss(Part):
    """Base class of losses; see the module docstring for the formulas.

    Attributes
    ----------
    name : str
        The name :func:`get` knows it by.
    fused_activation : str or None
        The output activation whose pairing with this loss gives ``Ψ_{L-1} = (ŷ − Y)/N``
        (documentation: only the built-in pairs are fused, see :func:`fused_pair`).
    """

    name: str = "loss"
    fused_activation: str | None = None
    needs: str | None = None
    """What the output layer must give for E to be a loss of it: ``"probability"``
    (outputs in (0, 1)), ``"distribution"`` (rows summing to 1), or None (any outputs).
    :func:`check_pair` refuses an output activation that declares other outputs."""
    protocol = ("value", "gradient", "value_from_z", "sample_losses", "sample_losses_from_z")
    """The methods psinet's math runs through (see :func:`psinet._contract.exactly`)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Refuse, when the class is defined, a method psinet could not call."""
        super().__init_subclass__(**kwargs)
        check_signatures(
            cls,
            {
                "value": (("y_hat", "Y"), ()),
                "gradient": (("y_hat", "Y"), ()),
                "sample_losses": (("y_hat", "Y"), ()),
            },
        )

    def value(self, y_hat: Array, Y: Array) -> float:
        """E, a float, for ŷ and Y each an ndarray of shape (N, n_out)."""
        raise NotImplementedError

    def gradient(self, y_hat: Array, Y: Array) -> Array:
        """∂E/∂ŷ: a new ndarray of shape (N, n_out) (the 1/N of the mean included)."""
        raise NotImplementedError

    def dE_dy_hat(self, y_hat: Array, Y: Array) -> Array:
        """``∂E/∂ŷ`` by :meth:`gradient`: checked (real numbers, ŷ's shape), in ŷ's dtype.

        How psinet calls a loss's gradient (with ``float(loss.value(...))`` for E): a
        wrong result is refused here, naming the class and the method."""
        g = self.gradient(y_hat, Y)
        if type(g) is not np.ndarray or g.shape != y_hat.shape or g.dtype != y_hat.dtype:
            g = np.asarray(checked_array(g, y_hat.shape, self, "gradient"), dtype=y_hat.dtype)
        return g

    def value_from_z(self, z: Array, Y: Array) -> float:
        """E computed stably from the output layer's weighted sums ``z``, shape (N, n_out).

        Only for the fused pair (``fused_activation``): ŷ = f(z) is never formed.
        """
        raise NotImplementedError(f"{self.name} has no fused output activation")

    def sample_losses(self, y_hat: Array, Y: Array) -> Array:
        """``ℓ_n``, each sample's term of E (E is their mean): ndarray of shape (N,).

        Needed only for ``sample_weight`` (E = Σ_n s_n ℓ_n / Σ_n s_n); ``gradient``'s row n
        must then be ``∂ℓ_n/∂ŷ_n / N``, as for every loss that is a mean over samples.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement sample_losses(y_hat, Y) (each sample's "
            "loss ℓ_n, shape (N,)) to be used with sample_weight"
        )

    def sample_losses_from_z(self, z: Array, Y: Array) -> Array:
        """``ℓ_n`` from the output layer's z, shape (N,): the fused pair's stable form."""
        raise NotImplementedError(f"{self.name} has no fused output activation")

    def fuses_with(self, activation: Activation) -> bool:
        """True when this loss and ``activation`` are a fused pair (:func:`fused_pair`)."""
        return fused_pair(self, activation)

    def check_targets(self, Y: Array) -> None:
        """Raise ValueError when Y, ndarray of shape (N, n_out), is outside the loss's domain."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MeanSquaredError(Loss):
    """``E = 1/(2N) Σ_n Σ_k (ŷ_nk − y_nk)²``; ``∂E/∂ŷ = (ŷ − Y)/N``.

    The ½ cancels the 2 of the square, as in the derivation; the sum runs over the
    outputs and the mean over the samples.
    """

    name = "mse"

    def value(self, y_hat: Array, Y: Array) -> float:
        r = y_hat - Y
        return float(np.vdot(r, r)) / (2 * len(Y))

    def gradient(self, y_hat: Array, Y: Array) -> Array:
        return (y_hat - Y) / len(Y)

    def sample_losses(self, y_hat: Array, Y: Array) -> Array:
        r = y_hat - Y
        return 0.5 * np.einsum("nk,nk->n", r, r)  # ℓ_n = ½ Σ_k (ŷ_nk − y_nk)²


def _check_unit_interval(name: str, Y: Array) -> None:
    if Y.size and (Y.min() < 0 or Y.max() > 1):
        raise ValueError(
            f"{name} targets must lie in [0, 1], got values from {Y.min():g} to {Y.max():g}"
        )


class BinaryCrossEntropy(Loss):
    """``E = −1/N Σ_n Σ_k [y log ŷ + (1 − y) log(1 − ŷ)]``.

    ``∂E/∂ŷ = (ŷ − Y) / (ŷ(1 − ŷ)) / N``. Fused with a sigmoid output,
    ``Ψ_{L-1} = (ŷ − Y)/N`` and E is computed from z with the log-sigmoid
    ``log σ(z) = −log(1 + e^(−z))``. Targets are probabilities in [0, 1]
    (0/1 labels, or soft labels), one column per independent binary output.
    """

    name = "binary_crossentropy"
    fused_activation = "sigmoid"
    needs = "probability"

    def value(self, y_hat: Array, Y: Array) -> float:
        tiny = np.finfo(y_hat.dtype).tiny
        log_p = np.log(np.maximum(y_hat, tiny))
        log_q = np.log(np.maximum(1 - y_hat, tiny))
        return -float(np.vdot(Y, log_p) + np.vdot(1 - Y, log_q)) / len(Y)

    def gradient(self, y_hat: Array, Y: Array) -> Array:
        tiny = np.finfo(y_hat.dtype).tiny
        return (y_hat - Y) / (np.maximum(y_hat * (1 - y_hat), tiny) * len(Y))

    def value_from_z(self, z: Array, Y: Array) -> float:
        # −log σ(z) = log(1 + e^(−z)) and −log(1 − σ(z)) = log(1 + e^z), both by logaddexp.
        return float(np.vdot(Y, np.logaddexp(0, -z)) + np.vdot(1 - Y, np.logaddexp(0, z))) / len(Y)

    def sample_losses(self, y_hat: Array, Y: Array) -> Array:
        tiny = np.finfo(y_hat.dtype).tiny
        log_p = np.log(np.maximum(y_hat, tiny))
        log_q = np.log(np.maximum(1 - y_hat, tiny))
        return -(Y * log_p + (1 - Y) * log_q).sum(axis=1)

    def sample_losses_from_z(self, z: Array, Y: Array) -> Array:
        return (Y * np.logaddexp(0, -z) + (1 - Y) * np.logaddexp(0, z)).sum(axis=1)

    def check_targets(self, Y: Array) -> None:
        _check_unit_interval(self.name, Y)


class CategoricalCrossEntropy(Loss):
    """``E = −1/N Σ_n Σ_k y_nk log ŷ_nk``; ``∂E/∂ŷ = −Y / ŷ / N``.

    Targets are one-hot rows (or rows of class probabilities) summing to 1; use
    :func:`psinet.preprocessing.one_hot` for integer labels. Fused with a softmax
    output, ``Ψ_{L-1} = (ŷ − Y)/N`` and E is computed from z with the log-sum-exp
    ``log ŷ_k = z_k − log Σ_j e^(z_j)``.
    """

    name = "categorical_crossentropy"
    fused_activation = "softmax"
    needs = "distribution"

    def value(self, y_hat: Array, Y: Array) -> float:
        tiny = np.finfo(y_hat.dtype).tiny
        return -float(np.vdot(Y, np.log(np.maximum(y_hat, tiny)))) / len(Y)

    def gradient(self, y_hat: Array, Y: Array) -> Array:
        tiny = np.finfo(y_hat.dtype).tiny
        return Y / np.maximum(y_hat, tiny) * (-1 / len(Y))

    def value_from_z(self, z: Array, Y: Array) -> float:
        # −Σ_k y_k log ŷ_k = Σ_k y_k (lse − z_k)
        return float(np.vdot(Y, log_sum_exp(z) - z)) / len(Y)

    def sample_losses(self, y_hat: Array, Y: Array) -> Array:
        tiny = np.finfo(y_hat.dtype).tiny
        return -(Y * np.log(np.maximum(y_hat, tiny))).sum(axis=1)

    def sample_losses_from_z(self, z: Array, Y: Array) -> Array:
        return (Y * (log_sum_exp(z) - z)).sum(axis=1)

    def check_targets(self, Y: Array) -> None:
        _check_unit_interval(self.name, Y)
        row_sums = row_sum(Y)[:, 0]
        tol = 1e-6 if Y.dtype == np.float64 else 1e-4
        bad = np.flatnonzero(np.abs(row_sums - 1) > tol * Y.shape[1])
        if bad.size:
            raise ValueError(
                f"{self.name} targets must be one-hot rows (or probabilities) summing to 1, "
                f"got row {bad[0]} summing to {row_sums[bad[0]]:g}; "
                "for integer labels use psinet.one_hot(labels, n_classes)"
            )


def log_sum_exp(z: Array) -> Array:
    """``log Σ_k e^(z_k)`` of each row of z (N, k), shape (N, 1), with the row maximum m
    taken out first, ``m + log Σ_k e^(z_k − m)``, so that no e^z overflows."""
    z_max = row_max(z)
    e = np.subtract(z, z_max)
    np.exp(e, out=e)  # e^(z − max z)
    return z_max + np.log(row_sum(e))


def fused_pair(loss: Loss, f_out: Activation) -> bool:
    """Whether ``(loss, f_out)`` is built-in binary cross-entropy + sigmoid or categorical
    cross-entropy + softmax, exactly (:func:`psinet._contract.exactly`): only for these is
    ``Ψ_{L-1} = ∂E/∂ŷ ⊙ f'(z) = (ŷ − Y)/N`` and E computed from z. A subclass that
    replaces any of their methods runs its own ``gradient`` and ``backward`` instead."""
    return (exactly(loss, BinaryCrossEntropy) and exactly(f_out, Sigmoid)) or (
        exactly(loss, CategoricalCrossEntropy) and exactly(f_out, Softmax)
    )


_GIVES = {  # what each kind of outputs also is
    "distribution": {"distribution", "probability"},  # softmax's rows: probabilities too
    "probability": {"probability"},
    "real": set(),
}
_RIGHT_OUTPUT = {"probability": "sigmoid", "distribution": "softmax"}


def check_pair(loss: Loss, f_out: Activation) -> None:
    """ValueError when ``loss`` is not a loss of what ``f_out`` outputs: categorical
    cross-entropy needs rows that form a distribution (a softmax output), binary
    cross-entropy outputs in (0, 1) (a sigmoid, or a softmax). An activation or loss that
    declares nothing (``outputs`` / ``needs`` None) is accepted: psinet cannot tell."""
    needs, gives = loss.needs, f_out.outputs
    if needs is None or gives is None or needs in _GIVES.get(gives, set()):
        return
    what = {"probability": "outputs in (0, 1)", "distribution": "rows that sum to 1"}[needs]
    got = {
        "real": "outputs that are not kept in (0, 1)",
        "probability": "outputs in (0, 1) whose rows need not sum to 1",
    }.get(gives, f"{gives} outputs")
    raise ValueError(
        f"{loss.name} needs {what}, but the output activation {f_out.name!r} gives "
        f"{got}, so E would not be a loss of them: use a {_RIGHT_OUTPUT[needs]!r} output "
        f"layer with {loss.name}"
        + (", or 'mse' for real-valued outputs" if gives == "real" else "")
    )


LOSSES: dict[str, type[Loss]] = {
    cls.name: cls for cls in (MeanSquaredError, BinaryCrossEntropy, CategoricalCrossEntropy)
}
"""The built-in losses, by name."""

REGISTERED: dict[str, type[Loss]] = {}
"""The custom losses added with :func:`register`, by name."""

LossClass = TypeVar("LossClass", bound=type[Loss])


def register(cls: LossClass) -> LossClass:
    """Make a custom Loss class known to :func:`get` by its ``name``.

    Usable as a class decorator; returns ``cls``. Registering the same class again
    does nothing; a name that another class has (built-ins included) is a ValueError,
    so a subclass must set its own ``name``. Exported as ``psinet.register_loss``.
    """
    register_class(cls, Loss, "loss", lookup, REGISTERED)
    return cls


def lookup(name: str) -> type[Loss] | None:
    """The class :func:`get` builds for ``name`` (built-in or registered), or None."""
    return LOSSES.get(name) or REGISTERED.get(name)


def get(loss: str | Loss) -> Loss:
    """Look a loss up by name; pass Loss objects through.

    Names are the built-ins of :data:`LOSSES` and those added with :func:`register`.

    >>> get("binary_crossentropy")
    BinaryCrossEntropy()
    """
    if isinstance(loss, Loss):
        return loss
    if not isinstance(loss, str):
        raise TypeError(f"loss must be a name or a Loss object, got {type(loss).__name__}")
    cls = lookup(loss)
    if cls is None:
        raise ValueError(
            f"unknown loss {loss!r}; expected one of {sorted([*LOSSES, *REGISTERED])} "
            "(a custom Loss class is known once registered with psinet.register_loss)"
        )
    return cls()
