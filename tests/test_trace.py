"""backprop.trace: every intermediate of one pass, per layer, as the derivation names them."""

import numpy as np

from psinet import Network, gradients
from psinet.backprop import trace


def test_trace_matches_the_math_and_the_gradients():
    net = Network([3, 5, 2], ["tanh", "softmax"], seed=0)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(4, 3)), np.eye(2)[[0, 1, 1, 0]]
    t = trace(net, X, Y, "categorical_crossentropy")
    grads, E = gradients(net, X, Y, "categorical_crossentropy")
    assert t.E == E and len(t.layers) == 2
    for l, layer in enumerate(t.layers):
        assert layer.layer == l
        np.testing.assert_array_equal(layer.W, net.weights[l])
        np.testing.assert_allclose(layer.z, layer.X_bar @ layer.W.T, rtol=1e-14)
        np.testing.assert_array_equal(layer.grad_W, grads[l])
        np.testing.assert_allclose(layer.grad_W, layer.psi.T @ layer.X_bar, rtol=1e-13)
        assert (layer.X_bar[:, -1] == 1).all()
    np.testing.assert_array_equal(t.layers[1].X_bar[:, :-1], t.layers[0].a)  # X̄_1 = [X_1, 1]
    np.testing.assert_allclose(t.layers[0].a, np.tanh(t.layers[0].z), rtol=1e-15)
    # Ψ_0 = (Ψ_1 W_1[:, :-1]) ⊙ tanh'(z_0): the recursion, with the bias column dropped
    expected = (t.layers[1].psi @ t.layers[1].W[:, :-1]) * (1 - t.layers[0].a ** 2)
    np.testing.assert_allclose(t.layers[0].psi, expected, rtol=1e-13)


def test_trace_keeps_copies_and_prints_a_table():
    net = Network([2, 3, 1], ["relu", "sigmoid"], seed=1)
    X, Y = np.array([[1.0, -1.0], [0.5, 2.0]]), np.array([[1.0], [0.0]])
    t = trace(net, X, Y, "binary_crossentropy")
    z0 = t.layers[0].z.copy()
    net.forward(np.zeros((2, 2)))  # overwrites the network's buffers
    np.testing.assert_array_equal(t.layers[0].z, z0)
    text = str(t)
    assert "N = 2" in text and "binary_crossentropy" in text
    assert "Ψ_l = ∂E/∂z_l" in text and "(3, 3)" in text and "relu" in text
    assert len(text.splitlines()) == 3 + 1 + 2  # title (2), header, rule, one row per layer
