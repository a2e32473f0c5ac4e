"""sample_weight in gradients, evaluate and fit: E = Σ_n s_n ℓ_n / Σ_n s_n.

Checked three independent ways: against each sample's own unweighted loss, against
integer weights as repeated samples, and against finite differences of the weighted E.
"""

import numpy as np
import pytest

from _helpers import valid_targets
from psinet import Network, evaluate, fit, gradients, losses, optimizers

# (output activation, loss): fused and unfused starts of every loss
PAIRS = [
    ("identity", "mse"),
    ("tanh", "mse"),
    ("softmax", "mse"),
    ("sigmoid", "binary_crossentropy"),
    ("softmax", "categorical_crossentropy"),
]  # (tanh + BCE, sigmoid + CCE are refused: E would not be a loss of those outputs)
IDS = ["-".join(p) for p in PAIRS]


def _problem(output, loss, n=9, seed=0):
    rng = np.random.default_rng(seed)
    net = Network([3, 4, 3], ["elu", output], seed=seed)
    X = rng.normal(size=(n, 3))
    Y = valid_targets(loss, n, 3, rng)
    if output == "tanh" and loss == "binary_crossentropy":  # ŷ in (−1, 1): keep it in (0, 1)
        net = Network([3, 4, 3], ["elu", "sigmoid"], seed=seed)
    s = rng.uniform(0.0, 3.0, size=n)
    s[1] = 0.0  # a zero weight is allowed
    return net, X, Y, s


@pytest.mark.parametrize(("output", "loss"), PAIRS, ids=IDS)
def test_weighted_loss_is_the_weighted_mean_of_each_samples_loss(output, loss):
    net, X, Y, s = _problem(output, loss)
    ell = np.array([evaluate(net, X[n : n + 1], Y[n : n + 1], loss)["loss"] for n in range(len(X))])
    expected = float(np.dot(s, ell) / s.sum())
    np.testing.assert_allclose(evaluate(net, X, Y, loss, sample_weight=s)["loss"], expected)
    np.testing.assert_allclose(gradients(net, X, Y, loss, sample_weight=s)[1], expected)


@pytest.mark.parametrize(("output", "loss"), PAIRS, ids=IDS)
def test_integer_weights_are_repeated_samples(output, loss):
    net, X, Y, _ = _problem(output, loss)
    s = np.array([2, 0, 1, 3, 1, 1, 2, 1, 4])
    grads, E = gradients(net, X, Y, loss, sample_weight=s)
    repeated, E_rep = gradients(net, np.repeat(X, s, axis=0), np.repeat(Y, s, axis=0), loss)
    np.testing.assert_allclose(E, E_rep, rtol=1e-12)
    for g, g_rep in zip(grads, repeated):
        np.testing.assert_allclose(g, g_rep, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize(("output", "loss"), PAIRS, ids=IDS)
def test_weighted_gradients_match_finite_differences(output, loss):
    net, X, Y, s = _problem(output, loss, seed=3)
    grads, _ = gradients(net, X, Y, loss, sample_weight=s, l2=0.1)
    h = 1e-6
    for l, W in enumerate(net.weights):
        fd = np.empty_like(W)
        for idx in np.ndindex(W.shape):
            w0 = W[idx]
            W[idx] = w0 + h
            up = evaluate(net, X, Y, loss, sample_weight=s, l2=0.1)["loss"]
            W[idx] = w0 - h
            down = evaluate(net, X, Y, loss, sample_weight=s, l2=0.1)["loss"]
            W[idx] = w0
            fd[idx] = (up - down) / (2 * h)
        np.testing.assert_allclose(grads[l], fd, rtol=1e-6, atol=1e-9)


def test_fused_start_is_s_times_residual_over_sum_of_s():
    net, X, Y, s = _problem("softmax", "categorical_crossentropy")
    _, _, psi = gradients(net, X, Y, "categorical_crossentropy", sample_weight=s, return_psi=True)
    y_hat = net.predict(X)
    np.testing.assert_allclose(psi[-1], s[:, None] * (y_hat - Y) / s.sum(), rtol=1e-12)
    assert np.array_equal(psi[-1][1], np.zeros(3))  # a zero weight: no say at all


@pytest.mark.parametrize("weights", [np.ones(9), np.full(9, 2.5), [1] * 9], ids=str)
@pytest.mark.parametrize(("output", "loss"), PAIRS[:4], ids=IDS[:4])
def test_equal_weights_are_bit_identical_to_none(output, loss, weights):
    net, X, Y, _ = _problem(output, loss)
    g0, E0 = gradients(net, X, Y, loss)
    g1, E1 = gradients(net, X, Y, loss, sample_weight=weights)
    assert E0 == E1 and all(np.array_equal(a, b) for a, b in zip(g0, g1))
    assert evaluate(net, X, Y, loss) == evaluate(net, X, Y, loss, sample_weight=weights)
    a, b = net.copy(), net.copy()
    kw = dict(loss=loss, epochs=3, batch_size=4, seed=1, verbose=0)
    h0 = fit(a, X, Y, optimizer=optimizers.Adam(0.01), validation_split=0.3, **kw)
    h1 = fit(
        b, X, Y, optimizer=optimizers.Adam(0.01), validation_split=0.3, sample_weight=weights, **kw
    )
    assert all(np.array_equal(Wa, Wb) for Wa, Wb in zip(a.weights, b.weights))
    assert h0["loss"] == h1["loss"] and h0["val_loss"] == h1["val_loss"]


def test_fit_with_zero_weights_ignores_those_samples():
    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(12, 3)), rng.normal(size=(12, 3))
    s = np.ones(12)
    s[[2, 7, 8]] = 0.0
    Y_noisy = Y.copy()
    Y_noisy[[2, 7, 8]] = 1e3  # targets that would dominate if they counted
    a = Network([3, 4, 3], ["tanh", "identity"], seed=2)
    b = a.copy()
    kw = dict(loss="mse", epochs=5, batch_size=12, shuffle=False, verbose=0)
    ha = fit(a, X, Y_noisy, optimizer=optimizers.SGD(0.1), sample_weight=s, **kw)
    hb = fit(b, X[s > 0], Y[s > 0], optimizer=optimizers.SGD(0.1), **kw)
    for Wa, Wb in zip(a.weights, b.weights):
        np.testing.assert_allclose(Wa, Wb, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ha["loss"], hb["loss"], rtol=1e-12)


def test_fit_records_weighted_loss_and_accuracy_and_weighted_validation():
    net, X, Y, s = _problem("softmax", "categorical_crossentropy", n=30)
    h = fit(
        net, X, Y, loss="categorical_crossentropy", optimizer=optimizers.SGD(1e-12),
        epochs=1, batch_size=30, shuffle=False, verbose=0, sample_weight=s,
    )  # fmt: skip
    before = evaluate(_problem("softmax", "categorical_crossentropy", n=30)[0], X, Y,
                      "categorical_crossentropy", sample_weight=s)  # fmt: skip
    np.testing.assert_allclose(h["loss"][0], before["loss"], rtol=1e-9)
    np.testing.assert_allclose(h["accuracy"][0], before["accuracy"], rtol=1e-9)
    # validation_split: the held-out samples keep their weights
    net2 = _problem("softmax", "categorical_crossentropy", n=30)[0]
    h2 = fit(
        net2, X, Y, loss="categorical_crossentropy", optimizer="adam", epochs=1,
        validation_split=0.3, seed=4, verbose=0, sample_weight=s,
    )  # fmt: skip
    from psinet.training import _held_out

    held = _held_out(Y, losses.get("categorical_crossentropy"), 0.3, 4)
    val = evaluate(net2, X[held], Y[held], "categorical_crossentropy", sample_weight=s[held])
    assert h2["val_loss"][0] == pytest.approx(val["loss"], rel=1e-12)
    assert h2["val_loss"][0] != pytest.approx(
        evaluate(net2, X[held], Y[held], "categorical_crossentropy")["loss"], rel=1e-6
    )


@pytest.mark.parametrize(
    ("weights", "error", "words"),
    [
        (-np.ones(9), ValueError, ">= 0"),
        (np.r_[np.ones(8), np.nan], ValueError, "finite"),
        (np.r_[np.ones(8), np.inf], ValueError, "finite"),
        (np.ones(8), ValueError, r"shape \(9,\)"),
        (np.ones((9, 1)), ValueError, r"shape \(9,\)"),
        (np.zeros(9), ValueError, "positive sum"),
        (np.full(9, 1e308), ValueError, "finite sum"),
        (True, TypeError, "bool"),
        (["a"] * 9, TypeError, "numeric"),
    ],
    ids=["negative", "nan", "inf", "short", "2-D", "zeros", "huge", "bool", "strings"],
)
def test_bad_weights_are_refused_and_change_nothing(weights, error, words):
    net, X, Y, _ = _problem("softmax", "categorical_crossentropy")
    before = [W.copy() for W in net.weights]
    with pytest.raises(error, match=words):
        gradients(net, X, Y, "categorical_crossentropy", sample_weight=weights)
    with pytest.raises(error, match=words):
        evaluate(net, X, Y, "categorical_crossentropy", sample_weight=weights)
    with pytest.raises(error, match=words):
        net.fit(X, Y, loss="categorical_crossentropy", verbose=0, sample_weight=weights)
    assert all(np.array_equal(a, b) for a, b in zip(before, net.weights))


def test_a_custom_loss_without_sample_losses_is_refused_by_name():
    class Half(losses.Loss):
        name = "test_sw_half"

        def value(self, y_hat, Y):
            return float(np.sum((y_hat - Y) ** 2)) / (4 * len(Y))

        def gradient(self, y_hat, Y, out=None):
            return (y_hat - Y) / (2 * len(Y))

    net, X, Y, s = _problem("identity", "mse")
    with pytest.raises(TypeError, match="Half must implement sample_losses"):
        gradients(net, X, Y, Half(), sample_weight=s)
    gradients(net, X, Y, Half(), sample_weight=np.ones(9))  # equal weights: no ℓ_n needed

    class HalfPerSample(Half):
        name = "test_sw_half2"

        def sample_losses(self, y_hat, Y):
            return ((y_hat - Y) ** 2).sum(axis=1) / 4

    g, E = gradients(net, X, Y, HalfPerSample(), sample_weight=s)
    g_mse, E_mse = gradients(net, X, Y, "mse", sample_weight=s)
    np.testing.assert_allclose(E, E_mse / 2, rtol=1e-12)
    np.testing.assert_allclose(g[0], g_mse[0] / 2, rtol=1e-12)


def test_float32_networks_take_weights():
    net, X, Y, s = _problem("sigmoid", "binary_crossentropy")
    net32 = net.copy(np.float32)
    g32, E32 = gradients(net32, X, Y, "binary_crossentropy", sample_weight=s)
    g64, E64 = gradients(net, X, Y, "binary_crossentropy", sample_weight=s)
    assert g32[0].dtype == np.float32
    np.testing.assert_allclose(E32, E64, rtol=1e-5)
    np.testing.assert_allclose(g32[0], g64[0], rtol=1e-3, atol=1e-6)


def test_all_weight_held_out_names_the_validation_split_not_the_weights_given():
    from psinet.training import _held_out

    net = Network([3, 1], "identity", seed=0)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(20, 3)), rng.normal(size=(20, 1))
    held = _held_out(Y, losses.get("mse"), 0.2, 0)
    s = np.zeros(20)
    s[held] = 1.0  # every positive weight goes to validation: the training part weighs 0
    kw = dict(loss="mse", epochs=1, verbose=0, seed=0, validation_split=0.2)
    with pytest.raises(
        ValueError,
        match=r"sample_weight of the training part left after validation_split=0\.2 sums to 0",
    ):
        net.fit(X, Y, sample_weight=s, **kw)
    with pytest.raises(
        ValueError,
        match=r"sample_weight of the validation part held out by validation_split=0\.2 sums to 0",
    ):
        net.fit(X, Y, sample_weight=1.0 - s, **kw)
    with pytest.raises(ValueError, match="sample_weight must have a positive sum, got all zeros"):
        net.fit(X, Y, sample_weight=np.zeros(20), **kw)  # the weights given: as before
