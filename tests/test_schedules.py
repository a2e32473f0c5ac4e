"""Learning-rate schedules: formulas, validation, config round trip, use by an optimizer."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable

import numpy as np
import pytest

from psinet.optimizers import SGD
from psinet.schedules import (
    Constant,
    CosineDecay,
    ExponentialDecay,
    Schedule,
    StepDecay,
    schedule_from_config,
)

EPOCHS = [0, 1, 2, 5, 9, 10, 11, 19, 20, 37, 100]


def test_constant() -> None:
    s = Constant(0.3)
    assert [s(e) for e in EPOCHS] == [0.3] * len(EPOCHS)


def test_step_decay_formula() -> None:
    s = StepDecay(0.2, drop=0.3, every=7)
    for e in EPOCHS:
        assert s(e) == pytest.approx(0.2 * 0.3 ** math.floor(e / 7), rel=1e-15)


def test_step_decay_halves_every_ten_epochs() -> None:
    s = StepDecay(1.0)  # defaults: drop=0.5, every=10
    assert [s(0), s(9), s(10), s(19), s(20), s(35)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.125]


def test_exponential_decay_formula() -> None:
    s = ExponentialDecay(0.1, rate=0.95)
    for e in EPOCHS:
        assert s(e) == pytest.approx(0.1 * 0.95**e, rel=1e-15)
    assert ExponentialDecay(2.0, rate=0.5)(3) == 0.25


def test_cosine_decay_formula() -> None:
    lr, min_lr, epochs = 0.5, 0.01, 20
    s = CosineDecay(lr, epochs, min_lr=min_lr)
    for e in EPOCHS:
        t = min(e, epochs)
        expected = min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * t / epochs))
        assert s(e) == pytest.approx(expected, rel=1e-15)


def test_cosine_decay_landmarks() -> None:
    s = CosineDecay(1.0, 10, min_lr=0.2)
    assert s(0) == 1.0  # starts at lr
    assert s(5) == pytest.approx(0.6, rel=1e-15)  # halfway: mean of lr and min_lr
    assert s(10) == pytest.approx(0.2, rel=1e-15)  # ends at min_lr ...
    assert s(1000) == s(10)  # ... and stays there
    values = [s(e) for e in range(11)]
    assert all(a > b for a, b in itertools.pairwise(values))  # strictly decreasing


@pytest.mark.parametrize(
    ("make", "exc", "match"),
    [
        (lambda: Constant(-0.5), ValueError, "lr must be >= 0"),
        (lambda: Constant(-1.0), ValueError, "lr must be >= 0"),
        (lambda: Constant(float("nan")), ValueError, "lr must be finite"),
        (lambda: Constant("0.1"), TypeError, "lr must be a real number"),
        (lambda: StepDecay(0.1, drop=0.0), ValueError, r"drop must be in \(0, 1\]"),
        (lambda: StepDecay(0.1, drop=1.5), ValueError, r"drop must be in \(0, 1\]"),
        (lambda: StepDecay(0.1, every=0), ValueError, "every must be >= 1"),
        (lambda: StepDecay(0.1, every=2.5), TypeError, "every must be an integer"),
        (lambda: ExponentialDecay(0.1, rate=0.0), ValueError, r"rate must be in \(0, 1\]"),
        (lambda: ExponentialDecay(0.1, rate=1.01), ValueError, r"rate must be in \(0, 1\]"),
        (lambda: CosineDecay(0.1, 0), ValueError, "epochs must be >= 1"),
        (lambda: CosineDecay(0.1, 10, min_lr=0.2), ValueError, r"min_lr must be in \[0, lr\]"),
        (lambda: CosineDecay(0.1, 10, min_lr=-0.1), ValueError, r"min_lr must be in \[0, lr\]"),
    ],
)
def test_validation(make: Callable[[], Schedule], exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        make()


def test_epoch_validation() -> None:
    s = Constant(0.1)
    with pytest.raises(ValueError, match="epoch must be >= 0, got -1"):
        s(-1)
    with pytest.raises(TypeError, match="epoch must be an integer"):
        s(1.5)
    assert s(np.int64(3)) == 0.1


@pytest.mark.parametrize(
    "schedule",
    [
        Constant(0.1),
        StepDecay(0.1, drop=0.25, every=3),
        ExponentialDecay(0.05, rate=0.9),
        CosineDecay(0.1, 30, min_lr=0.001),
    ],
    ids=repr,
)
def test_config_round_trip_through_json(schedule: Schedule) -> None:
    config = json.loads(json.dumps(schedule.get_config()))
    rebuilt = schedule_from_config(config)
    assert type(rebuilt) is type(schedule)
    assert rebuilt.get_config() == schedule.get_config()
    assert repr(rebuilt) == repr(schedule)
    assert [rebuilt(e) for e in EPOCHS] == [schedule(e) for e in EPOCHS]


def test_from_config_errors() -> None:
    with pytest.raises(ValueError, match="must be one of"):
        schedule_from_config({"class": "Linear", "lr": 0.1})
    with pytest.raises(TypeError, match="'class' key"):
        schedule_from_config({"lr": 0.1})


def test_repr() -> None:
    assert repr(CosineDecay(0.1, 10)) == "CosineDecay(lr=0.1, epochs=10, min_lr=0.0)"


def test_optimizer_uses_scheduled_rate_after_set_epoch() -> None:
    opt = SGD(lr=StepDecay(1.0, drop=0.5, every=1))
    assert opt.current_lr == 1.0  # epoch 0 before any set_epoch
    opt.set_epoch(2)
    assert opt.current_lr == 0.25
    W = np.zeros((1, 2))
    opt.step([W], [np.array([[1.0, -2.0]])])
    # w ← w − η·g with η = 1 · 0.5² = 0.25
    np.testing.assert_array_equal(W, [[-0.25, 0.5]])
    opt.set_epoch(3)
    opt.step([W], [np.array([[1.0, -2.0]])])
    np.testing.assert_array_equal(W, [[-0.375, 0.75]])  # η = 0.125


def test_set_epoch_validation() -> None:
    opt = SGD(lr=Constant(0.1))
    with pytest.raises(ValueError, match="epoch must be >= 0"):
        opt.set_epoch(-1)
    with pytest.raises(TypeError, match="epoch must be an integer"):
        opt.set_epoch(0.5)
