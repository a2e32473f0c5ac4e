"""The derivation's Atari network, built and timed: backprop against finite differences.

    python examples/atari_network.py [--out out/atari_network] [--quick]

Builds DeepMind's Nature-DQN with 3 actions (4×84×84 frames; convolutions 32×8×8
stride 4, 64×4×4 stride 2, 64×3×3; dense 512; 3 outputs; float32, seed 0), prints its
weights layer by layer and checks the total, 1,685,667, the count quoted in §1 of
docs/derivation.md. Then, with one BLAS thread, float32, the mse loss and a batch of 32
random frames, it measures:

* one backprop gradient (``psinet.gradients``): the median of 20 runs;
* one forward pass (the ``loss_value`` call finite differences make), and 300 real
  central-difference probes of weights drawn at random, each: nudge the weight by +ε,
  forward, by -ε, forward, restore. A full finite-difference gradient is then
  *estimated* as the measured cost per weight (the probes' median) × 1,685,667; run in
  full it would take hours. Five probes (one per layer) on a float64 copy
  (``net.copy(np.float64)``) are checked against backprop in float64 and in float32.

Batch 32 because it is the DQN minibatch, one update being one gradient on one batch;
§12's table counts per sample (the counts are linear in the batch size N), so the
per-sample times are the batch's / 32, and the ratio is the same per batch or per
sample. At batch 1 fixed per-call costs would weigh more and the per-sample times would
be higher. The three timings are taken round by round, interleaved, so a busy spell of
the machine slows all alike. It prints §12's row counted (multiply-adds) and measured,
the ratio, and 10 million updates each way. Writes the report to atari_network.txt in
--out; exit code 1 if a probe disagrees with backprop. About 15 s on one core
(``--quick``: batch 2, 10 probes, under a second after the imports).
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

import psinet
from psinet.backprop import loss_value
from psinet.gradcheck import relative_error
from psinet.layers import Conv2D

ATARI_WEIGHTS = 1_685_667  # docs/derivation.md §1
ATARI_UPDATES = 10_000_000  # "updated about 10 million times"
ACTIONS = 3
LOSS = psinet.losses.get("mse")
EPS = {"float32": 1e-3, "float64": 1e-6}  # central-difference step per dtype
AGREEMENT_64 = 1e-6  # float64 probe vs float64 backprop: max relative error
AGREEMENT_32 = 1e-3  # float64 probe vs float32 backprop: float32 keeps ~7 digits


def atari_network(dtype: Any = np.float32, seed: int = 0) -> psinet.Network:
    """Nature DQN (Mnih et al. 2015) with 3 actions: 1,685,667 weights, biases included."""
    return psinet.Network(
        [(4, 84, 84), Conv2D(32, 8, stride=4), Conv2D(64, 4, stride=2), Conv2D(64, 3), 512, 3],
        ["relu", "relu", "relu", "relu", "identity"],
        seed=seed,
        dtype=dtype,
    )


def multiply_adds(net: psinet.Network) -> tuple[int, int]:
    """(forward, backprop) multiply-adds per sample, counted as §12 counts the Atari row:
    weight products only (biases not counted); a convolution's at every output position.
    Backprop = forward + the gradients (as many) + the steps back (none below layer 0)."""
    per_layer = [
        getattr(q, "positions", 1) * q.n_in * q.n_out for q in net.layers
    ]  # z_l = X̄_l W_lᵀ, one row per sample (dense) or per sample and position (Conv2D)
    forward = sum(per_layer)
    return forward, 2 * forward + forward - per_layer[0]


# ---------------------------------------------------------------------- measuring
class Measurements(NamedTuple):
    """Seconds for one batch of ``batch``; ``probe`` is one weight's two forward passes."""

    batch: int
    backprop: float  # median of ``repeats`` psinet.gradients calls
    forward: float  # median of ``repeats`` loss_value calls (one forward pass)
    probe_median: float  # median over ``n_probes`` probes
    probe_mean: float
    repeats: int
    n_probes: int

    @property
    def finite_diff(self) -> float:
        """One full finite-difference gradient: measured cost per weight × the weights."""
        return self.probe_median * ATARI_WEIGHTS

    @property
    def ratio(self) -> float:
        return self.finite_diff / self.backprop


def seconds(work: Callable[[], object]) -> float:
    """The wall-clock time of one call of ``work``."""
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def random_weights(
    net: psinet.Network, k: int, rng: np.random.Generator
) -> list[tuple[int, tuple[int, ...]]]:
    """k (layer, index) pairs drawn uniformly over all P weights."""
    bounds = np.cumsum([W.size for W in net.weights])
    picks = []
    for i in rng.choice(net.n_params, size=k, replace=False):
        l = int(np.searchsorted(bounds, i, side="right"))
        shape = net.weights[l].shape
        flat = int(i - (bounds[l] - net.weights[l].size))
        picks.append((l, tuple(int(j) for j in np.unravel_index(flat, shape))))
    return picks


def probe(
    net: psinet.Network, X: np.ndarray, Y: np.ndarray, l: int, index: tuple[int, ...]
) -> float:
    """∂E/∂w for one weight by the two-point formula of §1: two forward passes."""
    eps = EPS[np.dtype(net.dtype).name]
    W = net.weights[l]  # a view: writing it changes the network
    w = W[index]
    W[index] = w + eps
    E_plus = loss_value(net, X, Y, LOSS)
    W[index] = w - eps
    E_minus = loss_value(net, X, Y, LOSS)
    W[index] = w  # restored exactly: the same float is written back
    return (E_plus - E_minus) / (2 * eps)


def measure(
    net: psinet.Network, X: np.ndarray, Y: np.ndarray, repeats: int, k: int, seed: int
) -> Measurements:
    """Time ``repeats`` backprop gradients, as many forward passes and k probes of
    weights drawn at random (each probe exactly what ``numerical_gradients(order=2)``
    spends on one weight), after one warm-up call of each. Interleaved, round by round
    (a gradient, a forward pass, k / repeats probes), so that a slow spell of a shared
    machine hits all three alike and the ratio keeps its meaning."""
    picks = random_weights(net, k, np.random.default_rng(seed))
    gradient = partial(psinet.gradients, net, X, Y, LOSS)
    forward = partial(loss_value, net, X, Y, LOSS)
    gradient(), forward()  # warm-up
    bp, fwd, probes = [], [], []
    for chunk in np.array_split(np.arange(k), repeats):
        bp.append(seconds(gradient))
        fwd.append(seconds(forward))
        probes += [seconds(partial(probe, net, X, Y, *picks[i])) for i in chunk]
    return Measurements(
        batch=len(X),
        backprop=float(np.median(bp)),
        forward=float(np.median(fwd)),
        probe_median=float(np.median(probes)),
        probe_mean=float(np.mean(probes)),
        repeats=repeats,
        n_probes=k,
    )


class Check(NamedTuple):
    layer: int
    index: tuple[int, ...]
    probe64: float  # finite differences on the float64 copy
    backprop64: float
    backprop32: float

    @property
    def error64(self) -> float:
        return float(relative_error(np.array(self.probe64), np.array(self.backprop64)))

    @property
    def error32(self) -> float:
        return float(relative_error(np.array(self.probe64), np.array(self.backprop32)))

    @property
    def agrees(self) -> bool:
        return self.error64 < AGREEMENT_64 and self.error32 < AGREEMENT_32


def check_probes(
    net: psinet.Network, X: np.ndarray, Y: np.ndarray, rng: np.random.Generator, draws: int = 20
) -> list[Check]:
    """One weight per layer, probed on a float64 copy and compared with backprop in
    float64 and in float32. Of ``draws`` random entries of the layer the one with the
    largest |∂E/∂w| is taken, so that a dead ReLU's exact 0 is not all that is checked."""
    net64 = net.copy(np.float64)
    X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
    grads64, _ = psinet.gradients(net64, X64, Y64, LOSS)
    grads32, _ = psinet.gradients(net, X, Y, LOSS)
    checks = []
    for l, g in enumerate(grads64):
        flat = rng.choice(g.size, size=min(draws, g.size), replace=False)
        best = flat[np.argmax(np.abs(g.reshape(-1)[flat]))]
        index = tuple(int(j) for j in np.unravel_index(best, g.shape))
        value = probe(net64, X64, Y64, l, index)
        checks.append(Check(l, index, value, float(g[index]), float(grads32[l][index])))
    return checks


# ---------------------------------------------------------------------- reporting
def readable(seconds: float) -> str:
    """A duration in the largest unit that keeps it >= 1: µs, ms, s, … years."""
    units = (
        ("years", 365.25 * 86_400),
        ("days", 86_400),
        ("hours", 3_600),
        ("minutes", 60),
        ("s", 1),
        ("ms", 1e-3),
        ("µs", 1e-6),
    )
    for name, size in units:
        if seconds >= size or name == "µs":
            value = seconds / size
            return f"{value:,.0f} {name}" if value >= 1_000 else f"{value:.3g} {name}"
    raise AssertionError("unreachable")


def one_blas_thread() -> tuple[contextlib.AbstractContextManager[Any], str]:
    """(a context limiting BLAS to one thread, what it says about the machine)."""
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        return contextlib.nullcontext(), (
            "threadpoolctl not installed: BLAS runs with its default number of threads "
            "(set OPENBLAS_NUM_THREADS=1 or MKL_NUM_THREADS=1 for one)"
        )
    blas = sorted(
        {i.get("internal_api", "?") for i in threadpool_info() if i["user_api"] == "blas"}
    )
    return threadpool_limits(1), f"1 BLAS thread ({', '.join(blas) or 'no BLAS found'})"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cost_table(m: Measurements, counts: tuple[int, int]) -> list[str]:
    """§12's columns: P, backprop per sample, finite differences per sample, ratio."""
    forward, backprop = counts
    P, N = ATARI_WEIGHTS, m.batch
    head = (
        f"{'the Atari network':<32} {'P':>10} {'backprop, per sample':>21} "
        f"{'finite diff. (2 passes/weight), per sample':>43} {'ratio':>11}"
    )
    fd_count = 2 * P * forward
    return [
        head,
        "-" * len(head),
        f"{'counted (multiply-adds)':<32} {P:>10,} {backprop:>21,} {fd_count:>43.3g} "
        f"{fd_count / backprop:>11,.0f}",
        f"{f'measured (time / {N}, batch {N})':<32} {P:>10,} {readable(m.backprop / N):>21} "
        f"{readable(m.finite_diff / N):>43} {m.ratio:>11,.0f}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/atari_network"))
    parser.add_argument(
        "--quick", action="store_true", help="batch 2, 2 repeats, 10 probes: a smoke run"
    )
    parser.add_argument("--batch", type=int, default=32, help="samples per gradient")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per median")
    parser.add_argument("--probes", type=int, default=300, help="finite-difference probes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.repeats, args.probes = min(args.batch, 2), 2, 10
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text)
        lines.append(text)

    net = atari_network(np.float32, args.seed)
    say(f"{net}\n")
    say(net.summary())
    assert net.n_params == ATARI_WEIGHTS, net.n_params
    say(f"total: {net.n_params:,} weights (biases included), the derivation's count\n")

    rng = np.random.default_rng(args.seed)
    X = rng.random((args.batch, 4, 84, 84), dtype=np.float32)  # frames, pixels in [0, 1)
    Y = rng.normal(size=(args.batch, ACTIONS)).astype(np.float32)  # Q-value targets
    limit, threads = one_blas_thread()
    with limit:
        m = measure(net, X, Y, args.repeats, args.probes, args.seed)
        checks = check_probes(net, X, Y, rng)
    N = m.batch
    say(f"Measured on {cpu_name()}, {threads}, float32, batch {N}, mse loss:")
    median = f"(median of {m.repeats})"
    say(f"  backprop, one gradient (psinet.gradients): {readable(m.backprop)} {median}")
    say(f"  one forward pass (loss_value): {readable(m.forward)} {median}")
    say(
        f"  one finite-difference probe (2 forward passes): {readable(m.probe_median)} median, "
        f"{readable(m.probe_mean)} mean, over {m.n_probes} weights drawn at random"
    )
    say(
        f"  finite differences, one gradient: {readable(m.probe_median)} × {ATARI_WEIGHTS:,} "
        f"weights = {readable(m.finite_diff)}\n"
        f"    (measured cost per weight × the count, not run in full; from the forward "
        f"pass alone, 2 × {ATARI_WEIGHTS:,} × {readable(m.forward)} = "
        f"{readable(2 * ATARI_WEIGHTS * m.forward)})"
    )
    say(f"  ratio, finite differences / backprop: {m.ratio:,.0f}\n")

    say("The derivation's cost table (§12), this network's row counted and measured:")
    for line in cost_table(m, multiply_adds(net)):
        say(line)
    say("  (per sample = the batch's time / its size; the ratio is the same either way)\n")

    say(f"{ATARI_UPDATES:,} updates, one gradient of batch {N} each:")
    say(f"  backprop            {readable(m.backprop * ATARI_UPDATES):>15}")
    say(f"  finite differences  {readable(m.finite_diff * ATARI_UPDATES):>15}\n")

    say(
        f"Probes checked against backprop (float64 copy, ε = {EPS['float64']:g}; relative "
        f"error, thresholds {AGREEMENT_64:g} and {AGREEMENT_32:g}):"
    )
    say(
        f"  {'layer':>5} {'index':>12} {'finite diff.':>13} {'backprop64':>13} {'err64':>9} "
        f"{'backprop32':>13} {'err32':>9}"
    )
    for c in checks:
        say(
            f"  {c.layer:>5} {c.index!s:>12} {c.probe64:>13.6e} {c.backprop64:>13.6e} "
            f"{c.error64:>9.1e} {c.backprop32:>13.6e} {c.error32:>9.1e}"
            + ("" if c.agrees else "  DISAGREE")
        )
    agree = all(c.agrees for c in checks)
    say(f"  {'all agree' if agree else 'SOME DISAGREE'}")

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "atari_network.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
