"""Bad input at the public boundary: a clear ValueError/TypeError, nothing changed."""

import io
import math
from fractions import Fraction

import numpy as np
import pytest

import psinet
from psinet import (
    EarlyStopping,
    Network,
    Standardizer,
    check_gradients,
    datasets,
    evaluate,
    fit,
    gradients,
    trace,
)
from psinet import activations as act
from psinet import optimizers as opt
from psinet import schedules as sch
from psinet.gradcheck import numerical_gradients
from psinet.preprocessing import NotFittedError, one_hot, train_test_split


@pytest.fixture
def net():
    return Network([3, 4, 2], ["relu", "softmax"], seed=0)


@pytest.mark.parametrize(
    ("sizes", "error", "message"),
    [
        ([3], ValueError, "at least two layer widths"),
        ([3, 0, 1], ValueError, r"sizes must be >= 1, got 0"),
        ([3, 2.5], TypeError, r"sizes must be ints, got 2.5"),
        ("34", TypeError, "sizes must be a sequence of ints"),
        (5, TypeError, "sizes must be a sequence of ints"),
    ],
)
def test_bad_sizes(sizes, error, message):
    with pytest.raises(error, match=message):
        Network(sizes, "relu")


def test_bad_activations_and_dtype():
    with pytest.raises(ValueError, match=r"one per weight layer \(2 for these sizes\), got 3"):
        Network([3, 4, 2], ["relu", "relu", "softmax"])
    with pytest.raises(ValueError, match=r"unknown activation 'sigmoidd'; expected one of"):
        Network([3, 4, 2], ["sigmoidd", "softmax"])
    with pytest.raises(ValueError, match=r"numpy\.float32, got int64"):
        Network([3, 2], "relu", dtype=np.int64)


@pytest.mark.parametrize(
    ("X", "error", "message"),
    [
        (np.zeros((5, 4)), ValueError, r"X must have shape \(N, 3\) or \(3,\), got shape \(5, 4\)"),
        (np.zeros(2), ValueError, r"got shape \(2,\)"),
        (np.zeros((2, 3, 1)), ValueError, r"got shape \(2, 3, 1\)"),
        (np.zeros((0, 3)), ValueError, "at least one sample"),
        ([[1.0, np.nan, 0.0]], ValueError, "only finite numbers"),
        ([[1.0, np.inf, 0.0]], ValueError, "only finite numbers"),
        ([["a", "b", "c"]], TypeError, "numeric"),
        (np.array([[object(), 1, 2]], dtype=object), TypeError, "numeric"),
        ([[1.0, 2.0], [1.0]], TypeError, "numeric array"),
    ],
)
def test_bad_inputs_in_forward_predict_and_gradients(net, X, error, message):
    Y = np.eye(2)[[0]]
    for call in (net.forward, net.predict, lambda X: gradients(net, X, Y, "mse")):
        with pytest.raises(error, match=message):
            call(X)


def test_targets_must_match_the_output(net):
    X = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"Y must have shape \(4, 2\).*got shape \(4, 3\)"):
        gradients(net, X, np.zeros((4, 3)), "mse")
    with pytest.raises(ValueError, match=r"Y must have shape \(4, 2\).*got shape \(3, 2\)"):
        gradients(net, X, np.zeros((3, 2)), "mse")
    with pytest.raises(ValueError, match="only finite"):
        gradients(net, X, np.full((4, 2), np.nan), "mse")
    with pytest.raises(ValueError, match=r"unknown loss 'l1'"):
        check_gradients(net, X, np.zeros((4, 2)), "l1")
    with pytest.raises(ValueError, match="l2 must be a non-negative float, got -1"):
        gradients(net, X, np.zeros((4, 2)), "mse", l2=-1.0)


def test_single_output_accepts_one_dimensional_targets():
    net = Network([2, 1], "sigmoid", seed=0)
    X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    g1, E1 = gradients(net, X, [1, 0, 1], "binary_crossentropy")
    g2, E2 = gradients(net, X, [[1], [0], [1]], "binary_crossentropy")
    assert E1 == E2
    np.testing.assert_array_equal(g1[0], g2[0])


def test_a_failed_call_leaves_weights_unchanged(net):
    before = [W.copy() for W in net.weights]
    with pytest.raises(ValueError):
        gradients(net, np.zeros((4, 3)), np.zeros((4, 5)), "mse")
    for a, b in zip(before, net.weights):
        np.testing.assert_array_equal(a, b)


def test_integer_labels_for_several_outputs_get_a_one_hot_hint(net):
    with pytest.raises(ValueError, match=r"look like class labels: pass psinet\.one_hot\(Y, 2\)"):
        gradients(net, np.zeros((3, 3)), np.array([0, 1, 1]), "categorical_crossentropy")


# ---------------------------------------------------------------------------------------
# Issue 8, item 12: every refusal is a TypeError or ValueError naming the argument
# ---------------------------------------------------------------------------------------


def _xy(n=4):
    X = np.linspace(-1, 1, 3 * n).reshape(n, 3)
    return X, np.eye(2)[np.arange(n) % 2]


def _not_networks():
    good = Network([3, 4, 2], ["relu", "softmax"], seed=0)
    return [object(), None, {"weights": list(good.weights)}, list(good.weights), "net"]


NET_TAKERS = {
    "fit": lambda n, X, Y: fit(n, X, Y, loss="mse", verbose=0),
    "gradients": lambda n, X, Y: gradients(n, X, Y, "mse"),
    "evaluate": lambda n, X, Y: evaluate(n, X, Y, "mse"),
    "trace": lambda n, X, Y: trace(n, X, Y, "mse"),
    "check_gradients": lambda n, X, Y: check_gradients(n, X, Y, "mse"),
    "numerical_gradients": lambda n, X, Y: numerical_gradients(n, X, Y, "mse"),
    "save": lambda n, X, Y: psinet.io.save(n, "never-written.npz"),
}


@pytest.mark.parametrize("call", NET_TAKERS.values(), ids=NET_TAKERS.keys())
def test_a_non_network_is_a_type_error_naming_net(call, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    X, Y = _xy()
    for thing in _not_networks():
        with pytest.raises(TypeError, match=r"net must be a psinet\.Network, got "):
            call(thing, X, Y)
    assert list(tmp_path.iterdir()) == []


def test_plot_decision_boundary_refuses_a_non_network():
    pytest.importorskip("matplotlib")
    from psinet import plot

    for thing in _not_networks():
        with pytest.raises(TypeError, match=r"net must be a psinet\.Network, got "):
            plot.plot_decision_boundary(thing, np.zeros((4, 2)), [0, 1, 0, 1])


# Every float hyper-parameter, as a function of the value under test.
FLOAT_PARAMETERS = {
    "SGD lr": lambda v: opt.SGD(lr=v),
    "SGD momentum": lambda v: opt.SGD(momentum=v),
    "Adagrad eps": lambda v: opt.Adagrad(eps=v),
    "RMSprop rho": lambda v: opt.RMSprop(rho=v),
    "RMSprop eps": lambda v: opt.RMSprop(eps=v),
    "Adam lr": lambda v: opt.Adam(lr=v),
    "Adam beta1": lambda v: opt.Adam(beta1=v),
    "Adam beta2": lambda v: opt.Adam(beta2=v),
    "Adam eps": lambda v: opt.Adam(eps=v),
    "AdamW weight_decay": lambda v: opt.AdamW(weight_decay=v),
    "Constant lr": lambda v: sch.Constant(v),
    "StepDecay lr": lambda v: sch.StepDecay(v),
    "StepDecay drop": lambda v: sch.StepDecay(0.1, drop=v),
    "ExponentialDecay rate": lambda v: sch.ExponentialDecay(0.1, rate=v),
    "CosineDecay lr": lambda v: sch.CosineDecay(v, 10),
    "CosineDecay min_lr": lambda v: sch.CosineDecay(0.1, 10, min_lr=v),
    "leaky_relu alpha": lambda v: act.LeakyReLU(v),
    "elu alpha": lambda v: act.ELU(v),
    "elu alpha by config": lambda v: act.get({"name": "elu", "alpha": v}),
    "EarlyStopping min_delta": lambda v: EarlyStopping(min_delta=v),
    "gradients l2": lambda v: gradients(Network([3, 2], "tanh"), *_xy(), "mse", l2=v),
    "evaluate l2": lambda v: evaluate(Network([3, 2], "tanh"), *_xy(), "mse", l2=v),
    "fit l2": lambda v: fit(Network([3, 2], "tanh"), *_xy(), loss="mse", l2=v, verbose=0),
    "fit validation_split": lambda v: fit(
        Network([3, 2], "tanh"), *_xy(), loss="mse", validation_split=v, verbose=0
    ),
    "check_gradients eps": lambda v: check_gradients(Network([3, 2], "tanh"), *_xy(), "mse", eps=v),
    "check_gradients threshold": lambda v: check_gradients(
        Network([3, 2], "tanh"), *_xy(), "mse", threshold=v
    ),
    "check_gradients tiny": lambda v: check_gradients(
        Network([3, 2], "tanh"), *_xy(), "mse", tiny=v
    ),
    "train_test_split test_size": lambda v: train_test_split(
        np.zeros((4, 1)), np.zeros(4), test_size=Fraction(v) if type(v) is int else v
    ),
    "datasets noise": lambda v: datasets.xor(noise=v),
    "datasets factor": lambda v: datasets.circles(factor=v),
}


@pytest.mark.parametrize("make", FLOAT_PARAMETERS.values(), ids=FLOAT_PARAMETERS.keys())
@pytest.mark.parametrize(
    "value",
    [10**400, -(10**400), math.nan, math.inf, -math.inf],
    ids=["10**400", "-10**400", "nan", "inf", "-inf"],
)
def test_huge_ints_nan_and_inf_are_value_errors_for_every_float_parameter(make, value):
    with pytest.raises(ValueError) as info:  # never OverflowError, never accepted
        make(value)
    assert not isinstance(info.value, OverflowError)


@pytest.mark.parametrize("make", FLOAT_PARAMETERS.values(), ids=FLOAT_PARAMETERS.keys())
@pytest.mark.parametrize("value", [True, "0.1", [0.1]])
def test_bools_and_strings_are_type_errors_for_every_float_parameter(make, value):
    with pytest.raises(TypeError):
        make(value)


def test_float_parameter_messages_name_the_parameter_and_show_the_value():
    with pytest.raises(ValueError, match=r"lr must be finite, got ~10\*\*400: too large"):
        opt.SGD(lr=10**400)
    with pytest.raises(ValueError, match=r"min_delta must be finite, got ~10\*\*400"):
        EarlyStopping(min_delta=10**400)
    with pytest.raises(ValueError, match=r"elu alpha must be finite, got inf"):
        act.ELU(math.inf)  # was accepted: the network then predicted NaN
    with pytest.raises(TypeError, match=r"momentum must be a real number, got bool True"):
        opt.SGD(momentum=True)
    with pytest.raises(ValueError, match=r"epochs must be <= 4096, got ~10\*\*5000"):
        psinet._checks.check_int(10**5000, "epochs", minimum=0, maximum=4096)  # 5001 digits


def test_numpy_scalars_are_numbers():
    assert act.ELU(np.float32(0.5)).alpha == 0.5
    assert act.LeakyReLU(np.float16(0.25)).alpha == 0.25
    assert EarlyStopping(min_delta=np.float32(0.5), patience=np.int64(3)).patience == 3
    X, Y = _xy(8)
    history = fit(
        Network([3, 2], "tanh", seed=np.int64(1)),
        X,
        Y,
        loss="mse",
        epochs=np.int32(2),
        batch_size=np.uint8(4),
        validation_split=np.float32(0.25),
        seed=np.int64(0),
        verbose=0,
    )
    assert len(history) == 2 and len(history["val_loss"]) == 2


def test_early_stopping_takes_a_numpy_int_patience():
    X, Y = _xy(8)
    stop = EarlyStopping(monitor="loss", patience=np.int64(1), min_delta=np.float32(1e9))
    history = fit(
        Network([3, 2], "tanh", seed=0), X, Y, loss="mse", epochs=5, verbose=0, callbacks=[stop]
    )
    assert history.stopped == "early_stopping" and len(history) == 2


@pytest.mark.parametrize(
    ("d", "error", "match"),
    [
        ({"class": "Adam"}, ValueError, r"missing the key\(s\) \['hyper', 't', 'epoch', 'state'\]"),
        ([], TypeError, "d must be a dict, got list"),
        (None, TypeError, "d must be a dict, got NoneType"),
        ("Adam", TypeError, "d must be a dict, got str"),
    ],
)
def test_load_state_dict_structure_errors(d, error, match):
    adam = opt.Adam(0.01)
    before = adam.state_dict()
    with pytest.raises(error, match=match):
        adam.load_state_dict(d)
    assert repr(adam.state_dict()) == repr(before)


def test_load_state_dict_checks_hyper_and_state_kinds():
    good = opt.Adam(0.01).state_dict()
    cases = [
        ({**good, "hyper": [0.1]}, TypeError, r"d\['hyper'\] must be a dict"),
        ({**good, "hyper": {"lr": 0.1}}, ValueError, r"d\['hyper'\] is missing .*'beta1'"),
        ({**good, "hyper": {**good["hyper"], "x": 1}}, ValueError, r"unknown key\(s\) \['x'\]"),
        ({**good, "state": [1]}, TypeError, r"d\['state'\] must be a dict"),
        ({**good, "state": {"m": 3, "v": []}}, TypeError, r"d\['state'\]\['m'\] must be a list"),
        ({**good, "hyper": {**good["hyper"], "lr": 10**400}}, ValueError, "lr must be finite"),
        (
            {**good, "hyper": {**good["hyper"], "lr": {"class": "StepDecay", "bad": 1}}},
            ValueError,
            r"config for StepDecay must have the keys \['lr', 'drop', 'every'\]",
        ),
    ]
    for d, error, match in cases:
        with pytest.raises(error, match=match):
            opt.Adam().load_state_dict(d)


def test_standardizer_before_fit_is_a_not_fitted_error():
    for method in (Standardizer().transform, Standardizer().inverse_transform):
        with pytest.raises(NotFittedError, match=r"not fitted yet: call fit\(X_train\) first"):
            method([[1.0]])
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)


def _square_net():
    return Network([2, 2, 2], ["tanh", "sigmoid"], seed=0)  # both W_l of shape (2, 3)


@pytest.mark.parametrize(
    ("make_out", "error", "match"),
    [
        (lambda net: list(net.weights), ValueError, r"out\[0\] shares memory with net\.weights"),
        (lambda net: [np.empty((2, 3)), net.weights[1]], ValueError, r"out\[1\] shares memory"),
        (lambda net: [net.weights[1], np.empty((2, 3))], ValueError, r"weights\[1\]"),
        (lambda net: [net.weights[0][:], np.empty((2, 3))], ValueError, "shares memory"),
        (lambda net: [np.empty((2, 3))] * 2, ValueError, r"out\[1\] and out\[0\] share memory"),
        (lambda net: [np.empty((3, 2)), np.empty((2, 3))], ValueError, r"shape \(2, 3\)"),
        (lambda net: [np.empty((2, 3), np.float32)] * 2, ValueError, "dtype float64"),
        (lambda net: [np.zeros((2, 3)).tolist(), np.empty((2, 3))], TypeError, "ndarray"),
        (lambda net: np.empty((2, 2, 3)), TypeError, "out must be a list"),
        (lambda net: [np.empty((2, 3))], ValueError, "out must hold 2 arrays"),
    ],
)
def test_gradients_out_is_checked_and_may_not_alias_the_weights(make_out, error, match):
    net = _square_net()
    before = [W.copy() for W in net.weights]
    with pytest.raises(error, match=match):
        gradients(net, np.ones((3, 2)), np.zeros((3, 2)), "mse", out=make_out(net))
    for W, W0 in zip(net.weights, before):
        np.testing.assert_array_equal(W, W0)


def test_gradients_out_read_only_is_refused_and_fresh_out_works():
    net = _square_net()
    frozen = [np.empty((2, 3)), np.empty((2, 3))]
    frozen[1].flags.writeable = False
    with pytest.raises(ValueError, match=r"out\[1\] must be writeable"):
        gradients(net, np.ones((3, 2)), np.zeros((3, 2)), "mse", out=frozen)
    out = [np.empty_like(W) for W in net.weights]
    grads, _ = gradients(net, np.ones((3, 2)), np.zeros((3, 2)), "mse", out=out)
    assert all(g is o for g, o in zip(grads, out))


def test_bool_is_never_an_int():
    X, Y = _xy(8)
    net = Network([3, 4, 2], ["relu", "softmax"], seed=0)
    calls = {
        "seed": lambda: Network([3, 2], "tanh", seed=True),
        "weights[True] =": lambda: net.weights.__setitem__(True, np.zeros((4, 4))),
        "weights[True]": lambda: net.weights[True],
        "weights[np.True_]": lambda: net.weights[np.True_],
        "epochs": lambda: fit(net, X, Y, loss="mse", epochs=True, verbose=0),
        "batch_size": lambda: fit(net, X, Y, loss="mse", batch_size=True, verbose=0),
        "fit seed": lambda: fit(net, X, Y, loss="mse", seed=False, verbose=0),
        "patience": lambda: EarlyStopping(patience=True),
        "split seed": lambda: train_test_split(X, Y, seed=True),
        "datasets seed": lambda: datasets.moons(seed=True),
        "one_hot n_classes": lambda: one_hot([0, 1], n_classes=True),
        "order": lambda: numerical_gradients(net, X, Y, "mse", order=True),
        "StepDecay every": lambda: sch.StepDecay(0.1, every=True),
    }
    before = [W.copy() for W in net.weights]
    for name, call in calls.items():
        with pytest.raises(TypeError, match="int"):
            call()
            pytest.fail(name)
    for W, W0 in zip(net.weights, before):
        np.testing.assert_array_equal(W, W0)


def test_seed_must_be_none_or_a_non_negative_int():
    with pytest.raises(TypeError, match=r"seed must be None or an int, got float 1\.5"):
        Network([3, 2], "tanh", seed=1.5)
    with pytest.raises(ValueError, match="seed must be >= 0, got -1"):
        fit(Network([3, 2], "tanh"), *_xy(), loss="mse", seed=-1, verbose=0)
    assert Network([3, 2], "tanh", seed=np.uint32(7)).seed == 7


@pytest.mark.parametrize("flag", ["no", 0, 1, None, "False"])
def test_shuffle_and_other_flags_must_be_bools(flag):
    X, Y = _xy(8)
    net = Network([3, 2], "tanh", seed=0)
    before = net.weights[0].copy()
    with pytest.raises(TypeError, match="shuffle must be True or False"):
        fit(net, X, Y, loss="mse", shuffle=flag, verbose=0)
    np.testing.assert_array_equal(net.weights[0], before)
    with pytest.raises(TypeError, match="restore_best must be True or False"):
        EarlyStopping(restore_best=flag)
    with pytest.raises(TypeError, match="stratify must be True or False"):
        train_test_split(X, np.arange(8) % 2, stratify=flag)
    with pytest.raises(TypeError, match="return_psi must be True or False"):
        gradients(net, X, Y, "mse", return_psi=flag)


def test_fit_takes_numpy_bools_and_verbose_bools():
    X, Y = _xy(8)
    a = fit(Network([3, 2], "tanh", seed=0), X, Y, loss="mse", shuffle=np.False_, verbose=False)
    b = fit(Network([3, 2], "tanh", seed=0), X, Y, loss="mse", shuffle=False, verbose=0)
    assert a["loss"] == b["loss"]
    with pytest.raises(TypeError, match="verbose"):
        fit(Network([3, 2], "tanh"), X, Y, loss="mse", verbose="loud")


def test_fit_optimizer_of_the_wrong_kind_is_a_type_error():
    with pytest.raises(TypeError, match="optimizer must be an Optimizer or one of"):
        fit(Network([3, 2], "tanh"), *_xy(), loss="mse", optimizer=42, verbose=0)


@pytest.mark.parametrize("given", [">f8", np.dtype(">f8"), ">f4", "<f8", "=f4"])
def test_non_native_byte_order_dtype_is_accepted_as_native(given):
    net = Network([3, 4, 2], ["tanh", "softmax"], seed=0, dtype=given)
    expected = np.dtype(given).newbyteorder("=")
    assert net.dtype == expected and net.dtype.isnative
    assert all(W.dtype == expected and W.dtype.isnative for W in net.weights)
    same = Network([3, 4, 2], ["tanh", "softmax"], seed=0, dtype=expected)
    X = np.arange(6.0).reshape(2, 3).astype(np.dtype(given))
    np.testing.assert_array_equal(net.predict(X), same.predict(X))
    assert net.copy(dtype=">f4").dtype == np.float32


def test_refused_dtype_message_shows_what_was_given():
    with pytest.raises(ValueError, match=r"got float16 \('>f2'\)"):
        Network([3, 2], "tanh", dtype=">f2")
    with pytest.raises(ValueError, match=r"got int64 \('<i8'\)"):
        Network([3, 2], "tanh", dtype="<i8")


def _masked(X):
    mask = np.zeros(np.shape(X), dtype=bool)
    mask.flat[1] = True
    return np.ma.array(X, mask=mask)


def test_masked_arrays_with_masked_entries_are_refused():
    X, Y = _xy(4)
    net = Network([3, 2], "sigmoid", seed=0)
    before = net.weights[0].copy()
    calls = {
        "predict": lambda: net.predict(_masked(X)),
        "forward": lambda: net.forward(_masked(X)),
        "gradients X": lambda: gradients(net, _masked(X), Y, "mse"),
        "gradients Y": lambda: gradients(net, X, _masked(Y), "mse"),
        "fit": lambda: fit(net, _masked(X), Y, loss="mse", verbose=0),
        "weights": lambda: net.weights.__setitem__(0, _masked(np.ones((2, 4)))),
        "Standardizer": lambda: Standardizer().fit(_masked(X)),
        "train_test_split": lambda: train_test_split(_masked(X), Y),
        "one_hot": lambda: one_hot(_masked(np.array([0, 1, 1]))),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=r"masked array with 1 masked entry.*filled"):
            call()
            pytest.fail(name)
    np.testing.assert_array_equal(net.weights[0], before)


def test_a_masked_array_without_masked_entries_is_its_data():
    X, _ = _xy(4)
    net = Network([3, 2], "sigmoid", seed=0)
    np.testing.assert_array_equal(net.predict(np.ma.array(X)), net.predict(X))


# ---------------------------------------------------------------------------------------
# Issue 8, item 13: finite in, finite out or a clear error; no warning from psinet
# (pytest turns every warning into an error, so each call below also asserts that)
# ---------------------------------------------------------------------------------------


def test_standardizer_on_float16_never_gets_scale_zero_nor_inf():
    tiny = np.array([[0.0], [6e-8], [0.0], [6e-8]], dtype=np.float16)  # σ rounds to 0 in f16
    wide = np.array([[65504.0], [-65504.0], [65504.0]], dtype=np.float16)  # X − μ overflows f16
    for X in (tiny, wide):
        scaler = Standardizer().fit(X)
        Z = scaler.transform(X)
        assert Z.dtype == np.float32 and np.all(np.isfinite(Z))
        assert scaler.scale_ is not None and np.all(scaler.scale_ > 0)
        np.testing.assert_allclose(np.abs(Z).max(), np.abs(Z).max())
        np.testing.assert_allclose(Z.std(axis=0), 1.0, rtol=1e-6)
        np.testing.assert_allclose(scaler.inverse_transform(Z), X.astype(np.float32), rtol=1e-3)


def test_standardizer_statistics_of_huge_values_are_finite():
    X = np.array([[1e308, -1.5e308], [-1e308, -1.7e308], [5e307, -1.6e308]])
    scaler = Standardizer().fit(X)
    Z = scaler.transform(X)
    assert np.all(np.isfinite(Z))
    expected = (X / 1e300 - (X / 1e300).mean(axis=0)) / (X / 1e300).std(axis=0)
    np.testing.assert_allclose(Z, expected, rtol=1e-12)
    # test data whose X − μ overflows while (X − μ)/σ does not
    far = scaler.transform([[1.7e308, 1.5e308]])
    np.testing.assert_allclose(
        far,
        (np.array([[1.7e8, 1.5e8]]) - scaler.mean_ / 1e300) / (scaler.scale_ / 1e300),
        rtol=1e-12,
    )


def test_standardizer_results_beyond_the_dtype_are_a_clear_error():
    small = Standardizer().fit(np.array([[0.0], [1e-3]], dtype=np.float32))  # σ = 5e-4
    with pytest.raises(ValueError, match="standardized X has values beyond the range of float32"):
        small.transform(np.array([[3e38]], dtype=np.float32))
    large = Standardizer().fit(np.array([[0.0], [1e3]], dtype=np.float32))  # σ = 500
    with pytest.raises(ValueError, match=r"inverse_transform\(Z\) has values beyond"):
        large.inverse_transform(np.array([[3e38]], dtype=np.float32))


def test_standardizer_keeps_float64_results_bit_identical_to_the_plain_formula():
    X = np.random.default_rng(0).normal(3.0, 2.0, size=(50, 4))
    scaler = Standardizer().fit(X)
    np.testing.assert_array_equal(scaler.mean_, X.mean(axis=0))
    np.testing.assert_array_equal(scaler.scale_, X.std(axis=0))
    np.testing.assert_array_equal(scaler.transform(X), (X - X.mean(axis=0)) / X.std(axis=0))


def _float32_net():
    return Network([2, 3, 1], ["tanh", "sigmoid"], seed=0, dtype=np.float32)


@pytest.mark.parametrize(
    "call",
    [
        lambda net, X: net.predict(X),
        lambda net, X: net.forward(X),
        lambda net, X: gradients(net, X, [[1.0]], "binary_crossentropy"),
        lambda net, X: evaluate(net, X, [[1.0]], "binary_crossentropy"),
        lambda net, X: fit(net, X, [[1.0]], loss="binary_crossentropy", verbose=0),
        lambda net, X: net.weights.__setitem__(0, np.full((3, 3), X[0][0])),
    ],
)
@pytest.mark.parametrize("big", [1e300, -1e39, np.longdouble("1e400")])
def test_values_beyond_float32_are_refused_before_the_cast(call, big):
    net = _float32_net()
    before = [W.copy() for W in net.weights]
    X = np.array([[big, 0.0]], dtype=np.longdouble if big > 1e308 else np.float64)
    with pytest.raises(ValueError, match=r"must fit in float32 \(\|values\| <= 3\.403e\+38\)"):
        call(net, X)
    for W, W0 in zip(net.weights, before):
        np.testing.assert_array_equal(W, W0)


def test_long_double_beyond_float64_is_refused_for_a_float64_net():
    X = np.array([[np.longdouble("1e400"), 0.0]])
    with pytest.raises(ValueError, match=r"must fit in float64.*1e\+400"):
        Network([2, 1], "tanh").predict(X)


def test_trace_of_a_float32_net_prints_finite_norms_for_inputs_near_1e20():
    t = trace(_float32_net(), [[1e20, 1e20]], [[0.0]], "binary_crossentropy")
    text = str(t)
    assert "inf" not in text and "nan" not in text
    assert "(1, 3) 1.414e+20" in text  # ‖X̄_0‖ = √2·1e20, beyond float32's √(max) ≈ 1.8e19


def test_gradients_that_overflow_are_a_clear_error_not_inf():
    net = Network([2, 1], "identity", seed=0, dtype=np.float32)
    with pytest.raises(ValueError, match=r"the loss or the gradients overflowed float32.*float64"):
        gradients(net, [[1e20, 1e20]], [[0.0]], "mse")
    with pytest.raises(ValueError, match="overflowed float32"):
        trace(net, [[1e20, 1e20]], [[0.0]], "mse")


def test_outputs_that_overflow_are_a_clear_error_not_inf():
    net = Network([2, 1], "identity", seed=0, dtype=np.float32)
    net.weights[0] = np.array([[3e38, 3e38, 0.0]])
    for call in (net.predict, net.forward):
        with pytest.raises(ValueError, match="the outputs overflowed float32"):
            call([[1.0, 1.0]])


def test_plot_decision_boundary_padding_and_resolution_messages():
    pytest.importorskip("matplotlib")
    from psinet import plot

    net = Network([2, 1], "sigmoid", seed=0)
    X, y = np.array([[0.0, 0.0], [1.0, 1.0]]), [0, 1]
    for padding in (1e308, 1.7e308):
        with pytest.raises(ValueError, match=r"padding=1(\.\d+)?e\+308 around the range of X"):
            plot.plot_decision_boundary(net, X, y, padding=padding)
    with pytest.raises(ValueError, match=r"padding must be finite, got ~10\*\*400"):
        plot.plot_decision_boundary(net, X, y, padding=10**400)
    with pytest.raises(ValueError, match="a float32 network can take"):
        plot.plot_decision_boundary(net.copy(dtype=np.float32), X, y, padding=1e39)
    with pytest.raises(ValueError, match="resolution must be <= 4096"):
        plot.plot_decision_boundary(net, X, y, resolution=10**9)
    with pytest.raises(TypeError, match="resolution must be an int"):
        plot.plot_decision_boundary(net, X, y, resolution=True)
    fig = plot.plot_decision_boundary(net, X, y, padding=1e300, resolution=3)
    assert fig.axes[0].get_xlim() == (-1e300, 1e300)


def test_plot_series_of_huge_ints_are_value_errors():
    pytest.importorskip("matplotlib")
    from psinet import plot

    with pytest.raises(ValueError, match=r"history\['loss'\] must hold numbers within"):
        plot.plot_history({"loss": [10**400]})
    with pytest.raises(ValueError, match="norms must hold numbers within"):
        plot.plot_gradient_norms([[10**400]])


def test_copy_to_float32_refuses_weights_beyond_its_range():
    net = Network([2, 1], "identity", seed=0)
    net.weights[0] = np.array([[1e300, 1.0, 0.0]])
    with pytest.raises(ValueError, match=r"weights\[0\] must fit in float32"):
        net.copy(dtype=np.float32)
    assert net.copy(dtype=np.float64).weights[0][0, 0] == 1e300


def test_evaluate_that_overflows_is_a_clear_error_not_an_inf_loss():
    with pytest.raises(ValueError, match="the loss overflowed float64"):
        evaluate(Network([2, 1], "identity", seed=0), [[1e300, 1e300]], [[0.0]], "mse")
    net32 = Network([2, 1], "identity", seed=0, dtype=np.float32)
    with pytest.raises(ValueError, match=r"the loss overflowed float32.*float64 network"):
        evaluate(net32, [[1e20, 1e20]], [[0.0]], "mse")


def test_accuracy_refuses_masked_arrays():
    with pytest.raises(ValueError, match="y_hat is a masked array"):
        psinet.accuracy(np.ma.array([[0.9], [0.1]], mask=[[1], [0]]), [1, 0])
    with pytest.raises(ValueError, match="Y is a masked array"):
        psinet.accuracy([[0.9], [0.1]], np.ma.array([1, 0], mask=[1, 0]))


def test_python_ints_beyond_int64_are_numbers_and_beyond_float64_a_value_error():
    net = Network([2, 1], "identity", seed=0)
    np.testing.assert_array_equal(net.predict([[10**20, 1]]), net.predict([[1e20, 1.0]]))
    Z = Standardizer().fit_transform([[10**20], [-(10**20)]])
    np.testing.assert_array_equal(Z, [[1.0], [-1.0]])
    for call in (net.predict, Standardizer().fit):
        with pytest.raises(ValueError, match="within float64's range"):
            call([[10**400, 1]] if call == net.predict else [[10**400], [1]])
    with pytest.raises(TypeError, match="numeric"):
        net.predict(np.array([[object(), 1]], dtype=object))


@pytest.mark.parametrize("make", [datasets.xor, datasets.spirals, datasets.moons, datasets.circles])
def test_dataset_noise_is_bounded_so_samples_stay_finite(make):
    with pytest.raises(ValueError, match=r"noise must be <= 1e\+100"):
        make(noise=1e308)
    X, _ = make(noise=1e100, seed=0)
    assert np.isfinite(X).all()


def test_fit_records_finite_gradient_norms_for_a_float32_net_with_inputs_near_1e20():
    net = Network([2, 1], "sigmoid", dtype=np.float32)
    net.weights[0] = np.array([[1.0, 1.0, 0.0]])  # ŷ ≈ 1, Y = 0: Ψ = 1, ∂E/∂W = [1e20, 1e20, 1]
    # plain SGD: Adam's g² would overflow float32 here, and fit refuses such a step
    history = net.fit(
        [[1e20, 1e20]], [[0.0]], loss="binary_crossentropy", optimizer=opt.SGD(1e-3), verbose=0
    )
    (norm,) = history.records[0]["grad_norms"]
    assert norm == pytest.approx(math.sqrt(2) * 1e20, rel=1e-6)  # float32 squares: inf


def test_plot_network_and_figure_check_their_arguments():
    pytest.importorskip("matplotlib")
    from psinet import plot

    with pytest.raises(TypeError, match=r"net must be a psinet\.Network, got list"):
        plot.plot_network([np.zeros((1, 3))])
    net = Network([2, 1], "sigmoid", seed=0)
    with pytest.raises(ValueError, match="within float64's range"):
        plot.plot_network(net, [1.0, 2.0], [10**400], "mse", show="backward")
    with pytest.raises(ValueError, match=r"figsize must be finite, got ~10\*\*400"):
        plot.figure((10**400, 1))
    with pytest.raises(TypeError, match="figsize must be a real number, got bool"):
        plot.figure((True, 2))
    with pytest.raises(ValueError, match=r"figsize must be in \(0, inf\)"):
        plot.figure((0, 2))
    assert tuple(plot.figure((3, 2)).get_size_inches()) == (3.0, 2.0)


@pytest.mark.parametrize(
    "call",
    [
        lambda: sch.ExponentialDecay(0.1, 0.5)(10**400),
        lambda: sch.StepDecay(0.1, every=1)(10**400),
        lambda: sch.StepDecay(0.1, every=10**400),
        lambda: sch.CosineDecay(0.1, epochs=10**400),
        lambda: opt.SGD(sch.StepDecay(0.1)).set_epoch(10**400),
        lambda: opt.Adam().load_state_dict({**opt.Adam().state_dict(), "t": 10**400}),
    ],
)
def test_huge_epoch_and_step_counts_are_value_errors(call):
    with pytest.raises(ValueError, match=r"must be below 2\*\*63, got ~10\*\*400"):
        call()


def test_int64_sized_epochs_still_work():
    assert sch.ExponentialDecay(0.1, 0.5)(2**63 - 1) == 0.0
    assert sch.StepDecay(0.1, every=1)(2**62) == 0.0


def test_weights_index_out_of_range_is_an_index_error_that_says_so():
    net = Network([2, 1], "sigmoid")
    for l in (10**400, 1, -2):
        with pytest.raises(IndexError, match=r"weights index must be in \[0, 1\)"):
            net.weights[l]
    assert net.weights[-1] is net.weights[0]


def test_layer_gradient_norms_and_accuracy_check_their_arguments():
    from psinet import plot

    np.testing.assert_array_equal(plot.layer_gradient_norms([[[10**20]]]), [1e20])
    with pytest.raises(ValueError, match=r"grads\[0\] must hold numbers within float64"):
        plot.layer_gradient_norms([[[10**400]]])
    with pytest.raises(ValueError, match=r"grads\[0\] is a masked array"):
        plot.layer_gradient_norms([np.ma.array([[1.0]], mask=[[1]])])
    assert plot.layer_gradient_norms([np.array([[np.longdouble("1e400")]])])[0] == np.inf
    with pytest.raises(TypeError, match="multilabel must be True or False"):
        psinet.accuracy([[0.9], [0.1]], [1, 0], multilabel="no")


def test_fit_epochs_beyond_int64_are_refused_before_training():
    net = Network([2, 1], "sigmoid", seed=0)
    before = net.weights[0].copy()
    with pytest.raises(ValueError, match=r"epochs must be <= 9223372036854775807, got ~10\*\*5000"):
        net.fit([[0.0, 1.0]], [[1.0]], loss="mse", epochs=10**5000, file=io.StringIO())
    np.testing.assert_array_equal(net.weights[0], before)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_fit_refuses_non_finite_inputs_before_changing_anything(bad, dtype):
    """fit finds NaN and inf in X through its bound on max|X| (no separate pass)."""
    net = Network([3, 4, 2], ["tanh", "sigmoid"], seed=0, dtype=dtype)
    before = [W.copy() for W in net.weights]
    X = np.zeros((6, 3), dtype=dtype)
    X[4, 1] = bad
    with pytest.raises(ValueError, match=r"^X must contain only finite numbers, got NaN or inf"):
        net.fit(X, np.zeros((6, 2)), loss="binary_crossentropy", verbose=0)
    for W, W0 in zip(net.weights, before):
        np.testing.assert_array_equal(W, W0)
