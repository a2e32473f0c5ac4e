"""Optimizers: hand-computed trajectories, dtype and in-place properties, errors, saving."""

from __future__ import annotations

import io
import itertools
import json
import math
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from psinet.optimizers import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from psinet.schedules import CosineDecay, StepDecay

SETTINGS = settings(deadline=None, derandomize=True, max_examples=40)

# A 2×3 weight array (two neurons, two inputs, bias last) and three gradients.
W0 = [[0.5, -1.0, 0.25], [2.0, 0.0, -0.75]]
GRADS = [
    [[0.1, -0.2, 0.3], [-0.4, 0.5, 1.5]],
    [[-0.3, 0.1, 0.2], [0.6, -0.1, -0.5]],
    [[0.2, 0.2, -0.1], [0.05, 0.3, 0.7]],
]
Matrix = list[list[float]]


# --- references: the formulas, element by element, in plain Python floats ------------


def zeros() -> Matrix:
    return [[0.0] * 3 for _ in range(2)]


def ref_sgd(lr: float, mu: float, nesterov: bool) -> list[Matrix]:
    w, v, out = [row[:] for row in W0], zeros(), []
    for G in GRADS:
        for i in range(2):
            for j in range(3):
                g = G[i][j]
                v[i][j] = mu * v[i][j] + g
                if nesterov:
                    w[i][j] = w[i][j] - lr * (g + mu * v[i][j])
                else:
                    w[i][j] = w[i][j] - lr * v[i][j]  # = w − η·g when μ = 0
        out.append([row[:] for row in w])
    return out


def ref_adagrad(lr: float, eps: float) -> list[Matrix]:
    w, s, out = [row[:] for row in W0], zeros(), []
    for G in GRADS:
        for i in range(2):
            for j in range(3):
                g = G[i][j]
                s[i][j] = s[i][j] + g * g
                w[i][j] = w[i][j] - lr * g / (math.sqrt(s[i][j]) + eps)
        out.append([row[:] for row in w])
    return out


def ref_rmsprop(lr: float, rho: float, eps: float) -> list[Matrix]:
    w, s, out = [row[:] for row in W0], zeros(), []
    for G in GRADS:
        for i in range(2):
            for j in range(3):
                g = G[i][j]
                s[i][j] = rho * s[i][j] + (1 - rho) * g * g
                w[i][j] = w[i][j] - lr * g / (math.sqrt(s[i][j]) + eps)
        out.append([row[:] for row in w])
    return out


def ref_adam(lr: float, b1: float, b2: float, eps: float, wd: float = 0.0) -> list[Matrix]:
    w, m, v, out = [row[:] for row in W0], zeros(), zeros(), []
    for t, G in enumerate(GRADS, start=1):
        for i in range(2):
            for j in range(3):
                if j < 2:  # decoupled decay: weight columns only, never the bias (j = 2)
                    w[i][j] = w[i][j] - lr * wd * w[i][j]
                g = G[i][j]
                m[i][j] = b1 * m[i][j] + (1 - b1) * g
                v[i][j] = b2 * v[i][j] + (1 - b2) * g * g
                m_hat = m[i][j] / (1 - b1**t)
                v_hat = v[i][j] / (1 - b2**t)
                w[i][j] = w[i][j] - lr * m_hat / (math.sqrt(v_hat) + eps)
        out.append([row[:] for row in w])
    return out


# Non-default hyper-parameters, so a hard-coded default in the library cannot hide.
CASES: dict[str, tuple[Callable[[], Optimizer], Callable[[], list[Matrix]]]] = {
    "sgd": (lambda: SGD(lr=0.3), lambda: ref_sgd(0.3, 0.0, False)),
    "sgd-momentum": (lambda: SGD(lr=0.3, momentum=0.8), lambda: ref_sgd(0.3, 0.8, False)),
    "sgd-nesterov": (
        lambda: SGD(lr=0.3, momentum=0.8, nesterov=True),
        lambda: ref_sgd(0.3, 0.8, True),
    ),
    "adagrad": (lambda: Adagrad(lr=0.2, eps=1e-3), lambda: ref_adagrad(0.2, 1e-3)),
    "rmsprop": (lambda: RMSprop(lr=0.05, rho=0.7, eps=1e-4), lambda: ref_rmsprop(0.05, 0.7, 1e-4)),
    "adam": (
        lambda: Adam(lr=0.1, beta1=0.8, beta2=0.95, eps=1e-3),
        lambda: ref_adam(0.1, 0.8, 0.95, 1e-3),
    ),
    "adamw": (
        lambda: AdamW(lr=0.1, beta1=0.8, beta2=0.95, eps=1e-3, weight_decay=0.3),
        lambda: ref_adam(0.1, 0.8, 0.95, 1e-3, wd=0.3),
    ),
}
FACTORIES = {name: make for name, (make, _) in CASES.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_three_step_trajectory_matches_hand_computation(name: str) -> None:
    make, reference = CASES[name]
    opt, W = make(), np.array(W0)
    for G, expected in zip(GRADS, reference(), strict=True):
        opt.step([W], [np.array(G)])
        np.testing.assert_allclose(W, expected, rtol=0, atol=1e-12)
    assert opt.t == 3


def test_sgd_hand_worked_nesterov() -> None:
    # η = 0.1, μ = 0.5, g = 1 twice, from w = 0:
    # step 1: v = 1,             w = 0 − 0.1·(1 + 0.5·1)     = −0.15
    # step 2: v = 0.5·1 + 1 = 1.5, w = −0.15 − 0.1·(1 + 0.5·1.5) = −0.325
    W = np.zeros((1, 1))
    opt = SGD(lr=0.1, momentum=0.5, nesterov=True)
    opt.step([W], [np.ones((1, 1))])
    assert W[0, 0] == pytest.approx(-0.15, abs=1e-15)
    opt.step([W], [np.ones((1, 1))])
    assert W[0, 0] == pytest.approx(-0.325, abs=1e-15)


def test_adam_first_step_is_lr_times_sign() -> None:
    # At t = 1, m̂ = g and v̂ = g², so the step is η·g / (|g| + ε) ≈ η·sign(g).
    g = np.array([[3.0, -0.02, 7e-4], [-50.0, 1.0, -1.0]])
    W = np.zeros_like(g)
    Adam(lr=0.01, eps=1e-12).step([W], [g])
    np.testing.assert_allclose(W, -0.01 * np.sign(g), rtol=1e-8)


def test_adamw_decays_weight_columns_only() -> None:
    rng = np.random.default_rng(0)
    W_adamw = rng.normal(size=(3, 4))
    W_adam = W_adamw.copy()
    W_ref = W_adamw.copy()
    lr, wd = 0.05, 0.2
    adamw, adam, adam_ref = AdamW(lr=lr, weight_decay=wd), Adam(lr=lr), Adam(lr=lr)
    for _ in range(3):
        g = rng.normal(size=(3, 4))
        adamw.step([W_adamw], [g])
        adam.step([W_adam], [g])
        # AdamW by definition: decay the weight columns, then an Adam step.
        W_ref[:, :-1] -= (lr * wd) * W_ref[:, :-1]
        adam_ref.step([W_ref], [g])
    np.testing.assert_array_equal(W_adamw[:, -1], W_adam[:, -1])  # bias: no decay at all
    assert np.all(W_adamw[:, :-1] != W_adam[:, :-1])  # weights: decayed
    np.testing.assert_array_equal(W_adamw, W_ref)  # ... by exactly η·λ·w per step


def test_adamw_with_zero_decay_is_adam() -> None:
    rng = np.random.default_rng(1)
    W1 = rng.normal(size=(2, 3))
    W2 = W1.copy()
    a, b = AdamW(lr=0.1, weight_decay=0.0), Adam(lr=0.1)
    for _ in range(3):
        g = rng.normal(size=(2, 3))
        a.step([W1], [g])
        b.step([W2], [g])
    np.testing.assert_array_equal(W1, W2)


# --- dtype, in place, state by position ----------------------------------------------


@st.composite
def network_weights(draw: st.DrawFn) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    """Weights of a random small network and three gradient lists, from drawn sizes/seed."""
    sizes = draw(st.lists(st.integers(1, 5), min_size=2, max_size=4))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shapes = [(n_out, n_in + 1) for n_in, n_out in itertools.pairwise(sizes)]
    weights = [rng.normal(size=s).astype(dtype) for s in shapes]
    grads = [[rng.normal(size=s).astype(dtype) for s in shapes] for _ in range(3)]
    return weights, grads


@SETTINGS
@given(data=network_weights(), name=st.sampled_from(sorted(FACTORIES)))
def test_in_place_and_dtype_preserved(
    data: tuple[list[np.ndarray], list[list[np.ndarray]]], name: str
) -> None:
    weights, grads_seq = data
    dtype = weights[0].dtype
    ids = [id(w) for w in weights]
    w64 = [w.astype(np.float64) for w in weights]
    opt, opt64 = FACTORIES[name](), FACTORIES[name]()
    for grads in grads_seq:
        opt.step(weights, grads)
        opt64.step(w64, [g.astype(np.float64) for g in grads])
    assert [id(w) for w in weights] == ids  # the same array objects, updated in place
    assert all(w.dtype == dtype for w in weights)
    for arrays in opt.state_dict()["state"].values():
        assert [a.dtype for a in arrays] == [dtype] * len(weights)
        assert [a.shape for a in arrays] == [w.shape for w in weights]
    for w, w_ref in zip(weights, w64, strict=True):  # float32 tracks the float64 run
        np.testing.assert_allclose(w, w_ref, rtol=1e-4, atol=1e-5)


def test_plain_sgd_keeps_no_velocity() -> None:
    opt = SGD(lr=0.1)
    opt.step([np.zeros((2, 3))], [np.ones((2, 3))])
    assert opt.state_dict()["state"] == {}
    assert set(SGD(lr=0.1, momentum=0.9).state_dict()["state"]) == {"v"}


def test_state_is_per_position() -> None:
    # Two arrays of the same shape must not share state (numpy-ml issue #78).
    W = [np.zeros((2, 2)), np.zeros((2, 2))]
    opt = SGD(lr=1.0, momentum=0.5)
    opt.step(W, [np.ones((2, 2)), np.zeros((2, 2))])
    opt.step(W, [np.zeros((2, 2)), np.zeros((2, 2))])
    # weights[0]: v = 1 then 0.5, so w = −1 − 0.5; weights[1] never received a gradient
    np.testing.assert_array_equal(W[0], np.full((2, 2), -1.5))
    np.testing.assert_array_equal(W[1], np.zeros((2, 2)))


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_step_allocates_nothing_of_the_weights_size(name: str) -> None:
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=(600, 601)), rng.normal(size=(300, 601))]  # 2.9 MB, 1.4 MB
    grads = [rng.normal(size=w.shape) for w in weights]
    opt = FACTORIES[name]()
    opt.step(weights, grads)  # warm-up: state and scratch are created here
    tracemalloc.start()
    try:
        opt.step(weights, grads)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Only bounded temporaries: NumPy's ufunc buffer (≤ 8192 elements per operand) for
    # AdamW's strided view w[:, :-1]; nothing that grows with the weights.
    assert peak < 300_000 < weights[1].nbytes / 4


# --- errors, and no half-updates -----------------------------------------------------


@pytest.mark.parametrize(
    ("make", "exc", "match"),
    [
        (lambda: SGD(lr=-1e-9), ValueError, "lr must be >= 0, got -1e-09"),
        (lambda: SGD(lr=-0.1), ValueError, "lr must be >= 0"),
        (lambda: SGD(lr=float("inf")), ValueError, "lr must be finite"),
        (lambda: SGD(lr="0.1"), TypeError, "lr must be a float >= 0 or a psinet.schedules"),
        (lambda: SGD(lr=lambda e: 0.1), TypeError, "lr must be a float >= 0 or a psinet"),
        (lambda: SGD(momentum=1.0), ValueError, r"momentum must be in \[0, 1\), got 1.0"),
        (lambda: SGD(momentum=-0.1), ValueError, r"momentum must be in \[0, 1\)"),
        (lambda: SGD(nesterov=True), ValueError, "nesterov=True requires momentum > 0"),
        (lambda: SGD(momentum=0.9, nesterov=1), TypeError, "nesterov must be a bool"),
        (lambda: Adagrad(eps=0.0), ValueError, "eps must be > 0"),
        (lambda: RMSprop(rho=1.0), ValueError, r"rho must be in \[0, 1\)"),
        (lambda: RMSprop(eps=-1e-8), ValueError, "eps must be > 0"),
        (lambda: Adam(beta1=1.0), ValueError, r"beta1 must be in \[0, 1\)"),
        (lambda: Adam(beta2=-0.5), ValueError, r"beta2 must be in \[0, 1\)"),
        (lambda: Adam(eps=0), ValueError, "eps must be > 0"),
        (lambda: Adam(beta1=None), TypeError, "beta1 must be a real number"),
        (lambda: AdamW(weight_decay=-0.01), ValueError, "weight_decay must be >= 0"),
    ],
)
def test_bad_hyper_parameters(make: Callable[[], Any], exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        make()


def _good_pair() -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(3)
    weights = [rng.normal(size=(3, 3)), rng.normal(size=(2, 4))]
    return weights, [rng.normal(size=w.shape) for w in weights]


BAD_STEPS: dict[str, tuple[Callable[[list[np.ndarray]], list[np.ndarray]], str]] = {
    "length": (lambda g: g[:1], "same length, got 2 weights and 1 grads"),
    "shape": (
        lambda g: [g[0], np.zeros((2, 3))],
        r"grads\[1\] must match weights\[1\]: weights\[1\] has shape \(2, 4\).*\(2, 3\)",
    ),
    "dtype": (lambda g: [g[0], g[1].astype(np.float32)], r"grads\[1\].*float64.*float32"),
    "not-array": (lambda g: [g[0], g[1].tolist()], r"grads\[1\] must be a numpy ndarray"),
    "int": (lambda g: [g[0], g[1].astype(int)], r"grads\[1\] must have a float dtype"),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize("bad", sorted(BAD_STEPS))
def test_failed_step_changes_nothing(name: str, bad: str) -> None:
    weights, grads = _good_pair()
    opt = FACTORIES[name]()
    opt.step(weights, grads)  # some state to protect
    before_w = [w.copy() for w in weights]
    before = opt.state_dict()
    spoil, match = BAD_STEPS[bad]
    with pytest.raises((ValueError, TypeError), match=match):
        opt.step(weights, spoil(grads))  # weights[0] is fine; weights[1] is not
    for w, b in zip(weights, before_w, strict=True):
        np.testing.assert_array_equal(w, b)
    after = opt.state_dict()
    assert after["t"] == before["t"] == 1
    for key, arrays in before["state"].items():
        for a, b in zip(arrays, after["state"][key], strict=True):
            np.testing.assert_array_equal(a, b)


def test_weights_must_be_2d_and_writeable() -> None:
    with pytest.raises(ValueError, match=r"weights\[0\] must be ndarray of shape \(n_out, n_in"):
        SGD().step([np.zeros(3)], [np.zeros(3)])
    W = np.zeros((2, 2))
    W.flags.writeable = False
    with pytest.raises(ValueError, match="must be writeable"):
        SGD().step([W], [np.zeros((2, 2))])


def test_bound_layout_mismatch_raises_and_reset_rebinds() -> None:
    opt = Adam()
    weights, grads = _good_pair()
    opt.step(weights, grads)
    with pytest.raises(ValueError, match=r"expected 2 weight arrays .*, given 1"):
        opt.step(weights[:1], grads[:1])
    other = [np.zeros((3, 3)), np.zeros((4, 2))]
    with pytest.raises(ValueError, match=r"weights\[1\]: expected shape \(2, 4\).*given shape"):
        opt.step(other, [np.ones_like(w) for w in other])
    as32 = [w.astype(np.float32) for w in weights]
    with pytest.raises(ValueError, match=r"expected shape \(3, 3\) dtype float64 .*float32"):
        opt.step(as32, [g.astype(np.float32) for g in grads])
    np.testing.assert_array_equal(other[0], 0.0)  # nothing was touched
    opt.reset()
    assert opt.t == 0
    opt.step(other, [np.ones_like(w) for w in other])  # a fresh binding
    assert opt.t == 1


# --- saving and resuming --------------------------------------------------------------


def _to_npz_and_json(d: dict[str, Any]) -> dict[str, Any]:
    """Store a state_dict as .npz (arrays) + JSON (everything else), then read it back."""
    arrays = {f"{k}/{i}": a for k, lst in d["state"].items() for i, a in enumerate(lst)}
    meta = {k: v for k, v in d.items() if k != "state"}
    meta["state_lengths"] = {k: len(lst) for k, lst in d["state"].items()}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    meta = json.loads(json.dumps(meta))
    with np.load(buffer) as npz:
        state = {k: [npz[f"{k}/{i}"] for i in range(n)] for k, n in meta["state_lengths"].items()}
    del meta["state_lengths"]
    return {**meta, "state": state}


RESUMABLE = {
    **FACTORIES,
    "adamw-schedule": lambda: AdamW(lr=CosineDecay(0.1, 5, min_lr=0.01), weight_decay=0.1),
    "sgd-schedule": lambda: SGD(lr=StepDecay(0.5, drop=0.5, every=1), momentum=0.9),
}


@pytest.mark.parametrize("name", sorted(RESUMABLE))
@pytest.mark.parametrize("via_files", [False, True], ids=["dict", "npz+json"])
def test_state_dict_round_trip_is_bit_identical(name: str, via_files: bool) -> None:
    rng = np.random.default_rng(7)
    weights = [rng.normal(size=(4, 3)), rng.normal(size=(2, 5)).astype(np.float32)]
    grads = [[rng.normal(size=w.shape).astype(w.dtype) for w in weights] for _ in range(5)]
    opt = RESUMABLE[name]()
    for epoch, g in enumerate(grads[:3]):
        opt.set_epoch(epoch)
        opt.step(weights, g)
    saved = opt.state_dict()
    saved_weights = [w.copy() for w in weights]
    for epoch, g in enumerate(grads[3:], start=3):
        opt.set_epoch(epoch)
        opt.step(weights, g)

    fresh = type(opt)()  # default hyper-parameters: load must restore the saved ones
    fresh.load_state_dict(_to_npz_and_json(saved) if via_files else saved)
    assert repr(fresh) == repr(opt)
    resumed = [w.copy() for w in saved_weights]
    for epoch, g in enumerate(grads[3:], start=3):
        fresh.set_epoch(epoch)
        fresh.step(resumed, g)
    for a, b in zip(resumed, weights, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert fresh.t == opt.t == 5


def test_state_dict_holds_plain_data_and_copies() -> None:
    opt = Adam(lr=0.01)
    W = np.ones((2, 3))
    opt.step([W], [np.ones((2, 3))])
    d = opt.state_dict()
    assert d["class"] == "Adam"
    assert d["hyper"] == {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    assert all(type(v) is float for v in d["hyper"].values())
    assert (d["t"], d["epoch"]) == (1, 0)
    d["state"]["m"][0][...] = 123.0  # a copy: the optimizer's state is unaffected
    assert not np.any(opt.state_dict()["state"]["m"][0] == 123.0)
    assert json.loads(json.dumps({k: v for k, v in d.items() if k != "state"}))


def test_load_state_dict_rejects_other_class_and_bad_state() -> None:
    d = Adam().state_dict()
    with pytest.raises(ValueError, match="d\\['class'\\] must be 'RMSprop', got 'Adam'"):
        RMSprop().load_state_dict(d)
    with pytest.raises(ValueError, match="must have keys"):
        Adam().load_state_dict({**d, "state": {"m": []}})
    with pytest.raises(ValueError, match=r"beta1 must be in \[0, 1\)"):
        Adam().load_state_dict({**d, "hyper": {**d["hyper"], "beta1": 2.0}})


def test_reset_forgets_state() -> None:
    opt = SGD(lr=0.1, momentum=0.9)
    W = np.zeros((1, 2))
    opt.step([W], [np.ones((1, 2))])
    opt.set_epoch(4)
    opt.reset()
    assert (opt.t, opt.epoch) == (0, 0)
    assert opt.state_dict()["state"] == {"v": []}
    W[...] = 0.0
    opt.step([W], [np.ones((1, 2))])  # as from scratch: v = 1, w = −0.1
    np.testing.assert_allclose(W, -0.1, rtol=0, atol=1e-15)


def test_repr_shows_hyper_parameters() -> None:
    assert repr(SGD(lr=0.1, momentum=0.9, nesterov=True)) == (
        "SGD(lr=0.1, momentum=0.9, nesterov=True)"
    )
    assert repr(AdamW()) == "AdamW(lr=0.001, beta1=0.9, beta2=0.999, eps=1e-08, weight_decay=0.01)"
    assert repr(Adam(lr=CosineDecay(0.1, 10))).startswith(
        "Adam(lr=CosineDecay(lr=0.1, epochs=10, min_lr=0.0), beta1=0.9"
    )


# --- finite or nothing: step_if_finite ----------------------------------------------


def _state_copy(opt: Optimizer) -> dict[str, Any]:
    d = opt.state_dict()
    return {"t": d["t"], "state": {k: [a.copy() for a in v] for k, v in d["state"].items()}}


def _assert_same_state(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a["t"] == b["t"]
    assert a["state"].keys() == b["state"].keys()
    for key in a["state"]:
        for x, y in zip(a["state"][key], b["state"][key], strict=True):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_step_if_finite_is_step_when_bounds_prove_it(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In ordinary training the guard is scalars only: no copy-and-check, same numbers."""
    monkeypatch.setattr(
        Optimizer, "_step_checked", lambda *a: pytest.fail("took the copy-and-check path")
    )
    weights, grads = _good_pair()
    twin = [w.copy() for w in weights]
    guarded, plain = FACTORIES[name](), FACTORIES[name]()
    for _ in range(5):
        bound = max(float(np.abs(g).max()) for g in grads)
        guarded.step_if_finite(weights, grads, bound)
        plain.step(twin, grads)
    for a, b in zip(weights, twin, strict=True):
        np.testing.assert_array_equal(a, b)
    _assert_same_state(_state_copy(guarded), _state_copy(plain))


@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize("cause", ["huge-lr", "huge-gradient", "nan-gradient"])
def test_step_if_finite_refuses_an_overflowing_step_and_changes_nothing(
    name: str, cause: str
) -> None:
    weights = [np.full((2, 3), 0.5, np.float32), np.full((1, 3), -0.5, np.float32)]
    grads = [np.full_like(w, 0.1) for w in weights]
    opt = FACTORIES[name]()
    opt.step_if_finite(weights, grads, 0.1)  # some state to protect
    before_w, before = [w.copy() for w in weights], _state_copy(opt)
    if cause == "huge-lr":
        # η·g = 1e40 overflows float32 on every NumPy: before NEP 50 (NumPy < 2) a Python
        # float that float32 cannot hold makes η·g float64, and η·0.1 = 1e38 would still fit.
        opt.lr = 1e39
        grads = [np.full_like(w, 10.0) for w in weights]
    elif cause == "huge-gradient":
        opt.lr = 10.0
        grads[1][...] = 3e38  # η·g or g² overflows
    else:
        grads[1][0, 1] = np.nan
    bound = float(np.max([np.abs(g).max() for g in grads]))  # NaN when a NaN is there
    with (
        np.errstate(over="ignore"),
        pytest.raises(FloatingPointError, match=r"not finite|overflow"),
    ):
        opt.step_if_finite(weights, grads, bound)
    for w, b in zip(weights, before_w, strict=True):
        np.testing.assert_array_equal(w, b)
    _assert_same_state(_state_copy(opt), before)


@SETTINGS
@given(
    name=st.sampled_from(sorted(FACTORIES)),
    dtype=st.sampled_from([np.float32, np.float64]),
    w_exp=st.integers(-5, 38),
    g_exps=st.lists(st.integers(-30, 38), min_size=1, max_size=3),
    lr_exp=st.integers(-45, 40),
    seed=st.integers(0, 2**16),
)
def test_step_if_finite_never_writes_nan_or_inf(
    name: str, dtype: Any, w_exp: int, g_exps: list[int], lr_exp: int, seed: int
) -> None:
    """Whatever the magnitudes: each step equals step() and is finite, or nothing moved."""
    rng = np.random.default_rng(seed)
    k = 1 if dtype == np.float32 else 8  # the same range of exponents relative to the dtype
    with np.errstate(over="ignore"):
        weights = [(rng.normal(size=(3, 4)) * 10.0 ** (k * w_exp)).astype(dtype)]
    if not np.isfinite(weights[0]).all():
        return
    opt, twin = FACTORIES[name](), FACTORIES[name]()
    opt.lr = twin.lr = 10.0 ** min(k * lr_exp, 308)
    twin_w = [weights[0].copy()]
    for g_exp in g_exps:
        with np.errstate(over="ignore"):
            grads = [(rng.normal(size=(3, 4)) * 10.0 ** (k * g_exp)).astype(dtype)]
        before_w, before = weights[0].copy(), _state_copy(opt)
        try:
            opt.step_if_finite(weights, grads, float(np.abs(grads[0]).max()))
        except FloatingPointError:
            np.testing.assert_array_equal(weights[0], before_w)
            _assert_same_state(_state_copy(opt), before)
            return
        states = opt.state_dict()["state"].values()
        assert np.isfinite(weights[0]).all()
        assert all(np.isfinite(a).all() for arrays in states for a in arrays)
        with np.errstate(over="ignore", invalid="ignore"):
            twin.step(twin_w, grads)
        np.testing.assert_array_equal(weights[0], twin_w[0])


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_lr_zero_is_legal_and_moves_nothing(name: str) -> None:
    weights, grads = _good_pair()
    before = [w.copy() for w in weights]
    opt = FACTORIES[name]()
    opt.lr = CosineDecay(0.1, 2)  # 0 from epoch 2 on
    opt.set_epoch(5)
    assert opt.current_lr == 0.0
    opt.step(weights, grads)
    opt.step_if_finite(weights, grads, max(float(np.abs(g).max()) for g in grads))
    for w, b in zip(weights, before, strict=True):  # AdamW's decay η·λ·w is 0 too
        np.testing.assert_array_equal(w, b)
    assert SGD(lr=0.0).current_lr == 0.0


def test_a_refused_step_binds_nothing() -> None:
    weights, grads = _good_pair()
    opt = Adam()
    with pytest.raises(ValueError, match="cannot take prescaled gradients"):
        opt.step(weights, grads, prescaled=True)
    assert opt.t == 0 and opt.state_dict()["state"] == {"m": [], "v": []}
    opt.step([w.astype(np.float32) for w in weights], [g.astype(np.float32) for g in grads])
    assert opt.state_dict()["state"]["m"][0].dtype == np.float32  # bound by this step only


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_read_only_array_after_binding_is_refused_before_any_change(name: str) -> None:
    weights, grads = _good_pair()
    opt = FACTORIES[name]()
    opt.step(weights, grads)
    before_w, before = [w.copy() for w in weights], _state_copy(opt)
    weights[1].flags.writeable = False
    for step in (opt.step, lambda w, g: opt.step_if_finite(w, g, 10.0)):
        with pytest.raises(ValueError, match=r"weights\[1\] must be writeable"):
            step(weights, grads)
        np.testing.assert_array_equal(weights[0], before_w[0])
        _assert_same_state(_state_copy(opt), before)


def test_one_optimizer_serves_one_network() -> None:
    class Owner:
        pass

    first, second = Owner(), Owner()
    opt = SGD(0.1, momentum=0.9)
    opt.bind_owner(first)
    opt.bind_owner(first)  # the same one again: fine
    with pytest.raises(ValueError, match=r"another network.*optimizer\.reset\(\)"):
        opt.bind_owner(second)
    opt.reset()
    opt.bind_owner(second)
    state = opt.state_dict()
    opt.load_state_dict(state)  # a loaded optimizer serves the next network it trains
    opt.bind_owner(first)


def test_load_state_dict_refuses_non_finite_or_negative_state() -> None:
    weights, grads = _good_pair()
    opt = Adam()
    opt.step(weights, grads)
    for spoil, match in [(np.nan, "must be finite"), (-1.0, "must be >= 0")]:
        d = opt.state_dict()
        d["state"]["v"][0][0, 0] = spoil
        fresh = Adam()
        with pytest.raises(ValueError, match=match):
            fresh.load_state_dict(d)
        assert fresh.t == 0 and fresh.state_dict()["state"] == {"m": [], "v": []}


@pytest.mark.parametrize("make", [Adagrad, RMSprop, Adam, AdamW])
def test_an_eps_that_rounds_to_zero_in_float32_cannot_slip_through(make: Any) -> None:
    """ε = 1e-50 is 0 in float32: g/(√s + ε) with g² underflowed is g/0."""
    weights = [np.ones((1, 3), np.float32)]
    grads = [np.full((1, 3), 1e-30, np.float32)]
    opt = make(lr=1e-3, eps=1e-50)
    with pytest.raises(FloatingPointError, match="overflowed"):
        opt.step_if_finite(weights, grads, 1e-30)
    np.testing.assert_array_equal(weights[0], 1.0)
    assert opt.t == 0
