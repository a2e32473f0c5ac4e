"""gradcheck: the reference itself, the report, bit-identical weights, float32."""

import numpy as np
import pytest

import psinet
from psinet import Network, check_gradients, numerical_gradients
from psinet.gradcheck import relative_error


def _problem(dtype=np.float64):
    net = Network([3, 4, 2], ["tanh", "sigmoid"], seed=0, dtype=dtype)
    rng = np.random.default_rng(0)
    return net, rng.normal(size=(5, 3)), rng.integers(0, 2, (5, 2)).astype(float)


def test_numerical_gradients_of_a_quadratic_are_exact():
    """One identity layer with mse: E is quadratic in W, so differences are exact."""
    net = Network([2, 1], "identity")
    net.weights[0] = [[0.5, -0.25, 0.125]]
    X, Y = np.array([[1.0, 2.0], [3.0, -1.0]]), np.array([[1.0], [0.0]])
    residual = X @ [0.5, -0.25] + 0.125 - Y[:, 0]  # ŷ − y per sample
    expected = (residual @ np.hstack([X, np.ones((2, 1))])) / 2  # Ψᵀ X̄ with Ψ = r/N
    for order in (2, 4):
        np.testing.assert_allclose(
            numerical_gradients(net, X, Y, "mse", order=order)[0][0], expected, rtol=1e-9
        )


def test_gradcheck_leaves_weights_bit_identical():
    net, X, Y = _problem()
    net.weights[0][:] = np.random.default_rng(1).normal(size=net.weights[0].shape) / 3
    before = [W.copy() for W in net.weights]
    check_gradients(net, X, Y, "binary_crossentropy")
    for a, b in zip(before, net.weights):
        assert a.tobytes() == b.tobytes()


def test_report_passes_and_prints_a_table_per_layer():
    net, X, Y = _problem()
    report = check_gradients(net, X, Y, "binary_crossentropy")
    assert report.passed and report.max_error < 1e-6 and len(report.errors) == 2
    text = str(report)
    assert "layer" in text and "(4, 4)" in text and "(2, 5)" in text and "passed" in text


def test_a_wrong_gradient_is_caught():
    net, X, Y = _problem()
    report = check_gradients(net, X, Y, "binary_crossentropy")
    wrong = report.backprop[1] * 1.001  # a 0.1% mistake
    assert relative_error(wrong, report.numerical[1]).max() > 1e-4


def test_float32_network_is_checked_on_a_float64_copy():
    net, X, Y = _problem(np.float32)
    before = [W.copy() for W in net.weights]
    report = check_gradients(net, X, Y, "binary_crossentropy")
    assert report.passed
    assert all(g.dtype == np.float64 for g in report.numerical)
    assert all(W.dtype == np.float32 for W in net.weights)
    for a, b in zip(before, net.weights):
        assert a.tobytes() == b.tobytes()


def test_bad_eps_and_order_are_refused():
    net, X, Y = _problem()
    with pytest.raises(ValueError, match=r"eps must be in \(0, 1\), got 0.0"):
        numerical_gradients(net, X, Y, "mse", eps=0.0)
    with pytest.raises(ValueError, match="order must be 2 or 4"):
        numerical_gradients(net, X, Y, "mse", order=3)


def test_weights_restored_even_when_the_loss_fails(monkeypatch):
    net, X, Y = _problem()
    before = [W.copy() for W in net.weights]
    import psinet.gradcheck as gc

    calls = {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("boom")
        return 0.0

    monkeypatch.setattr(gc, "loss_value", failing)
    with pytest.raises(RuntimeError):
        numerical_gradients(net, X, Y, "mse")
    for a, b in zip(before, net.weights):
        assert a.tobytes() == b.tobytes()


# ---------------------------------------------------------------------- when it cannot tell
def _deep_sigmoid():
    """The issue's case: 20 sigmoid layers and a softmax; layer 0's gradient ≈ 1e-13."""
    net = Network([4] + [3] * 19 + [3], ["sigmoid"] * 19 + ["softmax"], seed=0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 4))
    return net, X, np.eye(3)[rng.integers(0, 3, 6)]


@pytest.fixture(scope="module")
def deep_report():
    net, X, Y = _deep_sigmoid()
    return check_gradients(net, X, Y, "categorical_crossentropy")


def _tamper(monkeypatch, change):
    """Make check_gradients see backprop's gradients after ``change(grads)``."""
    import psinet.gradcheck as gc

    real = gc.gradients

    def tampered(*args, **kwargs):
        grads, E = real(*args, **kwargs)
        change(grads)
        return grads, E

    monkeypatch.setattr(gc, "gradients", tampered)


def test_deep_sigmoid_net_is_unresolved_at_layer_0_not_passed(deep_report):
    report = deep_report
    assert not report.passed  # it used to say "passed" on rounding noise
    first, last = report.layers[0], report.layers[-1]
    assert first.max_grad < 1e-12 < first.fd_error  # below what finite differences resolve
    assert first.status == "unresolved" and first.cause == "vanished"
    assert "shallower network" in first.reason and "larger batch" in first.reason
    assert last.status == "passed" and last.rel_error < 1e-6
    assert not report.passed and report.status == "unresolved"
    assert all(row.status != "failed" for row in report.layers)
    text = str(report)
    assert "unresolved" in text and "UNRESOLVED" in text and "passed (threshold" not in text


@pytest.mark.parametrize("layer", [0, 1])
def test_a_gradient_scaled_by_1_01_fails(monkeypatch, layer):
    net, X, Y = _problem()

    def scale(grads):
        grads[layer] *= 1.01

    _tamper(monkeypatch, scale)
    report = check_gradients(net, X, Y, "binary_crossentropy")
    assert report.layers[layer].status == "failed" and report.layers[layer].cause == "mismatch"
    assert report.layers[1 - layer].status == "passed"
    assert not report.passed and report.status == "failed"
    assert report.layers[layer].rel_error == pytest.approx(0.01 / 1.01, rel=1e-3)
    assert f"layer {layer} failed: entry" in str(report) and "FAILED" in str(report)


def test_a_user_activation_with_a_1_percent_wrong_derivative_fails():
    from psinet.activations import Tanh

    class SlightlyWrongTanh(Tanh):
        name = "slightly_wrong_tanh"

        def backward(self, grad_a, z, a, out=None):
            return 1.01 * super().backward(grad_a, z, a)

    net = Network([3, 4, 2], [SlightlyWrongTanh(), "sigmoid"], seed=0)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(5, 3)), rng.integers(0, 2, (5, 2)).astype(float)
    report = check_gradients(net, X, Y, "binary_crossentropy")
    assert [row.status for row in report.layers] == ["failed", "passed"]


@pytest.mark.parametrize("layer", [0, 1])
def test_a_zeroed_layer_fails(monkeypatch, layer):
    net, X, Y = _problem()

    def zero(grads):
        grads[layer][:] = 0

    _tamper(monkeypatch, zero)
    report = check_gradients(net, X, Y, "binary_crossentropy")
    assert report.layers[layer].status == "failed" and not report.passed


def test_zeroed_layers_of_the_deep_net_never_pass(monkeypatch):
    net, X, Y = _deep_sigmoid()

    def zero(grads):
        for l in range(3):
            grads[l][:] = 0

    _tamper(monkeypatch, zero)
    report = check_gradients(net, X, Y, "categorical_crossentropy")
    assert not report.passed  # it used to pass
    assert all(report.layers[l].status in ("failed", "unresolved") for l in range(3))


def test_relative_and_absolute_errors_are_kept_apart(deep_report):
    """Entries the finite differences resolve to the threshold get a relative error; the
    others an absolute one, within the fd error. No floor turns one into the other."""
    net, X, Y = _problem()
    X[:, 0] *= 1e-9  # the first input column is ~1e-9: so are its weights' gradients
    mixed = check_gradients(net, X, Y, "binary_crossentropy")
    assert mixed.passed
    first = mixed.layers[0]
    assert first.n_absolute == net.sizes[1] and first.n_relative == first.n_absolute * 3
    assert first.abs_error <= first.fd_error and first.rel_error <= 1e-6
    for r in [*deep_report.layers, *mixed.layers]:
        assert r.n_relative + r.n_absolute == np.prod(r.shape)
        if r.status == "passed":
            assert r.rel_error <= 1e-6
        if r.n_absolute:
            assert r.abs_error <= r.fd_error + 1e-6 * r.max_grad
        if not r.n_relative:
            assert np.isnan(r.rel_error) and r.status != "passed"
    text = str(mixed)
    assert "max rel. error" in text and "max abs. error" in text
    assert "|bp − fd| / max(|bp|, |fd|)" in text


def test_a_saturated_output_is_unresolved_not_failed():
    """E rounds to 0: the gradients (1e-22) are far below what E's rounding lets through."""
    net = Network([2, 3, 2], ["tanh", "softmax"], seed=0)
    net.weights[1][:] = [[40, -40, 0, 0], [-40, 40, 0, 0]]
    net.weights[0][:] = [[9, 0, 0], [0, 9, 0], [0, 0, 0]]
    X = np.array([[1.0, 0.0], [0.0, 1.0]])
    Y = np.array([[1.0, 0.0], [0.0, 1.0]])
    report = check_gradients(net, X, Y, "categorical_crossentropy")
    assert report.E < 1e-30
    assert [row.status for row in report.layers] == ["unresolved", "unresolved"]


def test_a_kink_within_reach_is_named_in_a_failure():
    net = Network([2, 4, 1], ["relu", "identity"], seed=0)
    X = np.array([[1.0, 0.5], [0.2, -1.0], [0.3, 0.3]])
    net.forward(X)
    net.weights[0][0, -1] -= net.cache.z[0][0, 0] - 1e-4  # z_0[0, 0] = 1e-4: at the kink
    report = check_gradients(net, X, np.array([1.0, 0.0, 2.0]), "mse")
    assert report.layers[0].status == "failed"
    assert "relu kink (layer 0" in report.layers[0].reason


def test_old_fields_still_work():
    net, X, Y = _problem()
    report = check_gradients(net, X, Y, "binary_crossentropy")
    assert report.errors == [row.rel_error for row in report.layers]
    assert report.max_error == max(report.errors) < 1e-6
    assert report.threshold == 1e-6 and len(report.backprop) == len(report.numerical) == 2


def test_bad_threshold_and_tiny_are_refused():
    net, X, Y = _problem()
    with pytest.raises(ValueError, match=r"threshold must be in \(0, inf\), got 0"):
        check_gradients(net, X, Y, "mse", threshold=0)
    with pytest.raises(ValueError, match=r"tiny must be in \[0, inf\), got -1"):
        check_gradients(net, X, Y, "mse", tiny=-1.0)


def test_a_group_of_unresolved_layers_says_which_layer_its_reason_describes():
    """`layers 0–7 unresolved (layer 7): ...` left a learner guessing what "(layer 7)"
    meant; the note says it is the group's layer with the largest gradients."""
    X, y = psinet.datasets.moons(32, seed=0)
    net = psinet.Network([2] + [4] * 14 + [1], "sigmoid", seed=0)
    report = psinet.check_gradients(net, X, y, "binary_crossentropy")
    unresolved = [r.layer for r in report.layers if r.status == "unresolved"]
    assert len(unresolved) > 1 and unresolved == list(range(len(unresolved)))  # the premise
    worst = max((r for r in report.layers if r.status == "unresolved"), key=lambda r: r.max_grad)
    note = f"layers 0–{unresolved[-1]} unresolved; of them layer {worst.layer} has the largest"
    assert note in str(report)


def test_a_reference_that_overflowed_is_a_clear_error_not_nan():
    net = Network([2, 1], "identity", seed=0)
    with pytest.raises(
        ValueError, match=r"the loss E at the given weights is inf.*scale the inputs"
    ):
        numerical_gradients(net, [[1e200, 1e200]], [[0.0]], "mse")


def test_differences_that_overflow_near_the_weights_are_said():
    # z = w·x with z² a millionth below float64's max: E(w) = z²/2 and ∂E/∂w = z²/w are
    # finite, E(w + ε) is not: the entry is not finite, and numerical_gradients says so
    net = Network([1, 1], "identity", seed=0)
    net.weights[0] = np.array([[1000.0, 0.0]])
    X, Y = [[np.sqrt(np.finfo(np.float64).max * (1 - 1e-6)) / 1000]], [[0.0]]
    with pytest.warns(RuntimeWarning, match=r"E is not finite within 2ε of weights\[0\]\[0, 0\]"):
        numeric = numerical_gradients(net, X, Y, "mse")
    assert not np.isfinite(numeric[0][0, 0])
    report = check_gradients(net, X, Y, "mse")  # the report says it: no warning
    assert report.layers[0].cause == "not finite"
