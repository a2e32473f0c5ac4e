"""The contract between psinet and the parts a user writes (activations, losses).

psinet calls a part only through its plain protocol (``value``, ``derivative``,
``backward``; ``value``, ``gradient``, ``sample_losses``) and checks what each method
returns: a wrong return value is refused with an error that names the class and the
method (:func:`checked_array`, :func:`loss_float`); an exception raised inside a part's
method gets a note saying which part and method psinet was calling (:func:`annotate`).
A subclass whose method cannot take the arguments psinet passes is refused when the
class is defined (:func:`check_signatures`). A fast path may stand in for a part only
when the part is :func:`exactly` a built-in. This module is a foundation: it imports
nothing of psinet; :class:`Part` is the base the activations and losses build on.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable
from types import FunctionType, TracebackType
from typing import Any

import numpy as np

Array = np.ndarray


class Part:
    """The base of every part a user may write: :class:`psinet.activations.Activation`
    and :class:`psinet.losses.Loss`. ``protocol`` names the methods psinet's math runs
    through."""

    protocol: tuple[str, ...] = ()


def exactly(part: object, cls: type) -> bool:
    """Whether ``part`` is a ``cls`` whose every protocol method is ``cls``'s own.

    True for ``cls`` itself and for a subclass that only adds (a name, a config); False
    for a subclass, or an instance, that replaces any method of ``cls.protocol``: a fast
    path written for the built-in ``cls`` may then stand in for the part, and only then.
    """
    if not isinstance(part, cls):
        return False
    kind, own = type(part), vars(part) if hasattr(part, "__dict__") else {}
    protocol: tuple[str, ...] = getattr(cls, "protocol", ())
    return all(getattr(kind, m) is getattr(cls, m) and m not in own for m in protocol)


_WHAT = {
    "value": "f(z), shaped like z",
    "derivative": "f'(z), shaped like z",
    "backward": "Ψ = grad_a ⊙ f'(z), shaped like grad_a",
    "gradient": "∂E/∂ŷ, shaped like y_hat",
    "sample_losses": "ℓ_n, one loss per sample",
    "sample_losses_from_z": "ℓ_n, one loss per sample",
}


def check_signatures(cls: type, calls: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]) -> None:
    """TypeError when a method ``cls`` defines cannot be called the way psinet calls it.

    ``calls`` maps a method name to (its positional parameters, the keywords psinet
    passes), e.g. ``{"derivative": (("z", "a"), ())}``: psinet calls ``derivative(z, a)``.
    Run from ``__init_subclass__``, so ``def derivative(self, z)`` fails where it is
    written, not deep inside a forward pass.
    """
    for method, (positional, keywords) in calls.items():
        fn = cls.__dict__.get(method)
        if not isinstance(fn, FunctionType):
            continue  # inherited, or a staticmethod/descriptor: nothing to check here
        signature = inspect.signature(fn)
        try:
            signature.bind(None, *positional, **dict.fromkeys(keywords))
        except TypeError:
            wanted = ", ".join(["self", *positional, *(f"{k}=None" for k in keywords)])
            call = ", ".join([*positional, *(f"{k}=..." for k in keywords)])
            raise TypeError(
                f"{cls.__qualname__}.{method}{signature} cannot take the arguments psinet "
                f"passes, {method}({call}): define it as def {method}({wanted})"
            ) from None


def _where(part: object, method: str) -> str:
    return f"{type(part).__name__}.{method}"


def checked_array(
    result: Any, shape: tuple[int, ...], part: object, method: str, *, scalar_ok: bool = False
) -> Array:
    """``result`` if it is an ndarray of real numbers of ``shape``; else a clear error.

    ``scalar_ok`` also accepts one real number (a constant derivative broadcasts
    correctly). Raises TypeError (not an array of real numbers) or ValueError (wrong
    shape), naming ``type(part).__name__`` and ``method``.
    """
    if not isinstance(result, np.ndarray):
        if scalar_ok and isinstance(result, numbers.Real) and not isinstance(result, bool):
            return np.asarray(result)
        hint = "; return the array you computed" if result is None else ""
        raise TypeError(
            f"{_where(part, method)} must return an ndarray of shape {shape} "
            f"({_WHAT[method]}), got {type(result).__name__}{hint}"
        )
    if result.dtype.kind not in "biuf":
        raise TypeError(
            f"{_where(part, method)} must return real numbers, got an array of dtype {result.dtype}"
        )
    if result.shape != shape and not (scalar_ok and result.ndim == 0):
        raise ValueError(
            f"{_where(part, method)} must return an ndarray of shape {shape} "
            f"({_WHAT[method]}), got shape {result.shape}"
        )
    return result


def loss_float(E: Any, part: object, method: str) -> float:
    """E as a Python float; TypeError naming the loss when it is not one real number."""
    if isinstance(E, float):  # float and numpy.float64
        return E
    if isinstance(E, (numbers.Real, np.ndarray)) and not isinstance(E, bool):
        E_array = np.asarray(E)
        if E_array.ndim == 0 and E_array.dtype.kind in "biuf":
            return float(E_array)
    shape = f" of shape {E.shape}" if isinstance(E, np.ndarray) else ""
    raise TypeError(
        f"{_where(part, method)} must return E as one float (summed over the outputs, "
        f"averaged over the N samples), got {type(E).__name__}{shape}"
    )


def annotate(exc: BaseException, doing: str) -> None:
    """Add a note to ``exc`` naming the activation or loss method it was raised in.

    ``doing`` says what psinet was doing ("the forward pass, layer 2"). The innermost
    frame of the traceback that belongs to a method of an Activation or Loss object
    names the part; exceptions from psinet's own code get no note.
    """
    where, innermost = None, None
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        owner = tb.tb_frame.f_locals.get("self")
        if isinstance(owner, Part):
            where = _where(owner, tb.tb_frame.f_code.co_name)
        innermost, tb = tb.tb_frame, tb.tb_next
    if where is None or (innermost is not None and innermost.f_globals["__name__"] == __name__):
        return  # not from a part, or this module's own check (its message names the part)
    note = f"raised in {where}, called by psinet in {doing}"
    if hasattr(exc, "add_note"):  # Python >= 3.11 prints the note under the error
        exc.add_note(note)
    else:  # Python 3.10: keep it where 3.11 would
        exc.__notes__ = [*getattr(exc, "__notes__", []), note]  # type: ignore[attr-defined]


def register_class(
    cls: Any,
    base: type,
    kind: str,
    lookup: Callable[[str], type | None],
    registered: dict[str, Any],
) -> None:
    """Add ``cls`` (a subclass of ``base``) to ``registered`` under its ``name``.

    The one rule of both registries (activations, losses): the same class again is a
    no-op; a name another class has, built-ins included, is a ValueError.
    """
    if not isinstance(cls, type) or not issubclass(cls, base) or cls is base:
        raise TypeError(
            f"register expects a subclass of {base.__module__}.{base.__qualname__}, got {cls!r}"
        )
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(
            f"{cls.__qualname__} must have a non-empty str class attribute 'name', got {name!r}"
        )
    taken = lookup(name)
    if taken is cls:
        return
    if taken is not None:
        raise ValueError(
            f"{kind} name {name!r} is taken by {taken.__module__}.{taken.__qualname__}; "
            f"give {cls.__name__} its own class attribute name = '...'"
        )
    registered[name] = cls
