"""The network drawing: :func:`plot_network`, the layers as circles, the weights as lines.

Each weight is an edge whose colour, style and width show its sign and size, the bias
input is its own blue node, and layers wider than 10 neurons are summarised. With one
sample it also prints the values of :func:`psinet.trace`: the forward pass (``x``, ``z``,
``f(z)``) or the backward one (``Ψ = ∂E/∂z`` at the neurons, ``∂E/∂w`` on the edges).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from .._checks import as_batch, as_float_array
from ..network import Network, check_network
from ._figure import _figure_and_axes, _require_matplotlib, _save

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Array = np.ndarray

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
    from ..backprop import trace

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
