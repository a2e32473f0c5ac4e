"""The decision-boundary plot: :func:`plot_decision_boundary` of a 2-input classifier.

The class the network predicts (``ŷ > 0.5`` for one output, ``argmax ŷ`` for several) is
computed over a grid that covers the data (``_class_grid``, in chunks so that memory
stays bounded), shaded one colour per class, and the samples are drawn on top with the
marker and colour of their true class. The checks of the labels, the grid's resolution
and padding, and the grid's range for the network's dtype live here too.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from .._checks import as_batch, check_float, check_int, refuse_masked
from ..network import Network, check_network
from ._figure import _figure_and_axes, _require_matplotlib, _save

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Array = np.ndarray

_GRID_CHUNK = 1 << 16  # grid points per predict call: bounds memory at high resolution
_MAX_RESOLUTION = 4096  # 16.8 million grid points: more than any screen shows


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
