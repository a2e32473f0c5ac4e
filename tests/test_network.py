"""Network: shapes, initialization, weights, the forward cache, predict, repr."""

import numpy as np
import pytest

from psinet import Network
from psinet.activations import LeakyReLU


def test_weight_shapes_have_the_bias_as_last_column_and_zero_biases():
    net = Network([4, 3, 2], ["relu", "softmax"], seed=0)
    assert [W.shape for W in net.weights] == [(3, 5), (2, 4)]
    assert all((W[:, -1] == 0).all() for W in net.weights)
    assert net.n_params == 3 * 5 + 2 * 4


def test_same_seed_same_weights_other_seed_other_weights():
    a = Network([5, 7, 3], "tanh", seed=42)
    b = Network([5, 7, 3], "tanh", seed=42)
    c = Network([5, 7, 3], "tanh", seed=43)
    for Wa, Wb, Wc in zip(a.weights, b.weights, c.weights):
        np.testing.assert_array_equal(Wa, Wb)
        assert not np.array_equal(Wa, Wc)


def test_initialization_scales_glorot_and_he():
    n_in, n_out = 400, 300
    glorot = Network([n_in, n_out], "tanh", seed=1).weights[0][:, :-1]
    he = Network([n_in, n_out], "relu", seed=1).weights[0][:, :-1]
    limit = np.sqrt(6 / (n_in + n_out))
    assert np.abs(glorot).max() <= limit
    assert glorot.std() == pytest.approx(limit / np.sqrt(3), rel=0.02)  # std of U(±limit)
    assert he.std() == pytest.approx(np.sqrt(2 / n_in), rel=0.02)


def test_float32_network_keeps_float32_and_matches_float64_weights():
    n64 = Network([3, 4, 2], "sigmoid", seed=5)
    n32 = Network([3, 4, 2], "sigmoid", seed=5, dtype=np.float32)
    X = np.random.default_rng(0).normal(size=(6, 3))
    y32 = n32.forward(X)
    assert y32.dtype == np.float32
    assert all(W.dtype == np.float32 for W in n32.weights)
    assert all(a.dtype == np.float32 for a in n32.cache.X_bar + n32.cache.z)
    for W32, W64 in zip(n32.weights, n64.weights):
        np.testing.assert_array_equal(W32, W64.astype(np.float32))
    np.testing.assert_allclose(y32, n64.forward(X), rtol=1e-5)


def test_forward_cache_holds_x_bar_and_z_as_in_the_math():
    net = Network([3, 4, 2], ["tanh", "identity"], seed=2)
    X = np.random.default_rng(1).normal(size=(5, 3))
    y_hat = net.forward(X)
    c = net.cache
    np.testing.assert_array_equal(c.X_bar[0], np.hstack([X, np.ones((5, 1))]))
    np.testing.assert_allclose(c.z[0], c.X_bar[0] @ net.weights[0].T, rtol=1e-15)
    np.testing.assert_allclose(c.X_bar[1][:, :-1], np.tanh(c.z[0]), rtol=1e-15)
    assert (c.X_bar[1][:, -1] == 1).all()
    np.testing.assert_allclose(c.z[1], c.X_bar[1] @ net.weights[1].T, rtol=1e-15)
    np.testing.assert_array_equal(y_hat, c.y_hat)
    assert y_hat is not c.y_hat  # the caller's array is not a buffer that changes later


def test_predict_equals_forward_and_leaves_the_cache_alone():
    net = Network([3, 6, 2], ["relu", "softmax"], seed=3)
    rng = np.random.default_rng(2)
    X1, X2 = rng.normal(size=(4, 3)), rng.normal(size=(7, 3))
    y1 = net.forward(X1)
    cached = [a.copy() for a in net.cache.z]
    np.testing.assert_array_equal(net.predict(X1), y1)  # same operations, same bits
    net.predict(X2)
    assert net.cache.n_samples == 4
    for a, b in zip(cached, net.cache.z):
        np.testing.assert_array_equal(a, b)


def test_one_sample_in_one_sample_out():
    net = Network([3, 2], "identity", seed=0)
    x = np.array([1.0, -2.0, 0.5])
    assert net.forward(x).shape == (2,)
    assert net.predict(x).shape == (2,)
    np.testing.assert_allclose(net.predict(x), net.weights[0][:, :-1] @ x + net.weights[0][:, -1])


def test_forward_on_another_batch_size_does_not_change_results():
    net = Network([3, 5, 2], ["elu", "sigmoid"], seed=9)
    rng = np.random.default_rng(3)
    X, X_small = rng.normal(size=(8, 3)), rng.normal(size=(3, 3))
    first = net.forward(X)
    net.forward(X_small)
    np.testing.assert_array_equal(net.forward(X), first)


def test_assigned_weights_are_copied_and_used():
    net = Network([2, 1], "identity")
    W = np.array([[2.0, -1.0, 0.5]])
    net.weights[0] = W
    W[0, 0] = 100.0  # the caller's array stays theirs
    np.testing.assert_array_equal(net.forward([[1.0, 1.0]]), [[1.5]])
    net.weights = [np.array([[0.0, 0.0, 3]])]
    np.testing.assert_array_equal(net.forward([[1.0, 1.0]]), [[3.0]])


def test_wrong_weight_shape_is_refused_and_nothing_changes():
    net = Network([2, 3, 1], "tanh", seed=0)
    before = [W.copy() for W in net.weights]
    with pytest.raises(ValueError, match=r"weights\[0\] must have shape \(3, 3\).*got \(3, 2\)"):
        net.weights[0] = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"weights\[1\] must have shape \(1, 4\)"):
        net.weights = [np.zeros((3, 3)), np.zeros((1, 3))]  # second bad: first not applied
    with pytest.raises(ValueError, match="finite"):
        net.weights[1] = np.full((1, 4), np.nan)
    with pytest.raises(ValueError, match="must hold 2 arrays"):
        net.weights = [np.zeros((3, 3))]
    for a, b in zip(before, net.weights):
        np.testing.assert_array_equal(a, b)


def test_repr_and_summary_are_readable():
    net = Network([4, 8, 3], [LeakyReLU(0.1), "softmax"], seed=0)
    assert repr(net) == (
        "Network(sizes=[4, 8, 3], activations=['LeakyReLU(alpha=0.1)', 'softmax'], "
        "dtype=float64, params=67)"
    )
    text = net.summary()
    assert "(8, 5)" in text and "(3, 9)" in text and "Softmax()" in text
    assert "total parameters: 67" in text


def test_copy_is_independent_and_can_change_dtype():
    net = Network([2, 3, 1], "tanh", seed=1)
    twin = net.copy(dtype=np.float32)
    assert twin.dtype == np.float32 and twin.sizes == net.sizes
    twin.weights[0][0, 0] = 99
    assert net.weights[0][0, 0] != 99
