"""Smoke tests of the two learning demos: backprop vs finite differences, vanishing gradients.

Each runs with --quick into tmp_path; the assertions check what the demos claim, so a
broken gradient or a broken comparison fails here, not only a crash.
"""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PNG = b"\x89PNG\r\n\x1a\n"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fd_demo():
    return _load("backprop_vs_finite_differences")


@pytest.fixture(scope="module")
def vanishing_demo():
    return _load("vanishing_gradients")


# ---------------------------------------------------------------- backprop vs finite differences
def test_fd_demo_quick_run_prints_table_slopes_and_extrapolation(fd_demo, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert fd_demo.main(["--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    picture = tmp_path / "backprop_vs_fd.png"
    assert picture.read_bytes()[:8] == PNG
    assert f"wrote {picture}" in out
    assert "log-log slopes" in out
    assert "1,685,667 weights, 10,000,000 updates" in out
    assert re.search(r"backprop .* per update, .* for 10M updates", out)
    error = float(re.search(r"max relative error ([0-9.e+-]+)", out).group(1))
    assert error < 1e-6


def test_fd_measurements_scale_as_the_cost_model_says(fd_demo):
    m = fd_demo.measure((4, 8, 16, 32, 64), full_fd_limit=700, k=20, repeats=1, seed=1)
    assert m.n_params.tolist() == [108, 244, 612, 1732, 5508]
    assert m.sampled.tolist() == [False, False, False, True, True]
    # Timings themselves are not asserted (machines are noisy): only that they exist.
    assert np.isfinite(m.backprop).all() and (m.backprop > 0).all()
    assert np.isfinite(m.finite_diff).all() and (m.finite_diff > 0).all()
    assert m.max_rel_error < 1e-6


def test_fd_power_law_fit_recovers_a_known_law(fd_demo):
    P = np.array([1e2, 1e3, 1e4, 1e5, 1e6])
    law = fd_demo.fit_power_law(P, 3e-9 * P**1.5)
    assert law.p_min == 10_000
    assert law.slope == pytest.approx(1.5)
    assert law(1e7) == pytest.approx(3e-9 * 1e7**1.5)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (2.5e-5, "25 µs"),
        (0.0123, "12.3 ms"),
        (42.0, "42 s"),
        (5400.0, "1.5 hours"),
        (3 * 86_400.0, "3 days"),
        (2_000 * 365.25 * 86_400, "2,000 years"),
    ],
)
def test_fd_readable_durations(fd_demo, seconds, text):
    assert fd_demo.readable(seconds) == text


# ---------------------------------------------------------------- vanishing gradients
def test_vanishing_demo_quick_run_prints_tables_and_writes_pictures(
    vanishing_demo, tmp_path, capsys
):
    pytest.importorskip("matplotlib")
    assert vanishing_demo.main(["--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ("gradient_norms_init.png", "gradient_norms_training.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG
        assert f"wrote {tmp_path / name}" in out
    assert re.search(r"layer\s+W_l shape\s+sigmoid\s+tanh\s+relu", out)
    assert re.search(r"^\s+8\s+10x33\s", out, re.MULTILINE)  # one row per layer, 0 … 8
    assert "3 epochs" in out and "train accuracy" in out
    assert "σ'(z) = σ(z)(1 − σ(z)) <= 1/4" in out


def test_sigmoid_gradients_vanish_at_initialization(vanishing_demo):
    X, Y = vanishing_demo.load_data(128)
    norms = vanishing_demo.initial_norms(X, Y, seed=3)
    assert set(norms) == {"sigmoid", "tanh", "relu"}
    assert all(v.shape == (9,) and np.isfinite(v).all() for v in norms.values())
    sigmoid, relu, tanh = norms["sigmoid"], norms["relu"], norms["tanh"]
    assert sigmoid[0] < 1e-3 * relu[0] and sigmoid[0] < 1e-3 * tanh[0]
    assert sigmoid[0] / sigmoid[-1] < 1e-3 < relu[0] / relu[-1]
    assert (np.diff(np.log(sigmoid)) > 0).all()  # shrinks at every layer back from the output


def test_training_records_one_norm_row_per_epoch_and_relu_learns(vanishing_demo):
    X, Y = vanishing_demo.load_data(256)
    norms, accuracy, moved = vanishing_demo.train_norms(X, Y, epochs=4, seed=0)
    assert {a: v.shape for a, v in norms.items()} == {a: (4, 9) for a in norms}
    assert moved["sigmoid"] < 1e-2 < moved["relu"]
    assert accuracy["relu"] > accuracy["sigmoid"]


def test_vanishing_demo_epochs_and_out_options(vanishing_demo, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(vanishing_demo.plot, "has_matplotlib", lambda: False)
    assert vanishing_demo.main(["--quick", "--epochs", "2", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2 epochs" in out and "matplotlib is not installed: skipped" in out
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize(
    ("full", "estimate", "agrees"),
    [(13.6, 12.0, True), (2.0, 2.9, True), (13.6, 4.93, False), (1.0, 1.6, False)],
)
def test_fd_sampling_check_says_whether_it_agreed(fd_demo, full, estimate, agrees):
    """Regression: the full run printed "measured 13.6 s, estimated 4.93 s" and no verdict."""
    text = fd_demo.sampling_verdict(19_204, full, estimate, 100)
    assert ("agrees within ×1.5" in text) is agrees
    assert ("DOES NOT AGREE" in text) is not agrees
    assert f"estimate/measured = {estimate / full:.2f}" in text
    if not agrees:
        assert f"uncertain by\n  ×{max(estimate / full, full / estimate):.1f}" in text
