"""Draw every picture of docs/derivation.md with psinet itself.

    python docs/make_figures.py            # rewrites docs/figures/*.png and figures.json

Each picture is the worked example's 2-2-1 network (§2, §9 of the derivation) drawn by
:func:`psinet.plot.plot_network`, or a plot of numbers psinet computes. The rendering is
made deterministic: matplotlib's default style and font (DejaVu Sans), the Agg canvas,
a fixed size and resolution, and no metadata (no version, no date) in the PNG.

``figures.json`` records what each picture draws: every text it prints and a digest of
every line's data (and the matplotlib version that rendered the PNGs).
tests/test_docs_figures.py regenerates the pictures into a temporary directory and
fails when the committed ones are stale.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

import psinet
from psinet import plot

HERE = Path(__file__).resolve().parent
OUT = HERE / "figures"
DPI = 100

W_0 = [[0.1, 0.2, 0.0], [-0.3, 0.4, 0.5]]  # hidden neurons 0, 1; bias last
W_1 = [[0.6, -0.7, 0.1]]
X = np.array([[1.0, 2.0]])
Y = np.array([[1.0]])


def worked_network() -> psinet.Network:
    """The 2-2-1 sigmoid network of the worked example."""
    net = psinet.Network([2, 2, 1], "sigmoid")
    net.weights[0] = W_0
    net.weights[1] = W_1
    return net


def network_weights() -> Any:
    return plot.plot_network(
        worked_network(),
        title="The worked example's 2-2-1 network: each line is one weight $W_l[i, j]$,\n"
        "the blue node is the bias input 1, and its lines are the biases",
    )


def worked_forward() -> Any:
    return plot.plot_network(
        worked_network(),
        X,
        Y,
        "mse",
        show="forward",
        title="Forward pass of x = (1, 2): each neuron's weighted sum z and output f(z) = σ(z)",
    )


def worked_backward() -> Any:
    return plot.plot_network(worked_network(), X, Y, "mse", show="backward")


def psi_meaning() -> Any:
    """E as hidden neuron 1's z moves, against the tangent of slope Ψ_0[1].

    z_0[1] is moved by moving that neuron's bias: its input is the constant 1, so a bias
    change of Δ moves z by exactly Δ and nothing else.
    """
    net = worked_network()
    record = psinet.trace(net, X, Y, "mse")
    psi, z = float(record.layers[0].psi[0, 1]), float(record.layers[0].z[0, 1])
    deltas = np.linspace(-3.0, 3.0, 121)
    errors = []
    for delta in deltas:
        nudged = worked_network()
        W = nudged.weights[0].copy()
        W[1, -1] += delta
        nudged.weights[0] = W
        errors.append(psinet.evaluate(nudged, X, Y, "mse")["loss"])
    E = np.array(errors)
    fig = plot.figure((7.0, 4.6))
    ax = fig.add_subplot()
    ax.plot(z + deltas, E, color="C0", label="E, the network run again at each z")
    ax.plot(
        z + deltas,
        record.E + psi * deltas,
        color="C3",
        linestyle="--",
        label=f"E + Ψ·Δz, slope Ψ_0[1] = {psi:.4g} from backprop",
    )
    ax.plot([z], [record.E], "o", color="k", label=f"the sample: z = {z:g}, E = {record.E:.4g}")
    ax.set_xlabel("z of hidden neuron 1, $z_{0}[1]$ (moved through its bias)")
    ax.set_ylabel("loss E (mse)")
    ax.set_title(
        "What Ψ means: near the sample, E changes by Ψ·Δz\n"
        "(the dashed tangent) when the neuron's weighted sum moves by Δz"
    )
    ax.legend(loc="lower right", fontsize="small")  # the curves leave that corner empty
    return fig


FIGURES = {
    "network_weights.png": network_weights,
    "worked_forward.png": worked_forward,
    "worked_backward.png": worked_backward,
    "psi_meaning.png": psi_meaning,
}


def drawn_data(fig: Any) -> dict[str, Any]:
    """What a figure draws: its texts and a digest of its lines' coordinates."""
    from matplotlib.text import Text

    texts = sorted(t.get_text() for t in fig.findobj(Text) if t.get_text())
    digest = hashlib.sha256()
    for ax in fig.axes:
        for line in ax.get_lines():
            digest.update(np.round(np.asarray(line.get_xydata(), dtype=float), 9).tobytes())
    return {"texts": texts, "lines": digest.hexdigest()}


def make(out: Path = OUT) -> dict[str, Any]:
    """Draw every figure into ``out``; returns {file name: drawn data}."""
    import matplotlib

    out.mkdir(parents=True, exist_ok=True)
    manifest = {}
    with matplotlib.rc_context(matplotlib.rcParamsDefault):  # no user style
        for name, draw in FIGURES.items():
            fig = draw()
            fig.savefig(out / name, dpi=DPI, metadata={"Software": None})  # no version stamp
            manifest[name] = drawn_data(fig)
    record = {"matplotlib": matplotlib.__version__, **manifest}  # the renderer, for the pixels
    (out / "figures.json").write_text(
        json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return manifest


if __name__ == "__main__":
    for name in make(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT):
        print(f"wrote {name}")
