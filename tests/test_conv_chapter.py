"""docs/derivation.md §15, "Convolution is the same recursion", cannot drift from psinet.

Checked here:

* **Its quotes.** Every quote of the chapter holds (the checker of
  ``tests/test_derivation_doc.py``), it quotes the conv lines of ``layers.py`` it explains
  and the textbook lines it reuses, and nothing of the engine.
* **Its worked example.** The fenced ``text`` block after ``<!-- conv-example -->`` holds
  entries ``name = value``, a value possibly continued on indented lines; every value is
  recomputed with psinet (the network of the ``<!-- conv-network -->`` block), by plain
  NumPy loops, and against finite differences.
* **Its arithmetic by hand.** Each sum written out in the prose is rebuilt from psinet's
  arrays and must be in the text, term by term.
* **Exercises 8–11.** Each answer sits between ``<!-- answer-k -->`` and ``</details>``,
  as in §13 (``tests/test_exercises.py``); its numbers are recomputed with psinet.

The checkers return lists of problems, so the last tests can feed them a mutated copy of
the document and show that they do fail.
"""

import ast
import contextlib
import io
import re
from functools import cache
from pathlib import Path

import numpy as np
import pytest

import psinet
from psinet.layers import Conv2D, Dense
from test_derivation_doc import QUOTE, _agrees, quote_problems

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "derivation.md"
START, END = "\n## 15. Convolution is the same recursion\n", "\n## 16. "

NETWORK_MARKER = "<!-- conv-network -->"
MARKER = "<!-- conv-example -->"
INPUTS = {
    "x": [[1, 2, 0, 1], [0, 1, 3, 1], [2, 0, 1, 0], [1, 1, 0, 2]],
    "W_0": [[1, 2, -1, 1, 1]],
    "W_1": [[1, -1, 1, 2, 1, -1, 1, 1, 2, -2]],
    "y": [17],
}
OUTPUTS = (
    "X̄_0",
    "maps(z_0)",
    "X̄_1",
    "ŷ",
    "E",
    "Ψ_1",
    "∂E/∂W_1",
    "maps(Ψ_0)",
    "∂E/∂W_0",
    "G",
    "patches",
    "∂E/∂X_0",
)
TEXTBOOK_AND_LAYERS = {
    "src/psinet/network.py",
    "src/psinet/backprop.py",
    "src/psinet/layers.py",
    "src/psinet/activations.py",
    "src/psinet/losses.py",
}


@cache
def _doc():
    return DOC.read_text(encoding="utf-8")


def chapter(doc):
    """The text of §15, from its heading up to §16's."""
    assert START in doc and END in doc, "§15 and §16 must both be there"
    start = doc.index(START)
    return doc[start : doc.index(END, start)]


def _python_block(doc, marker):
    start = doc.index(marker)
    return re.search(r"```python\n(.*?)\n```", doc[start:], re.DOTALL).group(1)


def answer(doc, k):
    start = doc.index(f"<!-- answer-{k} -->")
    return doc[start : doc.index("</details>", start)]


def _g(v):
    """A number as the chapter prints it: 7, -3, 4.5."""
    return f"{float(v):g}"


def _factor(v):
    """A factor of a product in the chapter's LaTeX: negatives in parentheses."""
    return f"({_g(v)})" if v < 0 else _g(v)


def products(a, b):
    """``a_0 \\cdot b_0 + a_1 \\cdot b_1 + …``, as the chapter writes a sum by hand."""
    return " + ".join(f"{_factor(u)} \\cdot {_factor(v)}" for u, v in zip(a, b, strict=True))


# ---------------------------------------------------------------------- the example
def example_block(doc):
    """The entries of the block after the marker, as {name: ndarray}."""
    start = doc.index(MARKER)
    block = re.search(r"```text\n(.*?)\n```", doc[start:], re.DOTALL)
    assert block, f"no ```text block after {MARKER}"
    texts = {}
    name = None
    for line in block.group(1).splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace():  # the value of the entry above goes on
            assert name is not None, f"conv example: a continued line first: {line!r}"
            texts[name] += " " + line.strip()
            continue
        name, sep, value = line.partition("=")
        assert sep, f"conv example: line without '=': {line!r}"
        name = name.strip()
        assert name not in texts, f"conv example: {name} given twice"
        texts[name] = value.strip()
    return {k: np.array(ast.literal_eval(v), dtype=float) for k, v in texts.items()}


def example_network(doc=None):
    """The network of the chapter's first block, built by running that block."""
    namespace = {}
    exec(compile(_python_block(doc or _doc(), NETWORK_MARKER), "§15", "exec"), namespace)
    return namespace["net"]


def recompute(inputs, doc=None):
    """Every quantity of the example, computed by psinet, shaped as printed."""
    net = example_network(doc)
    net.weights[0] = inputs["W_0"]
    net.weights[1] = inputs["W_1"]
    X = np.asarray(inputs["x"], dtype=float)[None, None]
    Y = np.asarray(inputs["y"], dtype=float)[None, :]
    grads, E, psi = psinet.gradients(net, X, Y, "mse", return_psi=True)
    c, conv = net.cache, net.layers[0]
    G = psi[0] @ net.weights[0][:, :-1]
    return {
        "X̄_0": c.X_bar[0],
        "maps(z_0)": conv.maps(c.z[0])[0, 0],
        "X̄_1": c.X_bar[1],
        "ŷ": c.y_hat[0],
        "E": np.array(E),
        "Ψ_1": psi[1][0],
        "∂E/∂W_1": grads[1],
        "maps(Ψ_0)": conv.maps(psi[0])[0, 0],
        "∂E/∂W_0": grads[0],
        "G": G,
        "patches": conv.fold(np.ones_like(G))[0, 0],
        "∂E/∂X_0": conv.fold(G)[0, 0],
    }


def example_problems(doc):
    """(name, problem) for each printed number of the example that is wrong."""
    printed = example_block(doc)
    problems = []
    missing = [k for k in (*INPUTS, *OUTPUTS) if k not in printed]
    extra = [k for k in printed if k not in INPUTS and k not in OUTPUTS]
    if missing or extra:
        problems.append(("(block)", f"missing {missing}, unknown {extra}"))
    for name, value in INPUTS.items():
        if name in printed and not np.array_equal(printed[name], value):
            problems.append((name, f"is {printed[name].tolist()}, the example uses {value}"))
    if any(k not in printed for k in INPUTS):
        return problems
    exact = recompute({k: printed[k] for k in INPUTS}, doc)
    for name in OUTPUTS:
        if name not in printed:
            continue
        p, e = printed[name], exact[name]
        if p.shape != e.shape:
            problems.append((name, f"printed with shape {p.shape}, psinet's is {e.shape}"))
            continue
        for i in np.ndindex(*e.shape):
            if not _agrees(float(p[i]), float(e[i])):
                problems.append(
                    (name, f"entry {i}: printed {float(p[i])!r}, psinet gives {e[i]:.6g}")
                )
    return problems


def _report(problems):
    return "\n".join(f"{where}: {what}" for where, what in problems)


def _inputs():
    return {k: np.array(v, dtype=float) for k, v in INPUTS.items()}


def test_the_chapter_sits_between_the_engine_and_where_to_go_next():
    doc = _doc()
    assert doc.index("\n## 14. ") < doc.index(START) < doc.index(END)
    assert "15. [Convolution is the same recursion](#15-convolution-is-the-same-recursion)" in doc
    assert "16. [Where to go next](#16-where-to-go-next)" in doc


def test_conv_example_numbers_are_what_psinet_computes():
    problems = example_problems(_doc())
    assert not problems, "§15's worked example in docs/derivation.md:\n" + _report(problems)


def test_the_example_network_is_the_one_the_chapter_describes():
    net = example_network()
    conv, dense = net.layers
    assert isinstance(conv, Conv2D) and isinstance(dense, Dense)
    assert net.input_shape == (1, 4, 4) and conv.kernel_size == (2, 2)
    assert conv.stride == (1, 1) and conv.padding == (0, 0) and conv.out_shape == (1, 3, 3)
    assert [f.name for f in net.activations] == ["relu", "identity"]
    assert [W.shape for W in net.weights] == [(1, 5), (1, 10)]
    text = chapter(_doc())
    _, Ho, Wo = conv.out_shape
    for phrase in [
        "a 4×4 image with one\nchannel, one 2×2 filter (stride 1, no padding) and relu, "
        "which makes a 3×3 map",
        f"$P = {Ho} \\times {Wo} = {conv.positions}$ positions",
        "on the 16 pixels",
    ]:
        assert phrase in text, phrase
    # the maps are (9, 1) columns, shown as 3×3 maps
    net.forward(np.zeros((1, 1, 4, 4)))
    assert net.cache.z[0].shape == (conv.positions, 1) and "$(9, 1)$ column" in text
    # W_0 is the kernel read row by row, then the bias; W_1 ends in its bias
    W_0, W_1 = _inputs()["W_0"], _inputs()["W_1"]
    kernel = W_0[0, :-1].reshape(2, 2)
    rows = " \\\\ ".join(" & ".join(_g(v) for v in row) for row in kernel)
    assert f"\\begin{{bmatrix}} {rows} \\end{{bmatrix}}" in text
    assert f"then the bias {_g(W_0[0, -1])}" in text and f"its bias ${_g(W_1[0, -1])}$" in text


def test_conv_example_agrees_with_loops_over_positions():
    """The recomputation itself, against the convolution written as loops in plain NumPy."""
    inputs = _inputs()
    x, W0, W1, y = inputs["x"], inputs["W_0"][0], inputs["W_1"][0], inputs["y"]
    k, b = W0[:4].reshape(2, 2), W0[4]
    z = np.array([[np.sum(x[i : i + 2, j : j + 2] * k) + b for j in range(3)] for i in range(3)])
    a = np.maximum(z, 0)
    y_hat = W1[:9] @ a.ravel() + W1[9]
    psi1 = y_hat - y[0]
    psi0 = psi1 * W1[:9].reshape(3, 3) * (z > 0)
    grad_k = sum(psi0[i, j] * x[i : i + 2, j : j + 2] for i in range(3) for j in range(3))
    dX, counts = np.zeros((4, 4)), np.zeros((4, 4))
    for i in range(3):
        for j in range(3):
            dX[i : i + 2, j : j + 2] += psi0[i, j] * k
            counts[i : i + 2, j : j + 2] += 1
    hand = {
        "maps(z_0)": z,
        "X̄_1": np.append(a.ravel(), 1.0)[None, :],
        "ŷ": np.array([y_hat]),
        "E": np.array(0.5 * psi1**2),
        "Ψ_1": np.array([psi1]),
        "∂E/∂W_1": psi1 * np.append(a.ravel(), 1.0)[None, :],
        "maps(Ψ_0)": psi0,
        "∂E/∂W_0": np.append(grad_k.ravel(), psi0.sum())[None, :],
        "patches": counts,
        "∂E/∂X_0": dX,
    }
    got = recompute(inputs)
    for name, value in hand.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-12, atol=1e-12, err_msg=name)
    patch_rows = [np.append(x[i : i + 2, j : j + 2].ravel(), 1) for i in range(3) for j in range(3)]
    np.testing.assert_array_equal(got["X̄_0"], patch_rows)


def test_conv_example_gradients_agree_with_finite_differences():
    inputs = _inputs()
    net = example_network()
    net.weights[0], net.weights[1] = inputs["W_0"], inputs["W_1"]
    X, Y = inputs["x"][None, None], inputs["y"][None, :]
    grads, _ = psinet.gradients(net, X, Y, "mse")
    assert psinet.check_gradients(net, X, Y, "mse").passed
    for g, n in zip(grads, psinet.numerical_gradients(net, X, Y, "mse"), strict=True):
        np.testing.assert_allclose(g, n, rtol=1e-9, atol=1e-9)
    # ∂E/∂X_0 = fold(Ψ_0 W_0[:, :-1]) against central differences on each of the 16 pixels
    dX, eps = recompute(inputs)["∂E/∂X_0"], 1e-4
    for u, v in np.ndindex(4, 4):
        up, down = X.copy(), X.copy()
        up[0, 0, u, v] += eps
        down[0, 0, u, v] -= eps
        E_up = psinet.evaluate(net, up, Y, "mse")["loss"]
        E_down = psinet.evaluate(net, down, Y, "mse")["loss"]
        assert abs((E_up - E_down) / (2 * eps) - dX[u, v]) < 1e-6, (u, v)


def test_the_sums_written_out_by_hand_are_psinets():
    """Each sum of the chapter's "step by step" is rebuilt, term by term, from psinet."""
    inputs = _inputs()
    got = recompute(inputs)
    W0, W1 = inputs["W_0"][0], inputs["W_1"][0]
    X_bar0, psi0 = got["X̄_0"], got["maps(Ψ_0)"].ravel()
    text = " ".join(chapter(_doc()).split())  # line breaks as spaces
    z00 = got["maps(z_0)"][0, 0]
    assert f"$z_0[0] = {products(W0, X_bar0[0])} = {_g(z00)}$" in text
    assert (got["maps(z_0)"] > 0).all() and "Every $z_0$ is positive" in text
    assert f"$\\hat{{y}} = {products(W1, got['X̄_1'][0])} = {_g(got['ŷ'][0])}$" in text
    psi1, E = got["Ψ_1"][0], got["E"]
    assert f"\\tfrac12 \\cdot {_g(psi1)}^2 = {_g(E)}$" in text
    assert f"$\\Psi_1 = \\hat{{y}} - y = {_g(psi1)}$" in text
    assert f"is {_g(psi1)} times $\\bar{{X}}_1$" in text
    assert f"is {_g(psi1)} times $W_1$'s nine" in text and W1[:-1].size == 9
    gw = got["∂E/∂W_0"][0, 0]
    assert f"{products(psi0, X_bar0[:, 0])} = {_g(gw)}$" in text
    # the pixels: (0, 0) in one patch, (1, 1) in four; slot j of patch p
    conv = example_network().layers[0]
    G, dX = got["G"], got["∂E/∂X_0"]
    unfolded = conv.unfold(np.arange(16.0).reshape(1, 1, 4, 4))  # each entry: its pixel's index
    for (u, v), where in [((0, 0), "only: "), ((1, 1), ": ")]:
        slots = [(p, j) for p in range(9) for j in range(4) if unfolded[p, j] == 4 * u + v]
        assert len(slots) == got["patches"][u, v]
        terms = products([psi0[p] for p, _ in slots], [W0[j] for _, j in slots])
        assert np.isclose(sum(G[p, j] for p, j in slots), dX[u, v])
        assert f"{where}${terms} = {_g(dX[u, v])}$" in text, (u, v)
        if len(slots) == 4:
            named = ", ".join(f"slot {j} of patch {p}" for p, j in slots[:-1])
            assert f"{named} and slot {slots[-1][1]} of patch {slots[-1][0]}" in text
    assert "a corner pixel is in one patch, an edge pixel in two, an inner pixel in four" in text
    assert sorted(set(got["patches"].ravel())) == [1, 2, 4]


def test_the_reproduce_block_runs_and_shows_the_printed_numbers():
    text = chapter(_doc())
    code = re.search(r"To reproduce it:\n\n```python\n(.*?)\n```", text, re.DOTALL).group(1)
    namespace = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code, "§15 reproduce", "exec"), namespace)
    got = recompute(_inputs())
    net, grads = namespace["net"], namespace["grads"]
    np.testing.assert_array_equal(net.cache.X_bar[0], got["X̄_0"])
    np.testing.assert_array_equal(grads[0], got["∂E/∂W_0"])
    folded = namespace["conv"].fold(namespace["psi"][0] @ net.weights[0][:, :-1])
    np.testing.assert_array_equal(folded[0, 0], got["∂E/∂X_0"])


# ---------------------------------------------------------------------- quotes
def test_the_chapter_quotes_hold_and_come_from_the_textbook_and_the_layers():
    text = chapter(_doc())
    problems = quote_problems(text)
    assert not problems, "quotes in §15 that drifted:\n" + _report(problems)
    quotes = QUOTE.findall(text)
    outside = [q for q in quotes if q[0] not in TEXTBOOK_AND_LAYERS]
    assert not outside, f"§15 quotes beyond the textbook and layers.py: {outside}"
    quoted = {(path, name) for path, name, _ in quotes}
    for must in [
        ("src/psinet/layers.py", "Conv2D.build"),
        ("src/psinet/layers.py", "Conv2D.unfold"),
        ("src/psinet/layers.py", "Conv2D.fold"),
        ("src/psinet/layers.py", "Conv2D.maps"),
        ("src/psinet/layers.py", "Conv2D._padded_maps"),
        ("src/psinet/layers.py", "Dense.unfold"),
        ("src/psinet/layers.py", "Dense.fold"),
        ("src/psinet/network.py", "Network._forward"),
        ("src/psinet/backprop.py", "backward"),
    ]:
        assert must in quoted, f"§15 quotes nothing from {must[0]}, {must[1]}"
    codes = {code for _, _, code in quotes}
    for line in [
        "X_l = layers[l].unfold(X_l)",
        "ones = np.ones((len(X_l), 1), dtype=self.dtype)",
        "grad_W[l] = psi[l].T @ X_bar[l]",
        "dE_dX = layers[l].fold(psi[l] @ W[l][:, :-1])",
        "psi[l - 1] = f[l - 1].chain(dE_dX, z[l - 1], a[l - 1])",
    ]:
        assert line in codes, f"§15 does not quote the textbook's {line}"


def test_a_changed_conv_quote_fails():
    doc = _doc()
    good = "`grad = grad[:, ph : ph + H, pw : pw + W]`"
    assert good in chapter(doc)
    bad = doc.replace(good, "`grad = grad[:, ph : ph + H, pw : pw + H]`", 1)
    assert quote_problems(chapter(bad))
    moved = doc.replace("`Conv2D.fold`: " + good, "`Conv2D.unfold`: " + good, 1)
    assert any("not in Conv2D.unfold" in p for _, p in quote_problems(chapter(moved)))


def test_for_a_dense_layer_unfold_and_fold_change_nothing():
    """What §3 and §7 say where they quote the two new lines of the textbook."""
    dense = Dense(3).build((4,), first=False)
    X = np.arange(8.0).reshape(2, 4)
    assert dense.unfold(X) is X and dense.fold(X) is X
    doc = _doc()
    assert "For a dense\nlayer this changes nothing" in doc
    assert "for a dense layer it changes\nnothing" in doc


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("maps(z_0) = [[7, 5, 1],", "maps(z_0) = [[7, 5, 2],"),
        ("             [3, 21, -3, -3],", "             [3, 12, -3, -3],"),
        ("W_0       = [[1, 2, -1, 1, 1]]", "W_0       = [[1, 2, 1, 1, 1]]"),
        ("E         = 4.5", "E         = 9"),
    ],
)
def test_a_changed_number_fails(old, new):
    doc = _doc()
    assert old in doc, f"mutation target {old!r} not in the document"
    assert example_problems(doc.replace(old, new, 1)), f"{new!r} went unnoticed"


# ---------------------------------------------------------------------- exercises 8–11
def _atari():
    """Nature DQN with 3 actions, as §1 and §12 describe it."""
    return psinet.Network(
        [(4, 84, 84), Conv2D(32, 8, stride=4), Conv2D(64, 4, stride=2), Conv2D(64, 3), 512, 3],
        ["relu", "relu", "relu", "relu", "identity"],
    )


def _n(value):
    """An integer as the LaTeX of the answers writes it: 8{,}224."""
    return f"{value:,}".replace(",", "{,}")


def test_exercises_8_to_11_are_in_the_chapter_each_with_an_answer():
    text = chapter(_doc())
    titles = re.findall(r"^\*\*(\d+)\. ", text, re.MULTILINE)
    answers = re.findall(r"<!-- answer-(\d+) -->", text)
    assert titles == answers == ["8", "9", "10", "11"]


def test_answer_8_the_first_layer_of_the_atari_network():
    net = _atari()
    conv = net.layers[0]
    W_0 = net.weights[0]
    C, kh, kw = conv.in_shape[0], *conv.kernel_size
    assert W_0.shape == (32, C * kh * kw + 1) == (32, 257)
    dense = psinet.Network([(4, 84, 84), 32], "relu")
    text = answer(_doc(), 8)
    assert f"$C k_h k_w = {C} \\cdot {kh} \\cdot {kw} = {C * kh * kw}$" in text
    assert f"${W_0.shape[0]} \\times {W_0.shape[1]}$" in text
    assert f"${W_0.shape[0]} \\cdot {W_0.shape[1]} = {_n(W_0.size)}$" in text
    n_in = dense.layers[0].n_in
    assert f"$4 \\cdot 84 \\cdot 84 = {_n(n_in)}$" in text
    assert f"$32 \\cdot {_n(n_in + 1)} = {_n(dense.n_params)}$" in text


def test_answer_9_the_sizes_through_the_atari_network():
    net = _atari()
    sides = [q.out_shape[1] for q in net.layers[:3]]
    assert sides == [q.out_shape[2] for q in net.layers[:3]]
    text = answer(_doc(), 9)
    assert f"\\lfloor (84 - 8)/4 \\rfloor + 1 = {sides[0]}$" in text
    assert f"\\lfloor ({sides[0]} - 4)/2 \\rfloor + 1 = {sides[1]}$" in text
    assert f"$({sides[1]} - 3) + 1 = {sides[2]}$" in text
    assert "maps of {0}×{0}, {1}×{1} and {2}×{2}".format(*sides) in text
    P = net.layers[0].positions
    assert f"${sides[0]} \\cdot {sides[0]} = {P}$ positions" in text
    net.forward(np.zeros((2, 4, 84, 84)))
    assert net.cache.X_bar[0].shape == (2 * P, 257)
    assert f"$\\bar{{X}}_0$ has ${P}N$ rows of 257" in text
    dense = net.layers[3]
    assert f"$64 \\cdot 7 \\cdot 7 = {_n(dense.n_in)}$ inputs" in text
    W_3 = net.weights[3]
    assert f"$512 \\cdot {_n(W_3.shape[1])} = {_n(W_3.size)}$ weights" in text
    assert f"network's {net.n_params:,}" in text


def test_answer_10_stride_equal_to_the_kernel_and_larger():
    tiles = Conv2D(1, 2, stride=2).build((1, 4, 4), first=True)
    assert tiles.out_shape == (1, 2, 2) and tiles.positions == 4
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    rows = tiles.unfold(x)
    np.testing.assert_array_equal(tiles.fold(np.ones_like(rows)), np.ones((1, 1, 4, 4)))
    np.testing.assert_array_equal(tiles.fold(rows), x)  # fold(unfold(x)) is x
    np.testing.assert_array_equal(np.sort(rows.ravel()), x.ravel())  # each pixel once
    gaps = Conv2D(1, 2, stride=3).build((1, 5, 5), first=True)
    assert gaps.out_shape == (1, 2, 2)
    counts = gaps.fold(np.ones((4, 4)))[0, 0].astype(int).tolist()
    text = answer(_doc(), 10)
    assert "$\\lfloor (4 - 2)/2 \\rfloor + 1 = 2$ positions each way, 4 in all" in text
    assert "$\\lfloor (5 - 2)/3 \\rfloor + 1 = 2$ positions each way" in text
    assert f"`{counts}`" in text
    assert "row 2 and column 2 are in no patch" in text
    # and E does not depend on those pixels: their gradient is 0
    net = psinet.Network([(1, 5, 5), Conv2D(1, 2, stride=3), 1], ["tanh", "identity"], seed=0)
    X = np.random.default_rng(0).normal(size=(1, 1, 5, 5))
    moved = X.copy()
    moved[0, 0, 2, :] += 1.0
    moved[0, 0, :, 2] -= 1.0
    np.testing.assert_array_equal(net.predict(moved), net.predict(X))


def test_answer_11_the_bias_of_a_filter_sums_over_samples_and_positions():
    got = recompute(_inputs())
    psi0 = got["maps(Ψ_0)"].ravel()
    assert got["∂E/∂W_0"][0, -1] == psi0.sum()
    terms = " + ".join(_factor(v) for v in psi0)
    assert f"${terms} = {_g(psi0.sum())}$" in answer(_doc(), 11)
    # and for several filters, channels, samples, with stride and padding
    net = psinet.Network([(2, 5, 5), Conv2D(3, 2, stride=2, padding=1), 2], "tanh", seed=1)
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(3, 2, 5, 5)), rng.normal(size=(3, 2))
    grads, _, psi = psinet.gradients(net, X, Y, "mse", return_psi=True)
    assert psi[0].shape == (3 * net.layers[0].positions, 3)
    np.testing.assert_allclose(grads[0][:, -1], psi[0].sum(axis=0), rtol=1e-12)


# ---------------------------------------------------------------------- what the prose claims
@pytest.mark.parametrize(
    ("in_shape", "kernel", "stride", "padding"),
    [((1, 4, 4), 2, 1, 0), ((2, 5, 6), 3, 2, 1), ((3, 7, 7), (2, 3), (3, 1), (0, 2))],
)
def test_fold_is_the_transpose_of_unfold(in_shape, kernel, stride, padding):
    """⟨unfold(x), G⟩ = ⟨x, fold(G)⟩: fold adds every slot back onto its pixel, and the
    padding's derivatives are dropped (fold gives the input's shape)."""
    conv = Conv2D(2, kernel, stride=stride, padding=padding).build(in_shape, first=True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, *in_shape))
    G = rng.normal(size=(2 * conv.positions, conv.n_in))
    folded = conv.fold(G)
    assert folded.shape == x.shape
    assert np.isclose(np.vdot(conv.unfold(x), G), np.vdot(x, folded), rtol=1e-12)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_padding_half_the_kernel_keeps_the_size(k):
    """§15: with stride 1 and p = (k - 1)/2 for an odd k, the maps keep their size."""
    conv = Conv2D(1, k, padding=(k - 1) // 2).build((1, 9, 7), first=True)
    assert conv.out_shape == (1, 9, 7)
    assert "$p = (k - 1)/2$ for an odd kernel size $k$, the maps keep their size" in " ".join(
        chapter(_doc()).split()
    )


def test_a_dense_layer_after_a_convolution_reads_the_maps_in_channel_row_column_order():
    """Column f·Ho·Wo + r·Wo + c of W_{l+1} is filter f's output at (r, c), as torch's Flatten."""
    net = psinet.Network([(2, 5, 5), Conv2D(3, 2), 4], ["identity", "identity"], seed=0)
    X = np.random.default_rng(0).normal(size=(2, 2, 5, 5))
    net.forward(X)
    maps = net.layers[0].maps(net.cache.a[0])  # (N, F, Ho, Wo)
    np.testing.assert_array_equal(net.cache.X_bar[1][:, :-1], maps.reshape(2, -1))
    dense = net.layers[1]
    G = np.random.default_rng(1).normal(size=(2, dense.n_in))
    np.testing.assert_array_equal(dense.unfold(dense.fold(G)), G)  # a permutation: nothing added
    assert "column $f H_o W_o + r W_o + c$ of $W_{l+1}$" in chapter(_doc())
