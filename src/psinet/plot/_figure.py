"""The door to matplotlib, and what every psinet plot shares: its Figure, Axes and save.

matplotlib is an optional extra, imported here inside the functions only, never at
import time: :func:`has_matplotlib` says whether it can be, and every plot function
first calls ``_require_matplotlib``, which raises one clear ImportError
(:data:`MISSING_MATPLOTLIB`) when it cannot. The rest is what the plot modules share:
a new Figure that a notebook shows inline (no pyplot), the Axes checks, the atomic
save behind every ``path=`` argument, :func:`figure` and :func:`save` for pictures of
your own, and three small conventions of the line plots (NaN and inf as gaps, a log
y-axis when every value is positive, whole-number ticks for epochs).
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._checks import check_float, refuse_masked

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Array = np.ndarray

MISSING_MATPLOTLIB = (
    'psinet.plot needs matplotlib: pip install "psinet[plot]" (or pip install matplotlib)'
)


def has_matplotlib() -> bool:
    """Whether matplotlib can be imported, i.e. whether the plot functions will work."""
    try:
        _require_matplotlib()
    except ImportError:
        return False
    return True


def _require_matplotlib() -> None:
    """Import the matplotlib modules psinet.plot uses, or raise one clear ImportError."""
    try:
        import matplotlib
        import matplotlib.axes
        import matplotlib.colors
        import matplotlib.figure
        import matplotlib.lines  # noqa: F401
    except ImportError as exc:
        raise ImportError(MISSING_MATPLOTLIB) from exc


_FIGURE_CLASS: list[type] = []  # the displayable Figure subclass, made on first use


def _new_figure(figsize: tuple[float, float]) -> Figure:
    """A new constrained-layout Figure that a notebook shows inline.

    A Figure made without pyplot is only shown by Jupyter when an inline backend has
    registered itself (``%matplotlib inline``, or an earlier pyplot import). This
    subclass also carries ``_repr_png_``, the hook IPython's display calls, so a cell
    ending in a psinet plot shows the picture in any case (exactly once: IPython uses
    one PNG formatter per object).
    """
    if not _FIGURE_CLASS:
        from matplotlib.figure import Figure

        class DisplayedFigure(Figure):
            """A matplotlib Figure with ``_repr_png_`` for Jupyter."""

            def _repr_png_(self) -> bytes:
                import io

                buffer = io.BytesIO()
                self.savefig(buffer, format="png")
                return buffer.getvalue()

        _FIGURE_CLASS.append(DisplayedFigure)
    fig: Figure = _FIGURE_CLASS[0](figsize=figsize, layout="constrained")
    return fig


def _figure_and_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """``ax`` and its (top-level) Figure, or a new Figure with one Axes."""
    if ax is None:
        fig = _new_figure(figsize)
        return fig, fig.add_subplot()
    return _root_figure(_check_axes(ax, "ax")), ax


def _check_axes(ax: Any, name: str) -> Axes:
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise TypeError(f"{name} must be a matplotlib Axes, got {type(ax).__name__}")
    return ax


def _root_figure(ax: Axes) -> Figure:
    from matplotlib.figure import Figure

    fig: Any = ax.figure
    if not isinstance(fig, Figure):  # a SubFigure: its .figure is the top-level Figure
        fig = fig.figure
    return fig


def _save(fig: Figure, path: str | os.PathLike[str] | None) -> None:
    """Write ``fig`` to ``path`` atomically: a temporary sibling file, then ``os.replace``."""
    if path is None:
        return
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    target = Path(path)
    fmt = target.suffix[1:].lower() or "png"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        fig.savefig(tmp, format=fmt)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def figure(figsize: tuple[float, float] = (6.4, 4.8)) -> Figure:
    """A new, empty matplotlib Figure (no pyplot) for a plot of your own; shows in Jupyter.

    ``figsize``: (width, height) in inches, each a finite number > 0.
    """
    _require_matplotlib()
    if isinstance(figsize, (str, bytes)) or not isinstance(figsize, (Sequence, np.ndarray)):
        raise TypeError(f"figsize must be a pair (width, height), got {type(figsize).__name__}")
    if len(figsize) != 2:
        raise ValueError(f"figsize must be a pair (width, height), got {len(figsize)} values")
    width, height = (check_float(v, "figsize", 0.0, low_open=True) for v in figsize)
    return _new_figure((width, height))


def save(fig: Figure, path: str | os.PathLike[str]) -> Figure:
    """Write ``fig`` to ``path`` atomically (directories created); returns ``fig``."""
    _save(fig, path)
    return fig


# ---------------------------------------------------------------------- line plots
def _for_plot(values: Array) -> Array:
    """NaN and ±inf drawn as gaps: matplotlib cannot place an infinite point."""
    return np.where(np.isfinite(values), values, np.nan)


def _log_if_positive(ax: Axes, values: Sequence[Array]) -> None:
    """Log y-axis when every finite value is > 0 (and there is one), else linear.

    Values near the end of float64's range (a diverging run's losses near 1e308) get
    y-limits set here, within it: matplotlib's own autoscaling would add its margin
    past float64's largest number (overflow warnings, then an unusable axis)."""
    finite = np.concatenate([v[np.isfinite(v)] for v in values])
    log = bool(finite.size) and bool((finite > 0).all())
    near = bool(finite.size) and float(np.abs(finite).max()) > _NEAR_FLOAT_MAX
    if near:
        bottom, top = _limits_within_float64(float(finite.min()), float(finite.max()), log)
        ax.set_autoscaley_on(False)  # before set_ylim, which would autoscale first
        ax.set_ylim(bottom, top)
    if log:
        ax.set_yscale("log")
    if near:  # matplotlib's locators would compute a tick past float64's largest number
        from matplotlib.ticker import FixedLocator, NullLocator

        ax.yaxis.set_major_locator(FixedLocator(_ticks_within_float64(bottom, top, log)))
        ax.yaxis.set_minor_locator(NullLocator())


_FLOAT_MAX = float(np.finfo(np.float64).max)
_NEAR_FLOAT_MAX = 1e300
"""Above this |value|, the line plots set their y-limits themselves (see _log_if_positive)."""


def _ticks_within_float64(bottom: float, top: float, log: bool) -> list[float]:
    """A few round y-ticks in [bottom, top] (decades on a log axis), computed in Python
    floats so that no step or tick leaves float64's range."""
    if log:
        first, last = math.ceil(math.log10(bottom)), math.floor(math.log10(top))
        stride = max(1, math.ceil((last - first + 1) / 8))
        return [10.0**k for k in range(first, last + 1, stride)] or [bottom, top]
    e = math.floor(math.log10(top - bottom))
    ticks: list[float] = []
    for m in (1.0, 0.5, 0.2):  # the coarsest round step that gives 3 ticks or more
        step = m * 10.0**e
        ticks = [k * step for k in range(math.ceil(bottom / step), math.floor(top / step) + 1)]
        if len(ticks) >= 3:
            break
    return ticks


def _limits_within_float64(low: float, high: float, log: bool) -> tuple[float, float]:
    """y-limits around [low, high] with matplotlib's 5 % margin (in log10 when ``log``),
    clipped to float64's range. Python floats: an overflow is an inf, not a warning."""
    if log:
        lo, hi = math.log10(low), math.log10(high)
        margin = 0.05 * (hi - lo) if hi > lo else 0.5
        try:
            top = min(10.0 ** (hi + margin), _FLOAT_MAX)
        except OverflowError:  # 10.0 ** 309 raises, where numpy would warn
            top = _FLOAT_MAX
        bottom = max(10.0 ** (lo - margin), math.ulp(0.0))  # > 0 on a log axis
        return bottom, top
    span = high - low
    if span == math.inf:  # matplotlib's transforms need top − bottom within float64 too
        return max(low, -_FLOAT_MAX / 2), min(high, _FLOAT_MAX / 2)  # the middle, cut
    margin = min(0.05 * span, (_FLOAT_MAX - span) / 2) if span else 0.05 * abs(high)
    return max(low - margin, -_FLOAT_MAX), min(high + margin, _FLOAT_MAX)


def _whole_ticks_if_whole(ax: Axes, x: Array) -> None:
    """Ticks on whole numbers only when every x is one (epochs): no "epoch 1.25"."""
    from matplotlib.ticker import MaxNLocator

    x = np.asarray(x, dtype=float)
    if x.size and np.array_equal(x, np.round(x)):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _float64_array(values: Any, name: str, expected: Callable[[], str]) -> Array:
    """``values`` as a float64 array for a plot: masked arrays refused, an int beyond
    float64 a ValueError, anything not numeric a TypeError whose message is
    ``expected()`` (called only then)."""
    refuse_masked(values, name)
    try:
        return np.asarray(values, dtype=np.float64)
    except OverflowError:  # an int beyond float range, e.g. 10**400
        raise ValueError(f"{name} must hold numbers within float64's range") from None
    except (TypeError, ValueError):
        raise TypeError(expected()) from None
