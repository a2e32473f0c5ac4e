"""gradcheck: the reference itself, the report, bit-identical weights, float32."""

import numpy as np
import pytest

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
