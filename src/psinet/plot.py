"""Plots for training: the loss curves, a 2-D decision boundary, per-layer gradient norms.

matplotlib is an optional extra (``pip install "psinet[plot]"``), imported only when a
plot is drawn: ``import psinet.plot`` works without it, and :func:`has_matplotlib` says
whether plotting will. The plots use matplotlib's object-oriented API only (a
``matplotlib.figure.Figure``, never ``pyplot``, never a change of backend), so they run
headless on a server and inside a notebook alike. Every plot function

* draws into ``ax`` when given one (a ``matplotlib.axes.Axes``), else into a new Figure;
* writes the figure to ``path`` when given one: a PNG (or the format the suffix names,
  e.g. ``.svg``, ``.pdf``), parent directories created, written atomically (a temporary
  file in the same directory, then ``os.replace``), so a failed save leaves an existing
  file untouched;
* returns the Figure.

:func:`layer_gradient_norms` needs NumPy only: the ``‖∂E/∂W_l‖_F`` of one step, the rows
that :func:`plot_gradient_norms` draws.

>>> import numpy as np
>>> layer_gradient_norms([np.full((3, 4), 0.5), np.array([[3.0, 4.0]])])
array([1.73205081, 5.        ])
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ._checks import (
    as_batch,
    as_float_array,
    check_float,
    check_int,
    check_network,
    objects_as_floats,
    refuse_masked,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .network import Network

__all__ = [
    "figure",
    "has_matplotlib",
    "layer_gradient_norms",
    "plot_decision_boundary",
    "plot_gradient_norms",
    "plot_history",
    "plot_network",
    "save",
    "save_figures",
]

Array = np.ndarray

MISSING_MATPLOTLIB = (
    'psinet.plot needs matplotlib: pip install "psinet[plot]" (or pip install matplotlib)'
)

_LOSS_KEYS = ("loss", "val_loss")
_ACCURACY_KEYS = ("accuracy", "val_accuracy")
_KEY_COLORS = {"loss": "C0", "val_loss": "C1", "accuracy": "C0", "val_accuracy": "C1"}
_GRID_CHUNK = 1 << 16  # grid points per predict call: bounds memory at high resolution
_MAX_RESOLUTION = 4096  # 16.8 million grid points: more than any screen shows


class HasHistory(Protocol):
    """What :func:`plot_history` reads from a training History (duck-typed)."""

    @property
    def history(self) -> Mapping[str, Sequence[float]]: ...


HistoryLike = HasHistory | Mapping[str, Sequence[float]]


# ---------------------------------------------------------------------- matplotlib
def has_matplotlib() -> bool:
    """Whether matplotlib can be imported, i.e. whether the plot functions will work."""
    try:
        _require_matplotlib()
    except ImportError:
        return False
    return True


def _require_matplotlib() -> None:
    """Import the matplotlib modules this file uses, or raise one clear ImportError."""
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


def save_figures(
    out_dir: str | os.PathLike[str], plots: Mapping[str, Any], *, file: Any = None
) -> list[Path]:
    """Draw each ``plots[name](path)`` into ``out_dir / name``; say so, or why not.

    For scripts and examples: without matplotlib nothing is drawn and one line says
    how to get the pictures, instead of an error. Returns the paths written.
    """
    import sys

    stream = sys.stdout if file is None else file
    if not has_matplotlib():
        names = ", ".join(plots)
        print(
            f'(matplotlib is not installed: skipped {names}; pip install "psinet[plot]")',
            file=stream,
        )
        return []
    written = []
    for name, draw in plots.items():
        path = Path(out_dir) / name
        draw(path)
        print(f"wrote {path}", file=stream)
        written.append(path)
    return written


def _for_plot(values: Array) -> Array:
    """NaN and ±inf drawn as gaps: matplotlib cannot place an infinite point."""
    return np.where(np.isfinite(values), values, np.nan)


def _log_if_positive(ax: Axes, values: Sequence[Array]) -> None:
    """Log y-axis when every finite value is > 0 (and there is one), else linear."""
    finite = np.concatenate([v[np.isfinite(v)] for v in values])
    if finite.size and (finite > 0).all():
        ax.set_yscale("log")


def _whole_ticks_if_whole(ax: Axes, x: Array) -> None:
    """Ticks on whole numbers only when every x is one (epochs): no "epoch 1.25"."""
    from matplotlib.ticker import MaxNLocator

    x = np.asarray(x, dtype=float)
    if x.size and np.array_equal(x, np.round(x)):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


# ---------------------------------------------------------------------- history
def plot_history(
    history: HistoryLike,
    path: str | os.PathLike[str] | None = None,
    *,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """The loss (and accuracy) per epoch of a training run.

    Parameters
    ----------
    history : History or dict of lists
        A training History (its ``history`` dict and, if present, its ``epoch`` list,
        counted from 1, give the x values) or a plain dict (epochs ``1 … T``). Key
        ``"loss"`` is required, ``"val_loss"``, ``"accuracy"`` and ``"val_accuracy"``
        are drawn when present, other keys are ignored. Each value: T numbers,
        ndarray of shape (T,).
    path : str or os.PathLike, optional
        Where to write the figure (PNG unless the suffix names another format).
    ax : matplotlib Axes, optional
        Draw into it; the accuracy then goes on a twin y-axis on the right. Without
        ``ax``, a new Figure with one panel for the loss and, when accuracy keys exist,
        a second panel for the accuracy.
    title : str, optional
        Say what the run shows (e.g. "XOR: the loss falls, accuracy reaches 100%"): the
        figure's title over both panels. Each panel has its own title in any case.

    Returns
    -------
    matplotlib.figure.Figure
        Loss lines first, in the order ``loss``, ``val_loss`` (labelled "training" and
        "validation"); legends at the place that covers the fewest points; the loss y-axis is
        logarithmic when every finite loss is positive. NaN or inf (a diverged run)
        shows as a gap.
    """
    _require_matplotlib()
    epochs, series = _check_history(history)
    has_accuracy = any(key in series for key in _ACCURACY_KEYS)

    if ax is None and has_accuracy:
        fig = _new_figure((10.0, 4.0))
        loss_ax, acc_ax = fig.subplots(1, 2)
    else:
        fig, loss_ax = _figure_and_axes(ax, (6.0, 4.0))
        acc_ax = loss_ax.twinx() if has_accuracy else None

    twin = ax is not None and acc_ax is not None
    names = {"loss": "training", "val_loss": "validation"}
    names |= {"accuracy": "training", "val_accuracy": "validation"}
    if twin:
        names = {key: key.replace("_", " ") for key in names}
    for key in _LOSS_KEYS:
        if key in series:
            loss_ax.plot(epochs, _for_plot(series[key]), color=_KEY_COLORS[key], label=names[key])
    _log_if_positive(loss_ax, [series[k] for k in _LOSS_KEYS if k in series])
    loss_ax.set_xlabel("epoch")
    _whole_ticks_if_whole(loss_ax, epochs)
    loss_ax.set_ylabel("loss E (mean over the samples)")
    handles, labels = loss_ax.get_legend_handles_labels()

    if acc_ax is not None:
        for key in _ACCURACY_KEYS:
            if key in series:
                acc_ax.plot(
                    epochs,
                    _for_plot(series[key]),
                    color=_KEY_COLORS[key],
                    linestyle=":" if twin else "-",
                    label=names[key],
                )
        acc_ax.set_ylabel("accuracy (fraction classified right)")
        acc_ax.set_xlabel("epoch")
        _whole_ticks_if_whole(acc_ax, epochs)
        acc_handles, acc_labels = acc_ax.get_legend_handles_labels()
        if twin:  # one legend for both y-axes
            handles, labels = handles + acc_handles, labels + acc_labels
        else:
            acc_ax.legend(acc_handles, acc_labels, loc="best")
            acc_ax.set_title("accuracy per epoch (higher is better)")
            loss_ax.set_title("loss per epoch (lower is better)")
    loss_ax.legend(handles, labels, loc="best")

    if title is not None:
        if ax is None and has_accuracy:
            fig.suptitle(title)
        else:
            loss_ax.set_title(title)
    elif acc_ax is None or twin:
        loss_ax.set_title("loss per epoch (lower is better)")
    _save(fig, path)
    return fig


def _check_history(history: Any) -> tuple[Array, dict[str, Array]]:
    """``(epochs, {key: values})``, each an ndarray of shape (T,), checked."""
    if isinstance(history, Mapping):
        raw, epoch = history, None
    elif isinstance(getattr(history, "history", None), Mapping):
        raw, epoch = history.history, getattr(history, "epoch", None)
    else:
        raise TypeError(
            "history must be a History (with a .history dict) or a dict of lists, "
            f"got {type(history).__name__}"
        )
    if "loss" not in raw:
        raise ValueError(f"history must have a 'loss' key, got keys {sorted(map(str, raw))}")
    series = {
        key: _as_series(raw[key], f"history[{key!r}]")
        for key in _LOSS_KEYS + _ACCURACY_KEYS
        if key in raw
    }
    n_epochs = series["loss"].size
    if n_epochs == 0:
        raise ValueError("history['loss'] must hold at least one epoch, got an empty list")
    for key, values in series.items():
        if values.size != n_epochs:
            raise ValueError(
                f"history[{key!r}] must have one value per epoch ({n_epochs}, like "
                f"history['loss']), got {values.size}"
            )
    if epoch is None:
        return np.arange(1, n_epochs + 1), series  # counted from 1, like the progress lines
    epochs = _as_series(epoch, "history.epoch")
    if epochs.size != n_epochs:
        raise ValueError(
            f"history.epoch must have one entry per loss value ({n_epochs}), got {epochs.size}"
        )
    return epochs, series


def _as_series(values: Any, name: str) -> Array:
    refuse_masked(values, name)
    try:
        array = np.asarray(values, dtype=np.float64)
    except OverflowError:  # an int beyond float range, e.g. 10**400
        raise ValueError(f"{name} must hold numbers within float64's range") from None
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a list of numbers, got {values!r:.60}") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be a flat list of numbers, got shape {array.shape}")
    return array


# ---------------------------------------------------------------------- decision boundary
def plot_decision_boundary(
    net: Network,
    X: Any,
    y: Any,
    path: str | os.PathLike[str] | None = None,
    *,
    ax: Axes | None = None,
    resolution: int = 200,
    padding: float = 0.5,
    title: str | None = None,
) -> Figure:
    """The class a 2-input classifier predicts over the plane, with the data on top.

    The predicted class is ``ŷ > 0.5`` for one output (n_L = 1) and ``argmax ŷ`` for
    several; it is drawn as filled contours over a ``resolution × resolution`` grid that
    covers the range of ``X`` plus ``padding`` on every side, and the samples are
    scattered in the colour of their true class.

    Parameters
    ----------
    net : Network
        A classifier with 2 inputs (``net.n_inputs == 2``).
    X : ndarray of shape (N, 2)
    y : ndarray of shape (N,)
        Integer class labels ``0 … K-1``; a one-hot ndarray of shape (N, K) is turned
        into labels by argmax, one of shape (N, 1) is taken as 0/1 labels.
    path : str or os.PathLike, optional
        Where to write the figure (PNG unless the suffix names another format).
    ax : matplotlib Axes, optional
    resolution : int
        Grid points per axis, >= 2.
    padding : float
        Margin around the data, in data units, >= 0.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        The axes holds the filled contours first and the scatter of ``X`` last; each
        class has its own colour and (up to 10 classes) its own marker.
    """
    _require_matplotlib()
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.lines import Line2D

    net = check_network(net)
    if net.n_inputs != 2:
        raise ValueError(
            f"net must have 2 inputs to draw its decision boundary in the plane, got {net.n_inputs}"
        )
    X, single = as_batch(X, "X", 2, np.dtype(np.float64))
    if single:  # as_batch accepts one sample of shape (2,): not data to plot
        raise ValueError(f"X must have shape (N, 2), got shape {np.shape(X)}")
    n_classes = max(net.n_outputs, 2)
    labels = _check_labels(y, X.shape[0], n_classes)
    resolution = _check_resolution(resolution)
    padding = _check_padding(padding)
    _check_grid_range(X, padding, net.dtype)

    xx, yy, classes = _class_grid(net, X, resolution, padding)  # (R, R) each
    colors = _class_colors(n_classes)
    cmap = ListedColormap(colors)
    levels = np.arange(n_classes + 1) - 0.5  # class k fills the band (k - ½, k + ½)
    norm = BoundaryNorm(levels, n_classes)

    fig, ax = _figure_and_axes(ax, (6.4, 5.0))
    ax.contourf(xx, yy, classes, levels=levels, cmap=cmap, norm=norm, alpha=0.35)
    points = ax.scatter(X[:, 0], X[:, 1], c=labels, cmap=cmap, norm=norm, s=20, edgecolors="k")
    if n_classes <= len(_CLASS_MARKERS):  # each class its own marker too: not colour alone
        points.set_paths([_marker_path(_CLASS_MARKERS[k]) for k in labels])
    ax.set_xlim(xx[0, 0], xx[0, -1])
    ax.set_ylim(yy[0, 0], yy[-1, 0])
    ax.set_xlabel("input $x_0$ (data units)")
    ax.set_ylabel("input $x_1$ (data units)")
    if n_classes <= 10:
        handles = [
            Line2D(
                [], [], marker=_CLASS_MARKERS[k], linestyle="", color=colors[k],
                markeredgecolor="k",
            )
            for k in range(n_classes)
        ]  # fmt: skip
        ax.legend(
            handles,
            [f"class {k}" for k in range(n_classes)],
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),  # outside the axes: the shading is data too
            title="marker: true class\nshade: predicted",
            fontsize="small",
            title_fontsize="small",
        )
    ax.set_title(title if title is not None else "Predicted class (shade) and the data (markers)")
    _save(fig, path)
    return fig


_CLASS_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<")


def _marker_path(marker: str) -> Any:
    """The path a scatter draws for ``marker`` (to give each point its class's marker)."""
    from matplotlib.markers import MarkerStyle

    style = MarkerStyle(marker)
    return style.get_path().transformed(style.get_transform())


def _class_grid(net: Network, X: Array, resolution: int, padding: float) -> tuple[Array, ...]:
    """``(xx, yy, classes)``, each ndarray of shape (R, R): the grid and the predicted class.

    The grid spans ``[min X[:, j] − padding, max X[:, j] + padding]`` on axis j (widened
    to a unit span around a constant column when that range is empty).
    """
    lo, hi = X.min(axis=0) - padding, X.max(axis=0) + padding  # (2,) each
    flat = hi == lo
    lo, hi = np.where(flat, lo - 0.5, lo), np.where(flat, hi + 0.5, hi)
    xx, yy = np.meshgrid(
        np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution)
    )
    points = np.column_stack([xx.ravel(), yy.ravel()])  # (R², 2)
    classes = np.concatenate(
        [
            _predict_class(net, points[i : i + _GRID_CHUNK])
            for i in range(0, len(points), _GRID_CHUNK)
        ]
    )
    return xx, yy, classes.reshape(xx.shape)


def _predict_class(net: Network, X: Array) -> Array:
    """The predicted class of each row: ``ŷ > 0.5`` for one output, else ``argmax ŷ``."""
    y_hat = net.predict(X)  # (N, n_L)
    if y_hat.shape[1] == 1:
        return (y_hat[:, 0] > 0.5).astype(np.intp)
    return np.argmax(y_hat, axis=1)


def _check_labels(y: Any, n_samples: int, n_classes: int) -> Array:
    """Labels as an int ndarray of shape (N,), each in ``0 … n_classes-1``."""
    refuse_masked(y, "y")
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"y must hold integer class labels, got dtype {y.dtype}")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    elif y.ndim == 2:
        y = np.argmax(y, axis=1)  # one-hot (N, K) -> labels (N,)
    if y.shape != (n_samples,):
        raise ValueError(
            f"y must have shape ({n_samples},) (or one-hot ({n_samples}, K)) to match X, "
            f"got shape {y.shape}"
        )
    if not np.isfinite(y).all() or (y != np.round(y)).any():
        raise ValueError("y must hold integer class labels, got non-integer values")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(
            f"y must hold class labels 0 … {n_classes - 1} for this network, "
            f"got labels from {y.min():g} to {y.max():g}"
        )
    return y.astype(np.intp)


def _check_resolution(resolution: Any) -> int:
    return check_int(resolution, "resolution", minimum=2, maximum=_MAX_RESOLUTION)


def _check_padding(padding: Any) -> float:
    padding = check_float(padding, "padding")
    if padding < 0:
        raise ValueError(f"padding must be a finite number >= 0, got {padding}")
    return padding


def _check_grid_range(X: Array, padding: float, dtype: np.dtype[Any]) -> None:
    """The grid ``[min X − padding, max X + padding]`` (and its width) must be finite and
    lie within what the network's dtype holds; else a ValueError that says so."""
    limit = float(np.finfo(dtype).max)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is what we look for
        lo, hi = X.min(axis=0) - padding, X.max(axis=0) + padding  # (2,) each
        width = hi - lo
    if np.all(np.abs(lo) <= limit) and np.all(np.abs(hi) <= limit) and np.isfinite(width).all():
        return
    raise ValueError(
        f"padding={padding:g} around the range of X ({X.min():.4g} to {X.max():.4g}) makes "
        f"a grid beyond what a {dtype.name} network can take (|x| <= {limit:.4g}, and a "
        "finite width): use a smaller padding"
    )


def _class_colors(n_classes: int) -> list[Any]:
    """One distinct colour per class: tab10 / tab20, or a sampled viridis beyond 20."""
    import matplotlib

    if n_classes <= 10:
        return list(matplotlib.colormaps["tab10"](np.arange(n_classes)))  # ints index the table
    if n_classes <= 20:
        return list(matplotlib.colormaps["tab20"](np.arange(n_classes)))
    return list(matplotlib.colormaps["viridis"](np.linspace(0, 1, n_classes)))


# ---------------------------------------------------------------------- gradient norms
def layer_gradient_norms(grads: Sequence[Any]) -> Array:
    """The Frobenius norm ``‖∂E/∂W_l‖_F = √(Σ_ij (∂E/∂W_l)_ij²)`` of each gradient.

    ``grads``: one array per weight layer, e.g. the list from
    :func:`psinet.backprop.gradients` (``grad_W[l]``, ndarray of shape
    (n_{l+1}, n_l + 1)). Returns ndarray of shape (L,), float64. Large entries do not
    overflow (each array is scaled by its largest magnitude first); NaN or inf in a
    gradient gives NaN or inf, shown rather than hidden.

    Collect one row per step, ``np.array(rows)`` is then the (T, L) input of
    :func:`plot_gradient_norms`.
    """
    if isinstance(grads, np.ndarray) or not isinstance(grads, Sequence):
        raise TypeError(
            f"grads must be a list with one gradient array per layer, got {type(grads).__name__}"
        )
    if len(grads) == 0:
        raise ValueError("grads must hold at least one gradient array, got an empty list")
    norms = np.empty(len(grads))
    for l, g in enumerate(grads):
        refuse_masked(g, f"grads[{l}]")
        g = objects_as_floats(np.asarray(g), f"grads[{l}]")  # Python ints beyond int64
        if g.dtype.kind not in "biuf":
            raise TypeError(f"grads[{l}] must be a numeric array, got dtype {g.dtype}")
        with np.errstate(over="ignore"):  # a long double beyond float64 is shown as inf
            g = np.abs(g.astype(np.float64, copy=False))
        scale = g.max(initial=0.0)
        if scale > 0 and np.isfinite(scale):
            norms[l] = scale * np.sqrt(np.sum((g / scale) ** 2))  # no overflow for |g| > 1e154
        else:
            norms[l] = np.sqrt(np.sum(g**2))  # 0, or NaN / inf propagated
    return norms


def plot_gradient_norms(
    norms: Any,
    path: str | os.PathLike[str] | None = None,
    *,
    ax: Axes | Sequence[Axes] | None = None,
    x: Any = None,
    xlabel: str | None = None,
    title: str | None = None,
) -> Figure:
    """One line per layer: how the gradient norm ``‖∂E/∂W_l‖_F`` evolves in training.

    Vanishing gradients show as the early layers' lines lying orders of magnitude below
    the last layer's (the y-axis is logarithmic when all finite norms are positive).

    Parameters
    ----------
    norms : History, ndarray of shape (T, L), or dict {label: History or ndarray}
        A training :class:`~psinet.training.History` (its records' ``"grad_norms"``,
        one row per epoch, drawn against its epoch numbers), or T records of the L
        layers' norms (rows from :func:`layer_gradient_norms`). A dict compares
        networks: one panel per entry, titled by its label, sharing the y-axis.
    path : str or os.PathLike, optional
        Where to write the figure (PNG unless the suffix names another format).
    ax : matplotlib Axes, or a sequence of Axes (one per dict entry), optional
    x : ndarray of shape (T,), optional
        The x value of each record (default: a History's epochs, else ``1 … T``); with
        a dict, every entry must then have T records.
    xlabel : str, optional
        Default ``"epoch"`` for a History, else ``"step"``.
    title : str, optional
        The axes title; with a dict it prefixes each panel's label. Without either, a
        title says what to look for.

    Returns
    -------
    matplotlib.figure.Figure
        Each axes has L lines, layer 0 first, told apart by colour (dark for layer 0
        to light for layer L-1), line style and marker; one legend "layer 0" …
        "layer L-1", outside the panels, right of the last one.
    """
    _require_matplotlib()
    entries, epochs = _check_norms(norms)
    x_values = _check_x(x, entries)
    if xlabel is None:
        xlabel = "epoch" if epochs else "step"

    if ax is None:
        fig = _new_figure((4.6 * len(entries) + 1.8, 4.0))
        axes = list(fig.subplots(1, len(entries), sharey=True, squeeze=False)[0])
    else:
        axes = _check_axes_for(ax, len(entries))
        fig = _root_figure(axes[0])

    for i, (panel, (label, values)) in enumerate(zip(axes, entries.items(), strict=True)):
        if x_values is not None:
            steps = x_values
        elif label in epochs:
            steps = epochs[label]
        else:
            steps = np.arange(1, values.shape[0] + 1)  # counted from 1, like the progress lines
        _draw_layer_lines(panel, steps, values)
        _whole_ticks_if_whole(panel, steps)
        panel.set_xlabel(xlabel)
        if i == 0:  # the panels share the y-axis
            panel.set_ylabel(r"gradient norm $\|\partial E / \partial W_l\|_F$")
        panel_title = " — ".join(t for t in (title, label) if t)
        panel.set_title(panel_title or _NORMS_TITLE)
    axes[-1].legend(
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),  # outside the axes: covers no line
        title="layer l\n(0 = next to\nthe input)",
        fontsize="small",
        title_fontsize="small",
    )
    _save(fig, path)
    return fig


_NORMS_TITLE = "Gradient norm per layer: a line far below the others learns slowly"
_LINE_STYLES = ("-", "--", "-.", ":")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">", "p")


def _draw_layer_lines(ax: Axes, steps: Array, values: Array) -> None:
    """L lines, each with its own colour, line style and marker (not colour alone)."""
    import matplotlib

    T, n_layers = values.shape
    colors = matplotlib.colormaps["viridis"](np.linspace(0.0, 0.9, n_layers))  # (L, 4)
    every = max(1, T // 6)  # about six markers a line, staggered so they do not stack
    for l in range(n_layers):
        ax.plot(
            steps,
            _for_plot(values[:, l]),
            color=colors[l],
            linestyle=_LINE_STYLES[l % len(_LINE_STYLES)],
            marker=_MARKERS[l % len(_MARKERS)],
            markersize=4,
            markevery=(l % every, every),
            label=f"layer {l}",
        )
    _log_if_positive(ax, [values.ravel()])


def _history_norms(history: Any, name: str) -> tuple[Array, Array]:
    """``(norms (T, L), epochs (T,))`` from a History's records."""
    rows = [record.get("grad_norms") for record in history.records]
    if not rows or any(row is None for row in rows):
        raise ValueError(
            f"{name} must be a History whose records hold 'grad_norms' (fit records them), "
            f"got {len(rows)} records without them"
        )
    return _as_norm_table(rows, name), _as_series(history.epoch, f"{name}.epoch")


def _check_norms(norms: Any) -> tuple[dict[str, Array], dict[str, Array]]:
    """``({label: ndarray of shape (T, L)}, {label: epochs of the Histories})``.

    An array or History alone is the entry ``""``.
    """
    if isinstance(norms, Mapping):
        if not norms:
            raise ValueError("norms must hold at least one entry, got an empty dict")
        items = [(str(k), v, f"norms[{k!r}]") for k, v in norms.items()]
    else:
        items = [("", norms, "norms")]
    entries, epochs = {}, {}
    for label, value, name in items:
        if hasattr(value, "records") and hasattr(value, "epoch"):  # a History
            entries[label], epochs[label] = _history_norms(value, name)
        else:
            entries[label] = _as_norm_table(value, name)
    return entries, epochs


def _as_norm_table(values: Any, name: str) -> Array:
    refuse_masked(values, name)
    try:
        array = np.asarray(values, dtype=np.float64)
    except OverflowError:  # an int beyond float range, e.g. 10**400
        raise ValueError(f"{name} must hold numbers within float64's range") from None
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be a History or a numeric array of shape (T, L), "
            f"got {type(values).__name__}"
        ) from None
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(
            f"{name} must have shape (T, L) (T records of L layers, both >= 1), "
            f"got shape {array.shape}"
        )
    return array


def _check_x(x: Any, entries: dict[str, Array]) -> Array | None:
    if x is None:
        return None
    x = _as_series(x, "x")
    for label, values in entries.items():
        if values.shape[0] != x.size:
            name = f"norms[{label!r}]" if label else "norms"
            raise ValueError(
                f"x must have one value per record of {name} ({values.shape[0]}), got {x.size}"
            )
    return x


def _check_axes_for(ax: Any, n_entries: int) -> list[Axes]:
    from matplotlib.axes import Axes

    if isinstance(ax, Axes):
        axes = [ax]
    elif isinstance(ax, (Sequence, np.ndarray)) and not isinstance(ax, str):
        axes = [_check_axes(a, "ax[i]") for a in np.ravel(np.asarray(ax, dtype=object))]
    else:
        raise TypeError(f"ax must be a matplotlib Axes or a list of them, got {type(ax).__name__}")
    if len(axes) != n_entries:
        raise ValueError(f"ax must give one Axes per entry of norms ({n_entries}), got {len(axes)}")
    return axes


# ---------------------------------------------------------------------- the network
_POSITIVE = "#d95f02"  # orange, solid: w > 0
_NEGATIVE = "#7570b3"  # purple, dashed: w < 0
_BIAS = "#1f77b4"  # blue: the bias node and its weights (the derivation's convention)
_MAX_DRAWN = 10  # wider layers are summarised: first and last few neurons and "… k more"
_KEEP_FIRST, _KEEP_LAST = 4, 3
_MAX_EDGE_LABELS = 40  # more edges than this in the picture: lines drawn see-through
_MAX_LABELLED_LAYER = 16  # a layer with more edges than this: no number on its lines
_SHOWS = ("weights", "forward", "backward")
_DX, _DY, _RADIUS = 2.6, 1.0, 0.22


def plot_network(
    net: Network,
    X: Any = None,
    Y: Any = None,
    loss: Any = None,
    *,
    show: str = "weights",
    path: str | os.PathLike[str] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """The network as circles in layers, the bias input as its own blue node.

    Each weight ``W_l[i, j]`` is an edge from input ``j`` of layer ``l`` (the last one,
    ``j = n_l``, is the bias node "1 (bias)") to neuron ``i`` of layer ``l + 1``. An
    edge's colour and line style give the weight's sign (orange solid: positive, purple
    dashed: negative; blue for the bias weights, solid or dashed by sign) and its width
    the magnitude ``|w|``. Layers wider than 10 neurons are summarised: the first 4 and
    the last 3 neurons, and an ellipsis node "… k more" for the rest.

    Parameters
    ----------
    net : Network
    X : ndarray of shape (1, n_0) or (n_0,), optional
        One sample; needed for ``show="forward"`` and ``"backward"``.
    Y : ndarray of shape (1, n_L) or (n_L,), optional
        Its target; needed with ``X``.
    loss : str or Loss, optional
        Needed with ``X``.
    show : {"weights", "forward", "backward"}
        ``"weights"``: each edge labelled with its weight. ``"forward"``: each input
        labelled ``x``, each neuron ``z`` and ``f(z)``. ``"backward"``: each neuron
        labelled ``Ψ = ∂E/∂z`` and each edge ``∂E/∂w``. Edge numbers are printed for
        the layers that draw at most 16 edges (bias included), where they stay
        readable. The values are those of :func:`psinet.trace` on ``(X, Y, loss)``,
        printed to 4 significant digits.
    path : str or os.PathLike, optional
        Where to write the figure (PNG unless the suffix names another format).
    ax : matplotlib Axes, optional
    title : str, optional
        Replaces the default title, which says what the picture shows.

    Returns
    -------
    matplotlib.figure.Figure
        Every value printed is a Text artist whose gid names it: ``"x:j"``,
        ``"z:l:i"``, ``"a:l:i"`` (f(z)), ``"psi:l:i"``, ``"w:l:i:j"``, ``"grad:l:i:j"``.
    """
    _require_matplotlib()
    if show not in _SHOWS:
        raise ValueError(f"show must be one of {list(_SHOWS)}, got {show!r}")
    record = _network_trace(net, X, Y, loss, show)
    rows = [_drawn_rows(n) for n in net.sizes]  # per layer: neuron indices, None = ellipsis
    n_edges = sum(
        sum(r is not None for r in rows[l + 1]) * (sum(r is not None for r in rows[l]) + 1)
        for l in range(net.n_layers)
    )
    height = max(len(r) + 1 for r in rows)

    fig, ax = _figure_and_axes(ax, (2.4 * net.n_layers + 3.2, 0.6 * height + 2.6))
    positions = [_layer_positions(k, r, height) for k, r in enumerate(rows)]
    max_w = max(float(np.abs(W).max(initial=0.0)) for W in net.weights) or 1.0
    for l, W in enumerate(net.weights):
        drawn = sum(r is not None for r in rows[l + 1]) * (sum(r is not None for r in rows[l]) + 1)
        label_edges = drawn <= _MAX_LABELLED_LAYER and show != "forward"  # numbers readable
        _draw_layer_edges(ax, l, W, record, positions, show, label_edges, max_w, n_edges)
    for k, layer_rows in enumerate(rows):
        _draw_layer_nodes(ax, net, k, layer_rows, positions[k], record, show, height * _DY)

    # the drawing's extent (labels included); the aspect then widens one side as needed
    ax.update_datalim([(-0.9, _DY - 0.75), (_DX * net.n_layers + 1.5, height * _DY + 1.1)])
    ax.margins(0)
    ax.autoscale_view()
    ax.set_aspect("equal", adjustable="datalim")  # circles stay round, the axes fill the figure
    ax.axis("off")
    _network_legend(ax, show)
    ax.set_title(title if title is not None else _network_title(net, show, record))
    _save(fig, path)
    return fig


def _network_trace(net: Network, X: Any, Y: Any, loss: Any, show: str) -> Any:
    """``psinet.trace`` of the one sample, or None for ``show="weights"`` without data."""
    from .backprop import trace

    net = check_network(net)
    given = [name for name, v in (("X", X), ("Y", Y), ("loss", loss)) if v is not None]
    if show == "weights" and not given:
        return None
    if len(given) != 3:
        missing = [name for name in ("X", "Y", "loss") if name not in given]
        raise ValueError(
            f"show={show!r} needs one sample: X, Y and loss, got no {', '.join(missing)}"
        )
    X_checked, _ = as_batch(X, "X", net.n_inputs, net.dtype)
    if X_checked.shape[0] != 1:
        raise ValueError(
            f"X must be one sample, of shape ({net.n_inputs},) or (1, {net.n_inputs}), "
            f"got shape {np.shape(X)}"
        )
    Y_checked = as_float_array(Y, "Y", np.dtype(np.float64))
    return trace(net, X_checked, np.reshape(Y_checked, (1, -1)), loss)


def _drawn_rows(n: int) -> list[int | None]:
    """The neuron indices drawn for a layer of n; None marks the ellipsis node."""
    if n <= _MAX_DRAWN:
        return list(range(n))
    return [*range(_KEEP_FIRST), None, *range(n - _KEEP_LAST, n)]


def _layer_positions(k: int, rows: list[int | None], height: int) -> dict[Any, tuple[float, ...]]:
    """``{index or None or "bias": (x, y)}``: top to bottom, the bias node last."""
    top = height * _DY - (height - len(rows) - 1) * _DY / 2
    nodes: list[Any] = [*rows, "bias"]
    return {key: (k * _DX, top - r * _DY) for r, key in enumerate(nodes)}


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _draw_layer_edges(
    ax: Axes,
    l: int,
    W: Array,
    record: Any,
    positions: list[dict[Any, tuple[float, ...]]],
    show: str,
    label_edges: bool,
    max_w: float,
    n_edges: int,
) -> None:
    """The edges of ``W_l``, one per drawn (input, neuron) pair, bias edges blue."""
    n_in = W.shape[1] - 1
    sources = [j for j in positions[l] if isinstance(j, int)] + ["bias"]
    targets = [i for i in positions[l + 1] if isinstance(i, int)]
    for t_index, i in enumerate(targets):
        for j in sources:
            col = n_in if j == "bias" else int(j)
            w = float(W[i, col])
            (x0, y0), (x1, y1) = positions[l][j], positions[l + 1][i]
            color = _BIAS if j == "bias" else (_POSITIVE if w >= 0 else _NEGATIVE)
            ax.plot(
                [x0, x1],
                [y0, y1],
                color=color,
                linestyle="-" if w >= 0 else "--",
                linewidth=0.6 + 3.4 * abs(w) / max_w,
                alpha=0.8 if n_edges <= _MAX_EDGE_LABELS else 0.4,  # many edges: see through
                zorder=1,
            )
            if not label_edges:
                continue
            if show == "weights":
                text, gid = _fmt(w), f"w:{l}:{i}:{col}"
            else:
                text, gid = _fmt(float(record.layers[l].grad_W[i, col])), f"grad:{l}:{i}:{col}"
                color = "black"  # a gradient, not the weight the line's colour shows
            t = 0.2 + 0.55 * (t_index + 0.5) / len(targets)  # spread labels along the edges
            ax.text(
                x0 + t * (x1 - x0),
                y0 + t * (y1 - y0),
                text,
                gid=gid,
                fontsize=7,
                color=color,
                ha="center",
                va="center",
                zorder=4,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
            )


def _draw_layer_nodes(
    ax: Axes,
    net: Network,
    k: int,
    rows: list[int | None],
    positions: dict[Any, tuple[float, ...]],
    record: Any,
    show: str,
    net_top: float,
) -> None:
    """Layer k's neurons (with their values), its ellipsis node, its bias node, its label."""
    from matplotlib.patches import Circle

    n = net.sizes[k]
    for i in rows:
        x, y = positions[i]
        if i is None:
            ax.text(x, y, f"… {n - len(rows) + 1} more", ha="center", va="center", fontsize=8)
            continue
        ax.add_patch(Circle((x, y), _RADIUS, facecolor="white", edgecolor="black", zorder=3))
        ax.text(x, y, str(i), ha="center", va="center", fontsize=7, zorder=5)
        for dy, text, gid in _node_values(record, k, i, show):
            ax.text(
                x + _RADIUS + 0.08,
                y + dy,
                text,
                gid=gid,
                fontsize=7.5,
                ha="left",
                va="center",
                zorder=5,
                bbox={"boxstyle": "round,pad=0.15", "fc": "#f2f2f2", "ec": "none", "alpha": 0.9},
            )
    x_top = positions[next(iter(positions))][0]
    if k < net.n_layers:
        x, y = positions["bias"]
        ax.add_patch(
            Circle((x, y), _RADIUS, facecolor=_BIAS, edgecolor="black", zorder=3, gid=f"bias:{k}")
        )
        ax.text(
            x,
            y - _RADIUS - 0.12,
            "1 (bias)",
            color=_BIAS,
            ha="center",
            va="top",
            fontsize=8,
            zorder=5,
        )
    if k == 0:
        label = f"input $X_0$\n$n_0 = {n}$"
    else:
        name = net.activations[k - 1].name
        symbol = r"\hat{y}" if k == net.n_layers else f"X_{{{k}}}"
        label = f"${symbol} = f_{{{k - 1}}}(z_{{{k - 1}}})$\n{name}, $n_{{{k}}} = {n}$"
    ax.text(x_top, net_top + 0.4, label, ha="center", va="bottom", fontsize=8)


def _node_values(record: Any, k: int, i: int, show: str) -> list[tuple[float, str, str]]:
    """``(dy, text, gid)`` of the numbers printed next to neuron i of layer k."""
    if record is None or show == "weights":
        return []
    if k == 0:
        if show == "forward":
            return [(0.0, f"x = {_fmt(float(record.layers[0].X_bar[0, i]))}", f"x:{i}")]
        return []
    t = record.layers[k - 1]
    if show == "forward":
        return [
            (0.12, f"z = {_fmt(float(t.z[0, i]))}", f"z:{k - 1}:{i}"),
            (-0.12, f"f(z) = {_fmt(float(t.a[0, i]))}", f"a:{k - 1}:{i}"),
        ]
    return [(0.0, f"Ψ = {_fmt(float(t.psi[0, i]))}", f"psi:{k - 1}:{i}")]


def _network_legend(ax: Axes, show: str) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Circle

    handles = [
        Line2D([], [], color=_POSITIVE, linestyle="-", linewidth=2),
        Line2D([], [], color=_NEGATIVE, linestyle="--", linewidth=2),
        Line2D([], [], color=_BIAS, linestyle="-", linewidth=2),
        Circle((0, 0), 1, facecolor=_BIAS, edgecolor="black"),
    ]
    labels = [
        "weight > 0 (solid)",
        "weight < 0 (dashed)",
        "bias weight (blue)",
        "bias input, always 1",
    ]
    ax.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),  # below the axes: covers no node
        ncol=2,
        fontsize=8,
        frameon=False,
        title="lines are the weights: width = |weight|"
        + ("; numbers on them: ∂E/∂w" if show == "backward" else ""),
        title_fontsize=8,
    )


def _network_title(net: Network, show: str, record: Any) -> str:
    shape = "-".join(map(str, net.sizes))
    if show == "weights":
        return f"Network {shape}: each line is one weight $W_l[i, j]$"
    if show == "forward":
        return f"Forward pass of one sample ({shape}): $z = \\bar{{x}} W^T$, then $f(z)$"
    return (
        f"Backward pass of one sample ({shape}, {record.loss}, E = {_fmt(record.E)}):\n"
        "Ψ = ∂E/∂z at each neuron, from the output back; ∂E/∂w on the lines"
    )
