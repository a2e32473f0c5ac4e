"""check_backprop names a learner's backprop mistake: a gallery of learner-style
implementations (batched and one sample at a time), each mistake planted in the output
layer, in a hidden layer, in one layer only; correct ones are never flagged."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import psinet
from psinet.check_backprop import DIAGNOSES, BackpropCheck

# ---------------------------------------------------------------- a learner's toolbox


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


F = {  # f(z), f'(z) from z
    "sigmoid": (sigmoid, lambda z: sigmoid(z) * (1 - sigmoid(z))),
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(z.dtype)),
    "identity": (lambda z: z, lambda z: np.ones_like(z)),
    "softmax": (softmax, None),
}


def learner(acts, mistake=None, at=None, loss="mse"):
    """A batched backprop as a learner writes it, with ``mistake`` planted at layer ``at``."""

    def backprop(W, X, Y):
        N, L = len(X), len(W)
        X_bar, z = [], []
        a = X
        for l in range(L):  # forward
            X_bar.append(np.hstack([a, np.ones((N, 1), dtype=a.dtype)]))
            z.append(X_bar[l] @ W[l].T)
            a = F[acts[l]][0](z[l])
        y_hat = a
        f_prime = [None if acts[l] == "softmax" else F[acts[l]][1](z[l]) for l in range(L)]
        if mistake == "derivative_at_output":
            f_prime[at] = F[acts[at]][1](F[acts[at]][0](z[at]))
        if mistake == "missing_derivative":
            f_prime[at] = 1.0
        if loss == "categorical_crossentropy":
            psi = (y_hat - Y) / N
        else:
            dE = {
                "scale_N": y_hat - Y,  # the 1/N forgotten
                "sign": (Y - y_hat) / N,
                "half": (y_hat - Y) / N / 2,
                "mean_outputs": (y_hat - Y) / N / Y.shape[1],  # averaged over outputs too
            }.get(mistake, (y_hat - Y) / N)
            psi = dE * f_prime[L - 1]
        grads, psis = [None] * L, [None] * L
        for l in reversed(range(L)):
            psis[l] = psi
            grads[l] = psi.T @ X_bar[l]
            if l == at:
                if mistake == "transposed":
                    grads[l] = X_bar[l].T @ psi
                elif mistake == "no_bias":
                    grads[l] = psi.T @ X_bar[l][:, :-1]
                elif mistake == "bias_one_sample":
                    grads[l][:, -1] = psi[-1]
                elif mistake == "bias_zero":
                    grads[l][:, -1] = 0
                elif mistake == "input_z":
                    grads[l][:, :-1] = psi.T @ z[l - 1]
                elif mistake == "nan":
                    grads[l][0, 0] = np.nan
                elif mistake == "weird":
                    grads[l] = grads[l] + np.arange(grads[l].size).reshape(grads[l].shape)
            if l > 0:
                psi = psi @ W[l][:, :-1] * f_prime[l - 1]  # Ψ_{l-1} = (Ψ_l W_l[:, :-1]) ⊙ f'
        if mistake == "wrong_count":
            return grads[1:]
        if mistake == "raises":
            return grads[1] @ grads[0]
        return (grads, psis) if mistake == "with_psis" else grads

    return backprop


def loop_learner(acts, mistake=None, at=None):
    """One sample at a time, column vectors, as in the derivation (mse)."""

    def backprop(W, X, Y):
        N, L = len(X), len(W)
        grads = [np.zeros_like(W_l) for W_l in W]
        for n in range(N):
            x_bar, z = [], []
            a = X[n][:, None]
            for l in range(L):
                x_bar.append(np.vstack([a, [[1.0]]]))
                z.append(W[l] @ x_bar[l])
                a = F[acts[l]][0](z[l])
            psi = (a - Y[n][:, None]) / N * F[acts[-1]][1](z[-1])
            for l in reversed(range(L)):
                grads[l] += psi @ x_bar[l].T  # ∂E/∂W_l += ψ x̄ᵀ, an outer product
                if mistake == "bias_overwrite" and l == at:
                    grads[l][:, -1] = psi[:, 0]  # the bias of the last sample only
                if l > 0:
                    d = (
                        1.0
                        if mistake == "missing_derivative" and l - 1 == at
                        else F[acts[l - 1]][1](z[l - 1])
                    )
                    psi = (W[l][:, :-1].T @ psi) * d
        return grads

    return backprop


ACTS3 = ["sigmoid", "sigmoid", "sigmoid"]


@pytest.fixture(scope="module")
def net():
    return psinet.Network([3, 5, 4, 2], "sigmoid", seed=0)


# ---------------------------------------------------------------- never flagged when right


@pytest.mark.parametrize(
    "sizes, acts, loss, dtype",
    [
        ([3, 5, 4, 2], ACTS3, "mse", np.float64),
        ([3, 5, 4, 2], ["tanh", "tanh", "identity"], "mse", np.float64),
        ([4, 6, 6, 3], ["relu", "relu", "softmax"], "categorical_crossentropy", np.float64),
        ([3, 5, 4, 2], ACTS3, "mse", np.float32),
        ([2, 3, 3, 1], ["tanh", "sigmoid", "sigmoid"], "mse", np.float32),
    ],
)
def test_a_correct_backprop_is_never_flagged(sizes, acts, loss, dtype):
    net = psinet.Network(sizes, acts, seed=1, dtype=dtype)
    for seed in range(3):
        report = psinet.check_backprop(learner(acts, loss=loss), net, loss=loss, seed=seed)
        assert report.passed and report.diagnosis == "correct", str(report)
        assert report.first_wrong_layer is None


def test_relu_with_dead_units_and_a_one_sample_loop_are_right():
    net = psinet.Network([3, 6, 2], ["relu", "sigmoid"], seed=3)
    net.weights[0][:3, -1] = -50.0  # three units dead for every input: their gradients are 0
    report = psinet.check_backprop(learner(["relu", "sigmoid"]), net)
    assert report.passed, str(report)
    assert psinet.check_backprop(
        loop_learner(ACTS3), psinet.Network([3, 5, 4, 2], "sigmoid")
    ).passed


def test_cancellation_in_a_sum_does_not_flag_a_correct_answer():
    net = psinet.Network([2, 3, 1], "sigmoid", seed=0)
    X = np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]])
    y = net.predict(X)[0, 0]
    Y = np.array([[y + 0.1], [y - 0.1], [y]])  # Ψ sums to ~0 over the batch
    assert psinet.check_backprop(learner(["sigmoid", "sigmoid"]), net, X, Y).passed


# ---------------------------------------------------------------- each mistake, each place


@pytest.mark.parametrize(
    "mistake, at, code, layer, batch_only",
    [
        ("transposed", 2, "transposed", 2, False),
        ("transposed", 0, "transposed", 0, False),
        ("sign", None, "sign", 2, False),
        ("missing_derivative", 2, "missing_derivative", 2, False),
        ("missing_derivative", 1, "missing_derivative", 1, False),
        ("missing_derivative", 0, "missing_derivative", 0, False),
        ("derivative_at_output", 2, "derivative_at_output", 2, False),
        ("derivative_at_output", 1, "derivative_at_output", 1, False),
        ("derivative_at_output", 0, "derivative_at_output", 0, False),
        ("bias_one_sample", 1, "bias_gradient", 1, True),
        ("bias_zero", 2, "bias_gradient", 2, False),
        ("input_z", 2, "wrong_input", 2, False),
        ("input_z", 1, "wrong_input", 1, False),
        ("no_bias", 0, "wrong_shape", 0, False),
        ("nan", 1, "not_finite", 1, False),
        ("weird", 1, "unknown", 1, False),
    ],
)
def test_each_planted_mistake_gets_its_code_and_layer(net, mistake, at, code, layer, batch_only):
    report = psinet.check_backprop(learner(ACTS3, mistake, at), net)
    assert (report.diagnosis, report.first_wrong_layer) == (code, layer), str(report)
    assert report.batch_only == batch_only and not report.passed
    assert f"layer {layer}" in str(report) and "FAILED" in str(report)
    rows = {r.layer: r.verdict for r in report.layers}
    assert rows[layer] == code and all(rows[k] == "ok" for k in rows if k > layer)
    if code in ("missing_derivative", "derivative_at_output"):
        assert f"Ψ_{layer} = " in report.explanation


@pytest.mark.parametrize(
    "mistake, factor, name, batch_only",
    [("scale_N", 5, "N", True), ("half", 0.5, "½", False), ("mean_outputs", 0.5, "n_L", False)],
)
def test_a_constant_factor_is_measured_and_named(net, mistake, factor, name, batch_only):
    report = psinet.check_backprop(learner(ACTS3, mistake), net)
    assert report.diagnosis == "scale" and report.first_wrong_layer == 2
    assert report.factor == pytest.approx(factor) and report.batch_only == batch_only
    assert name in report.explanation


def test_one_sample_at_a_time_loops_are_diagnosed_too():
    net = psinet.Network([3, 5, 4, 2], "sigmoid", seed=0)
    report = psinet.check_backprop(loop_learner(ACTS3, "missing_derivative", 0), net)
    assert (report.diagnosis, report.first_wrong_layer) == ("missing_derivative", 0)
    report = psinet.check_backprop(loop_learner(ACTS3, "bias_overwrite", 2), net)
    assert (report.diagnosis, report.first_wrong_layer, report.batch_only) == (
        "bias_gradient",
        2,
        True,
    )
    assert "right for one sample" in report.explanation


def test_a_square_layer_transposed_is_told_from_a_wrong_one():
    net = psinet.Network([3, 4, 3], "tanh", seed=2)  # W_1 is (3, 5), W_0 (4, 4): square
    report = psinet.check_backprop(learner(["tanh", "tanh"], "transposed", 0), net)
    assert (report.diagnosis, report.first_wrong_layer) == ("transposed", 0)


def test_tanh_at_the_output_and_softmax_networks():
    net = psinet.Network([3, 5, 2], "tanh", seed=0)
    report = psinet.check_backprop(learner(["tanh", "tanh"], "derivative_at_output", 1), net)
    assert (report.diagnosis, report.first_wrong_layer) == ("derivative_at_output", 1)
    net = psinet.Network([4, 6, 3], ["tanh", "softmax"], seed=0)
    fn = learner(["tanh", "softmax"], "missing_derivative", 0, loss="categorical_crossentropy")
    report = psinet.check_backprop(fn, net, loss="categorical_crossentropy")
    assert (report.diagnosis, report.first_wrong_layer) == ("missing_derivative", 0)


def test_count_exception_and_returned_psis(net):
    report = psinet.check_backprop(learner(ACTS3, "wrong_count"), net)
    assert (report.diagnosis, report.first_wrong_layer) == ("wrong_count", None)
    report = psinet.check_backprop(learner(ACTS3, "raises"), net)
    assert report.diagnosis == "exception" and report.first_wrong_layer is None
    assert report.exception.startswith("ValueError: matmul")
    assert __file__ in report.where and "grads[1] @ grads[0]" in report.source_line
    assert "grads[1] @ grads[0]" in str(report)
    report = psinet.check_backprop(learner(ACTS3, "with_psis"), net)
    assert report.passed and all(r.psi_diff is not None for r in report.layers)


def test_every_code_is_reached_by_this_file():
    import inspect

    source = inspect.getsource(sys.modules[__name__])
    assert all(f'"{code}"' in source for code in DIAGNOSES)


# ---------------------------------------------------------------- isolation, arguments, display


def test_nothing_fn_does_reaches_the_network_or_the_callers_arrays(net):
    X, Y = np.ones((4, 3)), np.full((4, 2), 0.5)
    saved = [W.copy() for W in net.weights], X.copy(), Y.copy()
    net.cache = None

    def vandal(W, X_, Y_):
        grads = learner(ACTS3)(W, X_, Y_)
        for W_l in W:
            W_l[...] = 7.0
        X_[...], Y_[...] = 9.0, 9.0
        return grads

    assert psinet.check_backprop(vandal, net, X, Y).passed
    assert all(np.array_equal(a, b) for a, b in zip(net.weights, saved[0]))
    assert np.array_equal(X, saved[1]) and np.array_equal(Y, saved[2]) and net.cache is None


def test_arguments_are_checked_at_the_boundary(net):
    with pytest.raises(TypeError, match="fn must be a function"):
        psinet.check_backprop(3, net)
    with pytest.raises(TypeError, match=r"net must be a psinet\.Network"):
        psinet.check_backprop(learner(ACTS3), "net")
    with pytest.raises(ValueError, match="together"):
        psinet.check_backprop(learner(ACTS3), net, X=np.ones((3, 3)))
    with pytest.raises(ValueError, match="shape"):
        psinet.check_backprop(learner(ACTS3), net, np.ones((3, 4)), np.ones((3, 2)))


def test_the_report_prints_a_table_and_html(net):
    report = psinet.check_backprop(learner(ACTS3, "sign"), net)
    assert (
        isinstance(report, BackpropCheck)
        and psinet.check_backprop.__module__ == "psinet.check_backprop"
    )
    text = str(report)
    assert "max |yours − psinet's|" in text and "diagnosis: sign at layer 2" in text
    html = report._repr_html_()
    assert "<table" in html and "sign" in html and "Ψ" in html
    assert "BackpropCheck(passed=False" in repr(report)


# ---------------------------------------------------------------- the command line


def _cli(tmp_path, body, *args):
    file = tmp_path / "mine.py"
    file.write_text(textwrap.dedent(body))
    cmd = [sys.executable, "-m", "psinet.check_backprop", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)


LEARNER_FILE = """
    import numpy as np

    def backprop(W, X, Y, sign=1):
        N = len(X)
        X_bar, z, a = [], [], X
        for W_l in W:
            X_bar.append(np.hstack([a, np.ones((N, 1))]))
            z.append(X_bar[-1] @ W_l.T)
            a = 1 / (1 + np.exp(-z[-1]))
        psi = sign * (a - Y) / N * a * (1 - a)
        grads = [None] * len(W)
        for l in reversed(range(len(W))):
            grads[l] = psi.T @ X_bar[l]
            if l:
                s = 1 / (1 + np.exp(-z[l - 1]))
                psi = psi @ W[l][:, :-1] * s * (1 - s)
        return grads

    def wrong(W, X, Y):
        return backprop(W, X, Y, sign=-1)
"""


def test_the_command_line_exits_0_1_2(tmp_path):
    ok = _cli(tmp_path, LEARNER_FILE, "mine.py:backprop", "--sizes", "3,5,4,2",
              "--activations", "sigmoid", "--loss", "mse", "--seed", "1")  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "passed" in ok.stdout and ok.stderr == ""
    bad = _cli(tmp_path, LEARNER_FILE, "mine.py:wrong", "--sizes", "3,5,4,2",
               "--activations", "sigmoid,sigmoid,sigmoid")  # fmt: skip
    assert bad.returncode == 1 and "sign" in bad.stdout
    usage = _cli(tmp_path, LEARNER_FILE, "nofile.py:backprop", "--sizes", "3,2")
    assert usage.returncode == 2 and "no such file" in usage.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["mine.py:nothing", "--sizes", "3,2"], "no function 'nothing'"),
        (["mine.py:backprop", "--sizes", "3,x"], "--sizes must be ints"),
        (["mine.py:backprop", "--sizes", "3"], "at least two"),
        (["mine.py:backprop", "--sizes", "3,2", "--activations", "nope"], "nope"),
        (["mine.py", "--sizes", "3,2"], "FILE.py:FUNCTION"),
        (["mine.py:backprop"], "--sizes"),
    ],
)
def test_usage_errors_exit_2(tmp_path, monkeypatch, capsys, args, message):
    from psinet.check_backprop.__main__ import main

    (tmp_path / "mine.py").write_text(textwrap.dedent(LEARNER_FILE))
    monkeypatch.chdir(tmp_path)
    try:
        status = main(args)
    except SystemExit as exc:  # argparse's own usage errors
        status = exc.code
    assert status == 2 and message in capsys.readouterr().err


# ---------------------------------------------------------------- a teacher's trial


def _relu_at_z(W, X, Y):
    """relu(z) used where relu'(z) belongs (hidden layer), sigmoid output, mse."""
    N = len(X)
    X0 = np.hstack([X, np.ones((N, 1))])
    z0 = X0 @ W[0].T
    X1 = np.hstack([np.maximum(z0, 0), np.ones((N, 1))])
    a = sigmoid(X1 @ W[1].T)
    psi1 = (a - Y) / N * a * (1 - a)
    psi0 = psi1 @ W[1][:, :-1] * np.maximum(z0, 0)  # the mistake: relu(z), not relu'(z)
    return [psi0.T @ X0, psi1.T @ X1]


def test_system_exit_and_keyboard_interrupt_are_never_correct(net):
    import sys as _sys

    def quits(W, X, Y):
        _sys.exit(0)

    report = psinet.check_backprop(quits, net)
    assert not report.passed and report.diagnosis == "exception"
    assert report.exception.startswith("SystemExit") and "_sys.exit(0)" in report.source_line

    def interrupted(W, X, Y):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        psinet.check_backprop(interrupted, net)


def test_the_command_line_never_exits_0_on_sys_exit(tmp_path):
    body = LEARNER_FILE + "\n    def quits(W, X, Y):\n        import sys\n        sys.exit(0)\n"
    run = _cli(tmp_path, body, "mine.py:quits", "--sizes", "3,5,4,2")
    assert run.returncode == 1 and "SystemExit" in run.stdout and "sys.exit(0)" in run.stdout
    at_import = _cli(tmp_path, "import sys\nsys.exit(0)\n", "mine.py:backprop", "--sizes", "3,2")
    assert at_import.returncode not in (0, 1) and "SystemExit" in at_import.stderr


def test_a_factor_2_with_2_outputs_is_the_half_of_mse(net):
    report = psinet.check_backprop(learner(ACTS3, "mean_outputs"), net)  # 3-5-4-2: n_L = 2
    assert report.explanation.index("½") < report.explanation.index("n_L")
    assert "E = 1/(2N)" in report.explanation


def test_a_one_sample_scale_does_not_replace_a_batch_unknown():
    net = psinet.Network([3, 4, 1], ["relu", "sigmoid"], seed=0)
    net.weights[0][1:, -1] = -50.0  # one hidden unit active: on one sample, a constant factor
    report = psinet.check_backprop(_relu_at_z, net)
    assert report.diagnosis != "scale" and not report.passed, str(report)
    assert report.diagnosis == "unknown" and report.first_wrong_layer == 0


def test_one_row_of_user_data_still_checks_a_batch(net):
    X, Y = np.ones((1, 3)), np.full((1, 2), 0.5)
    report = psinet.check_backprop(learner(ACTS3, "scale_N"), net, X, Y)  # the 1/N forgotten
    assert not report.passed and report.diagnosis == "scale" and report.batch_only
    assert psinet.check_backprop(learner(ACTS3), net, X, Y).passed


def test_the_command_line_times_out(tmp_path):
    body = LEARNER_FILE + "\n    def forever(W, X, Y):\n        while True:\n            pass\n"
    run = _cli(tmp_path, body, "mine.py:forever", "--sizes", "3,2", "--timeout", "1")
    assert run.returncode == 1 and "timed out after 1 s" in run.stdout, run.stdout + run.stderr
    assert "exception" in run.stdout


def test_softmax_cross_entropy_explanations_follow_the_loss():
    net = psinet.Network([4, 6, 3], ["tanh", "softmax"], seed=0)
    acts, cce = ["tanh", "softmax"], "categorical_crossentropy"

    def flipped(W, X, Y):
        return [-g for g in learner(acts, loss=cce)(W, X, Y)]

    def doubled(W, X, Y):
        return [2 * g for g in learner(acts, loss=cce)(W, X, Y)]

    for fn, code in ((flipped, "sign"), (doubled, "scale")):
        report = psinet.check_backprop(fn, net, loss=cce)
        assert report.diagnosis == code and report.first_wrong_layer == 1
        assert "Ψ_1 = (ŷ − Y)/N" in report.explanation, report.explanation
        assert "mse" not in report.explanation and "⊙ f'_1" not in report.explanation


def test_a_factor_is_rounded_and_an_in_place_change_is_noted(net):
    report = psinet.check_backprop(learner(ACTS3, "scale_N"), net)
    assert report.factor == 5.0 and str(report.factor) == "5.0"

    def changes_W(W, X, Y):
        grads = learner(ACTS3)(W, X, Y)
        W[0] -= 0.1 * grads[0]
        return grads

    report = psinet.check_backprop(changes_W, net)
    assert report.passed and any("in place" in n for n in report.notes), str(report)
