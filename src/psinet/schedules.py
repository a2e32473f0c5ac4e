"""Learning-rate schedules: the rate η as a function of the epoch index.

A schedule is a small object called with the **0-based epoch index** that returns the
learning rate for every step of that epoch. An optimizer given a schedule as ``lr``
asks it for ``schedule(epoch)``, where ``epoch`` is what the training loop last passed
to ``optimizer.set_epoch`` (see :mod:`psinet.optimizers`). The index is 0-based
(the first epoch, which progress lines and History call epoch 1, uses ``schedule(0)``),
and ``fit(..., initial_epoch=k)`` continues at ``schedule(k)``. A rate of 0 (a cosine
at its end, an underflowed exponential) is legal: the weights then stay as they are.

Every schedule can be saved as a JSON-ready dict and rebuilt from it:

>>> s = StepDecay(0.1, drop=0.5, every=10)
>>> s(0), s(9), s(10), s(25)
(0.1, 0.1, 0.05, 0.025)
>>> s.get_config()
{'class': 'StepDecay', 'lr': 0.1, 'drop': 0.5, 'every': 10}
>>> schedule_from_config(s.get_config())
StepDecay(lr=0.1, drop=0.5, every=10)
"""

from __future__ import annotations

import inspect
import math
import operator
from typing import Any

from ._checks import check_float, shown

__all__ = [
    "Constant",
    "CosineDecay",
    "ExponentialDecay",
    "Schedule",
    "StepDecay",
    "schedule_from_config",
]


def _as_float(name: str, value: object) -> float:
    """``value`` as a finite Python float; TypeError for non-numbers (and bools),
    ValueError for NaN, inf and numbers too large for a float (``10**400``)."""
    return check_float(value, name)


def _as_int(name: str, value: object) -> int:
    """``value`` as a Python int; TypeError for non-integers (and bools)."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        result = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None
    if abs(result) >= 2**63:  # beyond it, lr · drop^epoch would raise OverflowError
        raise ValueError(f"{name} must be below 2**63, got {shown(result)}")
    return result


def _check_lr(lr: object) -> float:
    lr = _as_float("lr", lr)
    if lr < 0.0:
        raise ValueError(f"lr must be >= 0, got {lr!r}")
    return lr


class Schedule:
    """Base class: ``schedule(epoch) -> float`` for a 0-based epoch index ``epoch >= 0``."""

    _fields: tuple[str, ...] = ()

    def __call__(self, epoch: int) -> float:
        epoch = _as_int("epoch", epoch)
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        return self._rate(epoch)

    def _rate(self, epoch: int) -> float:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """JSON-ready dict: ``{"class": name, **arguments}``; see :func:`schedule_from_config`."""
        return {"class": type(self).__name__, **{f: getattr(self, f) for f in self._fields}}

    def __repr__(self) -> str:
        args = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    """η(epoch) = lr, for every epoch."""

    _fields = ("lr",)

    def __init__(self, lr: float) -> None:
        self.lr = _check_lr(lr)

    def _rate(self, epoch: int) -> float:
        return self.lr


class StepDecay(Schedule):
    """η(epoch) = lr · drop^⌊epoch / every⌋: multiply by ``drop`` every ``every`` epochs.

    Requires lr >= 0, 0 < drop <= 1 and every >= 1 (an integer).
    """

    _fields = ("lr", "drop", "every")

    def __init__(self, lr: float, drop: float = 0.5, every: int = 10) -> None:
        self.lr = _check_lr(lr)
        self.drop = _as_float("drop", drop)
        if not 0.0 < self.drop <= 1.0:
            raise ValueError(f"drop must be in (0, 1], got {self.drop!r}")
        self.every = _as_int("every", every)
        if self.every < 1:
            raise ValueError(f"every must be >= 1, got {self.every}")

    def _rate(self, epoch: int) -> float:
        return self.lr * self.drop ** (epoch // self.every)


class ExponentialDecay(Schedule):
    """η(epoch) = lr · rate^epoch.  Requires lr >= 0 and 0 < rate <= 1.

    After many epochs rate^epoch underflows to 0; η = 0 is legal (the weights then stay)."""

    _fields = ("lr", "rate")

    def __init__(self, lr: float, rate: float) -> None:
        self.lr = _check_lr(lr)
        self.rate = _as_float("rate", rate)
        if not 0.0 < self.rate <= 1.0:
            raise ValueError(f"rate must be in (0, 1], got {self.rate!r}")

    def _rate(self, epoch: int) -> float:
        return self.lr * self.rate**epoch


class CosineDecay(Schedule):
    """η(epoch) = min_lr + ½·(lr − min_lr)·(1 + cos(π · min(epoch, epochs) / epochs)).

    Falls from ``lr`` at epoch 0 to ``min_lr`` at epoch ``epochs`` and stays there.
    Requires lr >= 0, epochs >= 1 (an integer) and 0 <= min_lr <= lr.
    """

    _fields = ("lr", "epochs", "min_lr")

    def __init__(self, lr: float, epochs: int, min_lr: float = 0.0) -> None:
        self.lr = _check_lr(lr)
        self.epochs = _as_int("epochs", epochs)
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        self.min_lr = _as_float("min_lr", min_lr)
        if not 0.0 <= self.min_lr <= self.lr:
            raise ValueError(f"min_lr must be in [0, lr] = [0, {self.lr!r}], got {self.min_lr!r}")

    def _rate(self, epoch: int) -> float:
        progress = min(epoch, self.epochs) / self.epochs
        return self.min_lr + 0.5 * (self.lr - self.min_lr) * (1.0 + math.cos(math.pi * progress))


SCHEDULES: dict[str, type[Schedule]] = {
    "Constant": Constant,
    "StepDecay": StepDecay,
    "ExponentialDecay": ExponentialDecay,
    "CosineDecay": CosineDecay,
}


def schedule_from_config(config: dict[str, Any]) -> Schedule:
    """Rebuild a schedule from ``schedule.get_config()`` (e.g. after a JSON round trip)."""
    if not isinstance(config, dict) or "class" not in config:
        raise TypeError(f"config must be a dict with a 'class' key, got {config!r}")
    kwargs = dict(config)
    name = kwargs.pop("class")
    if not isinstance(name, str) or name not in SCHEDULES:
        raise ValueError(f"config['class'] must be one of {sorted(SCHEDULES)}, got {name!r}")
    cls = SCHEDULES[name]
    parameters = inspect.signature(cls.__init__).parameters
    required = [p for p, v in parameters.items() if p != "self" and v.default is v.empty]
    unknown = sorted(set(map(str, kwargs)) - set(cls._fields))
    missing = [p for p in required if p not in kwargs]
    if unknown or missing:
        raise ValueError(
            f"config for {name} must have the keys {list(cls._fields)} (required: {required}), "
            f"got {sorted(map(str, kwargs))}"
        )
    return cls(**kwargs)
