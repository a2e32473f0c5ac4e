"""Backprop against the definition of the derivative, and a network worked by hand."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import psinet
from _helpers import valid_targets
from psinet import Network, check_gradients, gradients, numerical_gradients
from psinet.activations import ACTIVATIONS
from psinet.backprop import loss_value
from psinet.gradcheck import relative_error
from psinet.losses import LOSSES

KINKED = {"relu", "leaky_relu", "elu"}
OUTPUTS = {  # output activations that make sense for each loss
    "mse": sorted(ACTIVATIONS),
    "binary_crossentropy": ["sigmoid", "softmax"],
    "categorical_crossentropy": ["softmax"],  # (sigmoid + CCE is refused)
}


@st.composite
def problems(draw):
    """A random network, batch and valid targets: sizes and seeds, not raw floats."""
    loss = draw(st.sampled_from(sorted(LOSSES)))
    n_layers = draw(st.integers(1, 4))
    sizes = draw(st.lists(st.integers(1, 8), min_size=n_layers + 1, max_size=n_layers + 1))
    hidden = draw(
        st.lists(st.sampled_from(sorted(ACTIVATIONS)), min_size=n_layers - 1, max_size=n_layers - 1)
    )
    out = draw(st.sampled_from(OUTPUTS[loss]))
    for l, f in enumerate([*hidden, out]):
        if f == "softmax" and sizes[l + 1] == 1:
            sizes[l + 1] = 2  # a one-unit softmax is the constant 1: nothing to check before it
    n_samples = draw(st.integers(1, 16))
    seed = draw(st.integers(0, 2**32 - 1))
    return sizes, [*hidden, out], loss, n_samples, seed


def build(sizes, acts, loss, n_samples, seed):
    rng = np.random.default_rng(seed)
    net = Network(sizes, acts, seed=seed)
    for W in net.weights:  # random biases too, so the bias column is really tested
        W[:, -1] = rng.normal(0, 0.5, W.shape[0])
    X = rng.normal(size=(n_samples, sizes[0]))
    Y = valid_targets(loss, n_samples, sizes[-1], rng)
    return net, X, Y


def test_backprop_matches_finite_differences():
    """On random networks the check passes; 'unresolved' stays a small minority.

    check_gradients reports a layer unresolved when finite differences cannot resolve
    its gradient to the threshold; that must not hide failures, so it is counted.
    """
    statuses = []

    @given(problems())
    def check(problem):
        sizes, acts, loss, n_samples, seed = problem
        net, X, Y = build(sizes, acts, loss, n_samples, seed)
        net.forward(X)
        # Keep the kinks out of reach of the finite-difference steps (±4ε = ±4e-3).
        margins = [
            np.abs(z).min() for z, f in zip(net.cache.z, net.activations) if f.name in KINKED
        ]
        assume(min(margins, default=1.0) > 0.05)
        y_hat = net.cache.y_hat
        if (
            loss != "mse"
            and not net.activations[-1].name == psinet.losses.get(loss).fused_activation
        ):
            assume(y_hat.min() > 1e-3 and y_hat.max() < 1 - 1e-3)  # unfused logs: off 0 and 1

        report = check_gradients(net, X, Y, loss)
        assert [g.shape for g in report.backprop] == [W.shape for W in net.weights]
        assert report.status != "failed", str(report)
        statuses.append(report.status)

    check()
    n_unresolved = statuses.count("unresolved")
    assert len(statuses) >= 20, statuses
    assert n_unresolved <= 0.1 * len(statuses), f"{n_unresolved} of {len(statuses)} unresolved"


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_l2_gradient_matches_finite_differences(loss):
    net, X, Y = build(
        [3, 4, 2],
        ["tanh", "sigmoid" if loss != "categorical_crossentropy" else "softmax"],
        loss,
        5,
        7,
    )
    grads, _ = gradients(net, X, Y, loss, l2=0.3)
    numeric = numerical_gradients(net, X, Y, loss, l2=0.3)
    for g, n in zip(grads, numeric):
        assert relative_error(g, n).max() <= 1e-6


def test_l2_never_touches_the_bias_column():
    net, X, Y = build([3, 4, 2], ["tanh", "identity"], "mse", 5, 3)
    plain, E0 = gradients(net, X, Y, "mse")
    reg, E1 = gradients(net, X, Y, "mse", l2=0.5)
    for W, g0, g1 in zip(net.weights, plain, reg):
        np.testing.assert_array_equal(g1[:, -1], g0[:, -1])
        np.testing.assert_allclose(g1[:, :-1], g0[:, :-1] + 0.5 * W[:, :-1], rtol=1e-12)
    penalty = 0.25 * sum((W[:, :-1] ** 2).sum() for W in net.weights)
    assert E1 == pytest.approx(E0 + penalty, rel=1e-12)


def test_two_two_one_sigmoid_mse_by_hand():
    """One sample through a 2-2-1 sigmoid network, every number worked out here."""
    net = Network([2, 2, 1], "sigmoid")
    net.weights[0] = [
        [0.1, 0.2, 0.0],  # hidden neuron 0: w = (0.1, 0.2), b = 0
        [-0.3, 0.4, 0.5],
    ]  # hidden neuron 1: w = (-0.3, 0.4), b = 0.5
    net.weights[1] = [[0.6, -0.7, 0.1]]  # output: w = (0.6, -0.7), b = 0.1
    x, y = np.array([[1.0, 2.0]]), np.array([[1.0]])
    s = lambda t: 1 / (1 + np.exp(-t))
    # Forward: z_0 = X̄_0 W_0ᵀ with X̄_0 = [1, 2, 1]
    z00 = 0.1 * 1 + 0.2 * 2 + 0.0  # = 0.5
    z01 = -0.3 * 1 + 0.4 * 2 + 0.5  # = 1.0
    a0, a1 = s(z00), s(z01)  # σ(0.5) ≈ 0.622459, σ(1.0) ≈ 0.731059
    z1 = 0.6 * a0 - 0.7 * a1 + 0.1  # ≈ 0.6·0.622459 − 0.7·0.731059 + 0.1 ≈ -0.038266
    y_hat = s(z1)  # ≈ 0.490435
    E = 0.5 * (y_hat - 1.0) ** 2  # mse with its ½, N = 1:  ≈ 0.129828
    # Backward: Ψ_1 = (ŷ − y) ⊙ ŷ(1 − ŷ)   (the derivation's simplified form)
    psi1 = (y_hat - 1.0) * y_hat * (1 - y_hat)  # ≈ -0.509565 · 0.249909 ≈ -0.127345
    dW1 = psi1 * np.array([a0, a1, 1.0])  # Ψ_1ᵀ X̄_1
    # Ψ_0 = (Ψ_1 W_1[:, :-1]) ⊙ σ'(z_0): the bias weight 0.1 is dropped
    psi0 = psi1 * np.array([0.6, -0.7]) * np.array([a0 * (1 - a0), a1 * (1 - a1)])
    dW0 = np.outer(psi0, [1.0, 2.0, 1.0])  # Ψ_0ᵀ X̄_0
    grads, E_net, psi = gradients(net, x, y, "mse", return_psi=True)
    assert E_net == pytest.approx(E, rel=1e-14)
    np.testing.assert_allclose(psi[1], [[psi1]], rtol=1e-13)
    np.testing.assert_allclose(psi[0], [psi0], rtol=1e-13)
    np.testing.assert_allclose(grads[1], [dW1], rtol=1e-13)
    np.testing.assert_allclose(grads[0], dW0, rtol=1e-13)
    assert y_hat == pytest.approx(0.490435, abs=1e-6)  # the comment's arithmetic


@pytest.mark.parametrize(
    ("output", "loss"),
    [("sigmoid", "binary_crossentropy"), ("softmax", "categorical_crossentropy")],
)
def test_fused_start_equals_the_unfused_chain(output, loss):
    """Ψ_{L-1} = (ŷ − Y)/N equals ∂E/∂ŷ through f' (softmax: its Jacobian), to 1e-12."""
    rng = np.random.default_rng(0)
    f, L = psinet.activations.get(output), psinet.losses.get(loss)
    z = rng.normal(0, 2, size=(9, 4))
    Y = valid_targets(loss, 9, 4, rng)
    y_hat = f.value(z)
    fused = (y_hat - Y) / len(Y)
    g = L.gradient(y_hat, Y)
    if f.elementwise:
        chain = g * f.derivative(z, y_hat)
    else:  # the full Jacobian product, row by row: Ψ_n = J_nᵀ g_n
        chain = np.einsum("nkj,nk->nj", f.derivative(z, y_hat), g)
    np.testing.assert_allclose(fused, chain, rtol=0, atol=1e-12)
    assert L.value_from_z(z, Y) == pytest.approx(L.value(y_hat, Y), rel=1e-12)


def test_softmax_backward_is_the_jacobian_product_not_its_diagonal():
    rng = np.random.default_rng(1)
    f = psinet.activations.get("softmax")
    z, g = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    a = f.value(z)
    full = np.einsum("nkj,nk->nj", f.derivative(z, a), g)
    diag = g * a * (1 - a)
    np.testing.assert_allclose(f.backward(g, z, a), full, atol=1e-15)
    assert np.abs(full - diag).max() > 1e-3


def test_return_psi_gives_shapes_of_z_and_gradients_into_out():
    net, X, Y = build([3, 5, 4, 2], ["relu", "tanh", "softmax"], "categorical_crossentropy", 6, 2)
    out = [np.full_like(W, np.nan) for W in net.weights]
    grads, E, psi = gradients(net, X, Y, "categorical_crossentropy", return_psi=True, out=out)
    assert all(g is o for g, o in zip(grads, out))
    assert [p.shape for p in psi] == [(6, 5), (6, 4), (6, 2)]
    assert E == pytest.approx(loss_value(net, X, Y, psinet.losses.get("categorical_crossentropy")))
    fresh, _ = gradients(net, X, Y, "categorical_crossentropy")
    for a, b in zip(grads, fresh):
        np.testing.assert_array_equal(a, b)
