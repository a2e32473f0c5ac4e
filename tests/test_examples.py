"""Smoke tests: every example runs with few epochs and writes what it promises."""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

import psinet
from psinet import plot

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PNG = b"\x89PNG\r\n\x1a\n"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("name", "pictures"),
    [
        ("xor", ["loss.png", "decision_boundary.png"]),
        ("sine_regression", ["loss.png", "fit.png"]),
        ("spirals", ["loss.png", "decision_boundary.png"]),
        ("iris", ["loss.png"]),
        ("digits", ["loss.png"]),
    ],
)
def test_example_runs_and_writes_its_pictures(name, pictures, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert _load(name).main(["--epochs", "3", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for picture in pictures:
        assert (tmp_path / picture).read_bytes()[:8] == PNG
        assert f"wrote {tmp_path / picture}" in out


@pytest.mark.parametrize("name", ["xor", "sine_regression", "spirals", "iris", "digits"])
def test_quick_runs_at_most_five_epochs(name, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(plot, "has_matplotlib", lambda: False)  # numbers only
    epochs = []
    original = psinet.Network.fit

    def spy(self, *args, **kwargs):
        epochs.append(kwargs["epochs"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(psinet.Network, "fit", spy)
    assert _load(name).main(["--quick", "--out", str(tmp_path)]) == 0
    assert epochs and max(epochs) <= 5


def test_examples_without_matplotlib_still_print_results(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(plot, "has_matplotlib", lambda: False)
    assert _load("xor").main(["--epochs", "5", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "after 5 epochs" in out and "matplotlib is not installed: skipped" in out
    assert not list(tmp_path.glob("*.png"))


def test_digits_saves_a_model_that_loads_and_predicts_the_same(tmp_path, capsys):
    _load("digits").main(["--epochs", "2", "--out", str(tmp_path), "--verbose", "0"])
    assert "test accuracy" in capsys.readouterr().out
    net = psinet.load(tmp_path / "digits.npz")
    X, _ = psinet.datasets.load_digits()
    assert net.sizes == (64, 128, 10)
    assert np.isfinite(net.predict(X[:5])).all()


def test_gradient_check_example_passes(tmp_path, capsys):
    assert _load("gradient_check").main(["--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.count("passed (threshold 1e-06)") == 3


def test_gradient_check_example_quick_writes_its_report(tmp_path, capsys):
    assert _load("gradient_check").main(["--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    report = tmp_path / "gradient_check.txt"
    assert f"wrote {report}" in out
    text = report.read_text(encoding="utf-8")
    assert text.count("passed (threshold 1e-06)") == 3
    assert text in out  # the file holds exactly what was printed


def test_atari_network_example_counts_the_weights_and_times_both_gradients(tmp_path, capsys):
    assert _load("atari_network").main(["--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "total: 1,685,667 weights" in out
    ratio = re.search(r"ratio, finite differences / backprop: ([\d,]+)", out)
    assert ratio and int(ratio.group(1).replace(",", "")) > 1
    assert "all agree" in out
    report = tmp_path / "atari_network.txt"
    assert f"wrote {report}" in out and report.read_text(encoding="utf-8") in out


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.stem)
def test_every_example_takes_quick_and_out(path, capsys):
    with pytest.raises(SystemExit) as exit_:
        _load(path.stem).main(["--help"])
    assert exit_.value.code == 0
    usage = capsys.readouterr().out
    assert "--quick" in usage and "--out" in usage


def test_xor_titles_claim_a_solution_only_when_the_run_found_one():
    """`xor.py --quick` (5 epochs) has not solved XOR: its pictures must not say it has."""
    xor = _load("xor")
    X, y = psinet.datasets.xor()
    histories = {}
    for epochs in (5, 1000):
        net = psinet.Network([2, 2, 1], "sigmoid", seed=1)
        optimizer = psinet.optimizers.SGD(2.0, momentum=0.9)
        histories[epochs] = net.fit(
            X,
            y,
            loss="binary_crossentropy",
            optimizer=optimizer,
            epochs=epochs,
            batch_size=4,
            seed=1,
            verbose=0,
        )
    short_loss, short_boundary = xor.titles(histories[5])
    assert histories[5]["accuracy"][-1] < 1.0  # the premise: 5 epochs do not solve it
    assert "not solved yet" in short_boundary and "one side" not in short_boundary
    assert "falls" not in short_loss or histories[5]["loss"][-1] < histories[5]["loss"][0]
    long_loss, long_boundary = xor.titles(histories[1000])
    assert "one side" in long_boundary and "falls" in long_loss and "100%" in long_loss


def test_glyphs_conv_vs_dense_quick_prints_both_networks_and_writes_its_pictures(
    tmp_path, capsys, monkeypatch
):
    pytest.importorskip("matplotlib")
    epochs = []
    original = psinet.Network.fit

    def spy(self, *args, **kwargs):
        epochs.append(kwargs["epochs"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(psinet.Network, "fit", spy)
    assert _load("glyphs_conv_vs_dense").main(["--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert epochs == [1, 1]  # both networks, the same single epoch
    lines = {line.split(":")[0]: line for line in out.splitlines() if ":" in line}
    weights = lines["weights"].replace(",", "").split()  # weights: conv 4820 dense 4702 (…)
    conv, dense = int(weights[2]), int(weights[4])
    assert abs(conv - dense) <= 0.1 * conv  # about the same number of weights
    accuracy = lines["test accuracy"].split()  # test accuracy: conv 26.0%, dense 31.0%
    assert accuracy[2] == "conv" and accuracy[3].endswith("%,")
    assert accuracy[4] == "dense" and accuracy[5].endswith("%")
    for picture in ("filters.png", "psi_maps.png"):
        assert (tmp_path / picture).read_bytes()[:8] == PNG
        assert f"wrote {tmp_path / picture}" in out
