"""Bad input at the public boundary: a clear ValueError/TypeError, nothing changed."""

import numpy as np
import pytest

from psinet import Network, check_gradients, gradients


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
