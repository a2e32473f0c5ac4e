"""docs/derivation.md: the numbers of §5's Ψ check, §12's cost table and §13's answers.

Each answer sits between ``<!-- answer-k -->`` and ``</details>``; the test recomputes its
numbers with psinet (or plain NumPy for the algebra) and requires each, printed to 6
significant digits, in that answer's text. The corrections of the second edition are
pinned as well, so the old mistakes cannot come back.
"""

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest

import psinet

DOC = (Path(__file__).resolve().parent.parent / "docs" / "derivation.md").read_text("utf-8")


def g6(value):
    return f"{value:.6g}"


def answer(k):
    start = DOC.index(f"<!-- answer-{k} -->")
    return DOC[start : DOC.index("</details>", start)]


def assert_printed(text, values, where):
    flat = np.concatenate([np.ravel(v) for v in values])
    missing = [g6(v) for v in flat if g6(v) not in text]
    assert not missing, f"{where}: {missing} not in the text"


def worked_network():
    net = psinet.Network([2, 2, 1], "sigmoid")
    net.weights[0] = [[0.1, 0.2, 0.0], [-0.3, 0.4, 0.5]]
    net.weights[1] = [[0.6, -0.7, 0.1]]
    return net


# ---------------------------------------------------------------------- §5
def test_psi_check_block_runs_and_prints_what_its_comment_says():
    start = DOC.index("<!-- psi-check -->")
    code = re.search(r"```python\n(.*?)\n```", DOC[start:], re.DOTALL).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "derivation.md §5", "exec"), {})  # its assert runs too
    comment = re.search(r"# (ΔE = .*)", code).group(1)
    assert out.getvalue().strip() == comment.strip()


def test_psi_check_percentages_in_the_text():
    record = psinet.trace(worked_network(), [[1.0, 2.0]], [[1.0]], "mse")
    psi = record.layers[0].psi[0, 1]
    gaps = []
    for delta in (0.01, 0.1, 1.0):
        net = worked_network()
        W = net.weights[0].copy()
        W[1, -1] += delta
        net.weights[0] = W
        change = psinet.evaluate(net, [[1.0, 2.0]], [[1.0]], "mse")["loss"] - record.E
        gaps.append(abs(change - psi * delta) / abs(psi * delta))
    text = f"agree to {gaps[0]:.1%}".replace("%", " %")
    assert text in DOC
    assert f"they differ by {gaps[1]:.0%}".replace("%", " %") in DOC
    assert f"by\n{gaps[2]:.0%}".replace("%", " %") in DOC


# ---------------------------------------------------------------------- §13 answers
def test_answer_1_bias_gradient_is_the_column_sum_of_psi():
    X, Y = np.array([[1.0, 2.0], [0.0, 1.0]]), np.array([[1.0], [0.0]])
    grads, _, psi = psinet.gradients(worked_network(), X, Y, "mse", return_psi=True)
    for l in range(2):
        np.testing.assert_allclose(grads[l][:, -1], psi[l].sum(axis=0), rtol=1e-12)
    assert_printed(answer(1), [psi[1].ravel(), grads[1][0, -1]], "answer 1")


def test_answer_2_tanh_mse():
    net = psinet.Network([1, 1], "tanh")
    net.weights[0] = [[0.5, 0.0]]
    _, _, psi = psinet.gradients(net, [[1.0]], [[1.0]], "mse", return_psi=True)
    y_hat = np.tanh(0.5)
    np.testing.assert_allclose(psi[0][0, 0], (y_hat - 1) * (1 - y_hat**2), rtol=1e-12)
    assert_printed(answer(2), [y_hat, psi[0][0, 0]], "answer 2")


def test_answer_3_softmax_with_mse_exact_and_diagonal():
    z, y = np.array([1.0, 2.0, 0.5]), np.array([0.0, 1.0, 0.0])
    net = psinet.Network([3, 3], "softmax")
    net.weights[0] = np.hstack([np.eye(3), np.zeros((3, 1))])  # z = x
    _, _, psi = psinet.gradients(net, [z], [y], "mse", return_psi=True)
    y_hat = net.predict(z)
    g = y_hat - y
    diagonal = g * y_hat * (1 - y_hat)
    np.testing.assert_allclose(psi[0][0], y_hat * (g - g @ y_hat), rtol=1e-12)
    assert abs(psi[0].sum()) < 1e-15 and abs(diagonal.sum()) > 0.01
    assert_printed(answer(3), [y_hat, psi[0][0], diagonal, diagonal.sum()], "answer 3")
    # psinet's gradient check accepts the exact product, so the diagonal one would fail it
    assert psinet.check_gradients(net, [z], [y], "mse").passed


def test_answer_4_the_bias_column_of_psi_w():
    record = psinet.trace(worked_network(), [[1.0, 2.0]], [[1.0]], "mse")
    full = record.layers[1].psi @ record.layers[1].W  # (1, 3): one column too many
    assert full.shape == (1, 3) and record.layers[0].psi.shape == (1, 2)
    np.testing.assert_allclose(full[0, -1], record.layers[1].psi[0, 0] * 0.1)
    assert_printed(answer(4), full, "answer 4")


def test_answer_5_multiply_adds_of_one_step():
    net = psinet.Network([64, 128, 10], ["relu", "softmax"])
    N = 32
    forward = N * sum(W.size for W in net.weights)
    gradients = forward
    step_back = N * sum(net.sizes[l + 1] * net.sizes[l] for l in range(1, net.n_layers))
    total = forward + gradients + step_back
    text = answer(5)
    for value in (net.n_params, forward, step_back, total):
        assert f"{value:,}".replace(",", "{,}") in text or f"{value:,}" in text, value
    assert f"{total / forward:.2f} forward passes" in text


def test_answer_6_critical_learning_rate_and_training_on_both_sides():
    X, y = psinet.datasets.xor()
    X_bar = np.hstack([X, np.ones((4, 1))])
    H = X_bar.T @ X_bar / len(X)
    eigenvalues = np.linalg.eigvalsh(H)
    eta_star = 2 / eigenvalues.max()
    text = answer(6)
    assert_printed(text, [eigenvalues, eta_star], "answer 6")
    Y = y.reshape(-1, 1).astype(float)

    def final_loss(eta):
        net = psinet.Network([2, 1], "identity", seed=0)
        h = net.fit(
            X,
            Y,
            loss="mse",
            optimizer=psinet.optimizers.SGD(eta),
            epochs=200,
            batch_size=4,
            seed=0,
            verbose=0,
        )
        return h["loss"][0], h["loss"][-1]

    first, below = final_loss(1.25)
    _, above = final_loss(1.26)
    assert 1.25 < eta_star < 1.26
    assert below < first and above > first
    assert_printed(text, [first], "answer 6")
    assert "0.125" in text  # the least-squares optimum of XOR for a linear model
    w, *_ = np.linalg.lstsq(X_bar, Y, rcond=None)
    assert np.isclose(0.5 * np.mean((X_bar @ w - Y) ** 2), 0.125)


def exercise(k):
    section = DOC.split("## 13. Exercises")[1]
    start = section.index(f"**{k}. ")
    return section[start : section.index("<details>", start)]


def test_exercise_6_says_the_seed_its_answer_needs():
    """Answer 6's first loss (0.396391) is that of Network([2, 1], "identity", seed=0)."""
    text = exercise(6)
    assert 'Network([2, 1], "identity", seed=0)' in text and "batch_size=4, seed=0" in text


def test_exercise_7_title_and_question_name_the_same_derivative():
    """It asks for ∂E/∂x, an input's derivative, and its answer gives that: so does its title."""
    text = exercise(7)
    title = re.match(r"\*\*7\. (.+?)\*\*", text).group(1)
    assert "input" in title and "weight" not in title
    assert "$\\partial E/\\partial x$" in text
    assert "$\\partial E/\\partial x = " in answer(7)


def test_at_least_six_exercises_each_with_an_answer():
    exercises = re.findall(r"^\*\*(\d+)\. ", DOC.split("## 13. Exercises")[1], re.MULTILINE)
    answers = re.findall(r"<!-- answer-(\d+) -->", DOC)
    assert len(exercises) >= 6 and exercises == answers


# ---------------------------------------------------------------------- §12 cost table
def _dense_row(sizes):
    net = psinet.Network(sizes, "sigmoid")
    P = net.n_params
    backprop = 2 * P + sum(net.sizes[l + 1] * net.sizes[l] for l in range(1, net.n_layers))
    return P, backprop, 2 * P * P


@pytest.mark.parametrize("sizes", [[2, 2, 1], [64, 128, 10], [784, 128, 10]])
def test_cost_table_dense_rows(sizes):
    P, backprop, fd = _dense_row(sizes)
    name = "-".join(map(str, sizes))
    row = next(line for line in DOC.splitlines() if line.startswith(f"| {name} "))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:4] == [f"{P:,}", f"{backprop:,}", f"{fd:,}"]


def test_cost_of_the_atari_network_is_counted_as_a_convolutional_network():
    """Nature DQN with 3 actions: 1,685,667 weights; its multiply-adds per forward pass."""
    # (in channels, filters, kernel, stride) on 84×84 frames, then dense 3136 -> 512 -> 3
    convs = [(4, 32, 8, 4), (32, 64, 4, 2), (64, 64, 3, 1)]
    side, params, macs, first = 84, 0, 0, None
    for c_in, c_out, k, stride in convs:
        side = (side - k) // stride + 1
        params += c_out * (c_in * k * k + 1)
        layer = side * side * c_out * c_in * k * k
        first = layer if first is None else first
        macs += layer
    for n_in, n_out in [(side * side * 64, 512), (512, 3)]:
        params += n_out * (n_in + 1)
        macs += n_in * n_out
    assert params == 1_685_667
    backprop = 3 * macs - first  # forward, weight gradients, steps back but the first
    fd = 2 * params * macs
    assert f"{macs:,}" in DOC and f"{backprop:,}" in DOC
    assert f"{fd:.3g}".replace("e+13", "") in DOC  # 3.15 × 10^13
    assert f"about\n{fd / backprop / 1e6:.2f} million" in DOC
    row = next(line for line in DOC.splitlines() if "Atari network (convolutional)" in line)
    assert f"{fd / backprop / 1e6:.1f} million" in row and "convolutional" in row


# ---------------------------------------------------------------------- corrections
@pytest.mark.parametrize(
    "gone",
    [
        "the post's picture",  # the reader does not have it
        "its two colours",
        "{\\color{green}",  # colour is never the only carrier
        "runs over $j = 0, \\dots, n_{L-1} - 1$, the\nreal neurons",  # the garbled §4 sentence
        "(four per weight with psinet's default",  # the 2-pass / 4-pass mix
        "because $x_0 = 1$",  # x_l is the layer-l vector
        "This is a Jacobian-vector product.",  # it is gᵀJ
        "so the table gives the bound $3P$",  # the dense bound on a conv net
    ],
)
def test_first_edition_mistakes_stay_out(gone):
    assert gone not in DOC


def test_the_document_names_the_post_and_says_what_it_corrects():
    assert "*Implementing Gradient Descent*" in DOC and "were images" in DOC
    assert "convolutional" in DOC and "vector-Jacobian product" in DOC
    assert "symmetric" in DOC and "never calls `Softmax.backward`" in DOC
