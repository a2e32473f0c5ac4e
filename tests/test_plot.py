"""Plots: each writes a real PNG, draws the data it was given, and saves atomically."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from psinet import Network
from psinet import plot as psiplot

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SRC = str(Path(psiplot.__file__).resolve().parents[2])  # src/psinet/plot/__init__.py -> src


def assert_png(path):
    data = Path(path).read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 1000  # more than a header: an image was drawn


class FakeHistory:
    """Duck-types psinet.training.History: a dict of lists and the epochs, counted from 1."""

    def __init__(self, history, epoch=None):
        self.history = history
        self.epoch = list(range(1, len(history["loss"]) + 1)) if epoch is None else epoch


def xor_net():
    """2-2-1 sigmoid net whose weights compute XOR by hand: h0 = OR, h1 = AND, ŷ = h0 ∧ ¬h1."""
    net = Network([2, 2, 1], "sigmoid", seed=0)
    net.weights[0] = [[20.0, 20.0, -10.0], [20.0, 20.0, -30.0]]  # OR, AND (bias last)
    net.weights[1] = [[20.0, -20.0, -10.0]]  # OR and not AND
    return net


# ---------------------------------------------------------------------- without matplotlib
def test_import_does_not_import_matplotlib_and_plots_never_touch_pyplot(tmp_path):
    pytest.importorskip("matplotlib")
    code = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        import psinet
        assert callable(psinet.plot.plot_network)  # as the README writes it, no import psinet.plot
        from psinet import plot
        assert "matplotlib" not in sys.modules, "imported eagerly"
        plot.plot_history({{"loss": [1.0, 0.5]}}, {str(tmp_path / "h.png")!r})
        plot.plot_gradient_norms(np.ones((3, 2)))
        net = psinet.Network([2, 2, 1], "sigmoid")
        plot.plot_network(net, [1.0, 2.0], [1.0], "mse", show="backward")
        assert "matplotlib.pyplot" not in sys.modules, "pyplot imported"
        print("ok")
        """
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


@pytest.mark.parametrize(
    "call",
    [
        lambda: psiplot.plot_history({"loss": [1.0]}),
        lambda: psiplot.plot_decision_boundary(xor_net(), np.zeros((3, 2)), [0, 1, 0]),
        lambda: psiplot.plot_gradient_norms(np.ones((3, 2))),
    ],
    ids=["history", "decision_boundary", "gradient_norms"],
)
def test_without_matplotlib_a_clear_import_error(monkeypatch, call):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert psiplot.has_matplotlib() is False
    with pytest.raises(ImportError, match=r'needs matplotlib: pip install "psinet\[plot\]"'):
        call()


def test_has_matplotlib_when_installed():
    pytest.importorskip("matplotlib")
    assert psiplot.has_matplotlib() is True


def test_layer_gradient_norms_is_the_frobenius_norm_per_layer():
    # ‖[[1, 2], [2, 4]]‖_F = √(1 + 4 + 4 + 16) = 5;  ‖[[0, 0, 0]]‖ = 0;  ‖[3, 4]‖ = 5
    grads = [np.array([[1.0, 2.0], [2.0, 4.0]]), np.zeros((1, 3)), np.array([[3.0], [4.0]])]
    np.testing.assert_array_equal(psiplot.layer_gradient_norms(grads), [5.0, 0.0, 5.0])
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=(4, 3)), rng.normal(size=(2, 5)).astype(np.float32)]
    expected = [np.sqrt((g.astype(np.float64) ** 2).sum()) for g in grads]
    np.testing.assert_allclose(psiplot.layer_gradient_norms(grads), expected, rtol=1e-14)


def test_layer_gradient_norms_neither_overflows_nor_hides_nan():
    big = np.full((2, 2), 1e200)  # Σ g² overflows, the norm 2e200 does not
    norms = psiplot.layer_gradient_norms([big, np.array([[np.nan, 1.0]])])
    assert norms[0] == pytest.approx(2e200, rel=1e-14)
    assert np.isnan(norms[1])


def test_layer_gradient_norms_of_a_real_backward_pass():
    from psinet import gradients

    net = Network([3, 4, 2], "tanh", seed=0)
    X = np.random.default_rng(1).normal(size=(5, 3))
    grads, _ = gradients(net, X, np.zeros((5, 2)), "mse")
    norms = psiplot.layer_gradient_norms(grads)
    assert norms.shape == (2,)
    np.testing.assert_allclose(norms, [np.linalg.norm(g) for g in grads], rtol=1e-14)


@pytest.mark.parametrize(
    ("grads", "error", "match"),
    [
        ([], ValueError, "must hold at least one"),
        (np.ones((2, 2)), TypeError, "grads must be a list"),
        ([np.array(["a"])], TypeError, r"grads\[0\] must be a numeric array"),
    ],
)
def test_layer_gradient_norms_rejects_bad_input(grads, error, match):
    with pytest.raises(error, match=match):
        psiplot.layer_gradient_norms(grads)


# ---------------------------------------------------------------------- history
def test_plot_history_draws_the_loss_values_and_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    loss, val_loss = [1.0, 0.5, 0.25, 0.2], [1.1, 0.7, 0.4, 0.45]
    path = tmp_path / "new" / "dir" / "history.png"  # parents are created
    fig = psiplot.plot_history(FakeHistory({"loss": loss, "val_loss": val_loss}), path)
    assert isinstance(fig, Figure)
    assert_png(path)
    [ax] = fig.axes
    assert [line.get_label() for line in ax.lines] == ["training", "validation"]
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), loss)
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), val_loss)
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1, 2, 3, 4])
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel().startswith("loss")
    assert ax.get_title()  # every picture says what it shows
    assert ax.get_yscale() == "log"
    assert os.listdir(path.parent) == ["history.png"]  # no temporary file left


def test_plot_history_accuracy_gets_its_own_panel_and_epochs_come_from_history(tmp_path):
    pytest.importorskip("matplotlib")
    h = {
        "loss": [0.9, 0.6, 0.3],
        "val_loss": [1.0, 0.7, 0.5],
        "accuracy": [0.5, 0.7, 0.9],
        "val_accuracy": [0.4, 0.6, 0.8],
        "lr": [0.1, 0.1, 0.1],  # other keys are ignored
    }
    fig = psiplot.plot_history(FakeHistory(h, epoch=[5, 6, 7]), tmp_path / "h.png", title="run")
    assert_png(tmp_path / "h.png")
    loss_ax, acc_ax = fig.axes
    np.testing.assert_array_equal(loss_ax.lines[0].get_ydata(), h["loss"])
    np.testing.assert_array_equal(loss_ax.lines[0].get_xdata(), [5, 6, 7])
    np.testing.assert_array_equal(acc_ax.lines[0].get_ydata(), h["accuracy"])
    np.testing.assert_array_equal(acc_ax.lines[1].get_ydata(), h["val_accuracy"])
    if hasattr(fig, "get_suptitle"):  # matplotlib >= 3.8
        assert fig.get_suptitle() == "run"


def test_plot_history_into_a_given_ax_uses_a_twin_axis_and_a_plain_dict():
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    h = {"loss": [2.0, 0.0, -1.0], "accuracy": [0.1, 0.2, 0.3]}  # not all positive: linear
    assert psiplot.plot_history(h, ax=ax, title="t") is fig
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), h["loss"])
    assert ax.get_yscale() == "linear"
    assert ax.get_title() == "t"
    twin = [a for a in fig.axes if a is not ax]
    assert len(twin) == 1
    np.testing.assert_array_equal(twin[0].lines[0].get_ydata(), h["accuracy"])


def test_plot_history_draws_a_diverged_run_with_gaps():
    pytest.importorskip("matplotlib")
    fig = psiplot.plot_history({"loss": [1.0, np.inf, np.nan, 0.5]})
    y = fig.axes[0].lines[0].get_ydata()
    assert y[0] == 1.0 and y[3] == 0.5 and np.isnan(y[1:3]).all()


@pytest.mark.parametrize(
    ("history", "error", "match"),
    [
        ([1.0, 0.5], TypeError, "history must be a History"),
        ({"val_loss": [1.0]}, ValueError, "must have a 'loss' key"),
        ({"loss": []}, ValueError, "at least one epoch"),
        ({"loss": [1.0, 0.5], "val_loss": [1.0]}, ValueError, r"one value per epoch \(2"),
        ({"loss": ["a", "b"]}, TypeError, r"history\['loss'\] must be a list of numbers"),
        ({"loss": [[1.0], [2.0]]}, ValueError, "must be a flat list"),
    ],
)
def test_plot_history_rejects_bad_input(history, error, match):
    pytest.importorskip("matplotlib")
    with pytest.raises(error, match=match):
        psiplot.plot_history(history)


# ---------------------------------------------------------------------- decision boundary
def xor_data():
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    return X, np.array([0, 1, 1, 0])


def test_predicted_classes_follow_the_network():
    net = xor_net()
    X, y = xor_data()
    np.testing.assert_array_equal(psiplot._predict_class(net, X), y)
    softmax = Network([2, 3], "softmax", seed=0)
    softmax.weights[0] = [[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]  # argmax
    X3 = np.array([[5.0, 0.0], [-5.0, 0.0], [0.0, 5.0]])
    np.testing.assert_array_equal(psiplot._predict_class(softmax, X3), [0, 1, 2])


def test_class_grid_covers_x_plus_padding_and_holds_the_predictions():
    net = xor_net()
    X, _ = xor_data()
    xx, yy, classes = psiplot._class_grid(net, X, resolution=11, padding=0.5)
    assert xx.shape == yy.shape == classes.shape == (11, 11)
    assert (xx.min(), xx.max(), yy.min(), yy.max()) == (-0.5, 1.5, -0.5, 1.5)
    # grid step 0.2 from -0.5: index 2 is -0.1 and index 7 is 0.9, next to the XOR corners;
    # classes[i, j] is the class at (x0, x1) = (xx[i, j], yy[i, j]) = (grid[j], grid[i])
    assert classes[2, 2] == 0 and classes[2, 7] == 1 and classes[7, 2] == 1 and classes[7, 7] == 0


def test_plot_decision_boundary_image_covers_x_and_points_are_x(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2)) * [3.0, 1.0] + [10.0, -2.0]
    y = (X[:, 0] > 10.0).astype(int)
    net = Network([2, 4, 1], ["tanh", "sigmoid"], seed=1)
    path = tmp_path / "boundary.png"
    fig = psiplot.plot_decision_boundary(net, X, y, path, resolution=50, padding=0.25)
    assert isinstance(fig, Figure)
    assert_png(path)
    [ax] = fig.axes
    *regions, points = ax.collections  # filled contours first, the scatter last
    np.testing.assert_array_equal(points.get_offsets(), X)
    vertices = np.concatenate([p.vertices for r in regions for p in r.get_paths()])
    lo, hi = X.min(axis=0) - 0.25, X.max(axis=0) + 0.25
    np.testing.assert_allclose(vertices.min(axis=0), lo, atol=1e-9)
    np.testing.assert_allclose(vertices.max(axis=0), hi, atol=1e-9)
    np.testing.assert_allclose([*ax.get_xlim(), *ax.get_ylim()], [lo[0], hi[0], lo[1], hi[1]])


def test_plot_decision_boundary_multiclass_one_hot_labels_into_a_given_ax():
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    X = np.random.default_rng(2).normal(size=(12, 2))
    Y = np.eye(3)[np.arange(12) % 3]  # one-hot (12, 3)
    net = Network([2, 5, 3], ["relu", "softmax"], seed=0)
    assert psiplot.plot_decision_boundary(net, X, Y, ax=ax, resolution=20, title="3") is fig
    points = ax.collections[-1]
    np.testing.assert_array_equal(points.get_offsets(), X)
    np.testing.assert_array_equal(points.get_array(), np.arange(12) % 3)  # argmax of one-hot
    colors = points.to_rgba(points.get_array())  # what the draw will paint, (12, 4)
    assert len({tuple(c) for c in colors}) == 3  # one colour per class
    assert ax.get_title() == "3"


@pytest.mark.parametrize(
    ("sizes", "X", "y", "kwargs", "error", "match"),
    [
        ([3, 1], np.zeros((4, 3)), [0, 1, 0, 1], {}, ValueError, "net must have 2 inputs"),
        ([2, 1], np.zeros((4, 3)), [0, 1, 0, 1], {}, ValueError, r"X must have shape \(N, 2\)"),
        ([2, 1], np.zeros(2), [0], {}, ValueError, r"X must have shape \(N, 2\)"),
        ([2, 1], np.zeros((4, 2)), [0, 1, 0], {}, ValueError, r"y must have shape \(4,\)"),
        ([2, 1], np.zeros((4, 2)), [0, 1, 0, 2], {}, ValueError, r"labels 0 … 1"),
        ([2, 1], np.zeros((4, 2)), [0, 0.5, 0, 1], {}, ValueError, "integer class labels"),
        ([2, 1], np.zeros((4, 2)), [0, 1, 0, 1], {"resolution": 1}, ValueError, ">= 2"),
        ([2, 1], np.zeros((4, 2)), [0, 1, 0, 1], {"resolution": 2.5}, TypeError, "an int"),
        ([2, 1], np.zeros((4, 2)), [0, 1, 0, 1], {"padding": -1.0}, ValueError, ">= 0"),
    ],
)
def test_plot_decision_boundary_rejects_bad_input(sizes, X, y, kwargs, error, match):
    pytest.importorskip("matplotlib")
    net = Network(sizes, "sigmoid", seed=0)
    with pytest.raises(error, match=match):
        psiplot.plot_decision_boundary(net, X, y, **kwargs)


def test_plot_decision_boundary_with_constant_data_and_no_padding():
    pytest.importorskip("matplotlib")
    fig = psiplot.plot_decision_boundary(xor_net(), np.ones((3, 2)), [0, 0, 0], padding=0)
    ax = fig.axes[0]
    assert ax.get_xlim() == (0.5, 1.5) and ax.get_ylim() == (0.5, 1.5)


# ---------------------------------------------------------------------- gradient norms
def test_plot_gradient_norms_one_line_per_layer(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    norms = np.array([[1e-4, 1e-2, 1.0], [2e-4, 2e-2, 0.5], [3e-4, 1e-2, 0.2]])  # (T=3, L=3)
    fig = psiplot.plot_gradient_norms(norms, tmp_path / "g.png", x=[10, 20, 30], xlabel="epoch")
    assert isinstance(fig, Figure)
    assert_png(tmp_path / "g.png")
    [ax] = fig.axes
    assert len(ax.lines) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["layer 0", "layer 1", "layer 2"]
    for l, line in enumerate(ax.lines):
        np.testing.assert_array_equal(line.get_ydata(), norms[:, l])
        np.testing.assert_array_equal(line.get_xdata(), [10, 20, 30])
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "epoch"


def test_plot_gradient_norms_accepts_rows_from_layer_gradient_norms():
    pytest.importorskip("matplotlib")
    rows = [psiplot.layer_gradient_norms([np.ones((2, 3)) * s, np.ones((1, 3))]) for s in (1, 2)]
    fig = psiplot.plot_gradient_norms(rows)
    assert len(fig.axes[0].lines) == 2


def test_plot_gradient_norms_dict_one_panel_per_network(tmp_path):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    norms = {"sigmoid": rng.uniform(1e-6, 1, (20, 4)), "relu": rng.uniform(0.1, 1, (20, 4))}
    fig = psiplot.plot_gradient_norms(norms, tmp_path / "cmp.png", title="grad")
    assert_png(tmp_path / "cmp.png")
    assert len(fig.axes) == 2
    assert sum(len(ax.lines) for ax in fig.axes) == 4 * 2
    assert [ax.get_title() for ax in fig.axes] == ["grad — sigmoid", "grad — relu"]
    np.testing.assert_array_equal(fig.axes[1].lines[3].get_ydata(), norms["relu"][:, 3])
    assert fig.axes[0].get_shared_y_axes().joined(fig.axes[0], fig.axes[1])


def test_plot_gradient_norms_dict_into_given_axes():
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    fig = Figure()
    axes = fig.subplots(1, 2)
    norms = {"a": np.ones((5, 3)), "b": np.zeros((7, 3))}  # zeros: linear scale
    assert psiplot.plot_gradient_norms(norms, ax=axes) is fig
    assert [len(ax.lines) for ax in axes] == [3, 3]
    assert axes[1].get_yscale() == "linear"
    with pytest.raises(ValueError, match=r"one Axes per entry of norms \(2\), got 1"):
        psiplot.plot_gradient_norms(norms, ax=axes[0])


@pytest.mark.parametrize(
    ("norms", "kwargs", "error", "match"),
    [
        (np.ones(5), {}, ValueError, r"norms must have shape \(T, L\)"),
        (np.ones((0, 3)), {}, ValueError, r"norms must have shape \(T, L\)"),
        ({}, {}, ValueError, "at least one entry"),
        ({"a": np.ones((2, 2, 2))}, {}, ValueError, r"norms\['a'\] must have shape"),
        (np.ones((4, 2)), {"x": [1, 2]}, ValueError, r"x must have one value per record"),
        ([["a", "b"]], {}, TypeError, "must be a History or a numeric array"),
        (np.ones((4, 2)), {"ax": "axes"}, TypeError, "ax must be a matplotlib Axes"),
    ],
)
def test_plot_gradient_norms_rejects_bad_input(norms, kwargs, error, match):
    pytest.importorskip("matplotlib")
    with pytest.raises(error, match=match):
        psiplot.plot_gradient_norms(norms, **kwargs)


# ---------------------------------------------------------------------- atomic save
def failing_savefig(self, fname, *args, **kwargs):
    Path(fname).write_bytes(b"half a png")  # a partial file, then the failure
    raise OSError("disk full")


@pytest.mark.parametrize(
    "draw",
    [
        lambda path: psiplot.plot_history({"loss": [1.0, 0.5]}, path),
        lambda path: psiplot.plot_decision_boundary(
            xor_net(), xor_data()[0], xor_data()[1], path, resolution=10
        ),
        lambda path: psiplot.plot_gradient_norms(np.ones((3, 2)), path),
    ],
    ids=["history", "decision_boundary", "gradient_norms"],
)
def test_a_failing_save_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch, draw):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    path = tmp_path / "plot.png"
    path.write_bytes(b"the previous plot")
    monkeypatch.setattr(Figure, "savefig", failing_savefig)
    with pytest.raises(OSError, match="disk full"):
        draw(path)
    assert path.read_bytes() == b"the previous plot"
    assert os.listdir(tmp_path) == ["plot.png"]


def test_a_successful_save_replaces_the_old_file(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "plot.png"
    path.write_bytes(b"the previous plot")
    psiplot.plot_history({"loss": [1.0, 0.5]}, str(path))  # a str path works too
    assert_png(path)
    assert os.listdir(tmp_path) == ["plot.png"]


def test_an_unsupported_format_fails_cleanly(tmp_path):
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match=r"(?i)format"):
        psiplot.plot_history({"loss": [1.0]}, tmp_path / "plot.notaformat")
    assert os.listdir(tmp_path) == []


def test_the_suffix_picks_the_format(tmp_path):
    pytest.importorskip("matplotlib")
    psiplot.plot_history({"loss": [1.0, 0.5]}, tmp_path / "plot.svg")
    assert b"<svg" in (tmp_path / "plot.svg").read_bytes()[:1000]


# ---------------------------------------------------------------------- plot_network
def worked_example_net():
    """The 2-2-1 sigmoid network of docs/derivation.md's worked example."""
    net = Network([2, 2, 1], "sigmoid")
    net.weights[0] = [[0.1, 0.2, 0.0], [-0.3, 0.4, 0.5]]
    net.weights[1] = [[0.6, -0.7, 0.1]]
    return net


def _texts_by_gid(fig):
    """{gid: number} for every Text artist of the figure that carries a gid."""
    from matplotlib.text import Text

    found = {}
    for text in fig.findobj(Text):
        gid = text.get_gid()
        if gid:
            found[gid] = float(text.get_text().rpartition("=")[2])
    return found


def _agree_4(printed, exact):
    """``printed`` is ``exact`` rounded to 4 significant digits."""
    return printed == float(f"{exact:.4g}")


def test_plot_network_writes_an_image_with_a_blue_labelled_bias_node_per_layer(tmp_path):
    import matplotlib.colors as mcolors
    from matplotlib.patches import Circle
    from matplotlib.text import Text

    net = worked_example_net()
    fig = psiplot.plot_network(net, path=tmp_path / "net.png")
    assert_png(tmp_path / "net.png")
    bias_nodes = [c for c in fig.findobj(Circle) if (c.get_gid() or "").startswith("bias:")]
    assert sorted(c.get_gid() for c in bias_nodes) == ["bias:0", "bias:1"]  # layers 0, 1
    for node in bias_nodes:
        r, g, b, _ = node.get_facecolor()
        assert b > 0.6 and b > r + 0.3 and b > g + 0.2, f"bias node not blue: {(r, g, b)}"
    labels = [t.get_text() for t in fig.findobj(Text)]
    assert labels.count("1 (bias)") == 2
    # the neurons are white circles, one per neuron: 2 + 2 + 1
    neurons = [c for c in fig.findobj(Circle) if c.get_gid() is None and c.axes is not None]
    assert len(neurons) == 5
    assert all(mcolors.same_color(c.get_facecolor(), "white") for c in neurons)


def test_plot_network_edges_carry_sign_by_colour_and_dash_and_magnitude_by_width():
    import matplotlib.colors as mcolors
    from matplotlib.lines import Line2D

    net = worked_example_net()
    fig = psiplot.plot_network(net)
    ax = fig.axes[0]
    edges = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 2]
    assert len(edges) == 2 * 3 + 1 * 3  # one per weight, bias weights included
    weights = _texts_by_gid(fig)
    assert len([g for g in weights if g.startswith("w:")]) == 9
    by_width = sorted(edges, key=Line2D.get_linewidth)
    assert by_width[-1].get_linestyle() == "--"  # the largest |w| is -0.7
    dashed = [ln for ln in edges if ln.get_linestyle() == "--"]
    assert len(dashed) == 2  # -0.3 and -0.7; the other seven weights are >= 0 (solid)
    assert {mcolors.to_hex(ln.get_color()) for ln in dashed} == {"#7570b3"}
    bias_edges = [ln for ln in edges if mcolors.same_color(ln.get_color(), "#1f77b4")]
    assert len(bias_edges) == 3  # one bias weight per neuron, blue like the bias node
    for gid, value in weights.items():
        _, l, i, j = gid.split(":")
        assert _agree_4(value, net.weights[int(l)][int(i), int(j)]), gid


@pytest.mark.parametrize("show", ["forward", "backward"])
def test_plot_network_prints_the_values_of_psinet_trace(show):
    import psinet

    net = worked_example_net()
    X, Y = np.array([[1.0, 2.0]]), np.array([[1.0]])
    record = psinet.trace(net, X, Y, "mse")
    fig = psiplot.plot_network(net, X, Y, "mse", show=show)
    printed = _texts_by_gid(fig)
    expected = {}
    if show == "forward":
        expected.update({f"x:{j}": X[0, j] for j in range(2)})
        for t in record.layers:
            for i in range(t.z.shape[1]):
                expected[f"z:{t.layer}:{i}"] = t.z[0, i]
                expected[f"a:{t.layer}:{i}"] = t.a[0, i]
    else:
        for t in record.layers:
            for i in range(t.psi.shape[1]):
                expected[f"psi:{t.layer}:{i}"] = t.psi[0, i]
            for i, j in np.ndindex(*t.grad_W.shape):
                expected[f"grad:{t.layer}:{i}:{j}"] = t.grad_W[i, j]
    assert set(printed) == set(expected)
    for gid, value in expected.items():
        assert _agree_4(printed[gid], value), (gid, printed[gid], value)
    if show == "backward":  # the worked example's numbers, as the derivation prints them
        assert printed["psi:1:0"] == -0.1273 and printed["psi:0:0"] == -0.01796


def test_plot_network_summarises_wide_layers():
    from matplotlib.text import Text

    net = Network([64, 16, 3], ["tanh", "softmax"], seed=0)
    fig = psiplot.plot_network(net)
    texts = [t.get_text() for t in fig.findobj(Text)]
    assert "… 57 more" in texts and "… 9 more" in texts  # 64 - 7 drawn, 16 - 7 drawn
    assert "63" in texts and "5" not in texts[: texts.index("… 9 more")]
    edges = [ln for ln in fig.axes[0].get_lines() if len(ln.get_xdata()) == 2]
    assert len(edges) == 7 * 8 + 3 * 8  # drawn neurons (+ bias) only: no hairball
    assert not any((t.get_gid() or "").startswith("w:") for t in fig.findobj(Text))


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((), {"show": "psi"}, ValueError, "show must be one of"),
        ((), {"show": "forward"}, ValueError, "needs one sample: X, Y and loss, got no X, Y, loss"),
        (([1.0, 2.0],), {"show": "backward"}, ValueError, "got no Y, loss"),
        (
            ([[1.0, 2.0], [0.0, 1.0]], [[1.0], [0.0]], "mse"),
            {"show": "forward"},
            ValueError,
            "X must be one sample",
        ),
        (([1.0, 2.0, 3.0], [1.0], "mse"), {"show": "forward"}, ValueError, "X"),
    ],
)
def test_plot_network_rejects_bad_input(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        psiplot.plot_network(worked_example_net(), *args, **kwargs)


def test_plot_network_rejects_a_non_network():
    with pytest.raises(TypeError, match=r"net must be a psinet\.Network, got dict"):
        psiplot.plot_network({"sizes": [2, 1]})


# ---------------------------------------------------------------------- every picture
def _legends(fig):
    return [leg for ax in fig.axes if (leg := ax.get_legend()) is not None] + fig.legends


def _covered_points(fig):
    """Data points (of lines and scatters) that a legend's box covers, in pixels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import PathCollection

    canvas = FigureCanvasAgg(fig)  # lay out and draw as savefig does
    canvas.draw()
    renderer = canvas.get_renderer()
    boxes = [leg.get_window_extent(renderer) for leg in _legends(fig)]
    covered = []
    for ax in fig.axes:
        artists = [(a, a.get_xydata()) for a in ax.get_lines()]
        artists += [(c, c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection)]
        for artist, xy in artists:
            xy = np.asarray(xy, dtype=float)
            xy = xy[np.isfinite(xy).all(axis=1)]
            if not len(xy):
                continue
            pixels = artist.get_transform().transform(xy)
            for box in boxes:
                covered += [p for p in pixels if box.contains(*p)]
    return covered


def _a_history(tmp_path=None):
    import psinet

    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0, 1, 1, 0])
    net = Network([2, 4, 1], ["tanh", "sigmoid"], seed=0)
    history = net.fit(
        X,
        y,
        loss="binary_crossentropy",
        optimizer=psinet.optimizers.SGD(1.0),
        epochs=30,
        batch_size=4,
        seed=0,
        verbose=0,
        validation_data=(X, y),
    )
    return net, X, y, history


def test_every_psinet_figure_has_titles_labelled_axes_and_legends_that_cover_no_data():
    net, X, y, history = _a_history()
    deep = Network([2, *[6] * 5, 1], "sigmoid", seed=0)
    figures = {
        "history": psiplot.plot_history(history),
        "history dict": psiplot.plot_history(
            {"loss": [1.0, 0.6, 0.5], "val_loss": [1.1, 0.9, 1.0]}
        ),
        "boundary": psiplot.plot_decision_boundary(net, X, y, resolution=30),
        "norms": psiplot.plot_gradient_norms(history),
        "norms deep": psiplot.plot_gradient_norms(
            {"a": np.geomspace(1e-6, 1.0, 6)[None, :] * np.ones((20, 1)), "b": np.ones((20, 6))}
        ),
        "network": psiplot.plot_network(deep),
    }
    for name, fig in figures.items():
        axes = [ax for ax in fig.axes if ax.get_visible()]
        assert any(ax.get_title() for ax in axes) or fig._suptitle, f"{name}: no title"
        drawn = [ax for ax in axes if ax.axison]  # plot_network has no axes to label
        for ax in drawn:
            assert ax.get_xlabel(), f"{name}: an x-axis without a label"
        if drawn:  # side-by-side panels share the first one's y label
            assert drawn[0].get_ylabel(), f"{name}: a y-axis without a label"
        assert _legends(fig), f"{name}: no legend"
        assert not _covered_points(fig), f"{name}: a legend covers data"


def test_epoch_axes_count_from_1():
    """CONTRACTS item 3: a plain dict's epochs and a History's epochs start at 1."""
    fig = psiplot.plot_history({"loss": [1.0, 0.5, 0.2]})
    assert list(fig.axes[0].lines[0].get_xdata()) == [1, 2, 3]
    fig = psiplot.plot_gradient_norms(np.ones((3, 2)))
    assert list(fig.axes[0].lines[0].get_xdata()) == [1, 2, 3]
    _, _, _, history = _a_history()
    fig = psiplot.plot_gradient_norms(history)
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_xdata(), history.epoch)


def test_plot_gradient_norms_accepts_a_history():
    """A History's records hold each epoch's grad_norms: one line per layer, x = epochs."""
    _, _, _, history = _a_history()
    fig = psiplot.plot_gradient_norms(history)
    [ax] = fig.axes
    assert ax.get_xlabel() == "epoch"
    rows = np.array([record["grad_norms"] for record in history.records])
    assert len(ax.lines) == rows.shape[1] == 2
    for l, line in enumerate(ax.lines):
        np.testing.assert_array_equal(line.get_ydata(), rows[:, l])
    fig = psiplot.plot_gradient_norms({"run": history, "again": history})
    assert len(fig.axes) == 2


def test_gradient_norm_lines_differ_by_more_than_colour():
    fig = psiplot.plot_gradient_norms(np.ones((12, 9)))
    lines = fig.axes[0].lines
    assert len({(ln.get_linestyle(), ln.get_marker()) for ln in lines}) == 9


def test_figures_display_in_a_notebook_without_matplotlib_inline():
    """IPython's display machinery (what a notebook cell calls) finds a PNG for our figures."""
    IPython = pytest.importorskip("IPython")
    from IPython.core.formatters import DisplayFormatter

    assert IPython  # the display path a Jupyter kernel takes, without any %matplotlib
    formatter = DisplayFormatter()
    for fig in [
        psiplot.plot_history({"loss": [1.0, 0.5]}),
        psiplot.plot_network(worked_example_net()),
        psiplot.figure(),
    ]:
        data, _ = formatter.format(fig)
        assert data["image/png"][:8] == PNG_SIGNATURE


def test_plot_network_numbers_only_the_layers_where_they_stay_readable():
    """2-8-1: the first layer draws 8 × 3 = 24 edges (no numbers), the second 9 (numbered)."""
    net = Network([2, 8, 1], ["tanh", "sigmoid"], seed=0)
    printed = _texts_by_gid(psiplot.plot_network(net, [0.5, -0.5], [1.0], "mse", show="backward"))
    assert not [g for g in printed if g.startswith("grad:0:")]
    assert len([g for g in printed if g.startswith("grad:1:")]) == 9
    assert len([g for g in printed if g.startswith("psi:0:")]) == 8  # every neuron keeps its Ψ


def test_decision_boundary_classes_differ_by_marker_as_well_as_colour():
    X = np.random.default_rng(2).normal(size=(12, 2))
    y = np.arange(12) % 3
    fig = psiplot.plot_decision_boundary(Network([2, 5, 3], ["relu", "softmax"], seed=0), X, y)
    points = fig.axes[0].collections[-1]
    paths = points.get_paths()
    assert len(paths) == 12
    shapes = {k: {len(paths[i].vertices) for i in np.flatnonzero(y == k)} for k in range(3)}
    assert all(len(s) == 1 for s in shapes.values())  # one marker per class ...
    assert len({s.pop() for s in shapes.values()}) == 3  # ... and a different one each
    legend = fig.axes[0].get_legend()
    handles = getattr(legend, "legend_handles", None) or legend.legendHandles  # mpl < 3.7
    assert [h.get_marker() for h in handles] == ["o", "s", "^"]


def _visible_ticks(ax):
    low, high = sorted(ax.get_xlim())
    return [t for t in ax.get_xticks() if low <= t <= high]


def test_a_few_epochs_get_whole_epoch_ticks_only():
    """A 3-epoch run (an example's --quick) must not show "epoch 1.25" on its axes."""
    pytest.importorskip("matplotlib")
    h = {"loss": [0.9, 0.6, 0.3], "accuracy": [0.5, 0.7, 0.9]}
    fig = psiplot.plot_history(FakeHistory(h, epoch=[1, 2, 3]))
    norms = psiplot.plot_gradient_norms(np.array([[1e-3, 1e-1], [2e-3, 2e-1], [3e-3, 3e-1]]))
    for ax in [*fig.axes, norms.axes[0]]:
        ticks = _visible_ticks(ax)
        assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_fractional_steps_keep_fractional_ticks():
    pytest.importorskip("matplotlib")
    x = np.array([0.25, 0.5, 0.75, 1.0])
    fig = psiplot.plot_gradient_norms(np.ones((4, 2)), x=x)
    assert not all(float(t).is_integer() for t in _visible_ticks(fig.axes[0]))


@pytest.mark.parametrize(
    "losses",
    [[1e308, 1e308, 1e308], [1.7e308, 1e-300, 1.0], [1.79e308, 1.5e308], [0.0, 1.79e308]],
)
def test_losses_near_the_float64_limit_plot_without_a_warning(tmp_path, losses):
    """pytest turns warnings into errors: none may come from psinet's plotting, nor from
    drawing the figure it returns."""
    pytest.importorskip("matplotlib")
    fig = psiplot.plot_history({"loss": losses, "val_loss": losses[::-1]}, tmp_path / "h.png")
    assert_png(tmp_path / "h.png")
    low, high = fig.axes[0].get_ylim()
    assert np.isfinite([low, high]).all() and low < min(losses) <= max(losses) <= high
    norms = psiplot.plot_gradient_norms(np.array([losses, losses]).T, tmp_path / "n.png")
    assert_png(tmp_path / "n.png")
    assert np.isfinite(norms.axes[0].get_ylim()).all()


# ------------------------------------------------------- plot_network: readable labels
_SMALL_NETS = {
    "2-2-1": [2, 2, 1],
    "2-3-3-1": [2, 3, 3, 1],
    "3-4-2": [3, 4, 2],
    "4-8-8-3": [4, 8, 8, 3],
}


def _small_net_figure(sizes, show, seed=0):
    """A relu/sigmoid net of ``sizes`` drawn for one sample (matplotlib's Agg canvas)."""
    net = Network(sizes, [*["relu"] * (len(sizes) - 2), "sigmoid"], seed=seed)
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=sizes[0]), rng.uniform(size=sizes[-1])
    return net, X, Y, psiplot.plot_network(net, X, Y, "mse", show=show)


def _boxes(fig):
    """(label boxes, node boxes) in pixels, after a draw; a node's index is part of its node."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.patches import Circle

    FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    nodes = [c.get_window_extent(renderer) for c in ax.patches if isinstance(c, Circle)]
    labels = []
    for text in [*ax.texts, ax.title]:
        if not text.get_text() or not text.get_visible():
            continue
        box = text.get_window_extent(renderer)
        cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
        if any(n.x0 < cx < n.x1 and n.y0 < cy < n.y1 for n in nodes):
            continue  # the neuron's index, centred on its own circle
        labels.append((text.get_text(), box))
    return labels, nodes


@pytest.mark.parametrize("show", ["weights", "forward", "backward"])
@pytest.mark.parametrize("name", list(_SMALL_NETS))
def test_plot_network_labels_overlap_no_other_label_and_no_node(name, show):
    _, _, _, fig = _small_net_figure(_SMALL_NETS[name], show)
    labels, nodes = _boxes(fig)
    for a in range(len(labels)):
        (text_a, box_a) = labels[a]
        for text_b, box_b in labels[a + 1 :]:
            assert not box_a.overlaps(box_b), f"{name} {show}: {text_a!r} overlaps {text_b!r}"
        for node in nodes:
            assert not box_a.overlaps(node), f"{name} {show}: {text_a!r} overlaps a node"


def _left_out_note(fig):
    title = fig.axes[0].get_legend().get_title().get_text()
    return title.partition("\n")[2]


@pytest.mark.parametrize("figsize", [None, (6.0, 4.0)])  # the default size; a cramped one
def test_plot_network_says_how_many_numbers_it_left_out(figsize):
    from matplotlib.text import Text

    net = Network([3, 4, 2], ["relu", "sigmoid"], seed=0)
    ax = None if figsize is None else psiplot.figure(figsize).add_subplot()
    fig = psiplot.plot_network(net, [0.3, -1.2, 0.8], [0.2, 0.9], "mse", show="backward", ax=ax)
    printed = [
        g for g in map(Text.get_gid, fig.findobj(Text)) if g and g.startswith(("grad:", "psi:"))
    ]
    expected = sum(W.size for W in net.weights) + sum(net.sizes[1:])  # ∂E/∂w, Ψ
    missing = expected - len(printed)
    if figsize is None:
        assert missing == 0 and _left_out_note(fig) == ""  # room for every number
    else:
        assert missing > 0
        assert _left_out_note(fig).startswith(f"{missing} numbers left out")
    labels, nodes = _boxes(fig)
    for a, (text_a, box_a) in enumerate(labels):  # and what is printed still never overlaps
        assert not any(box_a.overlaps(b) for _, b in labels[a + 1 :]), text_a
        assert not any(box_a.overlaps(n) for n in nodes), text_a


@pytest.mark.parametrize("name", ["2-2-1", "2-3-3-1", "3-4-2"])
def test_plot_network_backward_lines_show_the_gradient(name):
    """Backward: the lines are ∂E/∂w: green solid where > 0, red dashed where < 0, width |.|."""
    import matplotlib.colors as mcolors

    import psinet

    net, X, Y, fig = _small_net_figure(_SMALL_NETS[name], "backward")
    record = psinet.trace(net, X[None, :], Y[None, :], "mse")
    grads = [g for t in record.layers for g in t.grad_W.ravel()]
    edges = [
        ln for ln in fig.axes[0].get_lines() if ln.get_gid() and ln.get_gid().startswith("edge:")
    ]
    assert len(edges) == len(grads)
    by_gid = {}
    for ln in edges:
        _, l, i, j = ln.get_gid().split(":")
        g = float(record.layers[int(l)].grad_W[int(i), int(j)])
        by_gid[ln.get_gid()] = g
        if g > 0:
            assert mcolors.to_hex(ln.get_color()) == "#1a9641" and ln.get_linestyle() == "-"
        elif g < 0:
            assert mcolors.to_hex(ln.get_color()) == "#d7191c" and ln.get_linestyle() == "--"
    widest = max(edges, key=lambda ln: ln.get_linewidth())
    assert abs(by_gid[widest.get_gid()]) == max(abs(g) for g in grads)  # width: |∂E/∂w|
    weights_view = psiplot.plot_network(net, X, Y, "mse", show="weights")
    for ln in weights_view.axes[0].get_lines():  # the weights view keeps the weights' colours
        assert mcolors.to_hex(ln.get_color()) not in {"#1a9641", "#d7191c"}


@pytest.mark.parametrize("show", ["forward", "backward", "weights"])
@pytest.mark.parametrize("name", list(_SMALL_NETS))
def test_plot_network_prints_no_minus_zero(name, show):
    from matplotlib.text import Text

    _, _, _, fig = _small_net_figure(_SMALL_NETS[name], show)
    for text in fig.findobj(Text):
        if not text.get_gid():
            continue
        number = text.get_text().rpartition("=")[2].strip()
        if float(number) == 0:
            assert number == "0", f"{name} {show}: {text.get_gid()} prints {text.get_text()!r}"


def test_a_relu_neuron_at_zero_prints_psi_0():
    """A relu neuron with z < 0 passes back Ψ = -0.0 exactly; it prints as 0."""
    from matplotlib.text import Text

    net = Network([1, 1, 1], ["relu", "sigmoid"])
    net.weights[0] = [[-1.0, 0.0]]
    net.weights[1] = [[-1.0, 0.0]]
    fig = psiplot.plot_network(net, [1.0], [1.0], "mse", show="backward")
    texts = {t.get_gid(): t.get_text() for t in fig.findobj(Text) if t.get_gid()}
    assert texts["psi:0:0"] == "Ψ = 0"


def test_save_backward_pictures_of_small_networks():
    """The pictures the issue complained about (look at them: /tmp/plot_network_*.png)."""
    for name, path in [
        ("2-3-3-1", "/tmp/plot_network_2331.png"),
        ("3-4-2", "/tmp/plot_network_342.png"),
    ]:
        _, _, _, fig = _small_net_figure(_SMALL_NETS[name], "backward")
        fig.savefig(path)
        assert_png(path)
