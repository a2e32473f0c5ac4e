"""Your own activation or loss: the simplest correct code gives correct results everywhere.

A method that takes ``out=`` may write into it and return it, or ignore it and return
a new array; psinet uses what is returned in ``forward``, ``predict``, ``gradients``,
``fit`` and ``check_gradients`` alike. Wrong return values are refused with the class
and method named, and an exception raised inside a custom part says which part.
"""

import re

import numpy as np
import pytest

import psinet
from psinet import DivergenceError, Network, check_gradients, gradients
from psinet.activations import Activation
from psinet.losses import Loss

RNG = np.random.default_rng(0)
X = RNG.normal(size=(6, 3))
Y = RNG.normal(size=(6, 2))


# ---------------------------------------------------------------------- activations
class Sine(Activation):
    """The simple way: ``out`` ignored, a new array returned."""

    name = "test_sine"

    def value(self, z, out=None):
        return np.sin(z)

    def derivative(self, z, a):
        return np.cos(z)


class SineOut(Activation):
    """The fast way: written into ``out`` and ``out`` returned."""

    name = "test_sine_out"

    def value(self, z, out=None):
        return np.sin(z, out=out)

    def derivative(self, z, a):
        return np.cos(z)


class SineOwnBackward(Sine):
    """``backward`` overridden, and ``out`` ignored there too."""

    name = "test_sine_own_backward"

    def backward(self, grad_a, z, a, out=None):
        return grad_a * np.cos(z)


class SineFloat64(Sine):
    """Returns float64 whatever the network's dtype (a float32 net must stay float32)."""

    name = "test_sine_float64"

    def value(self, z, out=None):
        return np.sin(z.astype(np.float64))

    def derivative(self, z, a):
        return np.cos(z.astype(np.float64))


def reference_forward(net, X):
    """ŷ computed here, with NumPy alone: X̄_l = [X_l, 1], z_l = X̄_l W_lᵀ, f = sin / identity."""
    a = X
    for l, W in enumerate(net.weights):
        z = np.hstack([a, np.ones((len(a), 1))]) @ W.T
        a = np.sin(z) if l < net.n_layers - 1 else z
    return a


SINES = [Sine, SineOut, SineOwnBackward, SineFloat64]


@pytest.mark.parametrize("cls", SINES)
def test_custom_activation_forward_equals_predict_equals_numpy(cls):
    net = Network([3, 5, 4, 2], [cls(), cls(), "identity"], seed=1)
    expected = reference_forward(net, X)
    y_forward, y_predict = net.forward(X), net.predict(X)
    np.testing.assert_allclose(y_forward, expected, rtol=1e-12)
    np.testing.assert_array_equal(y_forward, y_predict)
    np.testing.assert_array_equal(net.cache.a[0], np.sin(net.cache.z[0]))


@pytest.mark.parametrize("cls", SINES)
def test_custom_activation_gradients_and_check_gradients(cls):
    net = Network([3, 5, 4, 2], [cls(), cls(), "identity"], seed=1)
    builtin_like = Network([3, 5, 4, 2], [SineOut(), SineOut(), "identity"], seed=1)
    grads, E = gradients(net, X, Y, "mse")
    expected, E_expected = gradients(builtin_like, X, Y, "mse")
    assert E == pytest.approx(E_expected, rel=1e-15)
    for g, e in zip(grads, expected):
        np.testing.assert_allclose(g, e, rtol=1e-13, atol=1e-16)
    assert all(np.abs(g).max() > 1e-3 for g in grads)
    report = check_gradients(net, X, Y, "mse")
    assert report.passed, str(report)


@pytest.mark.parametrize("cls", SINES)
def test_custom_activation_fit_learns_like_the_out_version(cls):
    nets = [Network([3, 5, 2], [c(), "identity"], seed=2) for c in (cls, SineOut)]
    histories = [
        net.fit(X, Y, loss="mse", optimizer=psinet.optimizers.SGD(0.1), epochs=20, verbose=0)
        for net in nets
    ]
    assert histories[0]["loss"][-1] < 0.8 * histories[0]["loss"][0]
    np.testing.assert_allclose(histories[0]["loss"], histories[1]["loss"], rtol=1e-12)
    for W, V in zip(nets[0].weights, nets[1].weights):
        np.testing.assert_allclose(W, V, rtol=1e-12)


def test_float32_network_with_a_float64_activation_stays_float32():
    net = Network([3, 5, 2], [SineFloat64(), "identity"], seed=1, dtype=np.float32)
    y_forward, y_predict = net.forward(X), net.predict(X)
    assert y_forward.dtype == y_predict.dtype == np.float32
    np.testing.assert_array_equal(y_forward, y_predict)
    grads, _ = gradients(net, X, Y, "mse")
    assert all(g.dtype == np.float32 for g in grads)


def test_a_constant_derivative_may_be_a_number():
    class Doubler(Activation):
        name = "test_doubler"

        def value(self, z, out=None):
            return 2 * z

        def derivative(self, z, a):
            return 2.0  # f'(z) = 2 everywhere: broadcasting a scalar is correct

    net = Network([3, 4, 2], [Doubler(), "identity"], seed=0)
    assert check_gradients(net, X, Y, "mse").passed


# ---------------------------------------------------------------------- losses
class HalfSquares(Loss):
    """The mse written the simple way: ``out`` ignored, a new array returned."""

    name = "test_half_squares"

    def value(self, y_hat, Y):
        return 0.5 * np.sum((y_hat - Y) ** 2) / len(Y)

    def gradient(self, y_hat, Y, out=None):
        return (y_hat - Y) / len(Y)


class HalfSquaresOut(HalfSquares):
    """The fast way: written into ``out``, which is returned."""

    name = "test_half_squares_out"

    def gradient(self, y_hat, Y, out=None):
        out = np.subtract(y_hat, Y, out=out)
        out /= len(Y)
        return out


class HalfSquaresBoth(HalfSquares):
    """``value_and_gradient`` overridden, ignoring ``out`` and ``scale`` handled."""

    name = "test_half_squares_both"

    def value_and_gradient(self, y_hat, Y, out=None, scale=1.0):
        r = y_hat - Y
        return 0.5 * float(np.sum(r * r)) / len(Y), r * (scale / len(Y))


LOSSES = [HalfSquares, HalfSquaresOut, HalfSquaresBoth]


@pytest.mark.parametrize("cls", LOSSES)
@pytest.mark.parametrize("output", ["identity", "tanh"])
def test_custom_loss_gradients_equal_mse(cls, output):
    net = Network([3, 5, 2], ["tanh", output], seed=3)
    grads, E = gradients(net, X, Y, cls())
    expected, E_mse = gradients(net, X, Y, "mse")
    assert E == pytest.approx(E_mse, rel=1e-13)
    for g, e in zip(grads, expected):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-16)
    assert all(np.abs(g).max() > 1e-3 for g in grads)  # not the zeros of an ignored out=
    assert check_gradients(net, X, Y, cls()).passed
    assert net.evaluate(X, Y, cls())["loss"] == pytest.approx(E_mse, rel=1e-13)


@pytest.mark.parametrize("cls", LOSSES)
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_custom_loss_fit_equals_mse_fit(cls, optimizer):
    def make():
        return {
            "sgd": psinet.optimizers.SGD(0.1),  # η is folded into Ψ: the scale= path
            "momentum": psinet.optimizers.SGD(0.1, momentum=0.9),
            "adam": psinet.optimizers.Adam(0.01),
        }[optimizer]

    nets = [Network([3, 5, 2], ["tanh", "identity"], seed=4) for _ in range(2)]
    h_custom = nets[0].fit(
        X, Y, loss=cls(), optimizer=make(), epochs=15, batch_size=4, seed=0, verbose=0
    )
    h_mse = nets[1].fit(
        X, Y, loss="mse", optimizer=make(), epochs=15, batch_size=4, seed=0, verbose=0
    )
    assert h_custom["loss"][-1] < 0.9 * h_custom["loss"][0]
    np.testing.assert_allclose(h_custom["loss"], h_mse["loss"], rtol=1e-10)
    for W, V in zip(nets[0].weights, nets[1].weights):
        np.testing.assert_allclose(W, V, rtol=1e-10, atol=1e-14)


# ---------------------------------------------------------------------- refused results
def _activation(value=None, derivative=None, backward=None):
    methods = {"name": "test_bad"}
    if value is not None:
        methods["value"] = lambda self, z, out=None: value(z)
    else:
        methods["value"] = lambda self, z, out=None: np.sin(z)
    methods["derivative"] = (
        (lambda self, z, a: derivative(z)) if derivative else (lambda self, z, a: np.cos(z))
    )
    if backward is not None:
        methods["backward"] = lambda self, g, z, a, out=None: backward(g)
    return type("BadSine", (Activation,), methods)()


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (
            lambda z: None,
            TypeError,
            r"BadSine\.value must return an ndarray of shape \(6, 5\).*NoneType; return the array",
        ),
        (
            lambda z: np.sin(z).sum(axis=1),
            ValueError,
            r"BadSine\.value must return .*shape \(6, 5\).*got shape \(6,\)",
        ),
        (lambda z: np.sin(z)[:, :1], ValueError, r"BadSine\.value .*got shape \(6, 1\)"),
        (
            lambda z: np.sin(z).tolist(),
            TypeError,
            r"BadSine\.value must return an ndarray.*got list",
        ),
        (
            lambda z: np.sin(z) + 0j,
            TypeError,
            r"BadSine\.value must return real numbers, got .*complex",
        ),
    ],
    ids=["None", "summed", "column", "list", "complex"],
)
def test_a_wrong_value_is_refused_naming_the_class(value, error, message):
    net = Network([3, 5, 2], [_activation(value=value), "identity"], seed=0)
    before = [W.copy() for W in net.weights]
    for call in (
        lambda: net.forward(X),
        lambda: net.predict(X),
        lambda: gradients(net, X, Y, "mse"),
        lambda: check_gradients(net, X, Y, "mse"),
        lambda: net.fit(X, Y, loss="mse", epochs=1, verbose=0),
    ):
        with pytest.raises(error, match=message):
            call()
    for W, V in zip(before, net.weights):
        np.testing.assert_array_equal(W, V)


def test_a_wrong_derivative_or_backward_is_refused_naming_the_method():
    column = _activation(derivative=lambda z: np.cos(z)[:, :1])  # (N, 1) would broadcast
    net = Network([3, 5, 2], [column, "identity"], seed=0)
    with pytest.raises(
        ValueError, match=r"BadSine\.derivative .*shape \(6, 5\).*got shape \(6, 1\)"
    ):
        gradients(net, X, Y, "mse")
    nothing = _activation(backward=lambda g: None)
    net = Network([3, 5, 2], [nothing, "identity"], seed=0)
    with pytest.raises(TypeError, match=r"BadSine\.backward must return an ndarray"):
        gradients(net, X, Y, "mse")
    net = Network([3, 2], [nothing], seed=0)  # the output layer's backward
    with pytest.raises(TypeError, match=r"BadSine\.backward must return an ndarray"):
        gradients(net, X, Y, "mse")


def test_a_wrong_loss_result_is_refused_naming_the_method():
    class PerSample(HalfSquares):
        def value(self, y_hat, Y):
            return 0.5 * np.sum((y_hat - Y) ** 2, axis=1)  # forgot the mean over samples

    class Flat(HalfSquares):
        def gradient(self, y_hat, Y, out=None):
            return ((y_hat - Y) / len(Y)).ravel()

    class Nothing(HalfSquaresOut):
        def gradient(self, y_hat, Y, out=None):
            super().gradient(y_hat, Y, out=out)  # wrote into out, forgot to return it

    net = Network([3, 5, 2], ["tanh", "identity"], seed=0)
    for call in (
        lambda: gradients(net, X, Y, PerSample()),
        lambda: net.evaluate(X, Y, PerSample()),
        lambda: check_gradients(net, X, Y, PerSample()),
        lambda: net.fit(X, Y, loss=PerSample(), epochs=1, verbose=0),
    ):
        with pytest.raises(
            TypeError, match=r"PerSample\.value must return E as one float.*shape \(6,\)"
        ):
            call()
    with pytest.raises(
        ValueError, match=r"Flat\.gradient must return .*\(6, 2\).*got shape \(12,\)"
    ):
        gradients(net, X, Y, Flat())
    with pytest.raises(TypeError, match=r"Nothing\.gradient must return an ndarray.*NoneType"):
        net.fit(X, Y, loss=Nothing(), epochs=1, verbose=0)


def _notes(excinfo):
    return " ".join(getattr(excinfo.value, "__notes__", []))


def test_an_exception_inside_a_custom_part_names_the_part():
    class Fragile(Sine):
        def derivative(self, z, a):
            raise ZeroDivisionError("my bug")

    net = Network([3, 5, 2], [Fragile(), "identity"], seed=0)
    with pytest.raises(ZeroDivisionError, match="my bug") as excinfo:
        gradients(net, X, Y, "mse")
    assert "Fragile.derivative" in _notes(excinfo) and "backprop, layer 0" in _notes(excinfo)

    class Clumsy(Sine):
        def value(self, z):
            return np.sin(z, out=np.empty(z.shape, np.int64))  # numpy refuses the cast

    net = Network([3, 5, 2], [Clumsy(), "identity"], seed=0)
    with pytest.raises(TypeError) as excinfo:
        net.forward(X)
    assert "Clumsy.value" in _notes(excinfo) and "forward pass, layer 0" in _notes(excinfo)

    class BrokenLoss(HalfSquares):
        def gradient(self, y_hat, Y, out=None):
            raise KeyError("oops")

    with pytest.raises(KeyError) as excinfo:
        net = Network([3, 5, 2], ["tanh", "identity"], seed=0)
        net.fit(X, Y, loss=BrokenLoss(), epochs=1, verbose=0)
    assert "BrokenLoss.gradient" in _notes(excinfo)


def test_psinet_own_errors_get_no_note():
    net = Network([3, 5, 2], [_activation(value=lambda z: None), "identity"], seed=0)
    with pytest.raises(TypeError) as excinfo:
        net.forward(X)
    assert _notes(excinfo) == ""


# ------------------------------------------------- signatures psinet cannot call
def test_the_simplest_value_is_the_whole_protocol():
    """`def value(self, z)` is the first thing a learner writes: it is all psinet calls
    (no out=, no scale), in forward, in backprop and in fit alike."""

    class Swish(Activation):
        name = "test_swish_plain"

        def value(self, z):
            return z / (1 + np.exp(-z))

        def derivative(self, z, a):
            s = 1 / (1 + np.exp(-z))
            return s + z * s * (1 - s)

    net = Network([3, 4, 2], [Swish(), "identity"], seed=0)
    assert check_gradients(net, X, Y, "mse").passed
    net.fit(X, Y, loss="mse", epochs=2, batch_size=4, verbose=0)
    assert np.isfinite(net.predict(X)).all()


@pytest.mark.parametrize(
    ("method", "source", "needed"),
    [
        (
            "backward",
            "def backward(self, grad_a): return grad_a",
            "def backward(self, grad_a, z, a)",
        ),
        ("derivative", "def derivative(self, z): return 1.0", "def derivative(self, z, a)"),
    ],
)
def test_other_activation_methods_psinet_cannot_call_are_refused(method, source, needed):
    namespace: dict = {}
    exec(source, namespace)
    with pytest.raises(TypeError, match=rf"Bad\.{method}.*{re.escape(needed)}"):
        type("Bad", (Sine,), {"name": "test_bad", method: namespace[method]})


@pytest.mark.parametrize(
    ("method", "source", "needed"),
    [
        ("gradient", "def gradient(self, y_hat): return y_hat", "def gradient(self, y_hat, Y)"),
        ("value", "def value(self, Y): return 0.0", "def value(self, y_hat, Y)"),
    ],
)
def test_loss_methods_psinet_cannot_call_are_refused(method, source, needed):
    namespace: dict = {}
    exec(source, namespace)
    with pytest.raises(TypeError, match=rf"Bad\.{method}.*{re.escape(needed)}"):
        type("Bad", (HalfSquares,), {"name": "test_bad_loss", method: namespace[method]})


def test_any_signature_that_takes_psinet_call_is_accepted():
    class Flexible(Activation):
        name = "test_flexible"

        def value(self, z, *args, **kwargs):
            return np.tanh(z)

        def derivative(self, z, a, *rest):
            return 1 - a * a

    net = Network([3, 4, 2], [Flexible(), "identity"], seed=0)
    assert np.allclose(net.predict(X), Network([3, 4, 2], ["tanh", "identity"], seed=0).predict(X))


# ------------------------------------------------- a part that returns NaN or inf
class NaNAt(Activation):
    """A buggy activation: NaN where z < 0 (sqrt of a negative), from finite z."""

    name = "test_nan_at"

    def value(self, z):
        with np.errstate(invalid="ignore"):
            return np.sqrt(z)

    def derivative(self, z, a):
        return 0.5 / a


class InfAt(Activation):
    """An activation that overflows inside itself: exp(z) for finite z >= 710."""

    name = "test_inf_at"

    def value(self, z):
        with np.errstate(over="ignore"):
            return np.exp(z)

    def derivative(self, z, a):
        return a


def test_a_part_that_returns_nan_from_finite_z_is_named_not_called_an_overflow():
    net = Network([3, 5, 2], ["identity", NaNAt()], seed=0)
    for call in (net.forward, net.predict):
        with pytest.raises(ValueError, match=r"NaNAt\.value returned NaN at layer 1 from finite z"):
            call(X)
    net = Network([3, 5, 2], [NaNAt(), "identity"], seed=0)
    for call in (net.forward, net.predict, lambda X: gradients(net, X, Y, "mse")):
        with pytest.raises(ValueError, match=r"NaNAt\.value returned NaN at layer 0") as excinfo:
            call(X)
        assert "overflowed" not in str(excinfo.value) and "scale the inputs" not in str(
            excinfo.value
        )


def test_fit_and_evaluate_name_a_part_that_returns_nan_too():
    """Not "try a smaller learning rate" nor "the loss overflowed": the part and layer."""
    net = Network([3, 5, 2], [NaNAt(), "sigmoid"], seed=0)
    Y01 = (Y > 0).astype(float)
    before = [W.copy() for W in net.weights]
    with pytest.raises(DivergenceError, match=r"step 1 of 1: NaNAt\.value returned NaN at layer 0"):
        net.fit(X, Y01, loss="binary_crossentropy", epochs=1, batch_size=len(X), verbose=0)
    assert all(np.array_equal(W, W0) for W, W0 in zip(net.weights, before))
    with pytest.raises(ValueError, match=r"NaNAt\.value returned NaN at layer 0") as excinfo:
        net.evaluate(X, Y01, "binary_crossentropy")
    assert "overflowed" not in str(excinfo.value)


def test_a_part_that_returns_inf_from_finite_z_is_named_too():
    net = Network([3, 1], [InfAt()], seed=0)
    net.weights[0] = np.array([[1000.0, 0.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match=r"InfAt\.value returned inf at layer 0 from finite z"):
        net.predict(np.ones((2, 3)))


def test_a_genuine_overflow_of_z_is_still_an_overflow_not_the_part():
    net = Network([2, 1], [NaNAt()], seed=0)  # NaNAt would be blamed if it were asked
    net.weights[0] = np.array([[1e300, 1e300, 0.0]])
    for call in (net.forward, net.predict):
        with pytest.raises(ValueError, match=r"the outputs overflowed float64.*scale the inputs"):
            call([[1e10, 1e10]])
