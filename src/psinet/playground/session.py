"""One learner's run in the playground: the configuration, the data, the network, its training.

Everything here calls psinet's public functions, exactly as a script would:

* the data come from :mod:`psinet.datasets` and :func:`psinet.train_test_split`;
* **Step** is one mini-batch: :func:`psinet.gradients` then ``optimizer.step``;
* **Epoch** (from the start of an epoch) is ``net.fit(..., epochs=e + 1, initial_epoch=e)``,
  whose batch order for epoch ``e`` is the one the Step button walks through, so n Steps =
  1 Epoch;
* the numbers shown come from :func:`psinet.evaluate`, :func:`psinet.gradients`,
  ``net.predict`` (the decision boundary) and :func:`psinet.trace` (the table, and the
  forward and backward values of the one sample the learner clicks).

A :class:`Session` turns these into plain JSON-ready dicts (:meth:`Session.state`); the
server (:mod:`psinet.playground.server`) only routes requests to it.

>>> s = Session(parse_config({"dataset": "xor", "hidden": [2], "activations": ["tanh"]}))
>>> s.train_steps(3)["total_steps"]
3
"""

from __future__ import annotations

import json
import math
import numbers
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

import psinet
from psinet import datasets, optimizers

Array = np.ndarray
JSON = dict[str, Any]

# ------------------------------------------------------------------ bounds of a request
MAX_HIDDEN_LAYERS = 6
MAX_WIDTH = 16
MIN_SAMPLES, MAX_SAMPLES = 8, 1000
MAX_CLASSES = 5
MAX_STEPS_PER_REQUEST = 1000  # mini-batch steps one "train" request may run
MAX_EPOCHS_PER_REQUEST = 5  # epochs one "train" request may run (each <= 1000 steps)
MAX_HISTORY = 600  # points kept for the curves; older ones are thinned, never unbounded
GRID = 60  # the decision boundary is net.predict on a GRID x GRID lattice

DATASETS = ("xor", "circles", "moons", "spirals")
CUSTOM = "custom"  # the learner's own points, pasted as CSV text (see parse_csv)
MAX_CSV_BYTES = 64 * 1024
GRID_NEURONS = 24  # each hidden neuron's output is drawn on a GRID_NEURONS² lattice
MAX_WEIGHT = 100.0  # |value| a learner may set a weight to

# The network's inputs are features of each 2-D point: FEATURES[name](x1, x2), and the same
# expression as Python source (FEATURE_CODE, of ``X``) for the exported script.
FEATURE_CODE = {
    "x1": "X[:, 0]",
    "x2": "X[:, 1]",
    "x1^2": "X[:, 0] ** 2",
    "x2^2": "X[:, 1] ** 2",
    "x1x2": "X[:, 0] * X[:, 1]",
    "sin_x1": "np.sin(X[:, 0])",
    "sin_x2": "np.sin(X[:, 1])",
}
FEATURES: dict[str, Callable[[Array], Array]] = {
    "x1": lambda X: X[:, 0],
    "x2": lambda X: X[:, 1],
    "x1^2": lambda X: X[:, 0] ** 2,
    "x2^2": lambda X: X[:, 1] ** 2,
    "x1x2": lambda X: X[:, 0] * X[:, 1],
    "sin_x1": lambda X: np.sin(X[:, 0]),
    "sin_x2": lambda X: np.sin(X[:, 1]),
}
HIDDEN_ACTIVATIONS = ("relu", "leaky_relu", "elu", "tanh", "sigmoid", "softplus", "identity")
OUTPUTS = {"sigmoid": "binary_crossentropy", "softmax": "categorical_crossentropy"}
OPTIMIZERS: dict[str, Callable[[float], optimizers.Optimizer]] = {
    "sgd": lambda lr: optimizers.SGD(lr),
    "momentum": lambda lr: optimizers.SGD(lr, momentum=0.9),
    "nesterov": lambda lr: optimizers.SGD(lr, momentum=0.9, nesterov=True),
    "adam": lambda lr: optimizers.Adam(lr),
    "rmsprop": lambda lr: optimizers.RMSprop(lr),
    "adagrad": lambda lr: optimizers.Adagrad(lr),
}


class RequestError(ValueError):
    """A request the playground refuses; the message says what was expected and what came."""


@dataclass(frozen=True)
class Config:
    """A checked playground configuration (see :func:`parse_config` for the bounds)."""

    dataset: str = "circles"
    n_samples: int = 300
    noise: float = 0.08
    n_classes: int = 2
    validation: float = 0.2
    hidden: tuple[int, ...] = (6, 6)
    activations: tuple[str, ...] = ("tanh", "tanh")
    output: str = "sigmoid"
    optimizer: str = "adam"
    learning_rate: float = 0.03
    batch_size: int = 16
    l2: float = 0.0
    seed: int = 0
    features: tuple[str, ...] = ("x1", "x2")
    csv: str = ""  # dataset "custom" only: rows x1,x2,label (see parse_csv)

    @property
    def loss(self) -> str:
        """The loss that goes with the output layer (kept consistent, never mixed)."""
        return OUTPUTS[self.output]

    @property
    def sizes(self) -> list[int]:
        """Layer widths n_0, …, n_L: one input per feature, the hidden layers, the outputs."""
        n_out = 1 if self.output == "sigmoid" else self.n_classes
        return [len(self.features), *self.hidden, n_out]

    def to_json(self) -> JSON:
        """The configuration as a JSON-ready dict (lists for tuples)."""
        d = asdict(self)
        d["hidden"], d["activations"] = list(self.hidden), list(self.activations)
        d["features"] = list(self.features)
        return d


DEFAULT_NOISE = {"xor": 0.15, "circles": 0.08, "moons": 0.15, "spirals": 0.2, CUSTOM: 0.0}


def features(X: Array, names: Any) -> Array:
    """The network's inputs for 2-D points ``X`` (N, 2): one column per feature name, (N, k)."""
    return np.stack([FEATURES[name](X) for name in names], axis=1).astype(np.float64)


def options() -> JSON:
    """What the page may choose from, with every bound the server enforces."""
    return {
        "datasets": list(DATASETS),
        "default_noise": DEFAULT_NOISE,
        "hidden_activations": list(HIDDEN_ACTIVATIONS),
        "outputs": {k: v for k, v in OUTPUTS.items()},
        "optimizers": list(OPTIMIZERS),
        "features": list(FEATURES),
        "custom": {
            "dataset": CUSTOM,
            "format": "x1,x2,label",
            "max_bytes": MAX_CSV_BYTES,
            "rows": [4, MAX_SAMPLES],
            "labels": [0, MAX_CLASSES - 1],
        },
        "bounds": {
            "hidden_layers": [0, MAX_HIDDEN_LAYERS],
            "width": [1, MAX_WIDTH],
            "n_samples": [MIN_SAMPLES, MAX_SAMPLES],
            "n_classes": [2, MAX_CLASSES],
            "noise": [0.0, 1.0],
            "validation": [0.0, 0.5],
            "learning_rate": [1e-6, 100.0],
            "batch_size": [1, MAX_SAMPLES],
            "l2": [0.0, 1.0],
            "seed": [0, 2**32 - 1],
            "steps": [1, MAX_STEPS_PER_REQUEST],
            "epochs": [1, MAX_EPOCHS_PER_REQUEST],
            "weight": [-MAX_WEIGHT, MAX_WEIGHT],
        },
        "defaults": Config().to_json(),
    }


# ------------------------------------------------------------------ checking a request
def _int(d: JSON, key: str, lo: int, hi: int, default: int) -> int:
    value = d.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(f"{key} must be an integer in [{lo}, {hi}], got {value!r}")
    if not lo <= value <= hi:
        raise RequestError(f"{key} must be in [{lo}, {hi}], got {value}")
    return value


def _float(d: JSON, key: str, lo: float, hi: float, default: float) -> float:
    value = d.get(key, default)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise RequestError(f"{key} must be a number in [{lo:g}, {hi:g}], got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and lo <= value <= hi):
        raise RequestError(f"{key} must be in [{lo:g}, {hi:g}], got {value!r}")
    return value


def _choice(d: JSON, key: str, allowed: Any, default: str) -> str:
    value = d.get(key, default)
    if value not in allowed:
        raise RequestError(f"{key} must be one of {sorted(allowed)}, got {value!r}")
    return str(value)


def parse_config(d: Any) -> Config:
    """A :class:`Config` from the page's JSON, or :class:`RequestError` naming the bad field.

    Missing fields take the defaults of :class:`Config`; unknown fields are refused.
    """
    if not isinstance(d, dict):
        raise RequestError(f"config must be a JSON object, got {type(d).__name__}")
    unknown = sorted(set(d) - set(Config.__dataclass_fields__))
    if unknown:
        raise RequestError(
            f"unknown config field(s) {unknown}; expected some of "
            f"{sorted(Config.__dataclass_fields__)}"
        )
    defaults = Config()
    dataset = _choice(d, "dataset", (*DATASETS, CUSTOM), defaults.dataset)
    hidden, activations = _layers(d, defaults)
    names = _features(d)
    csv = ""
    if dataset == CUSTOM:
        given = d.get("csv")
        if not isinstance(given, str):
            raise RequestError(
                f"dataset 'custom' needs csv: text of rows x1,x2,label, got {given!r}"
            )
        csv = given
        _, y = parse_csv(csv)  # refused here, with the row, if it is not usable
        # n_classes and n_samples are the data's own (any given ones are ignored)
        d = {**d, "n_classes": int(y.max()) + 1, "n_samples": len(y), "noise": 0.0}
    elif "csv" in d and d["csv"] not in ("", None):
        raise RequestError(f"csv is for dataset 'custom' only, not for {dataset!r}")
    n_samples_bounds = (4, MAX_SAMPLES) if dataset == CUSTOM else (MIN_SAMPLES, MAX_SAMPLES)
    n_classes = _int(d, "n_classes", 2, MAX_CLASSES, 3 if dataset == "spirals" else 2)
    if dataset not in ("spirals", CUSTOM) and n_classes != 2:
        raise RequestError(f"{dataset} has 2 classes; n_classes must be 2, got {n_classes}")
    output = _choice(d, "output", OUTPUTS, "softmax" if n_classes > 2 else "sigmoid")
    if output == "sigmoid" and n_classes > 2:
        raise RequestError(
            f"a sigmoid output (one neuron, binary cross-entropy) separates 2 classes; "
            f"this data set has {n_classes}: use output 'softmax'"
        )
    return Config(
        dataset=dataset,
        n_samples=_int(d, "n_samples", *n_samples_bounds, defaults.n_samples),
        noise=_float(d, "noise", 0.0, 1.0, DEFAULT_NOISE[dataset]),
        n_classes=n_classes,
        validation=_float(d, "validation", 0.0, 0.5, defaults.validation),
        hidden=hidden,
        activations=activations,
        output=output,
        optimizer=_choice(d, "optimizer", OPTIMIZERS, defaults.optimizer),
        learning_rate=_float(d, "learning_rate", 1e-6, 100.0, defaults.learning_rate),
        batch_size=_int(d, "batch_size", 1, MAX_SAMPLES, defaults.batch_size),
        l2=_float(d, "l2", 0.0, 1.0, defaults.l2),
        seed=_int(d, "seed", 0, 2**32 - 1, defaults.seed),
        features=names,
        csv=csv,
    )


def _features(d: JSON) -> tuple[str, ...]:
    names = d.get("features", ["x1", "x2"])
    allowed = list(FEATURES)
    if (
        not isinstance(names, list)
        or not names
        or not all(isinstance(n, str) and n in FEATURES for n in names)
        or len(set(names)) != len(names)
    ):
        raise RequestError(
            f"features must be a non-empty list, without repeats, of {allowed}, got {names!r}"
        )
    if names != sorted(names, key=allowed.index):
        raise RequestError(f"features must be listed in the order {allowed}, got {names!r}")
    return tuple(names)


_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_LABEL = re.compile(r"[+-]?[0-9]+")


def _cell(text: str) -> str:
    return repr(text if len(text) <= 24 else text[:24] + "…")


def parse_csv(text: str) -> tuple[Array, Array]:
    """The points ``X`` (N, 2) and labels ``y`` (N,) of CSV ``text``, rows ``x1,x2,label``.

    A first row that is not numbers (a header) is skipped, and so are blank rows. Refused
    (:class:`RequestError` naming the row, counted from 1 as a spreadsheet does): more than
    :data:`MAX_CSV_BYTES` of text or :data:`MAX_SAMPLES` rows, a row without exactly 3
    cells, a coordinate that is not a finite plain decimal number (no ``nan``, ``inf``,
    ``1e400``, formulas or non-ASCII digits), a label that is not an integer in
    [0, MAX_CLASSES - 1]; then fewer than 2 classes, a class of 0 … max label without 2
    samples.
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_CSV_BYTES:
        raise RequestError(f"csv must be at most {MAX_CSV_BYTES} bytes of text, got {size}")
    lines = [(i + 1, line.strip()) for i, line in enumerate(text.splitlines())]
    lines = [(i, line) for i, line in lines if line]
    if not lines:
        raise RequestError("csv is empty: give rows x1,x2,label (one point a row)")
    first = [c.strip() for c in lines[0][1].split(",")]
    if not (len(first) >= 1 and _NUMBER.fullmatch(first[0])):
        lines = lines[1:]  # a header row
    if len(lines) > MAX_SAMPLES:
        raise RequestError(f"csv has {len(lines)} rows; at most {MAX_SAMPLES} are accepted")
    X, y = np.empty((len(lines), 2)), np.empty(len(lines), dtype=np.int64)
    for k, (row, line) in enumerate(lines):
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != 3:
            raise RequestError(f"row {row}: expected 3 cells x1,x2,label, got {len(cells)}")
        for j in (0, 1):
            if not _NUMBER.fullmatch(cells[j]):
                raise RequestError(f"row {row}: {_cell(cells[j])} is not a number")
            X[k, j] = float(cells[j])
            if not math.isfinite(X[k, j]):
                raise RequestError(f"row {row}: {_cell(cells[j])} is not a finite number")
        if not _LABEL.fullmatch(cells[2]):
            raise RequestError(
                f"row {row}: label {_cell(cells[2])} is not an integer in [0, {MAX_CLASSES - 1}]"
            )
        label = int(cells[2])
        if not 0 <= label < MAX_CLASSES:
            raise RequestError(f"row {row}: label {label} is not in [0, {MAX_CLASSES - 1}]")
        y[k] = label
    if len(y) == 0:
        raise RequestError("csv has a header but no rows")
    counts = np.bincount(y, minlength=int(y.max()) + 1)
    if len(counts) < 2:
        raise RequestError("csv has one class only: give labels of at least 2 classes (0 and 1)")
    for label, count in enumerate(counts):
        if count < 2:
            raise RequestError(
                f"class {label} has {count} sample(s): each class 0 … {len(counts) - 1} needs "
                "at least 2"
            )
    return X, y


def _layers(d: JSON, defaults: Config) -> tuple[tuple[int, ...], tuple[str, ...]]:
    hidden = d.get("hidden", list(defaults.hidden))
    if not isinstance(hidden, list) or len(hidden) > MAX_HIDDEN_LAYERS:
        raise RequestError(
            f"hidden must be a list of at most {MAX_HIDDEN_LAYERS} layer widths, got {hidden!r}"
        )
    widths = tuple(_int({"width": n}, "width", 1, MAX_WIDTH, 0) for n in hidden)
    names = d.get("activations", [defaults.activations[0]] * len(widths))
    if not isinstance(names, list) or len(names) != len(widths):
        raise RequestError(
            f"activations must list one name per hidden layer ({len(widths)}), got {names!r}"
        )
    checked = tuple(_choice({"activation": f}, "activation", HIDDEN_ACTIVATIONS, "") for f in names)
    return widths, checked


# ------------------------------------------------------------------ the run
@dataclass
class Data:
    """The points: ``X`` (N, 2), labels ``y`` (N,), targets ``Y`` (N, n_L), and the network's
    inputs ``F`` (N, n_0), the features of ``X`` (:func:`features`).

    The first ``n_train`` rows are the training part, the rest the validation part.
    """

    X: Array
    y: Array
    Y: Array
    n_train: int
    F: Array

    @property
    def train(self) -> tuple[Array, Array]:
        """``(F_train, Y_train)``: the network's inputs and targets."""
        return self.F[: self.n_train], self.Y[: self.n_train]

    @property
    def val(self) -> tuple[Array, Array] | None:
        """``(F_val, Y_val)``, or None without a validation part."""
        if self.n_train == len(self.X):
            return None
        return self.F[self.n_train :], self.Y[self.n_train :]


def make_data(config: Config) -> Data:
    """The data set of ``config``, split into training and validation parts (seeded)."""
    if config.dataset == CUSTOM:
        X, y = parse_csv(config.csv)
    elif config.dataset == "spirals":
        X, y = datasets.spirals(config.n_samples, config.n_classes, config.noise, config.seed)
    else:
        generate = getattr(datasets, config.dataset)
        X, y = generate(n_samples=config.n_samples, noise=config.noise, seed=config.seed)
    if config.validation > 0:
        X_tr, X_val, y_tr, y_val = psinet.train_test_split(
            X, y, test_size=config.validation, seed=config.seed, stratify=True
        )
        X, y = np.concatenate([X_tr, X_val]), np.concatenate([y_tr, y_val])
        n_train = len(X_tr)
    else:
        n_train = len(X)
    if config.output == "sigmoid":
        Y = y[:, None].astype(np.float64)  # one output: the probability of class 1
    else:
        Y = psinet.one_hot(y, config.n_classes)
    return Data(X=X, y=y, Y=Y, n_train=n_train, F=features(X, config.features))


@dataclass
class Point:
    """One point of the curves: after ``epochs`` (fractional) of training."""

    epochs: float
    loss: float | None
    accuracy: float | None
    val_loss: float | None
    val_accuracy: float | None
    grad_norms: list[float | None]


@dataclass
class Session:
    """A learner's run: the network, its optimizer, the data and where training stands."""

    config: Config
    id: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.reset(self.config)

    def reset(self, config: Config) -> None:
        """Start over with ``config``: the same seed gives the same data and weights."""
        c = self.config = config
        self.data = make_data(c)
        self.net = psinet.Network(c.sizes, [*c.activations, c.output], seed=c.seed)
        self.optimizer = OPTIMIZERS[c.optimizer](c.learning_rate)
        self.epoch = 0  # completed epochs
        self.step = 0  # steps done in the current epoch
        self.total_steps = 0
        self.selected: int | None = None
        self.diverged: str | None = None
        self.history: list[Point] = []
        self.history.append(self._point())

    # -------------------------------------------------------------- batches
    @property
    def steps_per_epoch(self) -> int:
        """ceil(N_train / B): the last, smaller batch is used, as in ``fit``."""
        return -(-self.data.n_train // self.config.batch_size)

    def _order(self) -> Array:
        """This epoch's permutation of the training rows: what ``fit`` draws for the 0-based
        epoch ``e``, from ``SeedSequence(seed, spawn_key=(e,))``."""
        sequence = np.random.SeedSequence(self.config.seed, spawn_key=(self.epoch,))
        return np.random.default_rng(sequence).permutation(self.data.n_train)

    def next_batch(self) -> Array:
        """Row indices of the mini-batch the next Step trains on."""
        B = self.config.batch_size
        return self._order()[self.step * B :][:B]

    # -------------------------------------------------------------- training
    def train_steps(self, steps: int) -> JSON:
        """Run ``steps`` mini-batch steps (crossing epochs as needed); returns :meth:`state`."""
        start = time.perf_counter()
        with np.errstate(all="ignore"):  # divergence is reported, never warned about
            for _ in range(steps):
                if self.diverged or not self._one_step():
                    break
        return self._after_training(start)

    def train_epochs(self, epochs: int) -> JSON:
        """Finish the current epoch, then run whole epochs with ``fit``; returns :meth:`state`."""
        start = time.perf_counter()
        with np.errstate(all="ignore"):
            for _ in range(epochs):
                if self.diverged:
                    break
                if self.step:  # mid-epoch after Step presses: finish this epoch
                    while self.step and not self.diverged and self._one_step():
                        pass
                else:
                    self._fit_one_epoch()
        return self._after_training(start)

    def _one_step(self) -> bool:
        """One Step: ∂E/∂W on the next batch, then ``optimizer.step``; False if it diverged."""
        X_train, Y_train = self.data.train
        batch = self.next_batch()
        c = self.config
        try:
            grads, E = psinet.gradients(self.net, X_train[batch], Y_train[batch], c.loss, l2=c.l2)
        except ValueError as exc:  # psinet refuses a pass that overflowed
            return self._diverge(_overflow(exc))
        if not (math.isfinite(E) and all(np.isfinite(g).all() for g in grads)):
            return self._diverge(f"the loss became {E}" if not math.isfinite(E) else "Ψ overflowed")
        before = [W.copy() for W in self.net.weights]
        self.optimizer.step(self.net.weights, grads)
        if not all(np.isfinite(W).all() for W in self.net.weights):
            self.net.weights = before  # a refused step changes nothing
            return self._diverge("the update overflowed the weights")
        self._advance(1)
        return True

    def _fit_one_epoch(self) -> None:
        """One whole epoch with ``net.fit``: the batches Step would have walked through.

        If ``fit`` diverges, weights and optimizer go back to the epoch's start and the
        epoch is replayed by Steps, which stop at the diverging step and name it.
        """
        c = self.config
        X_train, Y_train = self.data.train
        weights, optimizer_state = [W.copy() for W in self.net.weights], self.optimizer.state_dict()
        try:
            self.net.fit(
                X_train,
                Y_train,
                loss=c.loss,
                optimizer=self.optimizer,
                epochs=self.epoch + 1,
                initial_epoch=self.epoch,
                batch_size=c.batch_size,
                seed=c.seed,
                l2=c.l2,
                verbose=0,
            )
        except (FloatingPointError, ValueError):  # DivergenceError, or an overflow refused
            self.net.weights = weights
            self.optimizer.load_state_dict(optimizer_state)
            while self._one_step() and self.step:
                pass
            return
        self._advance(self.steps_per_epoch)

    def _advance(self, steps: int) -> None:
        self.total_steps += steps
        self.step += steps
        if self.step >= self.steps_per_epoch:
            self.epoch, self.step = self.epoch + 1, 0

    def _diverge(self, why: str) -> bool:
        self.diverged = (
            f"Training diverged in epoch {self.epoch + 1}, step {self.step + 1}: {why}. "
            f"The network keeps its last finite weights. Press Reset, or choose a smaller "
            f"learning rate (now {self.config.learning_rate:g})."
        )
        return False

    def _after_training(self, start: float) -> JSON:
        self.history.append(self._point())
        if len(self.history) > MAX_HISTORY:  # thin the older half, keep the newest point
            self.history = self.history[::-1][::2][::-1]
        state = self.state()
        state["elapsed_ms"] = 1000 * (time.perf_counter() - start)
        return state

    def _point(self) -> Point:
        c = self.config
        X_train, Y_train = self.data.train
        with np.errstate(all="ignore"):
            train = self._evaluate(X_train, Y_train)
            val = self.data.val
            scores = self._evaluate(*val) if val else None
            try:
                grads, _ = psinet.gradients(self.net, X_train, Y_train, c.loss, l2=c.l2)
                norms: list[float | None] = [float(np.linalg.norm(g)) for g in grads]
            except ValueError:  # overflowed (after divergence): no norms to show
                norms = [None] * self.net.n_layers
        return Point(
            epochs=self.total_steps / self.steps_per_epoch,
            loss=train["loss"],
            accuracy=train["accuracy"],
            val_loss=scores["loss"] if scores else None,
            val_accuracy=scores["accuracy"] if scores else None,
            grad_norms=norms,
        )

    def _evaluate(self, X: Array, Y: Array) -> dict[str, float | None]:
        """``psinet.evaluate``; None for what overflowed (after divergence)."""
        try:
            return dict(psinet.evaluate(self.net, X, Y, self.config.loss, l2=self.config.l2))
        except ValueError:
            return {"loss": None, "accuracy": None}

    # -------------------------------------------------------------- what the page shows
    def select(self, index: int) -> JSON:
        """Follow sample ``index`` (0 ≤ index < N) through the network; returns :meth:`state`."""
        if not 0 <= index < len(self.data.X):
            raise RequestError(f"index must be in [0, {len(self.data.X) - 1}], got {index}")
        self.selected = index
        return self.state()

    def state(self, *, with_data: bool = False) -> JSON:
        """Everything the page draws, as JSON-ready values (full precision)."""
        with np.errstate(all="ignore"):  # a diverged run's huge numbers are shown, not warned
            return self._state(with_data)

    def _state(self, with_data: bool) -> JSON:
        last = self.history[-1]
        state: JSON = {
            "session": self.id,
            "config": self.config.to_json(),
            "sizes": self.config.sizes,
            "loss_name": self.config.loss,
            "epoch": self.epoch,
            "step": self.step,
            "steps_per_epoch": self.steps_per_epoch,
            "total_steps": self.total_steps,
            "train": {"loss": last.loss, "accuracy": last.accuracy},
            "val": None
            if last.val_loss is None
            else {"loss": last.val_loss, "accuracy": last.val_accuracy},
            "history": {
                key: [getattr(p, key) for p in self.history] for key in Point.__dataclass_fields__
            },
            "weights": [W.tolist() for W in self.net.weights],
            "grid": self._grid(),
            "neurons": self._neurons(),
            "trace": self._batch_trace(),
            "sample": self._sample(),
            "diverged": self.diverged,
        }
        if with_data:
            state["data"] = {
                "X": self.data.X.tolist(),
                "y": self.data.y.tolist(),
                "n_train": self.data.n_train,
            }
        return state

    def extent(self) -> tuple[float, float, float, float]:
        """The square of the plane the data plot shows: (x_min, x_max, y_min, y_max)."""
        X = self.data.X
        centre = (X.max(axis=0) + X.min(axis=0)) / 2
        half = 0.6 * float((X.max(axis=0) - X.min(axis=0)).max()) + 0.1
        return (centre[0] - half, centre[0] + half, centre[1] - half, centre[1] + half)

    def lattice(self, n: int) -> Array:
        """An n x n lattice of points over the plot, rows from the top (y_max): (n², 2)."""
        x0, x1, y0, y1 = self.extent()
        xs, ys = np.linspace(x0, x1, n), np.linspace(y1, y0, n)
        return np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)

    def _grid(self) -> JSON:
        """``net.predict`` on a GRID x GRID lattice over the plot, rows from the top (y_max)."""
        x0, x1, y0, y1 = self.extent()
        points = features(self.lattice(GRID), self.config.features)  # (GRID², n_0)
        grid: JSON = {"n": GRID, "extent": [x0, x1, y0, y1], "y_hat": None}
        try:
            grid["y_hat"] = np.round(self.net.predict(points), 4).tolist()  # (GRID², n_L)
        except ValueError as exc:  # the outputs overflowed: nothing to draw
            grid["error"] = _overflow(exc)
        return grid

    def _neurons(self) -> JSON:
        """Each hidden neuron's output f_l(z_l) over the plot: ``net.forward`` on a
        GRID_NEURONS² lattice (through the features), rows from the top, 4 decimals.

        ``layers[l][j]`` is neuron j of hidden layer l, GRID_NEURONS² values.
        """
        x0, x1, y0, y1 = self.extent()
        n = GRID_NEURONS
        out: JSON = {"n": n, "extent": [x0, x1, y0, y1], "layers": None}
        try:
            self.net.forward(features(self.lattice(n), self.config.features))
        except ValueError as exc:
            out["error"] = _overflow(exc)
            return out
        cache = self.net.cache
        assert cache is not None
        out["layers"] = [np.round(cache.a[l], 4).T.tolist() for l in range(self.net.n_layers - 1)]
        return out

    def _batch_trace(self) -> JSON:
        """``print(psinet.trace(...))`` for the mini-batch the next Step trains on."""
        X_train, Y_train = self.data.train
        batch = self.next_batch()
        try:
            text = str(psinet.trace(self.net, X_train[batch], Y_train[batch], self.config.loss))
        except ValueError as exc:
            text = f"psinet.trace refused this batch: {exc}"
        return {"text": text, "batch": batch.tolist(), "epoch": self.epoch + 1}

    def _sample(self) -> JSON | None:
        """z, f(z), Ψ and ∂E/∂W_l of the selected sample alone (``psinet.trace`` with N = 1)."""
        i = self.selected
        if i is None:
            return None
        x, target = self.data.X[i : i + 1], self.data.Y[i : i + 1]
        inputs = self.data.F[i : i + 1]
        try:
            t, f_prime, steps = backward_walk(self.net, inputs, target, self.config.loss)
        except ValueError as exc:
            return {"index": i, "x": x[0].tolist(), "error": _overflow(exc)}
        return {
            "index": i,
            "part": "train" if i < self.data.n_train else "validation",
            "x": x[0].tolist(),
            "input": inputs[0].tolist(),
            "label": int(self.data.y[i]),
            "target": target[0].tolist(),
            "y_hat": t.y_hat[0].tolist(),
            "E": t.E,
            "layers": [
                {
                    "z": layer.z[0].tolist(),
                    "a": layer.a[0].tolist(),
                    "psi": layer.psi[0].tolist(),
                    "grad_W": layer.grad_W.tolist(),
                    "f_prime": fp,
                }
                for layer, fp in zip(t.layers, f_prime, strict=True)
            ],
            "steps": steps,
        }

    # -------------------------------------------------------------- editing, export
    def set_weight(self, layer: Any, row: Any, col: Any, value: Any) -> JSON:
        """``net.weights[layer][row, col] = value`` (col n_l is the bias); returns the state.

        Checked before anything changes: integer indices in range, a finite number with
        |value| ≤ :data:`MAX_WEIGHT`.
        """
        L = self.net.n_layers
        layer = _int({"layer": layer}, "layer", 0, L - 1, 0)
        rows, cols = self.net.weights[layer].shape
        row = _int({"row": row}, "row", 0, rows - 1, 0)
        col = _int({"col": col}, "col", 0, cols - 1, 0)  # cols - 1: the bias column
        value = _float({"value": value}, "value", -MAX_WEIGHT, MAX_WEIGHT, 0.0)
        self.net.weights[layer][row, col] = value
        with np.errstate(all="ignore"):
            self.history.append(self._point())  # the loss of the edited network
        if len(self.history) > MAX_HISTORY:
            self.history = self.history[::-1][::2][::-1]
        return self.state()

    def export(self) -> JSON:
        """``{"python": script}``: a script that rebuilds this run with psinet (:func:`script`)."""
        return {"python": script(self)}


# ------------------------------------------------------------------ the backward walk
BACKPROP = "src/psinet/backprop.py"
CODE_FUSED = f"{BACKPROP}, output_psi: psi = (y_hat - Y) / len(Y)"
CODE_CHAIN = f"{BACKPROP}, output_psi: psi = f_out.chain(loss.dE_dy_hat(y_hat, Y), z, y_hat)"
CODE_RECURSION = (
    f"{BACKPROP}, backward: psi[l - 1] = f[l - 1].chain(psi[l] @ W[l][:, :-1], z[l - 1], a[l - 1])"
)


def _num(v: float) -> str:
    """``v`` to 4 significant digits, with a true minus sign."""
    return f"{v:.4g}".replace("-", "−")


def _factor(v: float) -> str:
    """:func:`_num` in brackets when negative: ``0.5·(−1.2)``, never ``0.5·−1.2``."""
    text = _num(v)
    return f"({text})" if text.startswith("−") else text


def backward_walk(
    net: psinet.Network, x: Array, target: Array, loss: str
) -> tuple[Any, list[list[float] | None], list[JSON]]:
    """``(psinet.trace(net, x, target, loss), f', steps)`` for one sample (N = 1).

    ``f'[l]``: ``net.activations[l].derivative(z_l, a_l)`` per neuron, None for an activation
    that is not elementwise (softmax). ``steps``: the Ψ recursion one press at a time, from
    the output (kind "start") back to layer 0 (kind "recursion"), each with Ψ from the trace,
    the equation, the numbers plugged in and the line of psinet's code that computes it.
    """
    t = psinet.trace(net, x, target, loss)
    f, W, L = net.activations, net.weights, net.n_layers
    loss_obj = psinet.losses.get(loss)
    f_prime: list[list[float] | None] = []
    for l, layer in enumerate(t.layers):
        if f[l].elementwise:
            d = np.asarray(f[l].derivative(layer.z, layer.a), dtype=np.float64)
            f_prime.append(np.broadcast_to(d, layer.z.shape)[0].tolist())
        else:
            f_prime.append(None)
    out = t.layers[L - 1]
    psi_out = out.psi[0]
    N = len(target)
    if psinet.losses.fused_pair(loss_obj, f[L - 1]):
        equation = f"Ψ_{L - 1} = (ŷ − Y)/N"
        numbers = "; ".join(
            f"({_num(yh)} − {_num(yt)})/{N} = {_num(p)}"
            for yh, yt, p in zip(t.y_hat[0], target[0], psi_out, strict=True)
        )
        code = CODE_FUSED
    else:
        equation = f"Ψ_{L - 1} = ∂E/∂ŷ ⊙ f'_{L - 1}(z_{L - 1})"
        dE = np.asarray(loss_obj.dE_dy_hat(t.y_hat, target), dtype=np.float64)[0]
        fp = f_prime[L - 1]
        if fp is not None:
            numbers = "; ".join(
                f"{_num(g)} · {_num(d)} = {_num(p)}"
                for g, d, p in zip(dE, fp, psi_out, strict=True)
            )
        else:
            numbers = (
                f"∂E/∂ŷ = [{', '.join(map(_num, dE))}] through {f[L - 1].name}'s Jacobian = "
                f"[{', '.join(map(_num, psi_out))}]"
            )
        code = CODE_CHAIN
    steps: list[JSON] = [
        {
            "layer": L - 1,
            "kind": "start",
            "psi": psi_out.tolist(),
            "equation": equation,
            "numbers": numbers,
            "code": code,
        }
    ]
    for l in range(L - 1, 0, -1):
        psi_above = t.layers[l].psi[0]
        rows = W[l][:, :-1]
        product = psi_above @ rows
        psi = t.layers[l - 1].psi[0]
        fp = f_prime[l - 1]
        terms = [
            " + ".join(
                f"{_num(p)}·{_factor(w)}" for p, w in zip(psi_above, rows[:, j], strict=True)
            )
            for j in range(rows.shape[1])
        ]
        if fp is not None:
            numbers_list = [
                f"({term}) · {_num(d)} = {_num(v)}"
                for term, d, v in zip(terms, fp, psi, strict=True)
            ]
        else:
            numbers_list = [f"({term}) through {f[l - 1].name}'s Jacobian" for term in terms]
            numbers_list = [f"{n} → {_num(v)}" for n, v in zip(numbers_list, psi, strict=True)]
        steps.append(
            {
                "layer": l - 1,
                "kind": "recursion",
                "from_layer": l,
                "psi_above": psi_above.tolist(),
                "rows": rows.tolist(),
                "product": product.tolist(),
                "f_prime": fp,
                "psi": psi.tolist(),
                "equation": f"Ψ_{l - 1} = (Ψ_{l} W_{l}[:, :-1]) ⊙ f'_{l - 1}(z_{l - 1})",
                "numbers": numbers_list,
                "code": CODE_RECURSION,
            }
        )
    return t, f_prime, steps


# ------------------------------------------------------------------ export
OPTIMIZER_CODE = {
    "sgd": "psinet.optimizers.SGD({lr!r})",
    "momentum": "psinet.optimizers.SGD({lr!r}, momentum=0.9)",
    "nesterov": "psinet.optimizers.SGD({lr!r}, momentum=0.9, nesterov=True)",
    "adam": "psinet.optimizers.Adam({lr!r})",
    "rmsprop": "psinet.optimizers.RMSprop({lr!r})",
    "adagrad": "psinet.optimizers.Adagrad({lr!r})",
}
EXPORT_TRAIN_MARK = "# ---- train"


def script(session: Session) -> str:
    """A self-contained Python script that rebuilds ``session``'s data, network and weights
    with psinet and trains them as the playground does, then prints the final loss."""
    c, net = session.config, session.net
    lines = [
        f'"""psinet playground export: {c.dataset}, sizes {c.sizes}, {c.loss}, {c.optimizer}."""',
        "",
        "import numpy as np",
        "",
        "import psinet",
        "",
        "EPOCHS = 100  # how many epochs to train",
        "",
        "# the data: 2-D points X and labels y",
    ]
    if c.dataset == CUSTOM:
        X, y = parse_csv(c.csv)
        lines += [f"X = np.array({X.tolist()!r})", f"y = np.array({y.tolist()!r})"]
    elif c.dataset == "spirals":
        lines.append(
            f"X, y = psinet.datasets.spirals({c.n_samples}, {c.n_classes}, {c.noise!r}, {c.seed})"
        )
    else:
        lines.append(
            f"X, y = psinet.datasets.{c.dataset}(n_samples={c.n_samples}, noise={c.noise!r}, "
            f"seed={c.seed})"
        )
    if c.validation > 0:
        lines += [
            "X_train, X_val, y_train, y_val = psinet.train_test_split(",
            f"    X, y, test_size={c.validation!r}, seed={c.seed}, stratify=True",
            ")",
        ]
    else:
        lines += ["X_train, y_train = X, y"]
    lines += [
        "",
        "",
        "def features(X):",
        f'    """The network\'s inputs: {", ".join(c.features)}."""',
        "    return np.stack([" + ", ".join(FEATURE_CODE[n] for n in c.features) + "], axis=1)",
        "",
        "",
    ]
    if c.output == "sigmoid":
        target = "{y}[:, None].astype(np.float64)"
    else:
        target = f"psinet.one_hot({{y}}, {c.n_classes})"
    lines += [f"F_train, Y_train = features(X_train), {target.format(y='y_train')}"]
    if c.validation > 0:
        lines += [f"F_val, Y_val = features(X_val), {target.format(y='y_val')}"]
    lines += [
        "",
        "# the network",
        f"net = psinet.Network({c.sizes!r}, {[*c.activations, c.output]!r}, seed={c.seed})",
    ]
    fresh = psinet.Network(c.sizes, [*c.activations, c.output], seed=c.seed)
    if any(not np.array_equal(a, b) for a, b in zip(fresh.weights, net.weights, strict=True)):
        lines.append("# the playground's current weights (trained or set by hand)")
        lines.append("net.weights = [")
        lines += [f"    np.array({W.tolist()!r})," for W in net.weights]
        lines.append("]")
    lines += [
        "",
        EXPORT_TRAIN_MARK,
        f"optimizer = {OPTIMIZER_CODE[c.optimizer].format(lr=c.learning_rate)}",
        "history = net.fit(",
        "    F_train,",
        "    Y_train,",
        f"    loss={c.loss!r},",
        "    optimizer=optimizer,",
        "    epochs=EPOCHS,",
        f"    batch_size={c.batch_size},",
        f"    seed={c.seed},",
        f"    l2={c.l2!r},",
        *(["    validation_data=(F_val, Y_val),"] if c.validation > 0 else []),
        "    verbose=0,",
        ")",
        'print("final loss:", history.history["loss"][-1])',
        "",
        "# to carry it to PyTorch: model = psinet.interop.to_torch(net)",
        "",
    ]
    return "\n".join(lines)


def _overflow(exc: ValueError) -> str:
    """psinet's overflow message without its advice for scripts (the page gives its own)."""
    return str(exc).split(" (max |X|")[0]


def dumps(value: Any) -> bytes:
    """``value`` as UTF-8 JSON; NaN and infinities (which JSON lacks) become null."""
    try:
        text = json.dumps(value, allow_nan=False, separators=(",", ":"))
    except ValueError:
        text = json.dumps(_finite(value), allow_nan=False, separators=(",", ":"))
    return text.encode()


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by None (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
