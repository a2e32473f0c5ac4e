"""Gradient norms per layer: :func:`layer_gradient_norms` and :func:`plot_gradient_norms`.

:func:`layer_gradient_norms` needs NumPy only: the Frobenius norm ``‖∂E/∂W_l‖_F`` of each
layer's gradient at one step, without overflow. :func:`plot_gradient_norms` draws such
rows over training, one line per layer (a History's recorded ``"grad_norms"``, a (T, L)
array, or a dict of either to compare networks side by side): vanishing gradients show
as the early layers' lines lying far below the last one's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._checks import objects_as_floats, refuse_masked
from ._figure import (
    _check_axes,
    _float64_array,
    _for_plot,
    _log_if_positive,
    _new_figure,
    _require_matplotlib,
    _root_figure,
    _save,
    _whole_ticks_if_whole,
)
from ._history import _as_series

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Array = np.ndarray


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
    array = _float64_array(
        values,
        name,
        lambda: (
            f"{name} must be a History or a numeric array of shape (T, L), "
            f"got {type(values).__name__}"
        ),
    )
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
