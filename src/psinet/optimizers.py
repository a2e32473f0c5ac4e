"""Optimizers: in-place updates of the weight list from the gradient list.

An optimizer knows nothing of the network. ``step(weights, grads)`` takes the list of
weight arrays ``W_l``, each ndarray of shape (n_{l+1}, n_l + 1) with the bias as the
last column, and the list ``grad_W`` of gradients of the same shapes and dtypes, and
updates every ``W_l`` **in place** (the same array objects stay in the list).

Conventions shared by every optimizer here:

* **State by position.** ``weights[i]`` owns ``state[name][i]``. State is created at
  the first ``step``, in the weights' dtype (float32 stays float32); from then on the
  optimizer is bound to that count, those shapes and dtypes, and a mismatch raises
  ``ValueError`` (expected vs given). ``reset()`` forgets the state and the binding.
* **No half-updates.** Every check runs before any array is modified.
* **One optimizer, one network.** The training loop binds an optimizer to the network
  it trains; another network (even of the same shapes) is refused until ``reset()``,
  so two networks never share momentum or step counts.
* **Learning rate.** ``lr`` is a float >= 0 or a :class:`psinet.schedules.Schedule`
  (0 is legal: the weights then stay as they are).
  Schedules are functions of the 0-based **epoch** index: the training loop calls
  ``set_epoch(epoch)`` at the start of each epoch, and every step of that epoch uses
  ``current_lr = lr(epoch)``. The step count ``t`` (1 at the first step) counts steps,
  not epochs, and only drives Adam's bias correction.
* **Finite or nothing.** The training loop calls ``step`` through a guard that proves,
  from a bound on ``|g|`` and the optimizer's own bounds on ``|w|`` and its state (a
  few scalars per step, see ``_next_bounds``), that every value the step writes is
  finite. When the bounds cannot prove it, the step is applied to the real arrays
  after a copy is taken and undone if anything became NaN or inf (that copy, the size
  of the weights, is made only then). A refused step raises :class:`NonFiniteStep`
  and leaves weights, state and ``t`` as they were.
* **Memory.** One scratch buffer per array, kept beside the state and reused by every
  step; all arithmetic writes into it or into the state with ``out=`` / in-place
  operators, so a step allocates nothing of the weights' size after the first one.
* **Saving.** ``state_dict()`` returns plain data, ``.npz`` + JSON ready::

      {"class": "Adam",                         # the optimizer's class name
       "hyper": {"lr": 0.001, "beta1": 0.9, ...},   # Python scalars; a schedule lr
                                                    # is its get_config() dict
       "t": 3, "epoch": 0,                      # step count and current epoch
       "state": {"m": [arrays], "v": [arrays]}}  # copies, one per weight array

  ``load_state_dict(d)`` restores all of it, so training resumes bit-identically.

>>> import numpy as np
>>> W = np.zeros((1, 2))  # one neuron, one input, bias last
>>> opt = SGD(lr=0.1, momentum=0.9)
>>> for _ in range(2):
...     opt.step([W], [np.ones((1, 2))])
>>> W  # v = 1 then 1.9, so W = −0.1 then −0.1 − 0.19
array([[-0.29, -0.29]])
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from psinet._checks import check_keys
from psinet.schedules import Schedule, _as_float, _as_int, schedule_from_config

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "NonFiniteStep", "Optimizer", "RMSprop"]

Array = NDArray[np.floating[Any]]
Bounds = dict[str, float]


class NonFiniteStep(FloatingPointError):
    """A step was refused because it would have written NaN or inf; nothing changed."""


def _check_lr(lr: object) -> float | Schedule:
    if isinstance(lr, Schedule):
        return lr
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.integer, np.floating)):
        raise TypeError(f"lr must be a float >= 0 or a psinet.schedules.Schedule, got {lr!r}")
    value = _as_float("lr", lr)
    if value < 0.0:
        raise ValueError(f"lr must be >= 0, got {value!r}")
    return value


def _unit(name: str, value: object) -> float:
    """A hyper-parameter in [0, 1): momentum, rho, beta1, beta2."""
    result = _as_float(name, value)
    if not 0.0 <= result < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {result!r}")
    return result


def _positive(name: str, value: object) -> float:
    result = _as_float(name, value)
    if result <= 0.0:
        raise ValueError(f"{name} must be > 0, got {result!r}")
    return result


def _max_abs(a: Array) -> float:
    """max |a| without an array-sized temporary (NaN when a holds a NaN)."""
    if a.size == 0:
        return 0.0
    hi, lo = float(a.max()), float(a.min())
    return max(hi, -lo) if math.isfinite(hi) and math.isfinite(lo) else math.nan


def _inverse_eps(eps: float, b: Bounds) -> float:
    """1/ε, or inf when ε is below the dtype's smallest normal number (it may round to 0)."""
    return 1.0 / eps if eps >= b["tiny"] else math.inf


def _defined_in(cls: type, name: str) -> type | None:
    return next((c for c in cls.__mro__ if name in c.__dict__), None)


class Optimizer:
    """Base class: validation, lazy per-position state, schedules, guarded steps, saving.

    Subclasses list their hyper-parameters in ``_hyper_names``, their state arrays in
    ``_state_names()`` and implement ``_update(i, w, g, lr)``, which holds only the math,
    and ``_next_bounds(bounds, G, lr)``, which bounds what ``_update`` writes (a subclass
    that overrides ``_update`` alone is still guarded, by the copy-and-check path).
    """

    _hyper_names: tuple[str, ...] = ("lr",)
    _squares: tuple[str, ...] = ()  # state arrays that accumulate squares (never negative)

    def __init__(self, lr: float | Schedule) -> None:
        self.lr: float | Schedule = _check_lr(lr)
        self.reset()

    def _state_names(self) -> tuple[str, ...]:
        return ()

    def reset(self) -> None:
        """Forget all state: step count, epoch, state arrays, the bound layout and network."""
        self.t = 0
        self.epoch = 0
        self._state: dict[str, list[Array]] = {name: [] for name in self._state_names()}
        self._scratch: list[Array] = []  # one reusable buffer per weight array
        self._layout: list[tuple[tuple[int, ...], np.dtype[Any]]] | None = None
        self._checked: tuple[Array, ...] = ()  # the arrays the last full check passed
        self._owner: weakref.ref[Any] | None = None  # the network this state belongs to
        self._bounds: Bounds | None = None  # upper bounds on max|w| and max|state|
        cls = type(self)
        self._provable = _defined_in(cls, "_update") is _defined_in(cls, "_next_bounds")
        self._own_step = _defined_in(cls, "step") is Optimizer  # step() not overridden

    # --- the network served ------------------------------------------------------------

    def check_owner(self, owner: object) -> None:
        """Refuse ``owner`` (a network) if this optimizer's state belongs to another one."""
        if self._owner is not None and self._owner() is not owner:
            raise ValueError(
                f"this {type(self).__name__} already trained another network (it holds that "
                f"network's step count t={self.t} and state); one optimizer serves one "
                "network: call optimizer.reset() to start over on this one, or pass a new "
                "optimizer"
            )

    def bind_owner(self, owner: object) -> None:
        """Bind to ``owner`` (refused like :meth:`check_owner`); the training loop calls it."""
        self.check_owner(owner)
        if self._owner is None:
            self._owner = weakref.ref(owner)

    # --- learning rate -------------------------------------------------------------

    def set_epoch(self, epoch: int) -> None:
        """Set the 0-based epoch index that a schedule ``lr`` is evaluated at."""
        epoch = _as_int("epoch", epoch)
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = epoch
        self._bounds = None  # callbacks may have changed the weights: measure them again

    @property
    def current_lr(self) -> float:
        """The rate η used by the next step: ``lr`` itself, or ``lr(epoch)`` for a schedule."""
        return self.lr(self.epoch) if isinstance(self.lr, Schedule) else self.lr

    # --- the step ------------------------------------------------------------------

    def step(
        self, weights: Sequence[Array], grads: Sequence[Array], *, prescaled: bool = False
    ) -> None:
        """Update every ``weights[i]`` in place from ``grads[i]``.

        Parameters
        ----------
        weights : list of ndarray of shape (n_out, n_in + 1), bias in the last column
        grads : list of ndarray of the same shapes and dtypes as ``weights``
        prescaled : bool
            The grads were already multiplied by :meth:`gradient_scale` (plain SGD's η,
            which the training loop folds into Ψ for free), so the update is ``w ← w − g``.

        A refused call (wrong shapes, a read-only array, ...) changes nothing.
        """
        if prescaled and self.gradient_scale() is None:
            raise ValueError(f"{type(self).__name__} cannot take prescaled gradients")
        if not self._fits_layout(weights, grads):  # the usual case skips the full check
            self._check(weights, grads)  # 1. every check before any array is touched
            if self._layout is None:  # 2. state is created lazily, by position
                self._bind(weights)
            self._checked = (*weights, *grads)
        self._apply(weights, grads, 1.0 if prescaled else self.current_lr)

    def _apply(self, weights: Sequence[Array], grads: Sequence[Array], lr: float) -> None:
        """3. the update itself, on arrays already checked and bound."""
        self.t += 1
        for i, (w, g) in enumerate(zip(weights, grads, strict=True)):
            self._update(i, w, g, lr)

    def step_if_finite(
        self,
        weights: Sequence[Array],
        grads: Sequence[Array],
        grad_bound: float,
        *,
        prescaled: bool = False,
    ) -> None:
        """:meth:`step`, applied only if every weight and state value it writes is finite.

        ``grad_bound`` is an upper bound on ``|g|`` over every entry of ``grads`` (the
        training loop gets one from batch-sized arrays; NaN or inf mean "unknown").
        When it and the optimizer's bounds on ``|w|`` and its state prove the step
        finite (a few scalar operations), the step runs as is. Otherwise the weights and
        state are copied, the step is applied and checked, and undone if anything is
        not finite. Raises :class:`NonFiniteStep` then, with everything as it was.
        """
        fits = self._fits_layout(weights, grads)
        if not fits:
            self._check(weights, grads)  # refuse bad arguments before any copy or bound
            self._bounds = None  # other arrays: bounds are re-measured below
        bounds = self._bounds if self._bounds is not None else self._measure(weights)
        lr = 1.0 if prescaled else self.current_lr
        new = self._next_bounds(bounds, float(grad_bound), lr) if self._provable else None
        if new is not None:
            new["g"] = float(grad_bound)  # the gradient itself must be finite
            new["lr"] = lr  # scalars are cast to the weights' dtype too: they must fit
        if new is not None and all(value <= bounds["limit"] for value in new.values()):
            if fits and self._own_step and (not prescaled or self.gradient_scale() is not None):
                self._apply(weights, grads, lr)  # the arrays the last step checked
            else:
                self.step(weights, grads, prescaled=prescaled)
            new["limit"], new["tiny"] = bounds["limit"], bounds["tiny"]
            self._bounds = new
            return
        self._step_checked(weights, grads, prescaled)

    def _step_checked(
        self, weights: Sequence[Array], grads: Sequence[Array], prescaled: bool
    ) -> None:
        """Copy, step, check, and undo when anything became NaN or inf."""
        for i, g in enumerate(grads):
            if not np.isfinite(g).all():
                raise NonFiniteStep(f"the gradient of weights[{i}] is not finite (NaN or inf)")
        fresh = self._layout is None
        saved_t = self.t
        saved_w = [np.array(w, copy=True) for w in weights]
        saved_state = {name: [a.copy() for a in arrays] for name, arrays in self._state.items()}
        with np.errstate(all="ignore"):  # whatever overflows is checked next
            self.step(weights, grads, prescaled=prescaled)
        if all(np.isfinite(a).all() for a in (*weights, *self._all_state())):
            self._bounds = self._measure(weights)
            return
        for w, old in zip(weights, saved_w, strict=True):  # undo
            np.copyto(w, old)
        self.t = saved_t
        if fresh:
            self._layout, self._checked = None, ()
            self._state = {name: [] for name in self._state_names()}
        else:
            for name, arrays in saved_state.items():
                for a, old in zip(self._state[name], arrays, strict=True):
                    np.copyto(a, old)
        raise NonFiniteStep(
            f"the update of {type(self).__name__} (lr={self.current_lr:g}) overflowed: "
            "it would have written NaN or inf into the weights or the optimizer's state"
        )

    def _all_state(self) -> list[Array]:
        return [a for arrays in self._state.values() for a in arrays]

    def _measure(self, weights: Sequence[Array]) -> Bounds:
        """Exact max|w| and max|state| (one pass over each array), the dtype's limits."""
        dtypes = [np.finfo(w.dtype) for w in weights]
        bounds: Bounds = {
            # a margin of 2**-4 under the largest float covers the rounding of the bounds
            "limit": min((float(f.max) for f in dtypes), default=math.inf) / 16.0,
            "tiny": max((float(f.tiny) for f in dtypes), default=0.0),
            "w": max((_max_abs(w) for w in weights), default=0.0),
        }
        for name, arrays in self._state.items():
            bounds[name] = max((_max_abs(a) for a in arrays), default=0.0)
        return bounds

    def _next_bounds(self, b: Bounds, G: float, lr: float) -> Bounds | None:
        """Bounds on every value the next step writes, given ``|g| <= G``, or None.

        ``b`` holds the current bounds: ``b["w"] >= max|w|``, ``b[name] >= max|state|``,
        the dtype's ``b["limit"]`` and ``b["tiny"]``. The returned dict bounds the new
        ``|w|`` (key ``"w"``), each new state, and every intermediate the step computes;
        the step is taken as is only when all of them, and every scalar factor the step
        multiplies by, are <= ``b["limit"]``.
        """
        return None

    def gradient_scale(self) -> float | None:
        """The factor a gradient may be pre-multiplied by (``step(..., prescaled=True)``).

        Plain SGD's update ``w ← w − η·g`` is linear in g, so it returns η; optimizers
        whose update is not (momentum, adaptive rates) return None.
        """
        return None

    def _fits_layout(self, weights: Sequence[Array], grads: Sequence[Array]) -> bool:
        """True when these are the very arrays the last step checked (identity: O(L) and cheap).

        A training loop passes the same arrays every step; anything else (a new array
        assigned by the user, another list, an array made read-only since) goes through
        the full :meth:`_check`.
        """
        checked = self._checked
        if len(checked) != len(weights) + len(grads):
            return False
        for a, b in zip(checked, (*weights, *grads), strict=True):
            if a is not b:
                return False
        return all(w.flags.writeable for w in weights)

    def _update(self, i: int, w: Array, g: Array, lr: float) -> None:
        raise NotImplementedError

    def _buffer(self, i: int) -> Array:
        """The scratch buffer of position i, created at its first use (plain SGD with a
        prescaled gradient never needs one)."""
        buf = self._scratch[i]
        if buf.ndim == 1:
            shape, dtype = self._layout[i] if self._layout is not None else ((0,), buf.dtype)
            buf = self._scratch[i] = np.empty(shape, dtype)
        return buf

    def _check(self, weights: Sequence[Array], grads: Sequence[Array]) -> None:
        if len(weights) != len(grads):
            raise ValueError(
                f"weights and grads must have the same length, "
                f"got {len(weights)} weights and {len(grads)} grads"
            )
        for i, (w, g) in enumerate(zip(weights, grads, strict=True)):
            for name, a in (("weights", w), ("grads", g)):
                if not isinstance(a, np.ndarray):
                    raise TypeError(f"{name}[{i}] must be a numpy ndarray, got {type(a).__name__}")
                if not np.issubdtype(a.dtype, np.floating):
                    raise TypeError(f"{name}[{i}] must have a float dtype, got {a.dtype}")
            if w.ndim != 2:
                raise ValueError(
                    f"weights[{i}] must be ndarray of shape (n_out, n_in + 1), got shape {w.shape}"
                )
            if g.shape != w.shape or g.dtype != w.dtype:
                raise ValueError(
                    f"grads[{i}] must match weights[{i}]: weights[{i}] has shape {w.shape} "
                    f"dtype {w.dtype}, grads[{i}] has shape {g.shape} dtype {g.dtype}"
                )
            if not w.flags.writeable:
                raise ValueError(f"weights[{i}] must be writeable, got a read-only array")
        if self._layout is None:
            return
        if len(weights) != len(self._layout):
            raise ValueError(
                f"expected {len(self._layout)} weight arrays (as at the first step), "
                f"given {len(weights)}; call reset() to optimize a different list"
            )
        for i, (w, (shape, dtype)) in enumerate(zip(weights, self._layout, strict=True)):
            if w.shape != shape or w.dtype != dtype:
                raise ValueError(
                    f"weights[{i}]: expected shape {shape} dtype {dtype} (as at the first step), "
                    f"given shape {w.shape} dtype {w.dtype}; call reset() to start over"
                )

    def _bind(self, arrays: Sequence[Array]) -> None:
        self._layout = [(a.shape, a.dtype) for a in arrays]
        self._scratch = [np.empty(0, a.dtype) for a in arrays]  # sized on first use
        for name in self._state_names():
            self._state[name] = [np.zeros(a.shape, a.dtype) for a in arrays]

    # --- saving --------------------------------------------------------------------

    def _hyper(self) -> dict[str, Any]:
        hyper = {name: getattr(self, name) for name in self._hyper_names}
        if isinstance(self.lr, Schedule):
            hyper["lr"] = self.lr.get_config()
        return hyper

    def state_dict(self) -> dict[str, Any]:
        """Plain-data snapshot: class name, hyper-parameters, ``t``, ``epoch``, state copies.

        Format (see the module docstring)::

            {"class": str, "hyper": {name: scalar or schedule config}, "t": int,
             "epoch": int, "state": {name: [ndarray of shape (n_out, n_in + 1), ...]}}
        """
        return {
            "class": type(self).__name__,
            "hyper": self._hyper(),
            "t": self.t,
            "epoch": self.epoch,
            "state": {name: [a.copy() for a in arrays] for name, arrays in self._state.items()},
        }

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Restore hyper-parameters, ``t``, ``epoch`` and state from :meth:`state_dict`.

        The optimizer then serves whichever network it trains next (see
        :meth:`bind_owner`); a refused call changes nothing.
        """
        _check_state_dict(d, type(self).__name__, self._hyper_names)
        if d.get("class") != type(self).__name__:
            raise ValueError(f"d['class'] must be {type(self).__name__!r}, got {d.get('class')!r}")
        hyper = dict(d["hyper"])
        if isinstance(hyper.get("lr"), dict):
            hyper["lr"] = schedule_from_config(hyper["lr"])
        fresh = type(self)(**hyper)  # validates the hyper-parameters
        t, epoch = _as_int("t", d["t"]), _as_int("epoch", d["epoch"])
        if t < 0 or epoch < 0:
            raise ValueError(f"t and epoch must be >= 0, got t={t}, epoch={epoch}")
        state = d["state"]
        if set(state) != set(fresh._state_names()):
            raise ValueError(
                f"d['state'] must have keys {sorted(fresh._state_names())}, got {sorted(state)}"
            )
        arrays = {name: [np.array(a, copy=True) for a in state[name]] for name in state}
        lists = list(arrays.values())
        for name, arrs in arrays.items():
            if len(arrs) != len(lists[0]):
                raise ValueError("d['state'] lists must all have the same length")
            for a, ref in zip(arrs, lists[0], strict=True):
                if not np.issubdtype(a.dtype, np.floating) or a.ndim != 2:
                    raise ValueError(f"d['state'][{name!r}] must hold 2-D float arrays")
                if a.shape != ref.shape or a.dtype != ref.dtype:
                    raise ValueError("d['state'] arrays must agree in shape and dtype by position")
                if not np.isfinite(a).all():
                    raise ValueError(f"d['state'][{name!r}] must be finite, got NaN or inf")
                if name in fresh._squares and (a < 0).any():
                    raise ValueError(f"d['state'][{name!r}] sums squares: it must be >= 0")
        # Everything checked: now commit.
        for name in self._hyper_names:
            setattr(self, name, getattr(fresh, name))
        self.reset()
        self.t, self.epoch = t, epoch
        if lists and lists[0]:
            self._bind(lists[0])
            self._state = arrays

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._hyper_names)
        return f"{type(self).__name__}({args})"


def _check_state_dict(d: object, class_name: str, hyper_names: Sequence[str]) -> None:
    """The outer structure of a state dict: a dict with the keys and kinds of values
    :meth:`Optimizer.state_dict` writes (the values themselves are checked by the caller)."""
    d = check_keys(d, "d", ("class", "hyper", "t", "epoch", "state"))
    if d["class"] != class_name:
        raise ValueError(f"d['class'] must be {class_name!r}, got {d['class']!r}")
    hyper = check_keys(d["hyper"], "d['hyper']", hyper_names)
    unknown = sorted(set(map(str, hyper)) - set(hyper_names))
    if unknown:
        raise ValueError(f"d['hyper'] has unknown key(s) {unknown}; expected {list(hyper_names)}")
    state = d["state"]
    if not isinstance(state, Mapping):
        raise TypeError(f"d['state'] must be a dict of lists of arrays, got {type(state).__name__}")
    for name, arrays in state.items():
        if isinstance(arrays, (str, bytes)) or not isinstance(arrays, (Sequence, np.ndarray)):
            raise TypeError(
                f"d['state'][{name!r}] must be a list of arrays, got {type(arrays).__name__}"
            )


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with classical or Nesterov momentum.

    For each array, with gradient g, velocity v (zeros at the start), rate η, momentum μ::

        v ← μ·v + g
        w ← w − η·v             (classical momentum)
        w ← w − η·(g + μ·v)     (nesterov=True, using the new v)

    With μ = 0 this is plain ``w ← w − η·g`` and no velocity is kept.
    Requires 0 <= momentum < 1; nesterov=True requires momentum > 0.
    """

    _hyper_names: tuple[str, ...] = ("lr", "momentum", "nesterov")

    def __init__(
        self, lr: float | Schedule = 0.01, momentum: float = 0.0, nesterov: bool = False
    ) -> None:
        self.momentum = _unit("momentum", momentum)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"nesterov must be a bool, got {nesterov!r}")
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0.0:
            raise ValueError(f"nesterov=True requires momentum > 0, got momentum={self.momentum}")
        super().__init__(lr)

    def _state_names(self) -> tuple[str, ...]:
        return ("v",) if self.momentum > 0.0 else ()

    def gradient_scale(self) -> float | None:
        return self.current_lr if self.momentum == 0.0 else None

    def _next_bounds(self, b: Bounds, G: float, lr: float) -> Bounds | None:
        mu = self.momentum
        if mu == 0.0:
            return {"w": b["w"] + lr * G, "step": lr * G}  # |η·g|
        v = mu * b["v"] + G  # |μ·v + g|
        step = lr * (G + mu * v) if self.nesterov else lr * v
        return {"w": b["w"] + step, "v": v, "step": step}

    def _update(self, i: int, w: Array, g: Array, lr: float) -> None:
        mu = self.momentum
        if mu == 0.0:
            if lr == 1.0:  # prescaled: g is already η·g
                w -= g
                return
            buf = self._buffer(i)
            np.multiply(g, lr, out=buf)  # η·g
        else:
            v, buf = self._state["v"][i], self._buffer(i)
            v *= mu
            v += g  # v ← μ·v + g
            if self.nesterov:
                np.multiply(v, mu, out=buf)
                buf += g
                buf *= lr  # η·(g + μ·v)
            else:
                np.multiply(v, lr, out=buf)  # η·v
        w -= buf


class Adagrad(Optimizer):
    """Adagrad: per-weight rates shrinking with the sum of squared gradients.

    For each array, with s the running sum (zeros at the start)::

        s ← s + g²
        w ← w − η·g / (√s + ε)

    Requires eps > 0.
    """

    _hyper_names: tuple[str, ...] = ("lr", "eps")
    _squares = ("s",)

    def __init__(self, lr: float | Schedule = 0.01, eps: float = 1e-8) -> None:
        self.eps = _positive("eps", eps)
        super().__init__(lr)

    def _state_names(self) -> tuple[str, ...]:
        return ("s",)

    def _next_bounds(self, b: Bounds, G: float, lr: float) -> Bounds | None:
        # s ≥ g² elementwise, so |g| / (√s + ε) ≤ 1 up to rounding, unless g² underflowed
        # (then |g| < √tiny and the ratio is at most √tiny / ε).
        ratio = 2.0 + math.sqrt(b["tiny"]) * _inverse_eps(self.eps, b)
        return {"w": b["w"] + lr * ratio, "s": b["s"] + G * G, "ratio": ratio, "step": lr * ratio}

    def _update(self, i: int, w: Array, g: Array, lr: float) -> None:
        buf, s = self._buffer(i), self._state["s"][i]
        np.multiply(g, g, out=buf)
        s += buf  # s ← s + g²
        _step_scaled(w, g, s, buf, lr, self.eps)


class RMSprop(Optimizer):
    """RMSprop: per-weight rates from a moving average of squared gradients.

    For each array, with s the moving average (zeros at the start), decay ρ::

        s ← ρ·s + (1 − ρ)·g²
        w ← w − η·g / (√s + ε)

    Requires 0 <= rho < 1 and eps > 0.
    """

    _hyper_names: tuple[str, ...] = ("lr", "rho", "eps")
    _squares = ("s",)

    def __init__(self, lr: float | Schedule = 0.001, rho: float = 0.9, eps: float = 1e-8) -> None:
        self.rho = _unit("rho", rho)
        self.eps = _positive("eps", eps)
        super().__init__(lr)

    def _state_names(self) -> tuple[str, ...]:
        return ("s",)

    def _next_bounds(self, b: Bounds, G: float, lr: float) -> Bounds | None:
        # s ≥ (1 − ρ)·g², so |g| / (√s + ε) ≤ 1/√(1 − ρ) up to rounding, unless (1 − ρ)·g²
        # underflowed (then |g| < √(tiny / (1 − ρ)) and the ratio is at most that / ε).
        keep = 1.0 - self.rho
        ratio = 2.0 / math.sqrt(keep) + 2.0 * math.sqrt(b["tiny"] / keep) * _inverse_eps(
            self.eps, b
        )
        s = self.rho * b["s"] + keep * G * G
        return {"w": b["w"] + lr * ratio, "s": s, "g2": G * G, "ratio": ratio, "step": lr * ratio}

    def _update(self, i: int, w: Array, g: Array, lr: float) -> None:
        buf, s = self._buffer(i), self._state["s"][i]
        np.multiply(g, g, out=buf)
        buf *= 1.0 - self.rho
        s *= self.rho
        s += buf  # s ← ρ·s + (1 − ρ)·g²
        _step_scaled(w, g, s, buf, lr, self.eps)


def _step_scaled(w: Array, g: Array, s: Array, buf: Array, lr: float, eps: float) -> None:
    """w ← w − η·g / (√s + ε), computed in ``buf``."""
    np.sqrt(s, out=buf)
    buf += eps
    np.divide(g, buf, out=buf)
    buf *= lr
    w -= buf


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015, Algorithm 1).

    For each array, with moments m, v (zeros at the start) and step count t = 1, 2, …::

        m ← β1·m + (1 − β1)·g
        v ← β2·v + (1 − β2)·g²
        m̂ = m / (1 − β1ᵗ),   v̂ = v / (1 − β2ᵗ)
        w ← w − η·m̂ / (√v̂ + ε)

    Requires 0 <= beta1 < 1, 0 <= beta2 < 1 and eps > 0.
    """

    _hyper_names: tuple[str, ...] = ("lr", "beta1", "beta2", "eps")
    _squares = ("v",)

    def __init__(
        self,
        lr: float | Schedule = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
    ) -> None:
        self.beta1 = _unit("beta1", beta1)
        self.beta2 = _unit("beta2", beta2)
        self.eps = _positive("eps", eps)
        super().__init__(lr)

    def _state_names(self) -> tuple[str, ...]:
        return ("m", "v")

    def _next_bounds(self, b: Bounds, G: float, lr: float) -> Bounds | None:
        b1, b2, t = self.beta1, self.beta2, self.t + 1
        m = b1 * b["m"] + (1.0 - b1) * G
        v = b2 * b["v"] + (1.0 - b2) * G * G
        ratio = m * _inverse_eps(self.eps, b)  # |m / (√v̂ + ε)| ≤ |m| / ε
        scale = lr / (1.0 - b1**t)
        step = scale * ratio
        return {
            "scale": scale,
            "w": b["w"] + step,
            "m": m,
            "v": v,
            "g2": G * G,
            "v_hat": v / (1.0 - b2**t),
            "ratio": ratio,
            "step": step,
        }

    def _update(self, i: int, w: Array, g: Array, lr: float) -> None:
        buf, m, v = self._buffer(i), self._state["m"][i], self._state["v"][i]
        b1, b2 = self.beta1, self.beta2
        np.multiply(g, 1.0 - b1, out=buf)
        m *= b1
        m += buf  # m ← β1·m + (1 − β1)·g
        np.multiply(g, g, out=buf)
        buf *= 1.0 - b2
        v *= b2
        v += buf  # v ← β2·v + (1 − β2)·g²
        np.divide(v, 1.0 - b2**self.t, out=buf)  # v̂
        np.sqrt(buf, out=buf)
        buf += self.eps  # √v̂ + ε
        np.divide(m, buf, out=buf)
        buf *= lr / (1.0 - b1**self.t)  # η·m̂ / (√v̂ + ε)
        w -= buf


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019).

    Each step first decays the weights proper, never the bias column::

        w[:, :-1] ← w[:, :-1] − η·λ·w[:, :-1]

    then takes the :class:`Adam` step with the same η. Requires weight_decay λ >= 0.
    """

    _hyper_names: tuple[str, ...] = ("lr", "beta1", "beta2", "eps", "weight_decay")

    def __init__(
        self,
        lr: float | Schedule = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        self.weight_decay = _as_float("weight_decay", weight_decay)
        if self.weight_decay < 0.0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        super().__init__(lr, beta1, beta2, eps)

    def _next_bounds(self, b: Bounds, G: float, lr: float) -> Bounds | None:
        decay = lr * self.weight_decay * b["w"]  # |η·λ·w|
        new = super()._next_bounds({**b, "w": b["w"] + decay}, G, lr)
        return None if new is None else {**new, "decay": decay, "rate": lr * self.weight_decay}

    def _update(self, i: int, w: Array, g: Array, lr: float) -> None:
        # w[:, :-1] are the weights proper; the bias column w[:, -1] is not decayed.
        w_proper, buf = w[:, :-1], self._buffer(i)[:, :-1]
        np.multiply(w_proper, lr * self.weight_decay, out=buf)
        w_proper -= buf  # w ← w − η·λ·w
        super()._update(i, w, g, lr)
