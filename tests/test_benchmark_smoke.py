"""The speed benchmark runs end to end (``--quick``) and writes the JSON it promises.

It must pass with or without the ``bench`` extra (torch, scikit-learn): without
them the benchmark says what it skipped, and this test checks that it does.
"""

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "bench_step.py"
WORKLOADS = ("tiny", "small")
DTYPES = ("float32", "float64")


def _positive_finite(x):
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_quick_benchmark_writes_json(tmp_path):
    out = tmp_path / "b.json"
    command = [sys.executable, str(SCRIPT), "--quick", "--workloads", ",".join(WORKLOADS)]
    run = subprocess.run(
        [*command, "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    report = json.loads(out.read_text())

    assert {"meta", "skipped", "results", "fit_memory", "finite_differences"} <= set(report)
    assert report["meta"]["quick"] is True
    assert report["meta"]["threads"]["requested"] == 1
    assert set(report["results"]) == set(WORKLOADS)
    for name in WORKLOADS:
        for dtype in DTYPES:
            r = report["results"][name][dtype]
            for key in ("psinet_step_us", "matmul_us", "ratio", "target"):
                assert _positive_finite(r[key]), (name, dtype, key, r[key])
            assert isinstance(r["target_met"], bool)
            memory = r["memory"]
            assert memory["step_peak_bytes"] >= 0
            assert math.isfinite(memory["step_net_bytes"])
        assert _positive_finite(report["finite_differences"][name]["backprop_s"])
        assert _positive_finite(report["finite_differences"][name]["fd_s"])

    # Each comparison library is either timed or reported as skipped, on screen too.
    for lib, module in (("torch", "torch"), ("sklearn", "sklearn")):
        installed = importlib.util.find_spec(module) is not None
        if installed:
            for dtype in DTYPES:
                assert _positive_finite(report["results"]["tiny"][dtype][lib]["ratio"])
        else:
            assert lib in report["skipped"]
            assert f"skipped {lib}" in run.stdout


CONV_SCRIPT = ROOT / "benchmarks" / "bench_conv.py"
CONV_GROUPS = ("unfold", "products", "fold", "activations", "update")


def test_quick_conv_benchmark_writes_json(tmp_path):
    out = tmp_path / "c.json"
    run = subprocess.run(
        [sys.executable, str(CONV_SCRIPT), "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    report = json.loads(out.read_text())

    assert {"meta", "skipped", "model", "sanity", "speed", "breakdown"} <= set(report)
    assert report["meta"]["quick"] is True
    assert report["meta"]["threads"]["requested"] == 1
    assert report["model"]["n_params"] > 0
    speed = report["speed"]
    for key in ("fit_ms", "textbook_ms", "textbook_over_fit"):
        assert _positive_finite(speed[key]), (key, speed[key])

    # The breakdown has every part of the step, each a time (the products, unfold and
    # fold of a convolutional network are never empty).
    breakdown = report["breakdown"]
    assert _positive_finite(breakdown["step_ms"])
    assert {row["group"] for row in breakdown["parts"]} == set(CONV_GROUPS)
    for row in breakdown["parts"]:
        assert math.isfinite(row["ms"]) and row["ms"] >= 0, row
        assert math.isfinite(row["alone_ms"]) and row["alone_ms"] >= 0, row
    for group in ("unfold", "products", "fold"):
        assert _positive_finite(breakdown["groups_ms"][group]), group

    # PyTorch is either compared (the one-step check passed) or reported as skipped.
    if importlib.util.find_spec("torch") is not None:
        assert report["sanity"]["ok"] is True
        for key in ("torch_ms", "fit_over_torch", "textbook_over_torch"):
            assert _positive_finite(speed[key]), (key, speed[key])
    else:
        assert report["sanity"] is None
        assert "torch" in report["skipped"]
        assert "skipped torch" in run.stdout
