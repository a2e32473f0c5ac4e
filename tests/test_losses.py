"""Losses: values as in docs/notation.md, gradients, stability from z, target checks."""

import numpy as np
import pytest

from psinet import Network, gradients
from psinet import activations as act
from psinet import losses as L


def test_values_follow_the_notation_sum_over_outputs_mean_over_samples():
    y_hat = np.array([[0.2, 0.8], [0.6, 0.4], [0.9, 0.1]])
    Y = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    N = 3
    mse = sum((y_hat[n, k] - Y[n, k]) ** 2 for n in range(N) for k in range(2)) / (2 * N)
    bce = (
        -sum(
            Y[n, k] * np.log(y_hat[n, k]) + (1 - Y[n, k]) * np.log(1 - y_hat[n, k])
            for n in range(N)
            for k in range(2)
        )
        / N
    )
    cce = -sum(Y[n, k] * np.log(y_hat[n, k]) for n in range(N) for k in range(2)) / N
    assert L.get("mse").value(y_hat, Y) == pytest.approx(mse, rel=1e-14)
    assert L.get("binary_crossentropy").value(y_hat, Y) == pytest.approx(bce, rel=1e-14)
    assert L.get("categorical_crossentropy").value(y_hat, Y) == pytest.approx(cce, rel=1e-14)


@pytest.mark.parametrize("name", sorted(L.LOSSES))
def test_gradient_matches_central_differences_multi_output(name):
    rng = np.random.default_rng(0)
    y_hat = rng.uniform(0.1, 0.9, size=(4, 3))
    Y = np.eye(3)[[0, 2, 1, 2]]
    loss = L.get(name)
    numeric = np.empty_like(y_hat)
    h = 1e-6
    for i in np.ndindex(*y_hat.shape):
        d = np.zeros_like(y_hat)
        d[i] = h
        numeric[i] = (loss.value(y_hat + d, Y) - loss.value(y_hat - d, Y)) / (2 * h)
    np.testing.assert_allclose(loss.gradient(y_hat, Y), numeric, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("output", "loss", "width"),
    [
        ("sigmoid", "binary_crossentropy", 2),
        ("softmax", "categorical_crossentropy", 3),
        ("sigmoid", "mse", 2),
    ],
)
def test_saturated_outputs_give_finite_loss_and_gradients(output, loss, width, dtype):
    """Weights so large that ŷ rounds to exactly 0 or 1, wrong on purpose."""
    net = Network([2, width], output, dtype=dtype)
    net.weights[0] = np.full((width, 3), 0.0)
    net.weights[0][0, 0] = 5000.0  # z = ±5000 on the first output
    X = np.array([[1.0, 0.0], [-1.0, 0.0]])
    Y = np.zeros((2, width))
    Y[0, 1], Y[1, 0] = 1, 1  # targets far from the saturated outputs
    grads, E = gradients(net, X, Y, loss)
    assert np.isfinite(E)
    assert all(np.isfinite(g).all() and g.dtype == dtype for g in grads)
    if loss == "binary_crossentropy":
        # sample 0: −log(1 − σ(5000)) = 5000 and −log σ(0) = log 2; sample 1: likewise
        assert E == pytest.approx((5000 + np.log(2) + 5000 + np.log(2)) / 2, rel=1e-6)


@pytest.mark.parametrize(
    ("loss", "Y", "message"),
    [
        ("binary_crossentropy", [[0.0], [2.0]], r"must lie in \[0, 1\], got values from 0 to 2"),
        ("binary_crossentropy", [[-1.0], [1.0]], r"must lie in \[0, 1\]"),
        (
            "categorical_crossentropy",
            [[1.0, 1.0], [0.0, 1.0]],
            "summing to 1, got row 0 summing to 2",
        ),
        ("categorical_crossentropy", [[0.5, 0.2], [0.0, 1.0]], "one_hot"),
    ],
)
def test_targets_outside_the_domain_are_refused(loss, Y, message):
    out = "sigmoid" if loss == "binary_crossentropy" else "softmax"
    width = np.shape(Y)[1]
    net = Network([2, width], out, seed=0)
    with pytest.raises(ValueError, match=message):
        gradients(net, np.zeros((2, 2)), Y, loss)


def test_unknown_loss_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown loss 'cross'; expected one of \['binary"):
        L.get("cross")
    with pytest.raises(TypeError, match="loss must be a name"):
        L.get(None)


# ------------------------------------------------------------------ registry of custom losses


@pytest.fixture
def registry():
    """Custom losses registered in a test are forgotten after it."""
    saved = dict(L.REGISTERED)
    yield
    L.REGISTERED.clear()
    L.REGISTERED.update(saved)


class _MeanAbsolute(L.Loss):
    """E = 1/N Σ_n Σ_k |ŷ_nk − y_nk|, ∂E/∂ŷ = sign(ŷ − Y)/N."""

    name = "reg_mae"

    def value(self, y_hat, Y):
        return float(np.abs(y_hat - Y).sum()) / len(Y)

    def gradient(self, y_hat, Y, out=None):
        out = np.sign(np.subtract(y_hat, Y, out=out), out=out)
        out /= len(Y)
        return out


def test_register_makes_a_custom_loss_known_by_name(registry):
    import psinet

    assert psinet.register_loss is L.register
    with pytest.raises(ValueError, match=r"unknown loss 'reg_mae'.*psinet\.register_loss"):
        L.get("reg_mae")
    assert L.register(_MeanAbsolute) is _MeanAbsolute
    assert L.register(_MeanAbsolute) is _MeanAbsolute  # again: a no-op
    assert type(L.get("reg_mae")) is _MeanAbsolute
    assert "reg_mae" not in L.LOSSES
    net = Network([2, 1], "identity", seed=0)
    X, Y = np.array([[1.0, 2.0]]), np.array([[10.0]])
    grads, E = gradients(net, X, Y, "reg_mae")
    assert E == pytest.approx(_MeanAbsolute().value(net.predict(X), Y))
    np.testing.assert_allclose(grads[0], [[-1.0, -2.0, -1.0]])  # sign(ŷ − y)·[x, 1]


def test_register_refuses_taken_names_and_bad_classes(registry):
    L.register(_MeanAbsolute)

    class Subclass(_MeanAbsolute):  # inherits the name "reg_mae"
        pass

    class MyMSE(L.MeanSquaredError):
        pass

    with pytest.raises(ValueError, match=r"'reg_mae' is taken by .*_MeanAbsolute; give Subclass"):
        L.register(Subclass)
    with pytest.raises(ValueError, match=r"'mse' is taken by psinet\.losses\.MeanSquaredError"):
        L.register(MyMSE)

    class Nameless(L.Loss):
        name = None

    with pytest.raises(TypeError, match="non-empty str class attribute 'name'"):
        L.register(Nameless)
    for bad in (L.Loss, object, "mse"):
        with pytest.raises(TypeError, match=r"subclass of psinet\.losses\.Loss"):
            L.register(bad)
    assert L.REGISTERED == {"reg_mae": _MeanAbsolute}


@pytest.mark.parametrize(
    ("output", "loss", "right"),
    [
        ("sigmoid", "categorical_crossentropy", "softmax"),
        ("identity", "categorical_crossentropy", "softmax"),
        ("tanh", "binary_crossentropy", "sigmoid"),
        ("relu", "binary_crossentropy", "sigmoid"),
        ("identity", "binary_crossentropy", "sigmoid"),
    ],
)
def test_a_loss_that_is_not_a_loss_of_the_outputs_is_refused_everywhere(output, loss, right):
    """Sigmoid outputs with categorical cross-entropy train to a low E that means nothing
    (the rows need not sum to 1); identity or relu outputs with binary cross-entropy give
    E of outputs outside (0, 1). Refused before anything changes, naming the right pair."""
    import psinet
    from psinet import Network, optimizers

    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 3))
    Y = np.eye(2)[rng.integers(0, 2, size=6)]
    net = Network([3, 4, 2], ["tanh", output], seed=0)
    before = [W.copy() for W in net.weights]
    message = rf"{loss} needs .* the output activation '{output}' .* use a '{right}' output"
    for call in (
        lambda: net.fit(X, Y, loss=loss, epochs=1, verbose=0),
        lambda: net.evaluate(X, Y, loss),
        lambda: psinet.gradients(net, X, Y, loss),
        lambda: psinet.trace(net, X, Y, loss),
        lambda: psinet.check_gradients(net, X, Y, loss),
        lambda: psinet.training.train_step(net, X, Y, loss, optimizers.SGD(0.1)),
    ):
        with pytest.raises(ValueError, match=message):
            call()
    assert all(np.array_equal(W, W0) for W, W0 in zip(net.weights, before))
    assert net.cache is None


def test_pairs_that_mean_something_are_accepted_and_custom_parts_can_declare():
    from psinet import Network

    for output, loss in [("sigmoid", "binary_crossentropy"), ("softmax", "binary_crossentropy"),
                         ("softmax", "categorical_crossentropy"), ("tanh", "mse")]:  # fmt: skip
        L.check_pair(L.get(loss), Network([2, 2], output).activations[-1])

    class Squash(act.Activation):  # a custom output that says what it gives
        name = "test_pair_squash"
        outputs = "probability"

        def value(self, z):
            return 0.5 * (1 + z / (1 + np.abs(z)))

        def derivative(self, z, a):
            return 0.5 / (1 + np.abs(z)) ** 2

    L.check_pair(L.get("binary_crossentropy"), Squash())
    with pytest.raises(ValueError, match="categorical_crossentropy needs rows that sum to 1"):
        L.check_pair(L.get("categorical_crossentropy"), Squash())

    class Undeclared(Squash):  # a custom output that declares nothing: psinet cannot tell
        name = "test_pair_undeclared"
        outputs = None

    L.check_pair(L.get("categorical_crossentropy"), Undeclared())
