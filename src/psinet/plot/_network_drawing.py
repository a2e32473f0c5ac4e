"""The network drawing: :func:`plot_network`, the layers as circles, the weights as lines.

Each weight is an edge whose colour, style and width show its sign and size, the bias
input is its own blue node, and layers wider than 10 neurons are summarised; so are
convolutions: a layer of maps (the image input, a convolution's output) is one box, a
convolution one cone from a kernel to the next box. With one
sample it also prints the values of :func:`psinet.trace`: the forward pass (``x``, ``z``,
``f(z)``) or the backward one (``Ψ = ∂E/∂z`` at the neurons, ``∂E/∂w`` on the edges).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .._checks import as_batch, as_float_array
from ..network import Network, check_network
from ._figure import _figure_and_axes, _require_matplotlib, _save

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

Array = np.ndarray

_POSITIVE = "#d95f02"  # orange, solid: w > 0
_NEGATIVE = "#7570b3"  # purple, dashed: w < 0
_BIAS = "#1f77b4"  # blue: the bias node and its weights (the derivation's convention)
_GRAD_POSITIVE = "#1a9641"  # green, solid: ∂E/∂w > 0 (the backward picture's lines)
_GRAD_NEGATIVE = "#d7191c"  # red, dashed: ∂E/∂w < 0
_GRAD_ZERO = "#969696"  # grey: ∂E/∂w = 0 (a dead relu, say)
_MAX_DRAWN = 10  # wider layers are summarised: first and last few neurons and "… k more"
_KEEP_FIRST, _KEEP_LAST = 4, 3
_MAX_EDGE_LABELS = 40  # more edges than this in the picture: lines drawn see-through
_MAX_LABELLED_LAYER = 16  # a layer with more edges than this: no number on its lines
_SHOWS = ("weights", "forward", "backward")
_DX, _DY, _RADIUS = 2.6, 1.0, 0.22
_BOX_SLOTS = 5  # a layer of maps is a box as tall as this many neurons
_BOX_WIDTH, _BOX_DEPTH = 0.62, 0.09  # its front face's width; each map behind it this offset
_MAPS = "#f4f4f4"  # the boxes' face
_CONV = "#555555"  # grey: a convolution's cone, and a box's values into a neuron
_GAP_PX = 6.0  # at 100 dpi: the least room left between two labels
_NODE_GAP_PX = 1.0  # and between a label and a node (a neuron's own value sits close)


@dataclass
class _Label:
    """A number to print: its Text, the texts it may take (shorter and shorter) and places."""

    artist: Text
    texts: list[str]
    positions: list[tuple[float, float]] = field(default_factory=list)
    at_node: bool = False  # a neuron's value: placed before the edges' numbers


@dataclass
class _Drawing:
    """What the label placement needs: the labels, and what they must not cover."""

    labels: list[_Label] = field(default_factory=list)
    nodes: list[Any] = field(default_factory=list)  # the Circle patches
    node_indices: list[Text] = field(default_factory=list)  # inside their circles


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

    A convolutional network's layers of maps (the image input and each convolution's
    output) are summarised too: one box each, labelled with its shape and its layer
    (``32×20×20``, ``Conv2D(32, 8, stride=4)``); a convolution is a grey cone from a
    kernel in one box to the next, with its weight matrix's shape (``show="backward"``:
    ``‖∂E/∂W_l‖``); a dense layer after a box gets one grey line per neuron for all the
    box's values (its bias weights are drawn one by one, as everywhere).

    ``show="backward"`` draws the gradient instead: each line is ``∂E/∂w`` (green
    solid: positive, red dashed: negative, grey: zero; width ``|∂E/∂w|``) and each
    neuron is tinted by the sign of its ``Ψ`` (deeper for a larger ``|Ψ|``).

    No number covers another or a node: each is placed where there is room (an edge's
    anywhere along its line), shortened to 2 significant digits if it fits no other way,
    and otherwise left out; the legend then says how many numbers were left out.

    Parameters
    ----------
    net : Network
    X : ndarray of shape (1, n_0) or (n_0,), optional
        One sample (images: (1, C, H, W) or (C, H, W)); needed for ``show="forward"``
        and ``"backward"``.
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
        printed to 4 significant digits (2 where room is short; a value that rounds
        to zero prints as ``0``, never ``-0``).
    path : str or os.PathLike, optional
        Where to write the figure (PNG unless the suffix names another format).
    ax : matplotlib Axes, optional
    title : str, optional
        Replaces the default title, which says what the picture shows.

    Returns
    -------
    matplotlib.figure.Figure
        Every value printed is a Text artist whose gid names it: ``"x:j"``,
        ``"z:l:i"``, ``"a:l:i"`` (f(z)), ``"psi:l:i"``, ``"w:l:i:j"``, ``"grad:l:i:j"``,
        and a convolution's ``"grad_norm:l"`` (‖∂E/∂W_l‖); a box is a Rectangle of gid
        ``"maps:k"``, a convolution's cone a Polygon of gid ``"conv:l"``.
    """
    _require_matplotlib()
    if show not in _SHOWS:
        raise ValueError(f"show must be one of {list(_SHOWS)}, got {show!r}")
    record = _network_trace(net, X, Y, loss, show)
    boxes = _maps_shapes(net)  # per layer k: (C, H, W) when drawn as a box, else None
    # per layer: neuron indices, None = ellipsis (a box: none)
    rows = [[] if box else _drawn_rows(n) for n, box in zip(net.sizes, boxes, strict=True)]
    slots = [_BOX_SLOTS if box else len(r) for r, box in zip(rows, boxes, strict=True)]
    n_edges = sum(_lines_drawn(rows, boxes, l) for l in range(net.n_layers))
    height = max(n + 1 for n in slots)

    fig, ax = _figure_and_axes(ax, (2.4 * net.n_layers + 3.2, 0.6 * height + 2.6))
    positions = [_layer_positions(k, r, height, boxes[k]) for k, r in enumerate(rows)]
    drawing = _Drawing()
    if show == "backward":  # the lines are ∂E/∂w
        lines = [np.asarray(t.grad_W, dtype=float) for t in record.layers]
    else:
        lines = [np.asarray(W, dtype=float) for W in net.weights]
    # the widest line: the largest weight drawn one by one (from a box: only its biases)
    one_by_one = [W[:, -1:] if boxes[l] else W for l, W in enumerate(lines) if not boxes[l + 1]]
    max_w = max((float(np.abs(W).max(initial=0.0)) for W in one_by_one), default=0.0) or 1.0
    for l, W in enumerate(lines):
        if boxes[l + 1]:  # a convolution: a cone from box to box
            _draw_convolution(ax, l, W, positions, show, drawing)
            continue
        drawn = _lines_drawn(rows, boxes, l)
        label_edges = drawn <= _MAX_LABELLED_LAYER and show != "forward"  # numbers readable
        _draw_layer_edges(ax, l, W, positions, show, label_edges, max_w, n_edges, drawing)
    psi_max = _psi_max(record, boxes) if show == "backward" else 0.0
    # the columns' labels go above the highest node and the highest stack of maps
    box_tops = [_box_extent(p["box"])[3] for p, b in zip(positions, boxes, strict=True) if b]
    net_top = max([height * _DY] + [top + 3 * _BOX_DEPTH - 0.3 for top in box_tops])
    for k, (layer_rows, maps) in enumerate(zip(rows, boxes, strict=True)):
        if maps:
            _draw_maps(ax, net, k, maps, positions[k], net_top, drawing)
            continue
        _draw_layer_nodes(
            ax, net, k, layer_rows, positions[k], record, show, net_top, psi_max, drawing
        )

    # the drawing's extent (labels included); the aspect then widens one side as needed
    ax.update_datalim([(-0.9, _DY - 0.75), (_DX * net.n_layers + 1.5, net_top + 1.1)])
    ax.margins(0)
    ax.autoscale_view()
    ax.set_aspect("equal", adjustable="datalim")  # circles stay round, the axes fill the figure
    ax.axis("off")
    conv = any(boxes)
    _network_legend(ax, show, 0, conv)
    ax.set_title(title if title is not None else _network_title(net, show, record))
    _place_labels(fig, ax, show, drawing, conv)
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
    X_checked, _ = as_batch(X, "X", net.input_shape, net.dtype)
    if X_checked.shape[0] != 1:
        each = ", ".join(map(str, net.input_shape))
        one = f"({each},)" if len(net.input_shape) == 1 else f"({each})"
        raise ValueError(
            f"X must be one sample, of shape {one} or (1, {each}), got shape {np.shape(X)}"
        )
    Y_checked = as_float_array(Y, "Y", np.dtype(np.float64))
    return trace(net, X_checked, np.reshape(Y_checked, (1, -1)), loss)


def _drawn_rows(n: int) -> list[int | None]:
    """The neuron indices drawn for a layer of n; None marks the ellipsis node."""
    if n <= _MAX_DRAWN:
        return list(range(n))
    return [*range(_KEEP_FIRST), None, *range(n - _KEEP_LAST, n)]


def _layer_positions(
    k: int, rows: list[int | None], height: int, box: Any = None
) -> dict[Any, tuple[float, ...]]:
    """``{index or None or "bias": (x, y)}``: top to bottom, the bias node last. A layer
    of maps (``box`` its shape): ``{"box": (x, y of its centre), "bias": (x, y)}``, the
    box as tall as :data:`_BOX_SLOTS` neurons."""
    n = _BOX_SLOTS if box else len(rows)
    top = height * _DY - (height - n - 1) * _DY / 2
    if box:
        return {"box": (k * _DX, top - (n - 1) * _DY / 2), "bias": (k * _DX, top - n * _DY)}
    nodes: list[Any] = [*rows, "bias"]
    return {key: (k * _DX, top - r * _DY) for r, key in enumerate(nodes)}


def _maps_shapes(net: Network) -> list[tuple[int, ...] | None]:
    """Per layer k = 0 … L: its shape (C, H, W) when its values are maps (the image input,
    a convolution's output), drawn as a box; None for a layer of neurons."""
    shapes = [net.input_shape, *(q.out_shape for q in net.layers)]
    return [shape if len(shape) == 3 else None for shape in shapes]


def _lines_drawn(rows: list[list[int | None]], boxes: list[Any], l: int) -> int:
    """How many lines layer l draws: one per drawn (input, neuron) pair, bias included;
    from a box, one line and a bias line per neuron; a convolution, its cone's two."""
    if boxes[l + 1]:
        return 2
    targets = sum(r is not None for r in rows[l + 1])
    if boxes[l]:
        return 2 * targets
    return targets * (sum(r is not None for r in rows[l]) + 1)


def _box_extent(box: tuple[float, ...]) -> tuple[float, float, float, float]:
    """(left, right, bottom, top) of a box's front face, from its centre."""
    x, y = box
    half = (_BOX_SLOTS - 1) * _DY / 2 + _RADIUS
    return x - _BOX_WIDTH / 2, x + _BOX_WIDTH / 2, y - half, y + half


def _draw_maps(
    ax: Axes,
    net: Network,
    k: int,
    maps: tuple[int, ...],
    positions: dict[Any, tuple[float, ...]],
    net_top: float,
    drawing: _Drawing,
) -> None:
    """Layer k's maps (``maps`` = (C, H, W)) as one box: a stack of faces (a few maps
    behind the front one), its shape and its layer written along it, its bias node and
    the column's label."""
    from matplotlib.patches import Rectangle

    C = maps[0]
    shape = "×".join(map(str, maps))
    left, _, bottom, top = _box_extent(positions["box"])
    behind = min(3, C - 1)  # the maps drawn behind the front one
    for d in reversed(range(behind + 1)):
        face = ax.add_patch(
            Rectangle(
                (left + d * _BOX_DEPTH, bottom + d * _BOX_DEPTH),
                _BOX_WIDTH,
                top - bottom,
                facecolor=_MAPS,
                edgecolor="black",
                linewidth=0.9,
                zorder=2,
                gid=f"maps:{k}" if d == 0 else None,
            )
        )
        drawing.nodes.append(face)  # no label covers a map
    what = "input" if k == 0 else repr(net.layers[k - 1])
    x, y = positions["box"]
    text = f"{shape}\n{what}"
    ax.text(
        x, y, text, rotation=90, ha="center", va="center", fontsize=8, linespacing=1.5, zorder=5
    )
    if k < net.n_layers:
        _draw_bias_node(ax, k, positions["bias"], drawing)
    if k == 0:
        label = f"input $X_0$\n{shape}"
    else:
        name = net.activations[k - 1].name
        label = f"$X_{{{k}}} = f_{{{k - 1}}}(z_{{{k - 1}}})$\n{name}, {shape}"
    ax.text(x, net_top + 0.4, label, ha="center", va="bottom", fontsize=8)


def _draw_bias_node(ax: Axes, k: int, position: tuple[float, ...], drawing: _Drawing) -> None:
    """Layer k's bias node: blue, labelled "1 (bias)" under it."""
    from matplotlib.patches import Circle

    x, y = position
    drawing.nodes.append(
        ax.add_patch(
            Circle((x, y), _RADIUS, facecolor=_BIAS, edgecolor="black", zorder=3, gid=f"bias:{k}")
        )
    )
    ax.text(
        x, y - _RADIUS - 0.12, "1 (bias)", color=_BIAS, ha="center", va="top", fontsize=8, zorder=5
    )


def _draw_convolution(
    ax: Axes,
    l: int,
    W: Array,
    positions: list[dict[Any, tuple[float, ...]]],
    show: str,
    drawing: _Drawing,
) -> None:
    """Convolution l from box l to box l + 1: a kernel (a small square) in the first, a
    grey cone from it to one value of the next, the bias as one blue line, and the
    weight matrix's shape (or, in the backward view, ‖∂E/∂W_l‖) by the cone."""
    from matplotlib.patches import Polygon, Rectangle

    _, right, _, top = _box_extent(positions[l]["box"])
    left1, _, bottom1, top1 = _box_extent(positions[l + 1]["box"])
    size = 0.3
    kx, ky = right - size - 0.08, top - size - 0.12  # the kernel's lower left corner
    ax.add_patch(
        Rectangle((kx, ky), size, size, facecolor="#d9d9d9", edgecolor=_CONV, zorder=3, lw=0.9)
    )
    tip = (left1 + 0.12, top1 - 0.27)
    cone = Polygon(
        [(kx + size, ky + size), tip, (kx + size, ky)],
        closed=True,
        facecolor=_CONV,
        edgecolor=_CONV,
        alpha=0.25,
        zorder=1,
        gid=f"conv:{l}",
    )
    ax.add_patch(cone)
    (bx, by), y1 = positions[l]["bias"], (bottom1 + 0.3)
    ax.plot([bx, left1], [by, y1], color=_BIAS, linewidth=1.2, alpha=0.8, zorder=1)
    if show == "backward":
        norm = float(np.sqrt(np.sum(np.square(W))))
        texts = [f"‖∂E/∂W_{l}‖ = {_fmt(norm)}", f"‖∂E/∂W_{l}‖ = {_fmt(norm, 2)}"]
        gid: str | None = f"grad_norm:{l}"
    else:
        texts, gid = [f"W_{l}: {W.shape}"], None
    # in the middle of the gap between the two boxes: above the cone, else below it
    x0, y0 = kx + size, ky + size / 2
    xm = (right + 3 * _BOX_DEPTH + left1) / 2  # past the (at most 3) maps behind
    ym = y0 + (xm - x0) / (tip[0] - x0) * (tip[1] - y0)
    places = [(xm + dx, ym + dy) for dy in (0.45, -0.45, -0.8, 0.8, -1.2) for dx in (0.0, 0.15)]
    artist = ax.text(
        *places[0],
        texts[0],
        gid=gid,
        fontsize=7.5,
        color="#333333",
        ha="center",
        va="center",
        zorder=4,
        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
    )
    drawing.labels.append(_Label(artist, texts, places, at_node=True))


def _fmt(value: float, digits: int = 4) -> str:
    """``value`` to ``digits`` significant digits: "0" for a rounded zero (never "-0"),
    and a short exponent ("-8.44e-5", not "-8.44e-05")."""
    text = f"{value:.{digits}g}"
    if float(text) == 0:
        return "0"
    mantissa, e, exponent = text.partition("e")
    return f"{mantissa}e{int(exponent)}" if e else text


def _psi_max(record: Any, boxes: list[Any]) -> float:
    """The largest |Ψ| of the layers drawn as neurons (whose circles it tints)."""
    drawn = [t for t in record.layers if not boxes[t.layer + 1]]
    return max((float(np.abs(t.psi).max(initial=0.0)) for t in drawn), default=0.0) or 1.0


def _line_style(value: float, show: str, bias: bool) -> tuple[str, str]:
    """(colour, line style) of an edge: the weight's sign, or in the backward view ∂E/∂w's."""
    if show == "backward":
        if value == 0:
            return _GRAD_ZERO, "-"
        return (_GRAD_POSITIVE, "-") if value > 0 else (_GRAD_NEGATIVE, "--")
    if bias:
        return _BIAS, "-" if value >= 0 else "--"
    return (_POSITIVE, "-") if value >= 0 else (_NEGATIVE, "--")


def _draw_layer_edges(
    ax: Axes,
    l: int,
    W: Array,
    positions: list[dict[Any, tuple[float, ...]]],
    show: str,
    label_edges: bool,
    max_w: float,
    n_edges: int,
    drawing: _Drawing,
) -> None:
    """Layer l's edges, one per drawn (input, neuron) pair: ``W`` is ``W_l`` (bias edges
    blue) or, in the backward view, ``∂E/∂W_l``; the numbers are placed later."""
    n_in = W.shape[1] - 1
    sources = [j for j in positions[l] if isinstance(j, int)] + ["bias"]
    targets = [i for i in positions[l + 1] if isinstance(i, int)]
    if "box" in positions[l]:  # from a box: one grey line per neuron, for all its values
        _draw_box_lines(ax, l, positions, targets)
    for t_index, i in enumerate(targets):
        for j in sources:
            col = n_in if j == "bias" else int(j)
            w = float(W[i, col])
            (x0, y0), (x1, y1) = positions[l][j], positions[l + 1][i]
            color, style = _line_style(w, show, j == "bias")
            ax.plot(
                [x0, x1],
                [y0, y1],
                color=color,
                linestyle=style,
                linewidth=0.6 + 3.4 * abs(w) / max_w,
                alpha=0.8 if n_edges <= _MAX_EDGE_LABELS else 0.4,  # many edges: see through
                zorder=1,
                gid=f"edge:{l}:{i}:{col}",
            )
            if not label_edges:
                continue
            gid = f"{'w' if show == 'weights' else 'grad'}:{l}:{i}:{col}"
            t0 = 0.2 + 0.55 * (t_index + 0.5) / len(targets)  # spread labels along the edges
            ts = [t0, *sorted(np.arange(0.15, 0.86, 0.05), key=lambda t: abs(t - t0))]
            places = [(x0 + t * (x1 - x0), y0 + t * (y1 - y0)) for t in ts]
            artist = ax.text(
                *places[0],
                _fmt(w),
                gid=gid,
                fontsize=7,
                color=color,
                ha="center",
                va="center",
                zorder=4,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
            )
            drawing.labels.append(_Label(artist, [_fmt(w), _fmt(w, 2)], places))


def _draw_box_lines(
    ax: Axes, l: int, positions: list[dict[Any, tuple[float, ...]]], targets: list[int]
) -> None:
    """A grey line from box l to each drawn neuron of layer l + 1: all of the box's values
    (C·H·W weights) into that neuron. They leave the box's right side spread out as the
    neurons are, so no two cross."""
    _, right, bottom, top = _box_extent(positions[l]["box"])
    ys = [positions[l + 1][i][1] for i in targets]
    middle, spread = (max(ys) + min(ys)) / 2, (max(ys) - min(ys)) / 2 or 1.0
    room = (top - bottom) / 2 - 0.3
    for i, y in zip(targets, ys, strict=True):
        y0 = positions[l]["box"][1] + (y - middle) / spread * min(room, spread)
        (x1, y1) = positions[l + 1][i]
        gid = f"box_edge:{l}:{i}"
        ax.plot([right, x1], [y0, y1], color=_CONV, linewidth=1.0, alpha=0.6, zorder=1, gid=gid)


def _draw_layer_nodes(
    ax: Axes,
    net: Network,
    k: int,
    rows: list[int | None],
    positions: dict[Any, tuple[float, ...]],
    record: Any,
    show: str,
    net_top: float,
    psi_max: float,
    drawing: _Drawing,
) -> None:
    """Layer k's neurons (with their values), its ellipsis node, its bias node, its label.

    In the backward view a neuron is tinted by its Ψ: green > 0, red < 0, deeper for a
    larger ``|Ψ|`` (of the largest in the network).
    """
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Circle

    n = net.sizes[k]
    for i in rows:
        x, y = positions[i]
        if i is None:
            ax.text(x, y, f"… {n - len(rows) + 1} more", ha="center", va="center", fontsize=8)
            continue
        face: Any = "white"
        if show == "backward" and k > 0:
            psi = float(record.layers[k - 1].psi[0, i])
            if psi != 0:
                depth = 0.15 + 0.5 * min(abs(psi) / psi_max, 1.0)
                tint = np.array(to_rgb(_GRAD_POSITIVE if psi > 0 else _GRAD_NEGATIVE))
                face = tuple((1 - depth) + depth * tint)
        drawing.nodes.append(
            ax.add_patch(Circle((x, y), _RADIUS, facecolor=face, edgecolor="black", zorder=3))
        )
        drawing.node_indices.append(
            ax.text(x, y, str(i), ha="center", va="center", fontsize=7, zorder=5)
        )
        for dy, texts, gid in _node_values(record, k, i, show):
            places = [(x + _RADIUS + dx, y + dy) for dx in (0.08, 0.14, 0.22)]
            artist = ax.text(
                *places[0],
                texts[0],
                gid=gid,
                fontsize=7.5,
                ha="left",
                va="center",
                zorder=5,
                bbox={"boxstyle": "round,pad=0.15", "fc": "#f2f2f2", "ec": "none", "alpha": 0.9},
            )
            drawing.labels.append(_Label(artist, texts, places, at_node=True))
    x_top = positions[next(iter(positions))][0]
    if k < net.n_layers:
        _draw_bias_node(ax, k, positions["bias"], drawing)
    if k == 0:
        label = f"input $X_0$\n$n_0 = {n}$"
    else:
        name = net.activations[k - 1].name
        symbol = r"\hat{y}" if k == net.n_layers else f"X_{{{k}}}"
        label = f"${symbol} = f_{{{k - 1}}}(z_{{{k - 1}}})$\n{name}, $n_{{{k}}} = {n}$"
    ax.text(x_top, net_top + 0.4, label, ha="center", va="bottom", fontsize=8)


def _node_values(record: Any, k: int, i: int, show: str) -> list[tuple[float, list[str], str]]:
    """``(dy, texts, gid)`` of the numbers printed next to neuron i of layer k; ``texts``
    is the number to 4 significant digits, then to 2 (if room is short)."""

    def named(name: str, value: Any) -> list[str]:
        return [f"{name} = {_fmt(float(value), digits)}" for digits in (4, 2)]

    if record is None or show == "weights":
        return []
    if k == 0:
        if show == "forward":
            return [(0.0, named("x", record.layers[0].X_bar[0, i]), f"x:{i}")]
        return []
    t = record.layers[k - 1]
    if show == "forward":
        return [
            (0.12, named("z", t.z[0, i]), f"z:{k - 1}:{i}"),
            (-0.12, named("f(z)", t.a[0, i]), f"a:{k - 1}:{i}"),
        ]
    return [(0.0, named("Ψ", t.psi[0, i]), f"psi:{k - 1}:{i}")]


def _place_labels(fig: Figure, ax: Axes, show: str, drawing: _Drawing, conv: bool = False) -> None:
    """Give every number a place where it covers no other label and no node, or leave it out.

    The figure is laid out first (constrained layout settles the axes, so the text boxes
    are measured in their final pixels); the numbers are then placed greedily, the
    neurons' first, each at its first free place and text. A number left out is counted
    in the legend, which may change the layout: so placed again until nothing moves.
    """
    left_out = -1
    for _ in range(4):
        fig.draw_without_rendering()
        count = _fit_labels(fig, ax, drawing)
        if count == left_out:
            break
        left_out = count
        _network_legend(ax, show, left_out, conv)
    for label in drawing.labels:
        if not label.artist.get_visible():
            label.artist.remove()  # gone, not hidden: the figure holds only what it prints


def _fit_labels(fig: Figure, ax: Axes, drawing: _Drawing) -> int:
    """Place the labels greedily on the current layout; returns how many were left out."""
    own = {id(label.artist) for label in drawing.labels}
    own.update(id(t) for t in drawing.node_indices)  # inside its node's box
    nodes: list[Bbox] = [node.get_window_extent() for node in drawing.nodes]
    taken: list[Bbox] = [
        t.get_window_extent()
        for t in [*ax.texts, ax.title]
        if id(t) not in own and t.get_text() and t.get_visible()
    ]
    gaps = (_GAP_PX * fig.dpi / 100, _NODE_GAP_PX * fig.dpi / 100)
    left_out = 0
    for label in sorted(drawing.labels, key=lambda label: not label.at_node):
        label.artist.set_visible(True)
        box = _first_free_place(label, taken, nodes, gaps)
        if box is None:
            label.artist.set_visible(False)
            left_out += 1
        else:
            taken.append(box)
    return left_out


def _first_free_place(
    label: _Label, taken: list[Bbox], nodes: list[Bbox], gaps: tuple[float, float]
) -> Bbox | None:
    """Put ``label`` at its first (text, place) whose box, grown by the gaps, touches
    no label in ``taken`` and no node."""
    for text in label.texts:
        label.artist.set_text(text)
        for place in label.positions:
            label.artist.set_position(place)
            box = label.artist.get_window_extent()
            to_labels, to_nodes = box.padded(gaps[0]), box.padded(gaps[1])
            if not any(to_labels.overlaps(other) for other in taken) and not any(
                to_nodes.overlaps(node) for node in nodes
            ):
                return box
    return None


def _network_legend(ax: Axes, show: str, left_out: int, conv: bool = False) -> None:
    """The legend under the drawing; it also says how many numbers found no room, and
    (``conv``) what a box and a grey line are."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Circle, Rectangle

    if show == "backward":
        handles = [
            Line2D([], [], color=_GRAD_POSITIVE, linestyle="-", linewidth=2),
            Line2D([], [], color=_GRAD_NEGATIVE, linestyle="--", linewidth=2),
            Circle((0, 0), 1, facecolor=_BIAS, edgecolor="black"),
            Circle((0, 0), 1, facecolor="#b0d8bd", edgecolor="black"),
            Circle((0, 0), 1, facecolor="#f2b0b1", edgecolor="black"),
        ]
        labels = [
            "∂E/∂w > 0 (solid)",
            "∂E/∂w < 0 (dashed)",
            "bias input, always 1",
            "neuron with Ψ > 0",
            "neuron with Ψ < 0",
        ]
        title = "lines are ∂E/∂w: width = |∂E/∂w|; numbers: ∂E/∂w on lines, Ψ at neurons"
    else:
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
        title = "lines are the weights: width = |weight|"
    if conv:
        handles += [
            Rectangle((0, 0), 1, 1, facecolor=_MAPS, edgecolor="black"),
            Line2D([], [], color=_CONV, linestyle="-", linewidth=2, alpha=0.6),
        ]
        labels += [
            "a layer of maps, C×H×W (one box)",
            "a convolution (cone), or all of a box's\nvalues into a neuron: many weights",
        ]
    if left_out > 0:
        title += (
            f"\n{left_out} number{'s' if left_out > 1 else ''} left out "
            "(no room without covering another)"
        )
    ax.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),  # below the axes: covers no node
        ncol=2,
        fontsize=8,
        frameon=False,
        title=title,
        title_fontsize=8,
    )


def _network_title(net: Network, show: str, record: Any) -> str:
    shapes = [net.input_shape, *(q.out_shape for q in net.layers)]
    shape = "-".join("×".join(map(str, s)) for s in shapes)  # 2-3-1, or 1×8×8-4×6×6-3
    if show == "weights":
        if net.convolutional:
            return f"Network {shape}: each line is one weight $W_l[i, j]$, a cone a convolution"
        return f"Network {shape}: each line is one weight $W_l[i, j]$"
    if show == "forward":
        return f"Forward pass of one sample ({shape}): $z = \\bar{{x}} W^T$, then $f(z)$"
    return (
        f"Backward pass of one sample ({shape}, {record.loss}, E = {_fmt(record.E)}):\n"
        "Ψ = ∂E/∂z at each neuron, from the output back; ∂E/∂w on the lines"
    )
