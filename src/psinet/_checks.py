"""Input checks at the public boundary: clear errors instead of NumPy's deep ones.

Every public function checks its arguments with these helpers before it changes
anything, so a refused call raises ``TypeError`` (wrong kind of thing) or
``ValueError`` (right kind, wrong value) naming the argument, what was expected and
what was given, and never an ``AttributeError``, ``OverflowError`` or a NumPy warning
from deep inside. ``bool`` is never taken for a number, although Python makes it one.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

Array = np.ndarray

# NumPy < 1.24 only warns on ragged nested lists (and builds an object array); later
# versions raise ValueError. The class moved to numpy.exceptions in 1.25.
_RaggedWarning: type[Warning] = getattr(
    getattr(np, "exceptions", np), "VisibleDeprecationWarning", Warning
)


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss, gradient or update; the step was not applied."""


def as_array(value: Any) -> Array:
    """``np.asarray(value)``, raising ValueError for ragged nested lists on every NumPy.

    Every supported NumPy then refuses ``[[1.0, 2.0], [1.0]]`` alike; no warning leaks.
    """
    if type(value) is np.ndarray:
        return value
    with warnings.catch_warnings():
        warnings.simplefilter("error", _RaggedWarning)
        try:
            return np.asarray(value)
        except _RaggedWarning as exc:
            raise ValueError(str(exc)) from None


def shown(value: object) -> str:
    """A short repr for messages: huge ints as ``~10**k`` (their repr may be 4300+ digits)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        v = int(value)
        if abs(v) >= 10**15:
            return f"{'-' if v < 0 else ''}~10**{math.floor(math.log10(abs(v)))}"
        return repr(v)
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_float(
    value: object,
    name: str,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite Python float in the interval from ``low`` to ``high``.

    TypeError for anything that is not a real number (bool included); ValueError for
    NaN, ±inf, a number too large for a float (``10**400``), or one outside the
    interval (``low_open`` / ``high_open`` exclude the end points).
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {shown(value)}")
    try:
        result = float(value)
    except OverflowError:  # an int or Fraction beyond ±1.8e308
        raise ValueError(
            f"{name} must be finite, got {shown(value)}: too large for a float"
        ) from None
    if not math.isfinite(result):
        raise ValueError(f"{name} must be finite, got {result!r}")
    below = low is not None and (result <= low if low_open else result < low)
    above = high is not None and (result >= high if high_open else result > high)
    if below or above:
        left = "-inf" if low is None else f"{low:g}"
        right = "inf" if high is None else f"{high:g}"
        interval = f"{'(' if low_open or low is None else '['}{left}, {right}"
        interval += ")" if high_open or high is None else "]"
        raise ValueError(f"{name} must be in {interval}, got {result!r}")
    return result


def check_bool(value: object, name: str) -> bool:
    """``value`` as a bool; TypeError for anything else (a string like "no" included)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {shown(value)}")
    return bool(value)


def check_seed(seed: object, name: str = "seed") -> int | None:
    """``seed`` for ``numpy.random.default_rng``: None or an int >= 0 (a bool is refused)."""
    if seed is None:
        return None
    return check_int(seed, name, minimum=0, expected="None or an int")


def check_keys(d: object, name: str, required: Sequence[str]) -> Mapping[str, Any]:
    """``d`` if it is a mapping holding every key of ``required``; else TypeError/ValueError."""
    if not isinstance(d, Mapping):
        raise TypeError(f"{name} must be a dict, got {type(d).__name__}")
    missing = [key for key in required if key not in d]
    if missing:
        raise ValueError(
            f"{name} is missing the key(s) {missing}; it must have {list(required)}, "
            f"got {sorted(map(str, d))}"
        )
    return d


def refuse_masked(value: Any, name: str) -> None:
    """Raise ValueError for a masked array with masked entries (NumPy would drop the mask)."""
    if isinstance(value, np.ma.MaskedArray) and np.ma.is_masked(value):
        n_masked = int(np.ma.count_masked(value))
        entries = "entry" if n_masked == 1 else "entries"
        raise ValueError(
            f"{name} is a masked array with {n_masked} masked {entries}, "
            f"and psinet does not support masks: fill them ({name}.filled(value)) "
            f"or drop the rows that hold them"
        )


def refuse_overflow(finite: bool, what: str, X: Array, dtype: np.dtype[Any]) -> None:
    """A clear ValueError, in place of inf, NaN and NumPy's warnings, when a computation
    on finite inputs ``X`` (ndarray) overflowed ``dtype`` (``finite`` is False)."""
    if finite:
        return
    hint = ", or use a float64 network" if dtype != np.float64 else ""
    raise ValueError(
        f"{what} overflowed {dtype.name} (max |X| = {_sci(np.abs(X).max(initial=0.0))}): "
        f"scale the inputs (psinet.Standardizer) or the weights down{hint}"
    )


def refuse_non_finite_outputs(
    z: Sequence[Array], a: Sequence[Array], parts: Sequence[object], X: Array, dtype: np.dtype[Any]
) -> None:
    """Say why a forward pass on finite ``X`` ended in NaN or inf; call it only then.

    ``z`` and ``a`` are the pass's ``z_l`` and ``X_{l+1} = f_l(z_l)``, ``parts`` its
    activations. Walking up the layers, the first non-finite number is either in some
    ``z_l`` (from finite inputs: the product overflowed, :func:`refuse_overflow`'s
    message) or in some ``a_l`` from a finite ``z_l``: then the activation made it, and
    the ValueError names its class and ``value``, the layer and the first entry.
    """
    cause = non_finite_cause(z, a, parts, dtype)
    if cause is not None:
        raise ValueError(cause)
    refuse_overflow(False, "the outputs", X, dtype)


def non_finite_cause(
    z: Sequence[Array], a: Sequence[Array], parts: Sequence[object], dtype: np.dtype[Any]
) -> str | None:
    """The activation that made the first NaN or inf of a forward pass from a finite
    ``z_l``, said in a sentence (its class and ``value``, the layer, the first entry);
    None when the first non-finite number is in some ``z_l`` (an overflow) or nowhere."""
    for l, (z_l, a_l, f_l) in enumerate(zip(z, a, parts, strict=True)):
        if not np.isfinite(z_l).all():
            return None  # finite inputs, non-finite z_l = X̄_l W_lᵀ: an overflow
        bad = ~np.isfinite(a_l)
        if bad.any():
            nan = np.isnan(a_l)
            which = "NaN" if nan.any() else "inf"
            n, j = (int(i) for i in np.argwhere(nan if nan.any() else bad)[0])
            where = f"{type(f_l).__name__}.value"
            if which == "NaN":
                fix = (
                    "an operation inside it has no real result there (sqrt or log of a "
                    "negative, 0/0, inf − inf): make value defined for every finite z"
                )
            else:
                fix = (
                    f"it overflowed {dtype.name} inside value: compute f(z) so that it stays "
                    "finite (e.g. clip z), or scale the inputs (psinet.Standardizer) or the "
                    "weights down"
                )
            return (
                f"{where} returned {which} at layer {l} from finite z ({int(bad.sum())} of "
                f"{a_l.size} entries; the first at sample {n}, unit {j}, z = {_sci(z_l[n, j])}): "
                f"{fix}"
            )
    return None


def _sci(x: Any) -> str:
    """A float of any width (long double included) in 4 significant digits."""
    return np.format_float_scientific(x, precision=3, trim="-")


def objects_as_floats(array: Array, name: str) -> Array:
    """An object array of real numbers (NumPy's fallback for ints beyond int64, such as
    ``[[10**20, 1]]``) as float64; ValueError for a number beyond float64 (``10**400``).
    Any other array is returned as it is."""
    if array.dtype != object or not all(
        isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) for v in array.flat
    ):
        return array
    try:
        return array.astype(np.float64)
    except OverflowError:
        raise ValueError(
            f"{name} must hold numbers within float64's range (|values| <= 1.798e+308), "
            "got a larger int"
        ) from None


def as_float_array(
    value: Any, name: str, dtype: np.dtype[Any], *, check_finite: bool = True
) -> Array:
    """``value`` as an ndarray of ``dtype``; TypeError for non-numeric, ValueError for NaN/inf.

    Values are checked before the cast: a finite number that ``dtype`` cannot hold
    (1e300 into float32) is a ValueError, not an inf and an "overflow" warning.
    ``check_finite=False`` leaves NaN and inf to the caller (:func:`refuse_non_finite`),
    which may find them in a pass over the data it makes anyway.
    """
    refuse_masked(value, name)
    try:
        array = as_array(value)
    except (ValueError, TypeError, OverflowError) as exc:  # ragged lists and the like
        raise TypeError(
            f"{name} must be a numeric array, got {type(value).__name__}: {exc}"
        ) from None
    array = objects_as_floats(array, name)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a numeric (int or float) array, got dtype {array.dtype}")
    if array.dtype.kind == "f":
        if check_finite and not np.isfinite(array).all():
            refuse_non_finite(name)
        limit = np.finfo(dtype).max
        if np.finfo(array.dtype).max > limit and array.size:
            low, high = array.min(), array.max()
            if low < -limit or high > limit:
                raise ValueError(
                    f"{name} must fit in {np.dtype(dtype).name} (|values| <= {limit:.4g}), "
                    f"got values from {_sci(low)} to {_sci(high)}"
                )
    return array.astype(dtype, copy=False)


def refuse_non_finite(name: str) -> None:
    """The ValueError for an array ``name`` that holds NaN or inf."""
    raise ValueError(f"{name} must contain only finite numbers, got NaN or inf")


def as_batch(
    value: Any,
    name: str,
    width: int | tuple[int, ...],
    dtype: np.dtype[Any],
    *,
    check_finite: bool = True,
) -> tuple[Array, bool]:
    """``value`` as ndarray of shape (N, width), or (N, *width) for a sample shape such as
    (C, H, W); also says whether a single sample was given.

    ``check_finite``: as for :func:`as_float_array`."""
    shape = (width,) if isinstance(width, (int, np.integer)) else tuple(width)
    array = as_float_array(value, name, dtype, check_finite=check_finite)
    single = array.ndim == len(shape)
    if single:
        array = array[None]
    if array.shape[1:] != shape:
        each = ", ".join(map(str, shape))
        raise ValueError(
            f"{name} must have shape (N, {each}) or ({each}{',' if len(shape) == 1 else ''}), "
            f"got shape {np.shape(value)}{_image_hint(name, array.shape, shape)}"
        )
    if array.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one sample, got shape {array.shape}")
    return array, single


def _image_hint(name: str, given: tuple[int, ...], shape: tuple[int, ...]) -> str:
    """A hint for images given channels last or flattened, where ``shape`` is (C, H, W)."""
    if len(shape) != 3:
        return ""
    C, H, W = shape
    if given[1:] == (H, W, C):
        return f" (channels last? psinet's images are channels first: {name}.transpose(0, 3, 1, 2))"
    if len(given) == 2 and given[1] == C * H * W:
        return f" (flattened? {name}.reshape(-1, {C}, {H}, {W}) gives the images back)"
    return ""


def as_targets(value: Any, n_samples: int, width: int, dtype: np.dtype[Any]) -> Array:
    """Targets Y as ndarray of shape (n_samples, width); a 1-D Y is fine for one output."""
    Y = as_float_array(value, "Y", dtype)
    if Y.ndim == 1 and (width == 1 or n_samples == 1):
        Y = Y.reshape(n_samples, width) if Y.size == n_samples * width else Y
    if Y.shape != (n_samples, width):
        hint = ""
        if Y.shape == (n_samples,) and width > 1 and np.array_equal(Y, np.round(Y)):
            hint = f"; these look like class labels: pass psinet.one_hot(Y, {width})"
        raise ValueError(
            f"Y must have shape ({n_samples}, {width}) to match X and the network's "
            f"{width} output(s), got shape {np.shape(value)}{hint}"
        )
    return Y


def check_int(
    value: object, name: str, minimum: int, maximum: int | None = None, expected: str = "an int"
) -> int:
    """Return ``value`` as an int, or raise if it is not an integer in [minimum, maximum]."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__} {shown(value)}")
    result = int(value)
    if result < minimum:
        raise ValueError(f"{name} must be >= {shown(minimum)}, got {shown(result)}")
    if maximum is not None and result > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {shown(result)}")
    return result


def as_sample_weight(value: Any, n_samples: int, dtype: np.dtype[Any]) -> Array | None:
    """Sample weights s (shape (N,)) as relative weights ``r = s·N / Σ s``, mean 1.

    Returns None for None and for equal weights (then E = Σ s_n ℓ_n / Σ s_n is the plain
    mean, computed as without weights: bit-identical). Refused: a shape other than
    (N,), negative, NaN or inf values, all zeros, or a sum beyond float64.
    """
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"sample_weight must be an array of N numbers, got bool {value!r}")
    s = as_float_array(value, "sample_weight", np.dtype(np.float64))
    if s.shape != (n_samples,):
        raise ValueError(
            f"sample_weight must have shape ({n_samples},), one weight per sample, "
            f"got shape {s.shape}"
        )
    if s.size and s.min() < 0:
        raise ValueError(
            f"sample_weight must be >= 0, got {_sci(s.min())} at index {int(s.argmin())}"
        )
    with np.errstate(over="ignore"):
        total = float(s.sum())
    if total == 0:
        raise ValueError("sample_weight must have a positive sum, got all zeros")
    if not math.isfinite(total):
        raise ValueError("sample_weight must have a finite sum, got one beyond float64")
    if (s == s[0]).all():
        return None  # equal weights: the plain mean
    r = (s / total) * n_samples  # r_n = s_n N / Σ s: E = (1/N) Σ r_n ℓ_n
    return r.astype(dtype)
