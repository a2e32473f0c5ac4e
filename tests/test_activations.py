"""Activations: values, derivatives against finite differences, extremes, custom ones."""

import numpy as np
import pytest

from psinet import Network, check_gradients
from psinet import activations as act

ELEMENTWISE = [name for name, cls in act.ACTIVATIONS.items() if cls.elementwise]

REFERENCE = {  # straightforward definitions, written independently of the library
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "elu": lambda z: np.where(z > 0, z, np.exp(np.minimum(z, 0)) - 1),
    "softplus": lambda z: np.log1p(np.exp(z)),
    "identity": lambda z: z,
    "softmax": lambda z: np.exp(z) / np.exp(z).sum(axis=1, keepdims=True),
}


@pytest.mark.parametrize("name", sorted(act.ACTIVATIONS))
def test_values_match_the_definitions(name):
    z = np.random.default_rng(0).uniform(-5, 5, size=(7, 4))
    np.testing.assert_allclose(act.get(name).value(z), REFERENCE[name](z), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivatives_match_central_differences(name):
    f = act.get(name)
    z = np.random.default_rng(1).uniform(-4, 4, size=(6, 5))
    z[np.abs(z) < 0.01] = 0.5  # off the kinks
    h = 1e-6
    numeric = (f.value(z + h) - f.value(z - h)) / (2 * h)
    np.testing.assert_allclose(f.derivative(z, f.value(z)), numeric, rtol=1e-7, atol=1e-9)
    g = np.random.default_rng(2).normal(size=z.shape)
    np.testing.assert_allclose(f.backward(g, z, f.value(z)), g * numeric, rtol=1e-7, atol=1e-9)


def test_softmax_jacobian_matches_central_differences():
    f = act.get("softmax")
    z = np.random.default_rng(3).normal(size=(2, 4))
    J = f.derivative(z, f.value(z))
    h = 1e-6
    for j in range(4):
        dz = np.zeros_like(z)
        dz[:, j] = h
        column = (f.value(z + dz) - f.value(z - dz)) / (2 * h)  # ∂a/∂z_j
        np.testing.assert_allclose(J[:, :, j], column, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(act.ACTIVATIONS))
def test_extreme_inputs_are_finite_without_warnings(name, dtype):
    # pytest turns warnings into errors (pyproject), so an overflow warning fails here.
    f = act.get(name)
    z = np.array([[-1e4, -50.0, 0.0, 50.0, 1e4], [1e4, 1e4, -1e4, 3.0, -3.0]], dtype=dtype)
    a = f.value(z)
    assert a.dtype == dtype and np.isfinite(a).all()
    g = np.ones_like(z)
    psi = f.backward(g, z, a)
    assert psi.dtype == dtype and np.isfinite(psi).all()
    if f.elementwise:
        assert np.isfinite(f.derivative(z, a)).all()


def test_sigmoid_saturates_to_exactly_zero_and_one():
    a = act.get("sigmoid").value(np.array([[-1e4, 1e4]]))
    np.testing.assert_array_equal(a, [[0.0, 1.0]])


def test_lookup_by_name_config_and_object():
    assert isinstance(act.get("relu"), act.ReLU)
    leaky = act.get({"name": "leaky_relu", "alpha": 0.2})
    assert leaky.alpha == 0.2 and act.get(leaky) is leaky
    assert act.get(leaky.get_config()) == leaky
    with pytest.raises(ValueError, match=r"unknown activation 'relux'; expected one of \["):
        act.get("relux")
    with pytest.raises(TypeError, match="activation must be a name"):
        act.get(3)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\), got 2"):
        act.LeakyReLU(2)


def test_a_user_defined_activation_trains_through_backprop():
    class Cube(act.Activation):
        """f(z) = z³/3, f'(z) = z²: only value and derivative are written."""

        name = "cube"

        def value(self, z, out=None):
            return np.divide(z**3, 3, out=out)

        def derivative(self, z, a):
            return z * z

    net = Network([3, 4, 2], [Cube(), "identity"], seed=0)
    rng = np.random.default_rng(0)
    report = check_gradients(net, rng.normal(size=(5, 3)), rng.normal(size=(5, 2)), "mse")
    assert report.passed, str(report)


# ------------------------------------------------------------------ registry of custom activations


@pytest.fixture
def registry():
    """Custom activations registered in a test are forgotten after it."""
    saved = dict(act.REGISTERED)
    yield
    act.REGISTERED.clear()
    act.REGISTERED.update(saved)


class _Sine(act.Activation):
    name = "reg_sine"

    def value(self, z, out=None):
        return np.sin(z, out=out)

    def derivative(self, z, a):
        return np.cos(z)


def test_register_makes_a_custom_activation_known_by_name(registry):
    import psinet

    assert psinet.register_activation is act.register
    with pytest.raises(
        ValueError, match=r"unknown activation 'reg_sine'.*psinet\.register_activation"
    ):
        act.get("reg_sine")
    assert act.register(_Sine) is _Sine
    assert act.register(_Sine) is _Sine  # again: a no-op
    assert type(act.get("reg_sine")) is _Sine
    assert type(act.get({"name": "reg_sine"})) is _Sine
    assert act.lookup("reg_sine") is _Sine and act.lookup("tanh") is act.Tanh
    assert "reg_sine" not in act.ACTIVATIONS  # the built-ins stay as they are
    net = Network([2, 2], "reg_sine", seed=0)
    assert type(net.activations[0]) is _Sine


def test_register_as_a_decorator_with_parameters(registry):
    @act.register
    class Scaled(act.Activation):
        name = "reg_scaled"

        def __init__(self, k=2.0):
            self.k = k

        def value(self, z, out=None):
            return np.multiply(z, self.k, out=out)

        def derivative(self, z, a):
            return np.full_like(z, self.k)

    assert act.get({"name": "reg_scaled", "k": 3.0}).k == 3.0
    with pytest.raises(TypeError, match="unexpected keyword"):
        act.get({"name": "reg_scaled", "beta": 3.0})


def test_register_refuses_taken_names_and_bad_classes(registry):
    act.register(_Sine)

    class OtherSine(_Sine):  # inherits the name "reg_sine" of its parent
        pass

    class FakeTanh(act.Tanh):
        pass

    class Relu2(act.Activation):
        name = "relu"

    with pytest.raises(ValueError, match=r"'reg_sine' is taken by .*_Sine; give OtherSine its own"):
        act.register(OtherSine)
    with pytest.raises(ValueError, match=r"'tanh' is taken by psinet\.activations\.Tanh"):
        act.register(FakeTanh)
    with pytest.raises(ValueError, match=r"'relu' is taken by psinet\.activations\.ReLU"):
        act.register(Relu2)

    class Nameless(act.Activation):
        name = ""

    with pytest.raises(TypeError, match="non-empty str class attribute 'name'"):
        act.register(Nameless)
    for bad in (act.Activation, int, "tanh", _Sine()):
        with pytest.raises(TypeError, match=r"subclass of psinet\.activations\.Activation"):
            act.register(bad)
    assert act.REGISTERED == {"reg_sine": _Sine}  # refusals changed nothing


@pytest.mark.parametrize("cls", [act.LeakyReLU, act.ELU])
@pytest.mark.parametrize("alpha", [float("inf"), float("nan"), 10**400, -(10**400)])
def test_alpha_must_be_finite(cls, alpha):
    with pytest.raises(ValueError, match="alpha must be"):
        cls(alpha)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_max_and_row_sum_of_many_short_rows_equal_numpys(dtype):
    """The column-wise row maximum (many short rows) and the product-with-ones row sum
    give NumPy's results: the maximum exactly, NaN included; the sum to rounding."""
    rng = np.random.default_rng(0)
    for shape in [(1000, 10), (1000, 1), (1000, 40), (10, 10), (3, 4, 5)]:
        z = rng.normal(size=shape).astype(dtype) * 30
        z.flat[7] = np.inf
        z.flat[123 % z.size] = np.nan
        np.testing.assert_array_equal(act.row_max(z), z.max(axis=-1, keepdims=True))
        a = np.exp(np.minimum(z, 5), where=np.isfinite(z), out=np.zeros_like(z))
        rtol = 1e-12 if dtype == np.float64 else 1e-5
        np.testing.assert_allclose(act.row_sum(a), a.sum(axis=-1, keepdims=True), rtol=rtol)


def test_softmax_value_is_the_training_steps_softmax_bit_for_bit():
    from psinet.engine.moves import forward_move

    rng = np.random.default_rng(1)
    z = rng.normal(size=(300, 10)) * 20
    f, a = act.Softmax(), np.empty((300, 10))
    forward_move(f, z, a)()  # the engine's softmax
    np.testing.assert_array_equal(f.value(z), a)


def test_a_config_dict_without_its_name_is_refused_saying_so():
    with pytest.raises(
        ValueError, match=r"config dict needs its 'name' \(a string\), got \{'beta': 1.5\}"
    ):
        act.get({"beta": 1.5})
