"""One textbook, one engine, proven equal: ``fit`` (the engine) = a loop of ``train_step``
(the textbook) over the same batches in the same order.

The textbook is ``Network.forward`` and ``backprop.backward`` in plain NumPy; ``fit``
runs ``psinet.engine``'s step plans (buffers, bound moves, η folded into Ψ, fused starts,
transposed layouts, the deferred first-layer update, the divergence bound, the epoch's
data arranged once). Here, on random architectures (1–5 weight layers, widths 1–40, and a
wide first layer with the deferred update switched on), every built-in activation and a
registered custom one, every loss and a custom one, sample weights, L2, float32 and
float64, batch sizes that do and do not divide N, shuffling on and off, every optimizer
and schedule, k epochs of each give the same weights, History losses and cached Ψ: to
1e-12 relative in float64, 1e-5 in float32. Then each trick is broken on purpose and a
check fails (the mutation tests), and the parts a user extends keep their own math.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import psinet
from psinet import Network, check_gradients, gradients, optimizers, schedules
from psinet._checks import DivergenceError, as_sample_weight
from psinet.activations import ACTIVATIONS, Activation, Identity, ReLU, Sigmoid, Tanh
from psinet.engine import buffers, data, deferred, moves, patches, step, sweep
from psinet.engine.data import EpochData
from psinet.layers import Conv2D, Dense
from psinet.losses import BinaryCrossEntropy, CategoricalCrossEntropy, Loss, MeanSquaredError
from psinet.metrics import weighted_correct
from psinet.training import _epoch_order, train_step

TOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}


# ----------------------------------------------------------------- a custom part of each kind
class Softsign(Activation):
    """``z / (1 + |z|)``: a custom activation, written the simple way."""

    name = "test_engine_softsign"

    def value(self, z):
        return z / (1 + np.abs(z))

    def derivative(self, z, a):
        return 1 / (1 + np.abs(z)) ** 2


class PseudoHuber(Loss):
    """``E = 1/N Σ_n Σ_k (√(1 + r²) − 1)``, r = ŷ − y: a custom loss, written the simple way."""

    name = "test_engine_pseudo_huber"

    def value(self, y_hat, Y):
        return float(np.sum(self.sample_losses(y_hat, Y))) / len(Y)

    def gradient(self, y_hat, Y):
        r = y_hat - Y
        return r / np.sqrt(1 + r**2) / len(Y)

    def sample_losses(self, y_hat, Y):
        r2 = (y_hat - Y) ** 2
        return np.sum(r2 / (np.sqrt(1 + r2) + 1), axis=1)  # √(1 + r²) − 1, without cancelling


@pytest.fixture(scope="module", autouse=True)
def registered():
    """The custom parts are registered (fit and the textbook find them by name), for this
    module only: the registries are left as they were."""
    psinet.register_activation(Softsign)
    psinet.register_loss(PseudoHuber)
    yield
    del psinet.activations.REGISTERED[Softsign.name], psinet.losses.REGISTERED[PseudoHuber.name]


HIDDEN = [name for name in ACTIVATIONS if name != "softmax"] + ["test_engine_softsign"]
PAIRS = [  # (loss, output activation, kind of targets)
    ("mse", "identity", "real"),
    ("mse", "tanh", "real"),
    ("mse", "sigmoid", "unit"),
    ("mse", "softmax", "onehot"),
    ("binary_crossentropy", "sigmoid", "unit"),
    ("categorical_crossentropy", "softmax", "onehot"),
    ("test_engine_pseudo_huber", "identity", "real"),
    ("test_engine_pseudo_huber", "test_engine_softsign", "real"),
]
# The adaptive optimizers divide by √v + ε: a gradient entry that is zero up to rounding (a
# saturated unit) is divided by ε, and with the default ε = 1e-8 the rounding of any two
# computations of it, however exact, is magnified 1e8-fold. ε = 1e-4 (float64) and 1e-2
# (float32) keep the comparison about the engine, not about that conditioning.
EPS = {np.dtype(np.float64): 1e-4, np.dtype(np.float32): 1e-2}
OPTIMIZERS = {
    "sgd": lambda eps=1e-8: optimizers.SGD(0.02),
    "sgd-double": lambda eps=1e-8: optimizers.SGD(0.04),
    "sgd-schedule": lambda eps=1e-8: optimizers.SGD(schedules.ExponentialDecay(0.05, 0.7)),
    "momentum": lambda eps=1e-8: optimizers.SGD(0.02, momentum=0.8),
    "nesterov": lambda eps=1e-8: optimizers.SGD(0.02, momentum=0.8, nesterov=True),
    "adagrad": lambda eps=1e-8: optimizers.Adagrad(0.05, eps=eps),
    "rmsprop": lambda eps=1e-8: optimizers.RMSprop(0.005, eps=eps),
    "adam": lambda eps=1e-8: optimizers.Adam(0.01, eps=eps),
    "adam-schedule": lambda eps=1e-8: optimizers.Adam(schedules.StepDecay(0.01, 0.5, 1), eps=eps),
    "adamw": lambda eps=1e-8: optimizers.AdamW(0.01, weight_decay=0.01, eps=eps),
}


def _targets(kind, rng, n, k, dtype):
    if kind == "onehot":
        return np.eye(k, dtype=dtype)[rng.integers(0, k, size=n)]
    if kind == "unit":
        return rng.uniform(size=(n, k)).round(1).astype(dtype)  # soft targets too
    return rng.normal(size=(n, k)).astype(dtype)


# ----------------------------------------------------------------- the two sides
def textbook_fit(net, X, Y, loss, optimizer, *, epochs, batch_size, shuffle, seed, l2, s):
    """What fit promises, written with the textbook's train_step: per epoch the seeded
    order, then a step per batch (a last smaller one included). Returns the epochs'
    losses and accuracies (from each batch's outputs before its update)."""
    N = len(X)
    r = as_sample_weight(s, N, net.dtype)  # fit's relative weights r = s·N/Σ s
    loss = psinet.losses.get(loss)
    classifier = loss.name in ("binary_crossentropy", "categorical_crossentropy")
    losses, accuracies = [], []
    for epoch in range(epochs):
        optimizer.set_epoch(epoch)
        order = _epoch_order(N, shuffle, seed, epoch)
        total, correct = 0.0, 0.0
        for a in range(0, N, batch_size):
            batch = order[a : a + batch_size]
            r_b = None if r is None else r[batch]
            E = train_step(net, X[batch], Y[batch], loss, optimizer, l2=l2, sample_weight=r_b)
            total += E * len(batch)
            if classifier:
                multilabel = loss.name == "binary_crossentropy"
                correct += weighted_correct(net.cache.y_hat, Y[batch], r_b, multilabel)
        losses.append(total / N)
        accuracies.append(correct / N)
    net.last_targets = Y[batch]  # (for the comparison of Ψ, below)
    return losses, accuracies


def _close(a, b, tol):  # for the extension tests below
    """max |a − b| within ``tol`` of max |b| (relative to the array's scale)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return bool(
        np.max(np.abs(a - b), initial=0.0) <= tol * max(np.max(np.abs(b), initial=0.0), 1e-300)
    )


def _setup(config):
    (sizes, hidden, (loss, out, kind), dtype, opt, N, batch, shuffle, weighted, l2, epochs,
     seed) = config  # fmt: skip
    rng = np.random.default_rng(seed)
    shape = sizes[0] if isinstance(sizes[0], tuple) else (sizes[0],)  # (n_0,) or (C, H, W)
    X = (rng.normal(size=(N, *shape)) / math.sqrt(math.prod(shape))).astype(dtype)  # ‖x‖ ≈ 1
    Y = _targets(kind, rng, N, sizes[-1], dtype)
    s = rng.uniform(0.0, 3.0, size=N) if weighted else None
    activations = [hidden[l % len(hidden)] for l in range(len(sizes) - 2)] + [out]
    net = Network(sizes, activations, seed=seed, dtype=dtype)
    settings = dict(epochs=epochs, batch_size=batch, shuffle=shuffle, seed=seed, l2=l2)
    return net, X, Y, s, loss, (lambda: OPTIMIZERS[opt](EPS[np.dtype(dtype)])), settings


def _textbook_run(config, nudge=0.0):
    """The textbook's run of ``config``, its initial weights times (1 + nudge) if given."""
    net, X, Y, s, loss, optimizer, settings = _setup(config)
    if nudge:
        net.weights = [W * (1 + nudge) for W in net.weights]
    E, acc = textbook_fit(net, X, Y, loss, optimizer(), s=s, **settings)
    return net, E, acc


def _measures(net, E, ref_net, ref_E, loss):
    """How far a run is from a reference run, per quantity, relative to the reference's
    scale (Ψ: to the size of what it is summed from, :func:`psi_scales`)."""
    out = {
        f"W_{l}": _relative(W, W_ref)
        for l, (W, W_ref) in enumerate(zip(net.weights, ref_net.weights))
    }
    out["History losses"] = _relative(E, ref_E)
    scales = psi_scales(ref_net, ref_net.last_targets, psinet.losses.get(loss))
    for l, (p, p_ref) in enumerate(zip(net.cache.psi, ref_net.cache.psi)):
        diff = np.inf if p.shape != p_ref.shape else np.max(np.abs(p - p_ref))
        out[f"Ψ_{l}"] = float(diff) / max(float(scales[l]), 1e-300)
    return out


def _relative(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b), initial=0.0) / max(np.max(np.abs(b), initial=0.0), 1e-300))


def differences(config, floor=None):
    """Run ``fit`` and the textbook on ``config``; return what differs (empty: equal).

    Equal means within 1e-12 (float64) or 1e-5 (float32) of the textbook, relative; or,
    for a training that itself magnifies rounding (``floor``: how far the textbook moves
    from itself when its initial weights are rounded differently), within 10× that.
    """
    net, X, Y, s, loss, optimizer, settings = _setup(config)
    textbook_net = net.copy()
    outcomes = []
    try:
        history = net.fit(X, Y, loss=loss, optimizer=optimizer(), sample_weight=s, verbose=0,
                          **settings)  # fmt: skip
    except DivergenceError:
        outcomes.append("fit diverged")
    try:
        E, acc = textbook_fit(textbook_net, X, Y, loss, optimizer(), s=s, **settings)
    except DivergenceError:
        outcomes.append("the textbook diverged")
    if outcomes:  # both diverging is equal behaviour (not expected at these rates)
        return [] if len(outcomes) == 2 else outcomes
    tol = TOL[net.dtype]
    measured = _measures(net, history["loss"], textbook_net, E, loss)
    problems = [
        f"{name}: {value:.3g} relative"
        for name, value in measured.items()
        if not value <= max(tol, 10 * (floor or {}).get(name, 0.0))
    ]
    if "accuracy" in history.history:  # a borderline output may round the other way
        if np.max(np.abs(np.subtract(history["accuracy"], acc))) > 1.5 * 3 / len(X):
            problems.append(f"accuracy {history['accuracy']} != textbook {acc}")
    return problems


def rounding_spread(config):
    """How far the textbook moves from itself when its initial weights are rounded one
    way or the other (× (1 ± 2ε)): the spread that rounding alone makes in this run."""
    eps = float(np.finfo(np.dtype(config[3])).eps)
    ref, E_ref, _ = _textbook_run(config)
    spread: dict = {}
    for nudge in (2 * eps, -2 * eps):
        net, E, _ = _textbook_run(config, nudge)
        for name, value in _measures(net, E, ref, E_ref, config[2][0]).items():
            spread[name] = max(spread.get(name, 0.0), value)
    return spread


def assert_equal(config):
    """fit = the textbook on ``config``; where they differ, the training is checked for
    magnifying rounding by itself (:func:`rounding_spread`) before that counts."""
    problems = differences(config)
    if problems:
        problems = differences(config, floor=rounding_spread(config))
    assert problems == [], config


def psi_scales(net, Y, loss):
    """Per layer, the size of the terms each Ψ_l is summed from: the Ψ recursion run on
    absolute values (|ŷ| + |Y| at the start, |W_l|, |f'|). Ψ = ŷ − Y where ŷ ≈ Y, or a
    sum that cancels, has a rounding error of a few ulps of this, not of Ψ itself."""
    cache, f, W = net.cache, net.activations, net.weights
    psi = (np.abs(cache.y_hat) + np.abs(Y)).astype(np.float64) / len(Y)  # |∂E/∂ŷ| at most
    z, a = cache.z[-1], cache.y_hat
    if not psinet.losses.fused_pair(loss, f[-1]):
        if f[-1].elementwise:
            psi = psi * np.abs(f[-1].derivative(z, a))
        else:  # softmax: |a ⊙ (g − Σ g a)| <= a ⊙ (|g| + Σ |g| a)
            psi = a * (psi + np.sum(psi * a, axis=1, keepdims=True))
    scales = [0.0] * len(W)
    for l in reversed(range(len(W))):
        scales[l] = float(np.max(psi)) * 10  # and a margin for the rounding of the start
        if l > 0:  # (a convolution's fold adds absolute values: still a bound)
            psi = net.layers[l].fold(psi @ np.abs(W[l][:, :-1])) * np.abs(
                f[l - 1].derivative(cache.z[l - 1], cache.a[l - 1])
            )
    return scales


@st.composite
def configs(draw, wide=False):
    n_layers = draw(st.integers(1, 5))
    widths = [draw(st.integers(1, 40)) for _ in range(n_layers - 1)]
    loss, out, kind = draw(st.sampled_from(PAIRS))
    n_out = draw(st.integers(2 if kind == "onehot" else 1, 6))
    n_in = draw(st.integers(300, 340)) if wide else draw(st.integers(1, 12))
    if wide:
        widths = [draw(st.integers(20, 40)), *widths[1:]] if widths else []
    hidden = draw(st.lists(st.sampled_from(HIDDEN), min_size=1, max_size=3))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    opt = "sgd" if wide else draw(st.sampled_from(sorted(OPTIMIZERS)))
    N = draw(st.integers(1, 40))
    batch = draw(st.integers(1, 16))
    shuffle = draw(st.booleans())
    weighted = draw(st.booleans())
    l2 = 0.0 if wide else draw(st.sampled_from([0.0, 0.0, 0.01]))
    epochs = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**16))
    return ([n_in, *widths, n_out], hidden, (loss, out, kind), dtype, opt, N, batch, shuffle,
            weighted, l2, epochs, seed)  # fmt: skip


@settings(max_examples=400)  # about 10 ms an example
@given(configs())
def test_fit_is_the_textbook(config):
    assert_equal(config)


@st.composite
def conv_configs(draw):
    """Networks with 1–3 convolutions (strides, padding, pairs, channels) then dense layers."""
    C, H, W = draw(st.integers(1, 3)), draw(st.integers(3, 9)), draw(st.integers(3, 9))
    layers, shape = [], (C, H, W)
    for _ in range(draw(st.integers(1, 3))):
        k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
        pad = draw(st.sampled_from([0, 0, 1, (1, 0)]))
        pad2 = pad if isinstance(pad, tuple) else (pad, pad)
        if k[0] > shape[1] + 2 * pad2[0] or k[1] > shape[2] + 2 * pad2[1]:
            break
        layer = Conv2D(draw(st.integers(1, 4)), k, stride=stride, padding=pad)
        layers.append(layer)
        shape = layer.build(shape, first=False).out_shape
    base = draw(configs())
    dense = [draw(st.integers(1, 8)) for _ in range(draw(st.integers(0, 1)))]
    return _with(base, sizes=((C, H, W), *layers, *dense, base[0][-1]))


@settings(max_examples=120)  # about 25 ms an example
@given(conv_configs())
def test_fit_with_convolutions_is_the_textbook(config):
    """Convolutions: fit's patches written into buffers and folds into Ψ's buffers equal
    the textbook's unfold / hstack / fold on new arrays."""
    assert_equal(config)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(configs(wide=True))
def test_fit_with_the_deferred_update_is_the_textbook(deferring, config):
    """A wide first layer, plain SGD: the engine defers W_0's update (when every part is a
    built-in and there is more than one step) and still equals the textbook."""
    assert_equal(config)


def test_the_deferred_update_ran_in_the_property_test(deferring):
    config = ([320, 30, 4, 3], ["relu"], ("categorical_crossentropy", "softmax", "onehot"),
              np.float64, "sgd", 40, 4, True, False, 0.0, 2, 1)  # fmt: skip
    assert differences(config) == []
    assert len(deferring.count) >= 10  # steps were pended: the trick ran, and still equal


# ----------------------------------------------------------------- each trick, broken
BASE = ([5, 7, 6, 3], ["tanh", "relu"], ("categorical_crossentropy", "softmax", "onehot"),
        np.float64, "sgd", 23, 5, True, False, 0.0, 2, 3)  # fmt: skip


def _with(config, **changes):
    names = ["sizes", "hidden", "pair", "dtype", "opt", "N", "batch", "shuffle", "weighted",
             "l2", "epochs", "seed"]  # fmt: skip
    values = dict(zip(names, config))
    values.update(changes)
    return tuple(values[n] for n in names)


SIGMOID_BCE = _with(BASE, pair=("binary_crossentropy", "sigmoid", "unit"))
MSE = _with(BASE, pair=("mse", "identity", "real"), opt="adam", l2=0.01, weighted=True)


def test_the_unbroken_engine_passes_every_mutation_config():
    for config in (BASE, SIGMOID_BCE, MSE, _with(BASE, dtype=np.float32)):
        assert differences(config) == []


def _mutate_move(monkeypatch, name, kind):
    """Replace the engine's bound move for the built-in ``kind`` by one that does nothing."""
    original = getattr(moves, name)

    def broken(f, *arrays):
        if type(f) is kind:
            return moves.nothing
        return original(f, *arrays)

    monkeypatch.setattr(moves, name, broken)
    monkeypatch.setattr(buffers, name, broken, raising=False)
    monkeypatch.setattr(sweep, name, broken, raising=False)
    monkeypatch.setattr(step, name, broken, raising=False)


def test_mutation_bound_backward_move(monkeypatch):
    _mutate_move(monkeypatch, "backward_move", Tanh)  # Ψ ⊙ tanh'(z) skipped
    assert differences(BASE)


def test_mutation_bound_forward_move(monkeypatch):
    _mutate_move(monkeypatch, "forward_move", ReLU)  # a = relu(z) never written
    assert differences(BASE)


def test_mutation_transposed_layout(monkeypatch):
    monkeypatch.setattr(buffers, "_TRANSPOSED_MIN_FAN_IN", 1)
    monkeypatch.setattr(buffers, "_TRANSPOSED_MIN_WIDTH", 1)
    config = _with(BASE, dtype=np.float32)
    assert differences(config) == []  # every layer transposed: still the textbook
    call = moves.TransposedProduct.__call__

    def broken(self, X_bar, W_T, z):
        call(self, X_bar, W_T, z)
        self.z_T[0] += 1e-3  # the first neuron's row of z_lᵀ off

    monkeypatch.setattr(moves.TransposedProduct, "__call__", broken)
    assert differences(config)


def test_mutation_eta_folded_into_psi(monkeypatch):
    monkeypatch.setattr(step, "folded_rate", lambda optimizer: 2 * optimizer.current_lr)
    assert differences(BASE)  # Ψ carries 2η but the update takes it as η


def test_mutation_eta_not_divided_out_of_the_cache(monkeypatch):
    finish = step.StepPlan.finish

    def broken(self):
        self.eta = None  # forget that Ψ carries η
        finish(self)

    monkeypatch.setattr(step.StepPlan, "finish", broken)
    assert any("Ψ" in p for p in differences(BASE))


def test_mutation_fused_start(monkeypatch):
    config = _with(BASE, pair=("mse", "sigmoid", "unit"))
    assert differences(config) == []
    for module in (step, psinet.engine.data):  # mse + sigmoid taken as fused: Ψ = (ŷ − Y)/B
        monkeypatch.setattr(module, "fused_pair", lambda loss, f: True)
    assert differences(config)


def test_mutation_sigmoid_start(monkeypatch):
    monkeypatch.setattr(step, "sigmoid_targets", lambda Y, out=None: Y if out is None else
                        np.copyto(out, Y))  # fmt: skip
    monkeypatch.setattr(psinet.engine.data, "sigmoid_targets", step.sigmoid_targets, raising=False)
    assert differences(SIGMOID_BCE)


def test_mutation_mse_start(monkeypatch):
    monkeypatch.setattr(step, "exactly", lambda part, cls: (cls is not MeanSquaredError
                        and deferred.exactly(part, cls)) or cls is MeanSquaredError)  # fmt: skip
    assert differences(MSE) == []  # the built-in mse: its fast start is its own math
    assert differences(_with(MSE, pair=("test_engine_pseudo_huber", "identity", "real")))


def test_mutation_deferred_update(monkeypatch, deferring):
    config = _with(BASE, sizes=[320, 30, 3], batch=4, N=40)
    assert differences(config) == [] and deferring.count
    forward_product = deferred.PendingFirstLayer.forward_product

    def broken(self, z_product):
        return forward_product(self, z_product) if False else z_product  # no correction

    monkeypatch.setattr(deferred.PendingFirstLayer, "forward_product", broken)
    assert differences(config)


CONV = _with(BASE, sizes=((2, 6, 5), Conv2D(3, 3, padding=1), Conv2D(4, 2, stride=2), 3))


def test_the_unbroken_engine_passes_the_convolution_configs():
    for config in (CONV, _with(CONV, shuffle=False, opt="adam", dtype=np.float32)):
        assert differences(config) == []


def test_mutation_unfold_into_the_buffer(monkeypatch):
    put = patches.unfold_put
    monkeypatch.setattr(buffers, "unfold_put", lambda layer, src, dst: (
        put(layer, src, dst) if isinstance(layer, Dense) else (lambda d, s: None)))  # fmt: skip
    assert differences(CONV)  # a convolution's patches never written


def test_mutation_fold_into_psi(monkeypatch):
    fold = patches.fold_move

    def broken(layer, G, psi_down):  # a convolution's fold never run: Ψ_{l-1} stale
        move = fold(layer, G, psi_down)
        return lambda: None if isinstance(layer, Conv2D) else move()

    monkeypatch.setattr(sweep, "fold_move", broken)
    assert differences(CONV)


def test_mutation_first_layer_patches(monkeypatch):
    unfold = patches.unfold_data
    monkeypatch.setattr(data, "unfold_data", lambda layer, X_b, X_bar: unfold(
        layer, X_b[::-1], X_bar))  # fmt: skip
    assert differences(CONV)  # the batch's patches in the wrong order


def test_mutation_data_arrangement(monkeypatch):
    arrange = EpochData.arrange
    monkeypatch.setattr(EpochData, "arrange", lambda self, order, shuffled: arrange(
        self, np.sort(order), shuffled))  # fmt: skip
    assert differences(BASE)  # the epoch's permutation not applied


def test_mutation_divergence_bound(monkeypatch):
    """A step that overflows raises DivergenceError with the weights as they were, in the
    engine as in the textbook; a bound that claims every step finite lets inf through."""
    X = np.full((4, 2), 1e200)  # ŷ ≈ 1e200: ∂E/∂W_1 = Ψ_1ᵀ X̄_1 ≈ 1e400 overflows
    Y = np.zeros((4, 1))

    def run():
        net = Network([2, 3, 1], "identity", seed=0)
        with pytest.raises(DivergenceError):
            net.fit(X, Y, loss="mse", optimizer=optimizers.SGD(0.1), epochs=1, verbose=0)
        return net

    assert all(np.isfinite(W).all() for W in run().weights)
    textbook = Network([2, 3, 1], "identity", seed=0)
    with pytest.raises(DivergenceError):
        train_step(textbook, X, Y, "mse", optimizers.SGD(0.1))
    monkeypatch.setattr(step, "gradient_bound", lambda *args: 0.0)
    monkeypatch.setattr(step.StepPlan, "gradient_bound", lambda self: 0.0)
    with pytest.raises(BaseException) as caught:
        assert all(np.isfinite(W).all() for W in run().weights)
    assert caught.type in (AssertionError, pytest.fail.Exception)


# ----------------------------------------------------------------- extensions keep their math
def _fit_both(activations, loss, sizes=(3, 5, 2), kind="real", opt="sgd", **fit):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(17, sizes[0]))
    Y = _targets(kind, rng, 17, sizes[-1], np.float64)
    net = Network(list(sizes), activations, seed=2)
    ref = net.copy()
    settings = dict(epochs=2, batch_size=5, shuffle=True, seed=1, l2=0.0)
    settings.update(fit)
    history = net.fit(X, Y, loss=loss, optimizer=OPTIMIZERS[opt](), verbose=0, **settings)
    E, _ = textbook_fit(ref, X, Y, loss, OPTIMIZERS[opt](), s=None, **settings)
    return net, ref, history, E, (X, Y)


def _same(net, ref, history=None, E=None):
    assert all(_close(W, W_ref, 1e-12) for W, W_ref in zip(net.weights, ref.weights))
    if history is not None:
        assert _close(history["loss"], E, 1e-12)


class IgnoresScale(Loss):
    """Half squares whose value_and_gradient ignores ``scale`` (the 0.2 protocol had it)."""

    name = "test_engine_ignores_scale"

    def value(self, y_hat, Y):
        return float(np.sum((y_hat - Y) ** 2)) / (2 * len(Y))

    def gradient(self, y_hat, Y):
        return (y_hat - Y) / len(Y)

    def value_and_gradient(self, y_hat, Y, out=None, scale=1.0):
        return self.value(y_hat, Y), self.gradient(y_hat, Y)


def test_a_loss_that_ignores_a_scale_trains_at_the_rate_given():
    net, ref, history, E, (X, Y) = _fit_both(["tanh", "identity"], IgnoresScale())
    _same(net, ref, history, E)
    plain, *_ = _fit_both(["tanh", "identity"], "mse")
    _same(net, plain)  # the same math as the built-in mse, at SGD(0.02)'s rate
    assert check_gradients(net, X, Y, IgnoresScale()).passed


class Focal(BinaryCrossEntropy):
    """A subclass of the built-in with its own value and gradient: focal loss, γ = 2."""

    name = "test_engine_focal"

    def value(self, y_hat, Y):
        p = np.clip(np.where(Y > 0.5, y_hat, 1 - y_hat), 1e-12, 1.0)
        return float(-np.sum((1 - p) ** 2 * np.log(p))) / len(Y)

    def gradient(self, y_hat, Y):
        sign = np.where(Y > 0.5, 1.0, -1.0)
        p = np.clip(np.where(Y > 0.5, y_hat, 1 - y_hat), 1e-12, 1.0)
        dp = 2 * (1 - p) * np.log(p) - (1 - p) ** 2 / p  # dℓ/dp
        return sign * dp / len(Y)


class Smoothed(CategoricalCrossEntropy):
    """A subclass of the built-in with its own value and gradient: targets smoothed by ε."""

    name = "test_engine_smoothed"

    def _targets(self, Y):
        return 0.9 * Y + 0.1 / Y.shape[1]

    def value(self, y_hat, Y):
        return float(-np.sum(self._targets(Y) * np.log(np.maximum(y_hat, 1e-300)))) / len(Y)

    def gradient(self, y_hat, Y):
        return -self._targets(Y) / y_hat / len(Y)


@pytest.mark.parametrize(
    ("loss", "plain", "out", "kind", "n_out"),
    [(Focal(), "binary_crossentropy", "sigmoid", "unit", 2),
     (Smoothed(), "categorical_crossentropy", "softmax", "onehot", 3)],
)  # fmt: skip
def test_a_subclass_of_a_fused_loss_runs_its_own_formula(loss, plain, out, kind, n_out):
    psinet.register_loss(type(loss))  # registered, as a user would to save it
    try:
        _check_own_formula(loss, plain, out, kind, n_out)
    finally:
        del psinet.losses.REGISTERED[loss.name]


def test_a_subclass_that_changes_value_needs_its_own_sample_losses_for_weights():
    """Sample weights sum sample_losses: inherited from the built-in, they would be the
    built-in's terms, not the subclass's value; refused. (Equal weights are the plain
    mean, the subclass's own value.)"""

    class Doubled(BinaryCrossEntropy):
        name = "test_engine_doubled_bce"

        def value(self, y_hat, Y):
            return 2 * super().value(y_hat, Y)

        def gradient(self, y_hat, Y):
            return 2 * super().gradient(y_hat, Y)

    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(5, 3)), rng.uniform(size=(5, 2)).round(1)
    net = Network([3, 4, 2], ["tanh", "sigmoid"], seed=0)
    _, E = gradients(net, X, Y, Doubled(), sample_weight=np.ones(5))
    assert math.isclose(E, Doubled().value(net.predict(X), Y))
    for s in (np.arange(1.0, 6.0), np.array([1.0, 1.0, 1.0, 1.0, 1.0001])):
        for call in (
            lambda s=s: gradients(net, X, Y, Doubled(), sample_weight=s),
            lambda s=s: net.evaluate(X, Y, Doubled(), sample_weight=s),
            lambda s=s: net.fit(X, Y, loss=Doubled(), sample_weight=s, epochs=1, verbose=0),
        ):
            with pytest.raises(TypeError, match=r"value is Doubled's but its sample_losses"):
                call()

    class DoubledWithTerms(Doubled):
        name = "test_engine_doubled_bce_terms"

        def sample_losses(self, y_hat, Y):
            return 2 * super().sample_losses(y_hat, Y)

    s = np.array([1.0, 1.0, 1.0, 1.0, 1.0001])
    _, E = gradients(net, X, Y, DoubledWithTerms(), sample_weight=s)
    assert math.isclose(E, DoubledWithTerms().value(net.predict(X), Y), rel_tol=1e-4)


def test_check_gradients_compares_a_loss_subclass_with_its_own_value():
    """A subclass of the fused BCE that changes value but not gradient is inconsistent:
    check_gradients must say so (both of its sides once used the fused formula)."""

    class ValueOnly(BinaryCrossEntropy):
        name = "test_engine_value_only"

        def value(self, y_hat, Y):
            return 2 * super().value(y_hat, Y)

    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(5, 3)), rng.uniform(size=(5, 2)).round(1)
    net = Network([3, 4, 2], ["tanh", "sigmoid"], seed=0)
    assert check_gradients(net, X, Y, "binary_crossentropy").passed
    assert not check_gradients(net, X, Y, ValueOnly()).passed


def _check_own_formula(loss, plain, out, kind, n_out):
    sizes = (3, 5, n_out)
    net, ref, history, E, (X, Y) = _fit_both(["tanh", out], loss, sizes=sizes, kind=kind)
    _same(net, ref, history, E)
    builtin, *_ = _fit_both(["tanh", out], plain, sizes=sizes, kind=kind)
    assert not _close(net.weights[0], builtin.weights[0], 1e-6)  # not the built-in's update
    assert math.isclose(net.evaluate(X, Y, loss)["loss"], loss.value(net.predict(X), Y))
    assert check_gradients(net, X, Y, loss).passed  # both sides: its own value


class DoubleMSE(MeanSquaredError):
    """A subclass of the built-in mse overriding value and gradient (twice the loss)."""

    name = "test_engine_double_mse"

    def value(self, y_hat, Y):
        return 2 * super().value(y_hat, Y)

    def gradient(self, y_hat, Y):
        return 2 * super().gradient(y_hat, Y)


def test_a_subclass_of_mse_runs_its_own_formula():
    net, ref, history, E, _ = _fit_both(["tanh", "identity"], DoubleMSE())
    _same(net, ref, history, E)
    doubled, *_ = _fit_both(["tanh", "identity"], "mse", opt="sgd-double")
    _same(net, doubled)  # twice the gradient at η is the plain gradient at 2η


@pytest.mark.parametrize("base", [Tanh, Sigmoid, ReLU, Identity])
def test_a_subclass_of_a_built_in_activation_runs_its_own_derivative(base):
    class Steeper(base):
        name = f"test_engine_steeper_{base.name}"

        def derivative(self, z, a):  # deliberately 1.5 f'(z): backprop must use this one
            return 1.5 * base.derivative(self, z, a)

    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    net = Network([3, 4, 2], [Steeper(), "identity"], seed=1)
    _, _, psi = gradients(net, X, Y, "mse", return_psi=True)
    cache = net.cache
    grad_a = psi[1] @ net.weights[1][:, :-1]
    np.testing.assert_allclose(psi[0], grad_a * 1.5 * base().derivative(cache.z[0], cache.a[0]))
    net_out = Network([3, 2], [Steeper()], seed=1)  # the output layer's too
    _, _, psi_out = gradients(net_out, X, Y, "mse", return_psi=True)
    z, a = net_out.cache.z[0], net_out.cache.a[0]
    np.testing.assert_allclose(psi_out[0], (a - Y) / 6 * 1.5 * base().derivative(z, a))
    trained, ref, history, E, _ = _fit_both([Steeper(), "identity"], "mse")
    _same(trained, ref, history, E)


def test_a_sigmoid_subclass_does_not_take_the_fused_start():
    class Sharp(Sigmoid):
        name = "test_engine_sharp_sigmoid"

        def value(self, z):
            return super().value(2 * z)

        def derivative(self, z, a):
            return 2 * a * (1 - a)

    loss = "binary_crossentropy"
    net, ref, history, E, (X, Y) = _fit_both(["tanh", Sharp()], loss, kind="unit")
    _same(net, ref, history, E)
    _, _, psi = gradients(net, X, Y, loss, return_psi=True)
    y_hat = net.cache.y_hat
    assert not np.allclose(psi[-1], (y_hat - Y) / len(Y))  # σ(2z): Ψ = 2(ŷ − Y)/N
    np.testing.assert_allclose(psi[-1], 2 * (y_hat - Y) / len(Y), rtol=1e-9, atol=1e-12)


def test_a_part_that_reads_the_weights_mid_epoch_sees_them_exact(deferring):
    """A custom activation that looks at net.weights[0] in every forward pass: with the
    deferred update forced on for built-ins, fit turns it off for this network, so each
    look sees the weights of every step before (as the textbook does)."""

    class Spy(Activation):
        name = "test_engine_spy"
        seen: list

        def __init__(self):
            self.net, self.seen = None, []

        def value(self, z):
            if self.net is not None:
                self.seen.append(self.net.weights[0].copy())
            return np.maximum(z, 0)

        def derivative(self, z, a):
            return (z > 0).astype(z.dtype)

    rng = np.random.default_rng(1)
    X = rng.normal(size=(24, 320))
    Y = np.eye(3)[rng.integers(0, 3, size=24)]
    runs = []
    for use_fit in (True, False):
        spy = Spy()
        net = Network([320, 30, 3], [spy, "softmax"], seed=0)
        spy.net = net
        if use_fit:
            net.fit(X, Y, loss="categorical_crossentropy", optimizer=optimizers.SGD(0.1),
                    epochs=1, batch_size=4, shuffle=False, verbose=0)  # fmt: skip
        else:
            opt = optimizers.SGD(0.1)
            for a in range(0, 24, 4):
                train_step(net, X[a : a + 4], Y[a : a + 4], "categorical_crossentropy", opt)
        runs.append(spy.seen)
    assert deferring.count == []  # nothing was deferred
    assert len(runs[0]) == len(runs[1]) == 6
    for seen, expected in zip(*runs):
        assert _close(seen, expected, 1e-12)


class DoubledConv(Conv2D):
    """A convolution of its own: every patch value doubled (fold doubles back, its adjoint)."""

    def unfold(self, X):
        return 2.0 * super().unfold(X)

    def fold(self, G):
        return super().fold(2.0 * G)


class HalvedDense(Dense):
    """A dense layer of its own: its input halved on the way in (and its gradient too)."""

    def unfold(self, X):
        return 0.5 * super().unfold(X)

    def fold(self, G):
        return super().fold(0.5 * G)


@pytest.mark.parametrize(
    "sizes",
    [
        ((2, 6, 5), DoubledConv(3, 3, padding=1), Conv2D(4, 2, stride=2), 3),
        ((2, 6, 5), Conv2D(3, 3), DoubledConv(2, 2), 4, 3),
        ((2, 6, 5), Conv2D(3, 3), HalvedDense(4), 3),
        (5, HalvedDense(6), 3),
    ],
)
def test_a_layer_of_its_own_runs_its_own_unfold_and_fold_in_fit(sizes):
    """The engine's patches stand in only for the exact built-in layers."""
    config = _with(CONV, sizes=sizes)
    assert differences(config) == []
    net, X, *_ = _setup(config)
    plain = Network([sizes[0], *(_plain(q) for q in sizes[1:])], net.activations, seed=3)
    plain.weights = list(net.weights)
    assert not np.allclose(net.predict(X), plain.predict(X))  # the subclass does change it


def _plain(layer):
    if isinstance(layer, DoubledConv):
        return Conv2D(layer.filters, layer.kernel_size, layer.stride, layer.padding)
    return layer.units if isinstance(layer, HalvedDense) else layer
