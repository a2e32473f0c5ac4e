"""How fast is one psinet training step, next to its own matrix products?

The cost model (docs/notation.md, "Cost model"): per layer a training step needs one forward product
``X̄_l W_lᵀ``, one gradient product ``Ψ_lᵀ X̄_l`` and (except for the first layer) one
``Ψ_l W_l[:, :-1]``; everything else is O(N·n) or O(P) memory traffic. So the floor of
a step is the time of those products alone, and the number this benchmark reports is

    ratio = time of one psinet training step / time of its matrix products alone

measured in the same process, on the same arrays (the network's own cache), in
interleaved blocks: pair k times a block of steps, then a block of products, and the
reported ratio is the median of the per-pair ratios. PyTorch and scikit-learn, when
installed, run the same step and are reported against the same products.

    python benchmarks/bench_step.py                      # all workloads, 1 BLAS thread
    python benchmarks/bench_step.py --quick              # smoke run, a few seconds
    python benchmarks/bench_step.py --threads 2 --workloads medium,large

Also measured: backprop against central finite differences, the memory a step
allocates (tracemalloc) and the peak memory of a short ``fit`` on the large workload.
See benchmarks/README.md for how to read the output.
"""

from __future__ import annotations

import argparse
import gc
import json
import linecache
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "bench_step.json"
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
LR = 1e-3  # small enough that no workload diverges over the many repeated steps

# numpy and psinet are imported in main(), after the BLAS thread variables are set.
np: Any = None
psinet: Any = None


@dataclass(frozen=True)
class Workload:
    sizes: tuple[int, ...]
    hidden: str  # the activation of every hidden layer
    output: str
    loss: str
    batch: int
    target: float  # the ratio to reach at one BLAS thread


WORKLOADS = {
    "tiny": Workload((2, 8, 1), "tanh", "sigmoid", "binary_crossentropy", 4, 2.0),
    "small": Workload((64, 32, 10), "sigmoid", "softmax", "categorical_crossentropy", 32, 2.5),
    "medium": Workload(
        (784, 256, 256, 10), "relu", "softmax", "categorical_crossentropy", 128, 1.10
    ),
    "large": Workload((6565, 256, 18), "relu", "softmax", "categorical_crossentropy", 32, 1.20),
}
DTYPES = ("float32", "float64")
FIT_MEMORY_TARGET = 1.25  # peak of a short fit / (weights + grads + optimizer state + cache)
FULL_FINITE_DIFFERENCES = ("tiny", "small")  # all weights; the others are extrapolated


@dataclass(frozen=True)
class Settings:
    quick: bool
    pairs: int  # interleaved (step block, products block) pairs
    min_block_s: float  # one timed block lasts at least this long
    fd_sample: int  # weights whose central difference is timed, to extrapolate
    memory_steps: int  # steps traced by tracemalloc


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time one psinet training step against its matrix products alone.",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: few reps, small blocks")
    parser.add_argument(
        "--threads", type=int, default=1, help="BLAS threads (default 1; sets the env variables)"
    )
    parser.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        help=f"comma-separated subset of {','.join(WORKLOADS)}",
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where the JSON goes")
    parser.add_argument("--pairs", type=int, default=None, help="interleaved pairs (default 31)")
    parser.add_argument(
        "--compare",
        default="torch,sklearn",
        help="libraries to compare with: torch,sklearn (default), or none",
    )
    args = parser.parse_args(argv)
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in args.workloads if w not in WORKLOADS]
    if unknown or not args.workloads:
        parser.error(f"--workloads must be names from {list(WORKLOADS)}, got {unknown or '[]'}")
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    args.compare = {c.strip() for c in args.compare.split(",") if c.strip()} - {"none"}
    if args.compare - {"torch", "sklearn"}:
        parser.error(f"--compare must name torch, sklearn or none, got {sorted(args.compare)}")
    return args


# --------------------------------------------------------------------------- timing
def time_block(fn: Callable[[], Any], n: int) -> float:
    """Seconds for ``n`` calls of ``fn`` (garbage collection off, as in timeit)."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        return time.perf_counter() - t0
    finally:
        if gc_was_enabled:
            gc.enable()


def block_size(fn: Callable[[], Any], min_block_s: float) -> int:
    """Calls per block so that one block lasts at least ``min_block_s``."""
    n = 1
    while True:
        t = time_block(fn, n)
        if t >= min_block_s / 5 or n >= 1 << 22:
            return max(1, math.ceil(1.1 * n * min_block_s / max(t, 1e-9)))
        n *= 5


def quartiles(values: Sequence[float]) -> list[float]:
    if len(values) < 2:
        return [values[0]] * 3
    q = statistics.quantiles(values, n=4, method="inclusive")
    return [q[0], q[1], q[2]]


# --------------------------------------------------------------------------- psinet
def make_data(wl: Workload, n_samples: int, dtype: Any, seed: int) -> tuple[Any, Any, Any]:
    """``(X, Y, labels)``: inputs, targets in the loss's form, integer class labels."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, wl.sizes[0])).astype(dtype)
    n_out = wl.sizes[-1]
    if wl.loss == "categorical_crossentropy":
        labels = rng.integers(0, n_out, size=n_samples)
        Y = np.eye(n_out, dtype=dtype)[labels]
    elif wl.loss == "binary_crossentropy":  # one output: labels 0 or 1
        labels = rng.integers(0, 2, size=n_samples)
        Y = labels.astype(dtype)[:, None]
    else:
        labels = None
        Y = rng.uniform(0.1, 0.9, size=(n_samples, n_out)).astype(dtype)
    return X, Y, labels


def with_ones(X: Any) -> Any:
    """``X̄ = [X, 1]``: ``fit`` augments its data once per epoch and steps on views of it."""
    return np.hstack([X, np.ones((len(X), 1), dtype=X.dtype)])


def make_net(wl: Workload, dtype: Any) -> Any:
    activations = [wl.hidden] * (len(wl.sizes) - 2) + [wl.output]
    return psinet.Network(wl.sizes, activations, seed=0, dtype=dtype)


def matmul_products(net: Any, grads: Sequence[Any]) -> list[tuple[Any, Any, Any]]:
    """The step's matrix products as ``(a, b, out)``, on the net's own cache arrays."""
    cache, W = net.cache, net.weights
    products = []
    for l in range(net.n_layers):
        # z_l = X̄_l W_lᵀ into a C-contiguous array (psinet may keep z_l as a transpose)
        z = cache.z[l] if cache.z[l].flags.c_contiguous else np.empty(cache.z[l].shape, W[l].dtype)
        products.append((cache.X_bar[l], W[l].T, z))
        products.append((cache.psi[l].T, cache.X_bar[l], grads[l]))  # Ψ_lᵀ X̄_l
        if l > 0:
            products.append((cache.psi[l], W[l][:, :-1], cache.psi[l - 1]))  # Ψ_l W_l[:, :-1]
    return products


def run_products(products: Sequence[tuple[Any, Any, Any]]) -> None:
    matmul = np.matmul
    for a, b, out in products:
        matmul(a, b, out=out)


def fit_block(
    net: Any, wl: Workload, optimizer: Any, per_step_s: float, min_block_s: float
) -> tuple[Callable[[], Any], int]:
    """One public ``fit`` call over K batches (epochs=1, shuffle=False, plain SGD, no
    validation, verbose=0), with K large enough that the call lasts ``min_block_s`` and
    fit's setup is amortised: ``(call, K)``; time per step = the call's time / K.
    ``per_step_s`` (a first guess) gives a trial K; one timed call of it sets K."""

    def block(k: int) -> Callable[[], Any]:
        X, Y, _ = make_data(wl, k * wl.batch, net.dtype, seed=2)

        def run() -> None:
            net.fit(
                X,
                Y,
                loss=wl.loss,
                optimizer=optimizer,
                epochs=1,
                batch_size=wl.batch,
                shuffle=False,
                verbose=0,
            )

        return run

    k = max(16, math.ceil(1.1 * min_block_s / max(per_step_s, 1e-9)))
    trial = block(k)
    trial()  # warm-up: fit's buffers for this batch size
    per_step_s = time_block(trial, 1) / k  # fit's own time per step
    k = max(16, math.ceil(1.1 * min_block_s / max(per_step_s, 1e-9)))
    return block(k), k


# --------------------------------------------------------------------------- torch
def torch_step(torch: Any, net: Any, wl: Workload, X: Any, Y: Any, labels: Any) -> Callable:
    """The same step in PyTorch, starting from the psinet weights; tensors made once."""
    nn = torch.nn
    act = {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "relu": nn.ReLU}
    layers: list[Any] = []
    for l, W in enumerate(net.weights):
        linear = nn.Linear(W.shape[1] - 1, W.shape[0], dtype=getattr(torch, str(W.dtype)))
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(W[:, :-1])))
            linear.bias.copy_(torch.from_numpy(np.ascontiguousarray(W[:, -1])))
        layers.append(linear)
        if l < net.n_layers - 1:
            layers.append(act[wl.hidden]())
        elif wl.loss not in ("categorical_crossentropy", "binary_crossentropy"):
            layers.append(act[wl.output]())  # softmax / sigmoid are inside the loss, on logits
    model = nn.Sequential(*layers)
    if wl.loss == "categorical_crossentropy":
        loss_fn, target = nn.CrossEntropyLoss(), torch.from_numpy(labels.astype(np.int64))
    elif wl.loss == "binary_crossentropy":
        loss_fn, target = nn.BCEWithLogitsLoss(), torch.from_numpy(Y)
    else:
        loss_fn, target = nn.MSELoss(), torch.from_numpy(Y)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    inputs = torch.from_numpy(X)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(inputs), target).backward()
        optimizer.step()

    return step


def torch_products(torch: Any, products: Sequence[tuple[Any, Any, Any]]) -> Callable:
    """The same matrix products with torch's BLAS, on tensors sharing psinet's arrays."""

    def tensor(a: Any) -> Any:
        if a.flags.c_contiguous or not a.T.flags.c_contiguous:
            return torch.from_numpy(a)
        return torch.from_numpy(a.T).t()  # a transposed view stays a view

    triples = [(tensor(a), tensor(b), torch.from_numpy(out)) for a, b, out in products]

    def run() -> None:
        for a, b, out in triples:
            torch.mm(a, b, out=out)

    return run


# --------------------------------------------------------------------------- scikit-learn
def sklearn_epoch(wl: Workload, dtype: Any, n_steps: int) -> tuple[Callable, str]:
    """One ``partial_fit`` epoch of ``n_steps`` batches; returns it and the dtype it uses."""
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    X, Y, labels = make_data(wl, n_steps * wl.batch, dtype, seed=1)
    classifier = wl.loss in ("categorical_crossentropy", "binary_crossentropy")
    sk_act = {"tanh": "tanh", "sigmoid": "logistic", "relu": "relu"}[wl.hidden]
    estimator = (MLPClassifier if classifier else MLPRegressor)(
        hidden_layer_sizes=wl.sizes[1:-1],
        activation=sk_act,
        solver="sgd",
        batch_size=wl.batch,
        learning_rate_init=LR,
        max_iter=1,
        shuffle=False,
        momentum=0.0,
        nesterovs_momentum=False,
        alpha=0.0,
        tol=0.0,
        n_iter_no_change=10**9,
        random_state=0,
    )
    y = labels if classifier else Y.ravel()
    if classifier:
        estimator.partial_fit(X, y, classes=np.arange(max(2, wl.sizes[-1])))
    else:
        estimator.partial_fit(X, y)
    return (lambda: estimator.partial_fit(X, y)), str(estimator.coefs_[0].dtype)


def sklearn_block(wl: Workload, dtype: Any, min_block_s: float) -> tuple[Callable, int, str]:
    """A ``partial_fit`` epoch long enough for one timed block: ``(epoch, K steps, dtype)``."""
    k = 8
    epoch, _ = sklearn_epoch(wl, dtype, k)
    per_step = time_block(epoch, 1) / k
    k = max(k, math.ceil(1.1 * min_block_s / per_step))
    epoch, used = sklearn_epoch(wl, dtype, k)
    return epoch, k, used


# --------------------------------------------------------------------------- one workload
def engine_step(net: Any, X_bar: Any, Y: Any, loss: Any, optimizer: Any, grads: Any) -> Any:
    """One training step as fit runs it (psinet.engine's plan for this batch size), on
    the batch X̄_0 = [X, 1] (B, n_0 + 1): a call that repeats the step on it."""
    from psinet.engine.step import StepPlan

    plan = StepPlan(net, len(X_bar), loss, optimizer, grads, 0.0, None)
    Y_start = plan.targets(Y)  # 2Y − 1 for the sigmoid start, else Y
    net.cache = plan.cache  # the products alone run on the same arrays

    def step() -> None:
        plan.step(X_bar, Y_start)

    return step


def engine_phases(net: Any, X_bar: Any, Y: Any, loss: Any, optimizer: Any, grads: Any) -> Any:
    """The three parts of the engine's step as separate calls: forward, backward (the
    start and the Ψ recursion, η folded in as fit does), update."""
    from psinet.engine.buffers import forward
    from psinet.engine.step import StepPlan

    plan = StepPlan(net, len(X_bar), loss, optimizer, grads, 0.0, None)
    Y_start = plan.targets(Y)

    def backward() -> None:
        plan.start(Y_start, None)
        plan.sweep.run(X_bar)

    forward(X_bar, plan.buffers, plan.moves)
    return {
        "forward": lambda: forward(X_bar, plan.buffers, plan.moves),
        "backward": backward,
        "update": lambda: optimizer.step(net.weights, grads, prescaled=True),
    }


def bench_speed(
    name: str, wl: Workload, dtype_name: str, settings: Settings, libs: dict[str, Any]
) -> dict[str, Any]:
    """Interleaved blocks: psinet steps, products alone, torch steps, a sklearn epoch."""
    from psinet.optimizers import SGD

    dtype = np.dtype(dtype_name)
    net = make_net(wl, dtype)
    X, Y, labels = make_data(wl, wl.batch, dtype, seed=0)
    X_psinet = with_ones(X)  # the batch as fit passes it: X̄_0, no copy in the step
    loss = psinet.losses.get(wl.loss)
    optimizer = SGD(LR)
    grads = [np.empty_like(W) for W in net.weights]
    step = engine_step(net, X_psinet, Y, loss, optimizer, grads)

    grads_mm = [np.empty_like(W) for W in net.weights]  # the products' own outputs
    for _ in range(3):
        step()  # warm-up: allocates the cache and the optimizer's buffers
    n_step = block_size(step, settings.min_block_s)
    n_mm = block_size(lambda: run_products(matmul_products(net, grads_mm)), settings.min_block_s)
    fit, n_fit = fit_block(
        net, wl, optimizer, time_block(step, n_step) / n_step, settings.min_block_s
    )
    fit()  # warm-up: fit's buffers for this batch size

    contenders: dict[str, tuple[Callable, int]] = {}
    result: dict[str, Any] = {
        "sizes": list(wl.sizes),
        "activations": [wl.hidden] * (len(wl.sizes) - 2) + [wl.output],
        "loss": wl.loss,
        "batch": wl.batch,
        "n_params": int(net.n_params),
    }
    if "torch" in libs:
        t_step = torch_step(libs["torch"], net, wl, X, Y, labels)
        for _ in range(3):
            t_step()
        contenders["torch"] = (t_step, block_size(t_step, settings.min_block_s))
        t_mm = torch_products(libs["torch"], matmul_products(net, grads_mm))
        contenders["torch_matmul"] = (t_mm, block_size(t_mm, settings.min_block_s))
    sk_dtype = None
    if "sklearn" in libs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", libs["sklearn_warning"])
            epoch, k, sk_dtype = sklearn_block(wl, dtype, settings.min_block_s)
        contenders["sklearn"] = (epoch, k)  # one call = one epoch of k steps

    times: dict[str, list[float]] = {
        "fit": [],
        "psinet": [],
        "matmul": [],
        **{c: [] for c in contenders},
    }
    with warnings.catch_warnings():
        if "sklearn" in libs:
            warnings.simplefilter("ignore", libs["sklearn_warning"])
        for _ in range(settings.pairs):
            times["fit"].append(time_block(fit, 1) / n_fit)
            times["psinet"].append(time_block(step, n_step) / n_step)
            products = matmul_products(net, grads_mm)  # the cache the steps just used
            times["matmul"].append(time_block(lambda p=products: run_products(p), n_mm) / n_mm)
            for lib, (fn, n) in contenders.items():
                calls = 1 if lib == "sklearn" else n
                times[lib].append(time_block(fn, calls) / n)

    result["phases_us"] = time_phases(net, X_psinet, Y, loss, optimizer, grads, settings)
    mm = times["matmul"]
    ratios = [t / m for t, m in zip(times["fit"], mm)]  # through fit: the headline
    step_ratios = [t / m for t, m in zip(times["psinet"], mm)]
    result.update(
        block_steps=n_step,
        block_products=n_mm,
        fit_block_steps=n_fit,
        pairs=settings.pairs,
        psinet_fit_us=1e6 * statistics.median(times["fit"]),
        psinet_step_us=1e6 * statistics.median(times["psinet"]),
        matmul_us=1e6 * statistics.median(mm),
        ratio=statistics.median(ratios),
        ratio_quartiles=quartiles(ratios),
        step_ratio=statistics.median(step_ratios),
        step_ratio_quartiles=quartiles(step_ratios),
        target=wl.target,
        target_met=statistics.median(ratios) <= wl.target,
    )
    if "torch_matmul" in contenders:  # torch's BLAS on the same products: not a contender
        _, n = contenders.pop("torch_matmul")
        t_mm = times.pop("torch_matmul")
        result["torch_matmul_us"] = 1e6 * statistics.median(t_mm)
        result["torch_matmul_block"] = n
    for lib, (_, n) in contenders.items():
        lib_ratios = [t / m for t, m in zip(times[lib], mm)]
        result[lib] = {
            "step_us": 1e6 * statistics.median(times[lib]),
            "ratio": statistics.median(lib_ratios),
            "ratio_quartiles": quartiles(lib_ratios),
            ("steps_per_epoch" if lib == "sklearn" else "block_steps"): n,
            # the per-pair comparison, so drift between blocks cancels; psinet through fit
            "psinet_speedup": statistics.median([t / p for t, p in zip(times[lib], times["fit"])]),
        }
        if lib == "sklearn":
            result[lib]["compute_dtype"] = sk_dtype
            result[lib]["notes"] = sklearn_notes(wl)
    speedups = [result[lib]["psinet_speedup"] for lib in contenders]
    result["psinet_fastest"] = None if not speedups else min(speedups) > 1
    result["compared_with"] = sorted(contenders)
    return result


def time_phases(
    net: Any, X: Any, Y: Any, loss: Any, optimizer: Any, grads: Any, settings: Settings
) -> dict[str, float] | None:
    """Microseconds of the three parts of fit's step (the engine's), each timed alone.

    Relies on psinet internals (``psinet.engine``'s step plan): a guide
    to where the overhead is, not part of the ratio. None when the internals changed.
    """
    try:
        phases = engine_phases(net, X, Y, loss, optimizer, grads)
        out = {}
        for phase, fn in phases.items():
            n = block_size(fn, settings.min_block_s)
            blocks = [time_block(fn, n) / n for _ in range(3 if settings.quick else 7)]
            out[phase] = 1e6 * statistics.median(blocks)
        return out
    except (AttributeError, ImportError, TypeError):
        return None


def sklearn_notes(wl: Workload) -> str:
    if wl.loss == "mse":
        return "MLPRegressor: identity output (no sigmoid), squared loss; time per epoch / K"
    if wl.loss == "binary_crossentropy":
        return "MLPClassifier: logistic output, log-loss; time per partial_fit epoch / K"
    return "MLPClassifier: softmax output, log-loss; time per partial_fit epoch / K"


# --------------------------------------------------------------------------- memory
def bench_step_memory(wl: Workload, dtype_name: str, settings: Settings) -> dict[str, Any]:
    """tracemalloc around warm training steps: transient peak and net growth per step."""
    from psinet.optimizers import SGD

    dtype = np.dtype(dtype_name)
    net = make_net(wl, dtype)
    X, Y, _ = make_data(wl, wl.batch, dtype, seed=0)
    X = with_ones(X)  # as fit passes batches
    loss, optimizer = psinet.losses.get(wl.loss), SGD(LR)
    grads = [np.empty_like(W) for W in net.weights]
    step = engine_step(net, X, Y, loss, optimizer, grads)
    for _ in range(3):
        step()  # warm-up: buffers exist from here

    n = settings.memory_steps
    tracemalloc.start()
    try:
        step()  # settles the tracer's own bookkeeping
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for _ in range(n):
            step()
        middle, peak = tracemalloc.get_traced_memory()
        for _ in range(n):  # growth from here on is per step, not the loop's own objects
            step()
        current, peak_2 = tracemalloc.get_traced_memory()
        peak = max(peak, peak_2)
        phases = {}  # the three parts of the engine's step, one at a time
        for phase, fn in engine_phases(net, X, Y, loss, optimizer, grads).items():
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            fn()
            phases[phase] = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    cache = net.cache
    cache_bytes = sum(
        a.nbytes for a in (*cache.X_bar, *cache.z, *cache.a[:-1], *cache.psi, cache.y_hat)
    )
    return {
        "step_peak_bytes": peak - base,
        "step_net_bytes": (current - middle) / n,
        "peak_by_phase_bytes": phases,
        "traced_steps": n,
        "weights_bytes": sum(W.nbytes for W in net.weights),
        "cache_bytes": cache_bytes,
    }


def bench_fit_memory(wl: Workload, dtype_name: str, n_batches: int = 4) -> dict[str, Any]:
    """Peak traced memory of ``net.fit`` (SGD, one epoch of ``n_batches`` batches).

    Compared with what a step needs at least: weights + gradients + optimizer state
    (0 for plain SGD) + one batch's cache + the one copy of the data that fit arranges
    in each epoch's order. An end-of-epoch callback takes a snapshot
    while fit's own arrays are alive, to say what the rest is.
    """
    dtype = np.dtype(dtype_name)
    X, Y, _ = make_data(wl, n_batches * wl.batch, dtype, seed=0)  # the data: not counted
    sites: list[dict[str, Any]] = []

    def snapshot_sites(record: dict[str, Any]) -> None:
        # Each allocation is charged to the innermost psinet line on its call stack
        # (an np.empty_like inside numpy is charged to the psinet line that called it).
        package = str(Path(psinet.__file__).parent)
        by_site: dict[str, dict[str, Any]] = {}
        for stat in tracemalloc.take_snapshot().statistics("traceback"):
            frames = [f for f in stat.traceback if f.filename.startswith(package)]
            frame = frames[-1] if frames else stat.traceback[-1]  # oldest first
            key = f"{frame.filename}:{frame.lineno}"
            site = by_site.setdefault(key, {"bytes": 0, "count": 0})
            site["bytes"] += stat.size
            site["count"] += stat.count
        for key, site in sorted(by_site.items(), key=lambda kv: -kv[1]["bytes"])[:8]:
            filename, _, lineno = key.rpartition(":")
            sites.append(
                {
                    "site": f"{Path(filename).name}:{lineno}",
                    "bytes": site["bytes"],
                    "count": site["count"],
                    "source": linecache.getline(filename, int(lineno)).strip(),
                }
            )

    tracemalloc.start(25)
    try:
        net = make_net(wl, dtype)  # counted: the weights are part of the reference
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0] - sum(W.nbytes for W in net.weights)
        net.fit(
            X,
            Y,
            loss=wl.loss,
            optimizer=psinet.optimizers.SGD(LR),
            epochs=1,
            batch_size=wl.batch,
            seed=0,
            verbose=0,
            callbacks=[snapshot_sites],
        )
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    weights = sum(W.nbytes for W in net.weights)
    cache = net.cache
    cache_bytes = sum(
        a.nbytes for a in (*cache.X_bar, *cache.z, *cache.a[:-1], *cache.psi, cache.y_hat)
    )
    # fit (shuffling, as here) puts the data in each epoch's order once: X̄ = [X, 1] and Y
    arranged = X.shape[0] * (X.shape[1] + 1) * X.itemsize + Y.nbytes
    reference = weights + weights + 0 + cache_bytes + arranged  # W + grads + SGD + cache + data
    return {
        "n_samples": int(X.shape[0]),
        "batch": wl.batch,
        "peak_bytes": peak,
        "reference_bytes": reference,
        "reference_parts_bytes": {
            "weights": weights,
            "gradients": weights,
            "optimizer_state": 0,
            "cache": cache_bytes,
            "arranged_data": arranged,
        },
        "data_bytes": X.nbytes + Y.nbytes,
        "ratio": peak / reference,
        "target": FIT_MEMORY_TARGET,
        "target_met": peak / reference <= FIT_MEMORY_TARGET,
        "live_at_epoch_end": sites,
    }


# --------------------------------------------------------------------------- gradient check
def bench_finite_differences(name: str, wl: Workload, settings: Settings) -> dict[str, Any]:
    """One backprop gradient against central differences (float64, order 2)."""
    from psinet.backprop import loss_value

    net = make_net(wl, np.float64)
    X, Y, _ = make_data(wl, wl.batch, np.float64, seed=0)
    loss = psinet.losses.get(wl.loss)
    psinet.gradients(net, X, Y, loss)  # warm-up
    n = max(3, block_size(lambda: psinet.gradients(net, X, Y, loss), 0.05))
    backprop_s = min(time_block(lambda: psinet.gradients(net, X, Y, loss), n) / n for _ in range(3))

    # A sample of single-weight central differences: 2 loss evaluations each.
    eps = psinet.gradcheck.DEFAULT_EPS_ORDER_2
    rng = np.random.default_rng(0)
    flat = rng.choice(net.n_params, size=min(settings.fd_sample, net.n_params), replace=False)
    offsets = np.cumsum([0] + [W.size for W in net.weights])
    layers = np.searchsorted(offsets, flat, side="right") - 1
    where = [
        (net.weights[l], np.unravel_index(int(i - offsets[l]), net.weights[l].shape))
        for i, l in zip(flat, layers)
    ]
    estimates = []
    t0 = time.perf_counter()
    for W, index in where:
        w = W[index]
        W[index] = w + eps
        E_plus = loss_value(net, X, Y, loss)
        W[index] = w - eps
        E_minus = loss_value(net, X, Y, loss)
        W[index] = w
        estimates.append((E_plus - E_minus) / (2 * eps))
    per_weight = (time.perf_counter() - t0) / len(flat)
    result: dict[str, Any] = {
        "dtype": "float64",
        "order": 2,
        "n_params": int(net.n_params),
        "backprop_s": backprop_s,
        "fd_sampled_weights": len(flat),
        "fd_per_weight_s": per_weight,
        "fd_extrapolated_s": per_weight * net.n_params,
        "loss_evaluations": 2 * int(net.n_params),
    }
    if name in FULL_FINITE_DIFFERENCES:
        t0 = time.perf_counter()
        numeric = psinet.numerical_gradients(net, X, Y, loss, order=2)
        result["fd_full_s"] = time.perf_counter() - t0
        analytic, _ = psinet.gradients(net, X, Y, loss)
        errors = [psinet.gradcheck.relative_error(a, b).max() for a, b in zip(analytic, numeric)]
        result["max_relative_error"] = float(max(errors))
    result["fd_s"] = result.get("fd_full_s", result["fd_extrapolated_s"])
    result["fd_measured"] = "full" if "fd_full_s" in result else "extrapolated"
    result["speedup"] = result["fd_s"] / backprop_s
    return result


# --------------------------------------------------------------------------- environment
def pin_threads_and_import(threads: int) -> tuple[Any, Any, dict[str, str | None]]:
    """Set the BLAS thread variables to ``threads`` before NumPy loads its BLAS, import
    NumPy and psinet (from a plain checkout's src/ if psinet is not installed), and pin
    the threads with threadpoolctl too, should the variables come too late. Returns
    (numpy, psinet, the variables as they were)."""
    original_env = {v: os.environ.get(v) for v in THREAD_VARIABLES}
    if "numpy" in sys.modules:
        print("warning: numpy was imported before main(); --threads may not take effect")
    for variable in THREAD_VARIABLES:  # before numpy loads its BLAS
        os.environ[variable] = str(threads)

    import numpy

    try:
        import psinet
    except ImportError:  # a plain checkout: use its src/ folder
        sys.path.insert(0, str(ROOT / "src"))
        import psinet
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads, user_api="blas")
    except ImportError:
        pass
    return numpy, psinet, original_env


def run_facts(numpy: Any, psinet: Any, quick: bool) -> dict[str, Any]:
    """What a benchmark's JSON records of the run: command, time, versions, machine."""
    return {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "psinet": psinet.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "quick": quick,
    }


def blas_threads() -> tuple[int | None, str, list[dict[str, Any]]]:
    """Threads numpy's BLAS uses now, where that number comes from, and the BLAS libraries."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None, "threadpoolctl not installed", []
    info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    keep = ("internal_api", "version", "num_threads", "architecture", "filepath")
    info = [{k: i.get(k) for k in keep} for i in info]
    numpy_blas = [i for i in info if "numpy" in str(i["filepath"])] or info
    if not numpy_blas:
        return None, "threadpoolctl (no BLAS found)", info
    return int(numpy_blas[0]["num_threads"]), "threadpoolctl", info


def default_threads(original_env: dict[str, str | None]) -> tuple[int | None, str]:
    """The BLAS thread count numpy gets without this benchmark's variables."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    env.update({k: v for k, v in original_env.items() if v is not None})
    code = (
        "import numpy, threadpoolctl\n"
        "b=[i for i in threadpoolctl.threadpool_info() if i.get('user_api')=='blas']\n"
        "n=[i for i in b if 'numpy' in i['filepath']] or b\n"
        "print(n[0]['num_threads'] if n else '')"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
        )
        if out.returncode == 0 and out.stdout.strip():
            return int(out.stdout.strip()), "threadpoolctl, in a fresh interpreter"
    except (OSError, subprocess.SubprocessError, ValueError):
        pass
    return os.cpu_count(), "os.cpu_count(): threadpoolctl not installed"


def load_libraries(compare: set[str], threads: int) -> tuple[dict[str, Any], dict[str, str]]:
    """The comparison libraries that import, and why the others are skipped."""
    libs: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    hint = "not installed; pip install -e '.[bench]'"
    for name in ("torch", "sklearn"):
        if name not in compare:
            skipped[name] = "not requested (--compare)"
            continue
        try:
            if name == "torch":
                import torch

                torch.set_num_threads(threads)
                libs["torch"] = torch
            else:
                import sklearn
                from sklearn.exceptions import ConvergenceWarning

                libs["sklearn"] = sklearn
                libs["sklearn_warning"] = ConvergenceWarning
        except ImportError as exc:
            skipped[name] = f"{hint} ({exc})"
    return libs, skipped


# --------------------------------------------------------------------------- report
def mark(ok: bool | None) -> str:
    return "-" if ok is None else ("PASS" if ok else "MISS")


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def fmt_seconds(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    if s < 3600:
        return f"{s:.1f} s"
    return f"{s / 3600:.1f} h"


def print_speed(results: dict[str, dict[str, Any]], threads: int) -> None:
    print(f"\nSpeed: median over interleaved pairs, {threads} BLAS thread(s)")
    print("ratio = time per step through fit (epochs=1, shuffle=False, SGD) / matrix products")
    print("alone (lower is better; 1.0 is the floor); step = the engine's step alone, beside it\n")
    header = (
        f"{'workload':<8} {'dtype':<8} {'fit µs':>9} {'matmul µs':>10} {'ratio':>7} "
        f"{'target':>7} {'':4}  {'step µs':>9} {'ratio':>7}  {'torch µs':>9} {'ratio':>7}  "
        f"{'sklearn µs':>10} {'ratio':>7}  {'fastest':<7}"
    )
    print(header)
    print("-" * len(header))
    for name, by_dtype in results.items():
        for dtype, r in by_dtype.items():
            cells = []
            for lib in ("torch", "sklearn"):
                if lib in r:
                    cells.append((f"{r[lib]['step_us']:.1f}", f"{r[lib]['ratio']:.2f}×"))
                else:
                    cells.append(("skipped", ""))
            fastest = {True: "yes", False: "NO", None: "-"}[r["psinet_fastest"]]
            print(
                f"{name:<8} {dtype:<8} {r['psinet_fit_us']:>9.1f} {r['matmul_us']:>10.1f} "
                f"{r['ratio']:>6.2f}× {'≤' + format(r['target'], '.2f'):>6}× "
                f"{mark(r['target_met']):4}  {r['psinet_step_us']:>9.1f} "
                f"{r['step_ratio']:>6.2f}×  {cells[0][0]:>9} {cells[0][1]:>7}  "
                f"{cells[1][0]:>10} {cells[1][1]:>7}  {fastest:<7}"
            )


def print_targets(results: dict[str, dict[str, Any]], threads: int) -> None:
    note = "" if threads == 1 else f" (the targets are defined at 1 thread; this run: {threads})"
    print(f"\nTargets{note}")
    for name, by_dtype in results.items():
        for dtype, r in by_dtype.items():
            line = [
                f"  {name:<7} {dtype:<8} ratio {r['ratio']:.2f}× ≤ {r['target']:.2f}× "
                f"{mark(r['target_met'])}"
            ]
            for lib in ("torch", "sklearn"):
                if lib in r:
                    speedup = r[lib]["psinet_speedup"]
                    line.append(f"faster than {lib} ({speedup:.2f}×) {mark(speedup > 1)}")
                else:
                    line.append(f"vs {lib}: skipped")
            print(";  ".join(line))


def print_phases(results: dict[str, dict[str, Any]]) -> None:
    print("\nWhere a psinet step goes (µs; each phase timed alone, with default arguments:")
    print("a guide, so the sum need not equal the step if the step does more)")
    header = (
        f"{'workload':<8} {'dtype':<8} {'forward':>9} {'backward':>9} {'update':>9} "
        f"{'sum':>9} {'step':>9} {'products':>9} {'products with torch':>20}"
    )
    print(header)
    print("-" * len(header))
    for name, by_dtype in results.items():
        for dtype, r in by_dtype.items():
            p = r.get("phases_us")
            torch_mm = f"{r['torch_matmul_us']:.1f}" if "torch_matmul_us" in r else "skipped"
            if p is None:
                print(f"{name:<8} {dtype:<8} (psinet internals changed: not measured)")
                continue
            print(
                f"{name:<8} {dtype:<8} {p['forward']:>9.1f} {p['backward']:>9.1f} "
                f"{p['update']:>9.1f} {sum(p.values()):>9.1f} {r['psinet_step_us']:>9.1f} "
                f"{r['matmul_us']:>9.1f} {torch_mm:>20}"
            )


def print_memory(step_memory: dict[str, dict[str, Any]], fit_memory: dict[str, Any]) -> None:
    print("\nMemory per training step (tracemalloc, after warm-up)")
    header = (
        f"{'workload':<8} {'dtype':<8} {'peak above baseline':>20} {'net per step':>13} "
        f"{'forward':>10} {'backward':>10} {'update':>10} {'weights':>10} {'cache':>10}"
    )
    print(header)
    print("-" * len(header))
    for name, by_dtype in step_memory.items():
        for dtype, m in by_dtype.items():
            phases = m["peak_by_phase_bytes"]
            print(
                f"{name:<8} {dtype:<8} {fmt_bytes(m['step_peak_bytes']):>20} "
                f"{fmt_bytes(m['step_net_bytes']):>13} {fmt_bytes(phases['forward']):>10} "
                f"{fmt_bytes(phases['backward']):>10} {fmt_bytes(phases['update']):>10} "
                f"{fmt_bytes(m['weights_bytes']):>10} {fmt_bytes(m['cache_bytes']):>10}"
            )
    for dtype, f in fit_memory.items():
        parts = f["reference_parts_bytes"]
        print(
            f"\nPeak memory of net.fit, large workload, {dtype}: {f['n_samples']} samples "
            f"= {f['n_samples'] // f['batch']} batches of {f['batch']}, SGD, one epoch"
        )
        print(
            f"  peak {fmt_bytes(f['peak_bytes'])} vs weights {fmt_bytes(parts['weights'])} "
            f"+ gradients {fmt_bytes(parts['gradients'])} + SGD state 0 "
            f"+ cache {fmt_bytes(parts['cache'])} + the data in epoch order "
            f"{fmt_bytes(parts['arranged_data'])} = {fmt_bytes(f['reference_bytes'])}: "
            f"ratio {f['ratio']:.2f} (target ≤ {f['target']:.2f}) {mark(f['target_met'])}"
        )
        print(
            f"  (the caller's own X and Y, {fmt_bytes(f['data_bytes'])}, are in neither the peak "
            "nor the sum; fit's copy of them in epoch order is in both)"
        )
        print("  largest allocations alive at the end of the epoch:")
        for site in f["live_at_epoch_end"][:6]:
            print(f"    {fmt_bytes(site['bytes']):>10}  {site['site']:<18} {site['source']}")


def print_finite_differences(fd: dict[str, dict[str, Any]]) -> None:
    print("\nBackprop vs central finite differences (float64, order 2, one gradient)")
    header = (
        f"{'workload':<8} {'weights':>10} {'backprop':>10} {'finite diff.':>13} "
        f"{'how':<13} {'backprop is':>14}"
    )
    print(header)
    print("-" * len(header))
    for name, r in fd.items():
        how = "measured" if r["fd_measured"] == "full" else f"{r['fd_sampled_weights']} sampled"
        extra = ""
        if "max_relative_error" in r:
            extra = f"  (max rel. error {r['max_relative_error']:.1e}; sampled estimate "
            extra += f"{fmt_seconds(r['fd_extrapolated_s'])})"
        print(
            f"{name:<8} {r['n_params']:>10,} {fmt_seconds(r['backprop_s']):>10} "
            f"{fmt_seconds(r['fd_s']):>13} {how:<13} {r['speedup']:>13,.0f}×{extra}"
        )


# --------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    global np, psinet
    args = parse_args(argv)
    numpy, psinet, original_env = pin_threads_and_import(args.threads)
    np = numpy

    in_effect, in_effect_source, blas = blas_threads()  # before torch brings its own
    default, default_source = default_threads(original_env)
    libs, skipped = load_libraries(args.compare, args.threads)
    settings = Settings(
        quick=args.quick,
        pairs=args.pairs or (5 if args.quick else 31),
        min_block_s=0.002 if args.quick else 0.025,
        fd_sample=20 if args.quick else 200,
        memory_steps=3 if args.quick else 20,
    )

    print(
        f"psinet {psinet.__version__}, numpy {numpy.__version__}, Python "
        f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs"
    )
    print(
        f"BLAS threads: {args.threads} requested, in effect: {in_effect or 'unknown'} "
        f"({in_effect_source}); default without --threads: {default} ({default_source})"
    )
    for lib in ("torch", "sklearn"):
        if lib in libs:
            print(f"{lib} {libs[lib].__version__}: compared")
        else:
            print(f"skipped {lib}: {skipped[lib]}")
    if args.quick:
        print("--quick: few pairs and short blocks; the numbers are rough")

    results: dict[str, dict[str, Any]] = {}
    step_memory: dict[str, dict[str, Any]] = {}
    fit_memory: dict[str, Any] = {}
    finite_differences: dict[str, dict[str, Any]] = {}
    for name in args.workloads:
        wl = WORKLOADS[name]
        results[name], step_memory[name] = {}, {}
        for dtype in DTYPES:
            t0 = time.perf_counter()
            results[name][dtype] = bench_speed(name, wl, dtype, settings, libs)
            step_memory[name][dtype] = bench_step_memory(wl, dtype, settings)
            results[name][dtype]["memory"] = step_memory[name][dtype]
            r = results[name][dtype]
            print(
                f"  {name} {dtype}: through fit {r['psinet_fit_us']:.1f} µs/step, step alone "
                f"{r['psinet_step_us']:.1f} µs, products {r['matmul_us']:.1f} µs, "
                f"ratio {r['ratio']:.2f}× (step alone {r['step_ratio']:.2f}×) "
                f"({time.perf_counter() - t0:.1f} s)",
                flush=True,
            )
            if name == "large":
                fit_memory[dtype] = bench_fit_memory(wl, dtype)
        finite_differences[name] = bench_finite_differences(name, wl, settings)

    print_speed(results, args.threads)
    print_targets(results, args.threads)
    print_phases(results)
    print_memory(step_memory, fit_memory)
    print_finite_differences(finite_differences)

    report = {
        "meta": {
            **run_facts(numpy, psinet, args.quick),
            "pairs": settings.pairs,
            "min_block_s": settings.min_block_s,
            "lr": LR,
            "threads": {
                "requested": args.threads,
                "in_effect": in_effect,
                "in_effect_source": in_effect_source,
                "default": default,
                "default_source": default_source,
                "torch": libs["torch"].get_num_threads() if "torch" in libs else None,
            },
            "blas": blas,
            "versions": {lib: libs[lib].__version__ for lib in ("torch", "sklearn") if lib in libs},
        },
        "skipped": skipped,
        "results": results,
        "fit_memory": fit_memory,
        "finite_differences": finite_differences,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
