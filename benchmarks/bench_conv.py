"""How fast is psinet's training step on the Atari network, next to PyTorch's?

The Nature-DQN network (Mnih et al. 2015) with 3 actions, 1,685,667 weights::

    Network([(4, 84, 84), Conv2D(32, 8, stride=4), Conv2D(64, 4, stride=2), Conv2D(64, 3),
             512, 3], ["relu"] * 4 + ["identity"], seed=0, dtype=np.float32)

float32, batch 32, mse, plain SGD, one BLAS thread (and ``torch.set_num_threads(1)``).
Timed in interleaved pairs, each pair: one ``net.fit`` call over K batches (time / K),
a block of the textbook's ``train_step``, a block of PyTorch's step on the same model
with the same weights. Reported: the medians and the per-pair ratios fit ÷ PyTorch
and textbook ÷ PyTorch. Before timing, one step of each from the same weights is
checked to give the same loss and weights. Then where psinet's step goes: the
engine's step run part by part on its own buffers and bound moves (each part timed as
it runs, and alone): unfold, products, fold, activations, update.

    python benchmarks/bench_conv.py                # ~40 s, 1 BLAS thread
    python benchmarks/bench_conv.py --quick        # smoke run: a small network, seconds
    python benchmarks/bench_conv.py --threads 2 --pairs 31

See benchmarks/README.md ("bench_conv.py") for what each number means.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

# bench_step's timing and thread helpers (it imports numpy only in its own main())
from bench_step import (
    THREAD_VARIABLES,
    blas_threads,
    block_size,
    default_threads,
    pin_threads_and_import,
    quartiles,
    run_facts,
    time_block,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "bench_conv.json"
LR = 1e-4  # the DQN's order of magnitude; small enough for hundreds of steps on one batch
TARGET = 1.5  # psinet's step through fit ÷ PyTorch's, at one BLAS thread
WEIGHTS_RTOL = 1e-4  # one step from the same weights: ‖W_psinet − W_torch‖ / ‖W_torch‖
UPDATE_RTOL = 1e-3  # ‖ΔW_psinet − ΔW_torch‖ / ‖ΔW_torch‖: ΔW the difference of float32 W
LOSS_RTOL = 1e-5  # E before the step, psinet's (train_step's, fit's) against torch's

# numpy, psinet and torch are imported in main(), after the BLAS thread variables are set.
np: Any = None
psinet: Any = None


@dataclass(frozen=True)
class Model:
    name: str
    input_shape: tuple[int, int, int]  # (C, H, W)
    convs: tuple[tuple[int, int, int], ...]  # (filters, kernel, stride), no padding
    dense: tuple[int, ...]  # hidden dense widths, then the outputs
    batch: int


ATARI = Model("atari", (4, 84, 84), ((32, 8, 4), (64, 4, 2), (64, 3, 1)), (512, 3), 32)
# --quick: the same layers (three convolutions, a flatten, two dense), a small network
SMALL = Model("small", (4, 44, 44), ((8, 8, 4), (16, 4, 2), (16, 3, 1)), (32, 3), 4)


@dataclass(frozen=True)
class Settings:
    quick: bool
    pairs: int  # interleaved (fit, textbook, torch) triples
    fit_batches: int  # K: batches per fit call
    min_block_s: float  # a textbook or torch block lasts at least this long
    breakdown_reps: int  # rounds of the breakdown
    breakdown_block_s: float  # a block of one part alone lasts at least this long
    in_order_steps: int  # steps run part by part per round


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time psinet's training step on the Atari network against PyTorch's.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: a small network, batch 4, few reps"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="BLAS threads (default 1; sets the env variables)"
    )
    parser.add_argument("--pairs", type=int, default=None, help="interleaved pairs (default 15)")
    parser.add_argument(
        "--fit-batches", type=int, default=None, help="batches per fit call, K (default 16)"
    )
    parser.add_argument("--batch", type=int, default=None, help="batch size (default 32)")
    parser.add_argument("--compare", default="torch", help="torch (default) or none: skip PyTorch")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where the JSON goes")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    for name in ("pairs", "fit_batches", "batch"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    args.compare = {c.strip() for c in args.compare.split(",") if c.strip()} - {"none"}
    if args.compare - {"torch"}:
        parser.error(f"--compare must be torch or none, got {sorted(args.compare)}")
    return args


median_of = statistics.median


# --------------------------------------------------------------------------- models
def make_net(model: Model) -> Any:
    from psinet.layers import Conv2D

    convs = [Conv2D(f, k, stride=s) for f, k, s in model.convs]
    n_layers = len(model.convs) + len(model.dense)
    return psinet.Network(
        [model.input_shape, *convs, *model.dense],
        ["relu"] * (n_layers - 1) + ["identity"],
        seed=0,
        dtype=np.float32,
    )


def make_data(model: Model, n: int, seed: int) -> tuple[Any, Any]:
    """Frames in [0, 1) (N, C, H, W) and targets (N, n_out), float32."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, *model.input_shape), dtype=np.float32)
    Y = rng.normal(scale=0.5, size=(n, model.dense[-1])).astype(np.float32)
    return X, Y


def layer_label(layer: Any) -> str:
    from psinet.layers import Conv2D

    if isinstance(layer, Conv2D):
        (kh, kw), (sh, _) = layer.kernel_size, layer.stride
        return f"conv {layer.filters}, {kh}×{kw}/{sh}"
    return f"dense {layer.n_out}"


def torch_model(torch: Any, net: Any) -> Any:
    """The same model in PyTorch: Conv2d / ReLU / Flatten / Linear, psinet's weights.

    A convolution's ``W_l`` row f is filter f in (channel, kernel row, kernel column)
    order, then its bias: ``weight = W[:, :-1].reshape(filters, C, kh, kw)``, ``bias =
    W[:, -1]``; a dense layer after a convolution reads the maps in (C, H, W) order, as
    ``nn.Flatten``."""
    from psinet.layers import Conv2D

    nn = torch.nn
    modules: list[Any] = []
    for layer, W, f in zip(net.layers, net.weights, net.activations):
        if isinstance(layer, Conv2D):
            C = layer.in_shape[0]
            kh, kw = layer.kernel_size
            module = nn.Conv2d(
                C,
                layer.filters,
                (kh, kw),
                stride=layer.stride,
                padding=layer.padding,
                dtype=torch.float32,
            )
            weight = W[:, :-1].reshape(layer.filters, C, kh, kw)
        else:
            if len(layer.in_shape) == 3:
                modules.append(nn.Flatten())
            module = nn.Linear(layer.n_in, layer.n_out, dtype=torch.float32)
            weight = W[:, :-1]
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight)))
            module.bias.copy_(torch.from_numpy(np.ascontiguousarray(W[:, -1])))
        modules.append(module)
        if f.name == "relu":
            modules.append(nn.ReLU())
        elif f.name != "identity":
            raise ValueError(f"no torch module for {f.name!r} here")
    return nn.Sequential(*modules)


def torch_weights(torch: Any, model: Any) -> list[Any]:
    """The torch model's weights in psinet's layout: (n_out, n_in + 1), bias last."""
    out = []
    for module in model:
        if hasattr(module, "weight"):
            w = module.weight.detach().numpy().reshape(module.weight.shape[0], -1)
            out.append(np.hstack([w, module.bias.detach().numpy()[:, None]]))
    return out


def torch_step(torch: Any, model: Any, X_b: Any, Y_b: Any) -> Callable[[], Any]:
    """One SGD step on the batch (tensors made once), E = Σ(ŷ − Y)²/(2B) as psinet's
    mse, ``zero_grad(set_to_none=True)``; a call returns E before the step."""
    inputs, target = torch.from_numpy(X_b), torch.from_numpy(Y_b)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    half_over_B = 0.5 / len(X_b)
    mse = torch.nn.functional.mse_loss

    def step() -> Any:
        optimizer.zero_grad(set_to_none=True)
        E = mse(model(inputs), target, reduction="sum") * half_over_B
        E.backward()
        optimizer.step()
        return E

    return step


# --------------------------------------------------------------------------- sanity
def relative(a: Any, b: Any) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def sanity(model: Model, libs: dict[str, Any]) -> dict[str, Any] | None:
    """One step from the same weights on the same batch: fit, train_step and torch."""
    if "torch" not in libs:
        return None
    torch = libs["torch"]
    from psinet.optimizers import SGD
    from psinet.training import train_step

    X, Y = make_data(model, model.batch, seed=0)
    net_fit, net_tb = make_net(model), make_net(model)
    before = [W.astype(np.float64) for W in net_fit.weights]
    t_model = torch_model(torch, net_fit)
    E_torch = float(torch_step(torch, t_model, X, Y)().detach())
    kw: dict[str, Any] = {"epochs": 1, "batch_size": model.batch, "shuffle": False, "verbose": 0}
    history = net_fit.fit(X, Y, loss="mse", optimizer=SGD(LR), **kw)
    E_fit = history.history["loss"][0]  # the epoch's one batch, before its step
    E_tb = train_step(net_tb, X, Y, "mse", SGD(LR))
    after_torch = torch_weights(torch, t_model)
    out: dict[str, Any] = {"loss_fit": E_fit, "loss_textbook": E_tb, "loss_torch": E_torch}
    out["loss_rel"] = max(abs(E - E_torch) / abs(E_torch) for E in (E_fit, E_tb))
    for name, net in (("fit", net_fit), ("textbook", net_tb)):
        w_rel = [relative(W, T) for W, T in zip(net.weights, after_torch)]
        u_rel = [
            relative(W.astype(np.float64) - B, T.astype(np.float64) - B)
            for W, T, B in zip(net.weights, after_torch, before)
        ]
        out[name] = {"weights_rel": w_rel, "update_rel": u_rel}
    out["ok"] = bool(
        out["loss_rel"] <= LOSS_RTOL
        and all(max(out[n]["weights_rel"]) <= WEIGHTS_RTOL for n in ("fit", "textbook"))
        and all(max(out[n]["update_rel"]) <= UPDATE_RTOL for n in ("fit", "textbook"))
    )
    return out


# --------------------------------------------------------------------------- speed
def bench_speed(model: Model, settings: Settings, libs: dict[str, Any]) -> dict[str, Any]:
    """Interleaved pairs: a fit call over K batches, a block of train_step, a torch block.
    Every pair starts from the initial weights (restored outside the timed blocks)."""
    from psinet.optimizers import SGD
    from psinet.training import train_step

    K, B = settings.fit_batches, model.batch
    X, Y = make_data(model, K * B, seed=1)
    X_b, Y_b = np.ascontiguousarray(X[:B]), np.ascontiguousarray(Y[:B])
    net_fit, net_tb = make_net(model), make_net(model)
    initial = [W.copy() for W in net_fit.weights]
    opt_fit, opt_tb = SGD(LR), SGD(LR)

    def fit() -> None:
        net_fit.fit(
            X, Y, loss="mse", optimizer=opt_fit, epochs=1, batch_size=B, shuffle=False, verbose=0
        )

    def textbook() -> None:
        train_step(net_tb, X_b, Y_b, "mse", opt_tb)

    contenders: dict[str, tuple[Callable[[], Any], int]] = {}
    restore: list[Callable[[], None]] = []
    for net in (net_fit, net_tb):
        restore.append(lambda net=net: [np.copyto(W, S) for W, S in zip(net.weights, initial)])
    fit()  # warm-up
    for _ in range(2):
        textbook()
    contenders["textbook"] = (textbook, block_size(textbook, settings.min_block_s))
    if "torch" in libs:
        torch = libs["torch"]
        t_model = torch_model(torch, net_fit)
        t_initial = {k: v.clone() for k, v in t_model.state_dict().items()}
        t_step = torch_step(torch, t_model, X_b, Y_b)
        for _ in range(2):
            t_step()
        contenders["torch"] = (t_step, block_size(t_step, settings.min_block_s))
        restore.append(lambda: t_model.load_state_dict(t_initial))

    times: dict[str, list[float]] = {"fit": [], **{c: [] for c in contenders}}
    for _ in range(settings.pairs):
        for r in restore:
            r()
        times["fit"].append(time_block(fit, 1) / K)
        for name, (fn, n) in contenders.items():
            times[name].append(time_block(fn, n) / n)

    result: dict[str, Any] = {
        "pairs": settings.pairs,
        "fit_batches": K,
        "blocks": {name: n for name, (_, n) in contenders.items()},
        "fit_ms": 1e3 * median_of(times["fit"]),
        "textbook_ms": 1e3 * median_of(times["textbook"]),
        "fit_ms_quartiles": [1e3 * q for q in quartiles(times["fit"])],
        "textbook_ms_quartiles": [1e3 * q for q in quartiles(times["textbook"])],
        "textbook_over_fit": median_of([t / f for t, f in zip(times["textbook"], times["fit"])]),
    }
    if "torch" in times:
        fit_ratios = [f / t for f, t in zip(times["fit"], times["torch"])]
        tb_ratios = [b / t for b, t in zip(times["textbook"], times["torch"])]
        result.update(
            torch_ms=1e3 * median_of(times["torch"]),
            torch_ms_quartiles=[1e3 * q for q in quartiles(times["torch"])],
            fit_over_torch=median_of(fit_ratios),
            fit_over_torch_quartiles=quartiles(fit_ratios),
            textbook_over_torch=median_of(tb_ratios),
            textbook_over_torch_quartiles=quartiles(tb_ratios),
            target=TARGET,
            target_met=median_of(fit_ratios) <= TARGET,
        )
    return result


# --------------------------------------------------------------------------- breakdown
GROUPS = ("unfold", "products", "fold", "activations", "update")


@dataclass
class Part:
    group: str  # one of GROUPS
    label: str
    fn: Callable[[], Any]


def engine_parts(net: Any, model: Model) -> tuple[Callable[[], Any], list[Part], Any]:
    """``(step, parts, plan)``: the engine's step as fit runs it for one batch (the first
    layer's patches made from the images into X̄_0, then ``StepPlan.step``), and the same
    step as its parts in the order it runs them, each a call on the plan's own buffers
    and bound moves (``Buffers.moves``, ``Sweep.upper``, ``Sweep.first``, see
    src/psinet/engine/): calling the parts in order is the step."""
    from psinet._raw import flat_arrays_like
    from psinet.engine.patches import unfold_data
    from psinet.engine.step import StepPlan
    from psinet.optimizers import SGD

    B = model.batch
    X, Y = make_data(model, B, seed=1)
    loss = psinet.losses.get("mse")
    grads = flat_arrays_like([W.shape for W in net.weights], net.dtype)  # as fit makes them
    plan = StepPlan(net, B, loss, SGD(LR), grads, 0.0, None)
    first, X_bar_0, cache, layers = net.layers[0], plan.buffers.X_bar_0, plan.cache, net.layers
    Y_start = plan.targets(Y)

    def step() -> None:
        plan.step(unfold_data(first, X, X_bar_0), Y_start)

    for _ in range(3):
        step()  # warm-up: the update's first, checked call; every buffer filled

    def kind(layer: Any) -> str:
        return "conv" if hasattr(layer, "kernel_size") else "dense"

    label0 = f"L0 {layer_label(first)}: data → patches"
    parts = [Part("unfold", label0, partial(unfold_data, first, X, X_bar_0))]
    for l, z_product, W_T, z_l, f_l, a_l, X_next, _X_bar_next, put in plan.moves:
        X_bar_l = X_bar_0 if l == 0 else cache.X_bar[l]
        parts.append(Part("products", f"L{l} z = X̄Wᵀ", partial(z_product, X_bar_l, W_T, z_l)))
        parts.append(Part("activations", f"L{l} {net.activations[l].name} f(z)", f_l))
        if put is not None:
            above = layers[l + 1]
            if kind(above) == "conv":
                label = f"L{l + 1} {layer_label(above)}: patches"
            elif len(above.in_shape) == 3:
                label = f"L{l + 1} {layer_label(above)}: flatten the maps"
            else:
                label = f"L{l + 1} {layer_label(above)}: copy X into X̄"
            parts.append(Part("unfold", label, partial(put, X_next, a_l)))
    parts.append(
        Part("activations", "start Ψ_{L-1} = (ŷ − Y)·η/B", partial(plan.start, Y_start, None))
    )
    for entry in plan.sweep.upper:
        l, grad_product, psi_T, X_bar_l, grad_l, psi_product, psi_l, W_l, down, fold, f_p = entry
        parts.append(
            Part("products", f"L{l} ∂E/∂W = ΨᵀX̄", partial(grad_product, psi_T, X_bar_l, grad_l))
        )
        parts.append(Part("products", f"L{l} Ψ W[:, :-1]", partial(psi_product, psi_l, W_l, down)))
        if fold is not None:
            what = "fold" if kind(layers[l]) == "conv" else "unflatten"
            parts.append(Part("fold", f"L{l} {layer_label(layers[l])}: {what}", fold))
        parts.append(Part("activations", f"L{l - 1} {net.activations[l - 1].name} Ψ ⊙ f'(z)", f_p))
    grad_product, psi_T, grad_0 = plan.sweep.first
    parts.append(Part("products", "L0 ∂E/∂W = ΨᵀX̄", partial(grad_product, psi_T, X_bar_0, grad_0)))
    bound = [plan.gradient_bound()]

    def guard() -> None:
        bound[0] = plan.gradient_bound()

    parts.append(Part("update", "guard: a bound on |∂E/∂W|", guard))
    parts.append(Part("update", "w ← w − η∂E/∂W (one pass)", lambda: plan.update(bound[0])))
    return step, parts, plan


def run_in_order(parts: Sequence[Part]) -> list[float]:
    """One step made of its parts, in order: seconds of each (garbage collection off)."""
    clock, seconds = time.perf_counter, []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        t = clock()
        for part in parts:
            part.fn()
            now = clock()
            seconds.append(now - t)
            t = now
    finally:
        if gc_was_enabled:
            gc.enable()
    return seconds


def torch_products(torch: Any, plan: Any) -> Callable[[], None]:
    """The step's products with torch.mm (MKL), on tensors sharing the plan's arrays."""

    def tensor(a: Any) -> Any:
        if a.flags.c_contiguous or not a.T.flags.c_contiguous:
            return torch.from_numpy(a)
        return torch.from_numpy(a.T).t()

    cache, triples = plan.cache, []
    for l, _z_product, W_T, z_l, *_ in plan.moves:
        X_bar_l = plan.buffers.X_bar_0 if l == 0 else cache.X_bar[l]
        z = z_l if z_l.flags.c_contiguous else np.empty(z_l.shape, z_l.dtype)
        triples.append((X_bar_l, W_T, z))
    for entry in plan.sweep.upper:
        _, _, psi_T, X_bar_l, grad_l, _, psi_l, W_l, down, *_ = entry
        triples += [(psi_T, X_bar_l, grad_l), (psi_l, W_l, down)]
    _, psi_T, grad_0 = plan.sweep.first
    triples.append((psi_T, plan.buffers.X_bar_0, grad_0))
    tensors = [(tensor(a), tensor(b), torch.from_numpy(out)) for a, b, out in triples]

    def run() -> None:
        for a, b, out in tensors:
            torch.mm(a, b, out=out)

    return run


def bench_breakdown(model: Model, settings: Settings, libs: dict[str, Any]) -> dict[str, Any]:
    """The engine's step part by part. Each round: the step timed whole (a block), a few
    steps made of the parts in order, each part timed as it runs (the caches as in the
    step), and each part alone (a block of repeats: its operands warmer than in a step)."""
    net = make_net(model)
    initial = [W.copy() for W in net.weights]
    step, parts, plan = engine_parts(net, model)
    alone = {str(i): p.fn for i, p in enumerate(parts)}
    if "torch" in libs:
        alone["torch_products"] = torch_products(libs["torch"], plan)
    n_step = block_size(step, settings.breakdown_block_s)
    sizes = {name: block_size(fn, settings.breakdown_block_s) for name, fn in alone.items()}
    in_step: list[list[float]] = [[] for _ in parts]
    totals: list[float] = []  # each step run part by part, whole
    times: dict[str, list[float]] = {"step": [], **{name: [] for name in alone}}
    for _ in range(settings.breakdown_reps):
        for W, S in zip(net.weights, initial):
            np.copyto(W, S)  # the steps and the update part move the weights
        times["step"].append(time_block(step, n_step) / n_step)
        for _ in range(settings.in_order_steps):
            seconds = run_in_order(parts)
            totals.append(sum(seconds))
            for i, t in enumerate(seconds):
                in_step[i].append(t)
        for name, fn in alone.items():
            times[name].append(time_block(fn, sizes[name]) / sizes[name])
    step_ms = 1e3 * median_of(totals)  # the step made of its parts: the % are of it
    rows = []
    for i, p in enumerate(parts):
        ms = 1e3 * median_of(in_step[i])
        rows.append(
            {
                "group": p.group,
                "label": p.label,
                "ms": ms,
                "percent": 100 * ms / step_ms,
                "alone_ms": 1e3 * median_of(times[str(i)]),
            }
        )
    groups = {g: sum(r["ms"] for r in rows if r["group"] == g) for g in GROUPS}
    groups_alone = {g: sum(r["alone_ms"] for r in rows if r["group"] == g) for g in GROUPS}
    total = sum(groups.values())
    out = {
        "step_ms": step_ms,
        "step_block_ms": 1e3 * median_of(times["step"]),
        "parts": rows,
        "groups_ms": groups,
        "groups_alone_ms": groups_alone,
        "sum_ms": total,
        "sum_alone_ms": sum(groups_alone.values()),
        "rest_ms": step_ms - total,
        "reps": settings.breakdown_reps,
        "steps_in_order": len(totals),
    }
    if "torch_products" in times:
        out["torch_products_ms"] = 1e3 * median_of(times["torch_products"])
    return out


# --------------------------------------------------------------------------- report
def print_header(model: Model, net: Any, threads: dict[str, Any], libs: dict[str, Any]) -> None:
    print(
        f"psinet {psinet.__version__}, numpy {np.__version__}, Python "
        f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{platform.processor() or platform.platform()}"
    )
    blas = threads["blas"]
    blas_name = (
        f"{blas[0]['internal_api']} {blas[0]['version']} ({blas[0]['architecture']})"
        if blas
        else "unknown BLAS"
    )
    print(
        f"BLAS: {blas_name}; threads {threads['requested']} requested, in effect: "
        f"{threads['in_effect'] or 'unknown'} ({threads['in_effect_source']}); "
        f"default without --threads: {threads['default']} ({threads['default_source']})"
    )
    if "torch" in libs:
        t = libs["torch"]
        print(f"torch {t.__version__}: compared, {t.get_num_threads()} thread(s)")
    else:
        print(f"skipped torch: {libs['skipped']}")
    shapes = " → ".join([str(model.input_shape)] + [layer_label(q) for q in net.layers])
    print(
        f"model {model.name}: {shapes}; {net.n_params:,} weights; float32, batch "
        f"{model.batch}, mse, SGD(η = {LR:g})"
    )


def print_sanity(s: dict[str, Any] | None) -> None:
    if s is None:
        print("\nSanity: skipped (needs torch)")
        return
    print("\nSanity: one step from the same weights on the same batch, against PyTorch")
    print(
        f"  loss before the step: fit {s['loss_fit']:.7g}, train_step {s['loss_textbook']:.7g}, "
        f"torch {s['loss_torch']:.7g} (max rel. diff. {s['loss_rel']:.1e}, ≤ {LOSS_RTOL:g})"
    )
    for name in ("fit", "textbook"):
        w, u = s[name]["weights_rel"], s[name]["update_rel"]
        print(
            f"  {name:<8} weights after: max over layers ‖W − W_torch‖/‖W_torch‖ = "
            f"{max(w):.1e} (≤ {WEIGHTS_RTOL:g}); the update ΔW: {max(u):.1e} "
            f"(≤ {UPDATE_RTOL:g})"
        )
    print(f"  {'PASS' if s['ok'] else 'FAIL'}")


def print_speed(r: dict[str, Any], threads: int) -> None:
    print(
        f"\nSpeed: one training step, median over {r['pairs']} interleaved pairs, "
        f"{threads} BLAS thread(s) (fit: {r['fit_batches']} batches per call, time / "
        f"{r['fit_batches']})"
    )
    header = f"{'':<28} {'ms/step':>9} {'quartiles':>17} {'÷ PyTorch':>10}"
    print(header)
    print("-" * len(header))

    def line(name: str, key: str, ratio: str | None) -> None:
        q = r[f"{key}_ms_quartiles"]
        ratio_cell = f"{r[ratio]:.2f}×" if ratio and ratio in r else ""
        print(f"{name:<28} {r[f'{key}_ms']:>9.2f} {q[0]:>8.2f}–{q[2]:<8.2f} {ratio_cell:>10}")

    line("psinet fit", "fit", "fit_over_torch")
    line("psinet textbook train_step", "textbook", "textbook_over_torch")
    if "torch_ms" in r:
        line("PyTorch", "torch", None)
        met = "PASS" if r["target_met"] else "MISS"
        print(
            f"\nfit ÷ PyTorch {r['fit_over_torch']:.2f}× (target ≤ {r['target']:.1f}×) {met}; "
            f"textbook ÷ PyTorch {r['textbook_over_torch']:.2f}×; textbook ÷ fit "
            f"{r['textbook_over_fit']:.2f}× (medians of the per-pair ratios)"
        )
    else:
        print(f"\ntextbook ÷ fit {r['textbook_over_fit']:.2f}×")


def ljust(text: str, width: int) -> str:
    """``text`` padded to ``width`` columns (a combining mark, as in X̄, takes none)."""
    marks = sum(1 for c in text if unicodedata.combining(c))
    return text + " " * max(0, width - len(text) + marks)


def print_breakdown(b: dict[str, Any], fit_ms: float) -> None:
    print(
        f"\nWhere psinet's step goes: the engine's step run part by part ({b['steps_in_order']} "
        "steps), each part\ntimed as it runs (median), % of that step (median). alone: the "
        "part repeated by itself\n(its operands warmer in the CPU caches than in a step)"
    )
    step = b["step_ms"]

    def row(group: str, label: str, ms: float, alone: float | None) -> None:
        cell = "" if alone is None else f"{alone:.3f}"
        print(f"{group:<12} {ljust(label, 46)} {ms:>8.3f} {100 * ms / step:>9.1f}% {cell:>9}")

    header = f"{'group':<12} {'part':<46} {'ms':>8} {'% of step':>10} {'alone ms':>9}"
    print(header)
    print("-" * len(header))
    for group in GROUPS:
        rows = [r for r in b["parts"] if r["group"] == group]
        for i, r in enumerate(rows):
            row(group if i == 0 else "", r["label"], r["ms"], r["alone_ms"])
        row("", f"= {group}", b["groups_ms"][group], b["groups_alone_ms"][group])
    print("-" * len(header))
    row("", "sum of the parts", b["sum_ms"], b["sum_alone_ms"])
    row("", "the step part by part, whole", step, None)
    row("", "rest (the step − the sum of medians)", b["rest_ms"], None)
    row("", "the engine step timed whole (in blocks)", b["step_block_ms"], None)
    row("", "psinet fit, per step (speed table)", fit_ms, None)
    if "torch_products_ms" in b:
        row("", "the same products with torch.mm (MKL)", b["torch_products_ms"], None)


# --------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    global np, psinet
    args = parse_args(argv)
    numpy, psinet, original_env = pin_threads_and_import(args.threads)
    np = numpy
    in_effect, in_effect_source, blas = blas_threads()  # before torch brings its own
    default, default_source = default_threads(original_env)
    threads = {
        "requested": args.threads,
        "in_effect": in_effect,
        "in_effect_source": in_effect_source,
        "default": default,
        "default_source": default_source,
        "blas": blas,
        "env": {v: os.environ.get(v) for v in THREAD_VARIABLES},
        "env_before": original_env,
    }
    libs: dict[str, Any] = {}
    if "torch" in args.compare:
        try:
            import torch

            torch.set_num_threads(args.threads)
            libs["torch"] = torch
            threads["torch"] = torch.get_num_threads()
        except ImportError as exc:
            libs["skipped"] = f"not installed; pip install -e '.[bench]' ({exc})"
    else:
        libs["skipped"] = "not requested (--compare none)"

    model = SMALL if args.quick else ATARI
    if args.batch is not None:
        model = Model(model.name, model.input_shape, model.convs, model.dense, args.batch)
    settings = Settings(
        quick=args.quick,
        pairs=args.pairs or (2 if args.quick else 15),
        fit_batches=args.fit_batches or (2 if args.quick else 16),
        min_block_s=0.002 if args.quick else 0.2,
        breakdown_reps=2 if args.quick else 7,
        breakdown_block_s=0.001 if args.quick else 0.05,
        in_order_steps=2 if args.quick else 6,
    )
    net = make_net(model)
    print_header(model, net, threads, libs)
    if args.quick:
        print("--quick: a small network, batch 4, few repeats; the numbers are rough")

    t0 = time.perf_counter()
    checked = sanity(model, libs)
    print_sanity(checked)
    speed = bench_speed(model, settings, libs)
    print_speed(speed, args.threads)
    breakdown = bench_breakdown(model, settings, libs)
    print_breakdown(breakdown, speed["fit_ms"])
    print(f"\n({time.perf_counter() - t0:.1f} s)")

    report = {
        "meta": {
            **run_facts(numpy, psinet, args.quick),
            "lr": LR,
            "threads": threads,
            "versions": {"torch": libs["torch"].__version__} if "torch" in libs else {},
        },
        "skipped": {} if "torch" in libs else {"torch": libs["skipped"]},
        "model": {
            "name": model.name,
            "layers": [model.input_shape, *[layer_label(q) for q in net.layers]],
            "n_params": int(net.n_params),
            "batch": model.batch,
            "dtype": "float32",
            "loss": "mse",
        },
        "sanity": checked,
        "speed": speed,
        "breakdown": breakdown,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0 if checked is None or checked["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
