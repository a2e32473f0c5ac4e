"""Reused buffers never change results; float32 stays float32 end to end."""

import numpy as np
import pytest

from psinet import Network, gradients, losses, optimizers
from psinet.training import train_step


def _data(n, seed=0, width=4, classes=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, width)), np.eye(classes)[rng.integers(0, classes, n)]


def _step(net, X, Y, optimizer, grads=None):
    return train_step(net, X, Y, losses.get("categorical_crossentropy"), optimizer)


def test_gradients_do_not_depend_on_other_batch_sizes_in_between():
    net = Network([4, 6, 5, 3], ["tanh", "relu", "softmax"], seed=0)
    X, Y = _data(8)
    X_small, Y_small = _data(3, seed=1)
    first, E1 = gradients(net, X, Y, "categorical_crossentropy")
    gradients(net, X_small, Y_small, "categorical_crossentropy")  # other buffers
    net.forward(_data(5, seed=2)[0])  # and others again
    again, E2 = gradients(net, X, Y, "categorical_crossentropy")
    fresh, E3 = gradients(net.copy(), X, Y, "categorical_crossentropy")  # no buffers yet
    assert E1 == E2 == E3
    for a, b, c in zip(first, again, fresh):
        assert a.tobytes() == b.tobytes() == c.tobytes()


def test_training_steps_with_a_last_smaller_batch_and_forwards_in_between():
    X, Y = _data(11)
    net = Network([4, 6, 3], ["sigmoid", "softmax"], seed=1)
    twin = net.copy()
    batches = [slice(0, 4), slice(4, 8), slice(8, 11)] * 2
    opt, twin_opt = optimizers.SGD(0.1), optimizers.SGD(0.1)
    grads = [np.empty_like(W) for W in net.weights]
    for batch in batches:
        _step(net, X[batch], Y[batch], opt, grads)
        net.forward(X[:7])  # a forward on another batch size between steps
    for batch in batches:  # the twin: a fresh copy, fresh gradient arrays every step
        _step(twin, X[batch], Y[batch], twin_opt, [np.empty_like(W) for W in twin.weights])
    for a, b in zip(net.weights, twin.weights):
        assert a.tobytes() == b.tobytes()


def test_weights_reassigned_by_the_user_are_used_by_the_next_step():
    X, Y = _data(6)
    net = Network([4, 5, 3], ["relu", "softmax"], seed=2)
    opt = optimizers.Adam(0.01)
    grads = [np.empty_like(W) for W in net.weights]
    _step(net, X, Y, opt, grads)
    new_W0 = np.random.default_rng(3).normal(size=net.weights[0].shape)
    net.weights[0] = new_W0  # a new array, same shape: the optimizer keeps its state
    twin = net.copy()
    twin_opt = optimizers.Adam(0.01)
    twin_opt.load_state_dict(opt.state_dict())
    _step(net, X, Y, opt, grads)
    _step(twin, X, Y, twin_opt, [np.empty_like(W) for W in twin.weights])
    for a, b in zip(net.weights, twin.weights):
        assert a.tobytes() == b.tobytes()
    assert not np.array_equal(net.weights[0], new_W0)  # it was updated, not a stale copy


def test_float32_network_keeps_float32_in_every_cache_gradient_and_state():
    X, Y = _data(10)
    net = Network([4, 8, 3], ["elu", "softmax"], seed=4, dtype=np.float32)
    opt = optimizers.Adam(0.01)
    history = net.fit(
        X,
        Y,
        loss="categorical_crossentropy",
        optimizer=opt,
        epochs=2,
        batch_size=4,
        seed=0,
        verbose=0,
    )
    c = net.cache
    arrays = c.X_bar + c.z + c.a + c.psi + [c.y_hat] + list(net.weights)
    assert all(a.dtype == np.float32 for a in arrays)
    state = opt.state_dict()["state"]
    assert all(a.dtype == np.float32 for arrays_ in state.values() for a in arrays_)
    grads, E = gradients(net, X, Y, "categorical_crossentropy")
    assert all(g.dtype == np.float32 for g in grads) and np.isfinite(E)
    assert np.isfinite(history["loss"]).all()


def test_float32_training_tracks_float64():
    X, Y = _data(32)
    runs = {}
    for dtype in (np.float64, np.float32):
        net = Network([4, 8, 3], ["tanh", "softmax"], seed=5, dtype=dtype)
        net.fit(
            X,
            Y,
            loss="categorical_crossentropy",
            optimizer=optimizers.SGD(0.1),
            epochs=5,
            batch_size=8,
            seed=0,
            verbose=0,
        )
        runs[dtype] = net.weights
    for W32, W64 in zip(runs[np.float32], runs[np.float64]):
        np.testing.assert_allclose(W32, W64, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_training_data_are_converted_once_to_the_network_dtype(dtype):
    X, Y = _data(8)
    net = Network([4, 3], "softmax", seed=0, dtype=dtype)
    net.fit(
        X.astype(np.float64),
        Y.astype(np.int64),
        loss="categorical_crossentropy",
        epochs=1,
        batch_size=4,
        verbose=0,
    )
    assert net.cache.X_bar[0].dtype == dtype and net.cache.psi[0].dtype == dtype
