"""Saving and loading image networks: Conv2D layers round-trip exactly, and a file whose
architecture is hostile or inconsistent is refused, naming what is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import psinet
from psinet import Network, gradients
from psinet.io import FORMAT_VERSION, FormatError, load, load_with_optimizer, save
from psinet.layers import Conv2D
from psinet.optimizers import SGD, Adam, Optimizer

ARCHITECTURES: list[list[Any]] = [
    [(1, 6, 6), Conv2D(2, 3), 3],
    [(3, 9, 8), Conv2D(4, (2, 3), stride=(2, 3), padding=1), Conv2D(5, 2, padding=(0, 2)), 7, 3],
    [(2, 7, 5), Conv2D(3, (3, 2), stride=(1, 2), padding=(2, 1)), 4],
    [(2, 3, 4), 5, 2],  # an image input read by dense layers alone: no Conv2D
]
ACTIVATIONS = ["tanh", {"name": "leaky_relu", "alpha": 0.2}, {"name": "elu", "alpha": 0.5}]


def make_net(architecture: list[Any], dtype: Any = np.float64, seed: int = 0) -> Network:
    n = len(architecture) - 1
    return Network(architecture, [*ACTIVATIONS[: n - 1], "softmax"], seed=seed, dtype=dtype)


def images(net: Network, n: int = 6, seed: int = 1) -> np.ndarray:
    """X, ndarray of shape (n, C, H, W)."""
    return np.random.default_rng(seed).normal(size=(n, *net.input_shape)).astype(net.dtype)


def batch(net: Network, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    X = images(net, 7, seed)
    Y = np.eye(net.n_outputs)[np.random.default_rng(seed + 1).integers(0, net.n_outputs, 7)]
    return X, Y


def train(net: Network, opt: Optimizer, steps: int, seed: int = 1) -> None:
    for k in range(steps):
        X, Y = batch(net, seed + k)
        grads, _ = gradients(net, X, Y, "categorical_crossentropy")
        opt.step(list(net.weights), grads)


def contents(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A saved file's header (decoded) and its other arrays."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    return json.loads(arrays.pop("header").tobytes()), arrays


def write(path: Path, header: Any, arrays: dict[str, Any]) -> Path:
    """A hand-made file: ``header`` JSON-encoded, plus ``arrays``."""
    raw = json.dumps(header).encode()
    np.savez(path, header=np.frombuffer(raw, np.uint8), **arrays)
    return path


@pytest.fixture
def good(tmp_path: Path) -> Path:
    """A valid file: a float64 conv net (two Conv2D, two dense) with Adam state."""
    net, opt = make_net(ARCHITECTURES[1]), Adam(lr=0.01)
    train(net, opt, 2)
    return save(net, tmp_path / "good.npz", optimizer=opt)


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("architecture", ARCHITECTURES, ids=str)
def test_round_trip_is_exact(tmp_path: Path, architecture: list[Any], dtype: Any) -> None:
    net = make_net(architecture, dtype, seed=3)
    net.weights[0][:, -1] = np.random.default_rng(5).normal(size=len(net.weights[0]))  # biases
    again = load(save(net, tmp_path / "m"))
    assert again.architecture == net.architecture
    assert again.input_shape == net.input_shape and again.sizes == net.sizes
    assert again.layers == net.layers  # kernel, stride, padding and shapes alike
    assert again.dtype == net.dtype == np.dtype(dtype)
    assert again.activations == net.activations
    for W, W2 in zip(net.weights, again.weights):
        assert W2.dtype == W.dtype and W2.shape == W.shape
        assert W2.tobytes() == W.tobytes()  # bitwise
    X = images(net)
    assert np.array_equal(again.predict(X), net.predict(X))


def test_header_describes_the_architecture(tmp_path: Path) -> None:
    net = make_net(ARCHITECTURES[1], np.float32)
    header, arrays = contents(save(net, tmp_path / "m"))
    assert header["format_version"] == FORMAT_VERSION == 2
    assert header["psinet_version"] == psinet.__version__
    assert header["architecture"] == [
        [3, 9, 8],
        {
            "class": "Conv2D",
            "filters": 4,
            "kernel_size": [2, 3],
            "stride": [2, 3],
            "padding": [1, 1],
        },
        {
            "class": "Conv2D",
            "filters": 5,
            "kernel_size": [2, 2],
            "stride": [1, 1],
            "padding": [0, 2],
        },
        7,
        3,
    ]
    assert header["sizes"] == list(net.sizes) and header["n_layers"] == 4
    assert sorted(arrays) == ["W_0", "W_1", "W_2", "W_3"]
    assert [arrays[f"W_{l}"].shape for l in range(4)] == [W.shape for W in net.weights]
    assert arrays["W_0"].shape == (4, 3 * 2 * 3 + 1)  # (filters, C·kh·kw + 1)


def test_dense_networks_are_written_as_before(tmp_path: Path) -> None:
    header, _ = contents(save(Network([3, 4, 2], "tanh", seed=0), tmp_path / "m"))
    assert "architecture" not in header and header["sizes"] == [3, 4, 2]


def test_image_input_without_conv_keeps_its_shape(tmp_path: Path) -> None:
    net = make_net(ARCHITECTURES[3])
    assert not net.convolutional
    again = load(save(net, tmp_path / "m"))
    assert again.input_shape == (2, 3, 4) and again.architecture == [(2, 3, 4), 5, 2]
    X = images(net)
    assert np.array_equal(again.predict(X), net.predict(X))


@pytest.mark.parametrize(
    "make_opt", [lambda: Adam(lr=0.01), lambda: SGD(lr=0.1, momentum=0.9)], ids=["adam", "sgd"]
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_training_resumes_bit_identically(tmp_path: Path, make_opt: Any, dtype: Any) -> None:
    net, opt = make_net(ARCHITECTURES[1], dtype), make_opt()
    train(net, opt, 3)
    net2, opt2 = load_with_optimizer(save(net, tmp_path / "ckpt", optimizer=opt))
    assert opt2 is not None and type(opt2) is type(opt) and opt2.t == opt.t == 3
    train(net, opt, 2, seed=10)  # both copies on the same batches
    train(net2, opt2, 2, seed=10)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(net.weights, net2.weights))
    for name, arrays in opt.state_dict()["state"].items():
        other = opt2.state_dict()["state"][name]
        assert all(a.tobytes() == b.tobytes() for a, b in zip(arrays, other))


def test_version_1_files_still_load(tmp_path: Path) -> None:
    # What psinet 0.1.0 wrote: format_version 1, dense, no "architecture".
    net = Network([3, 5, 2], ["tanh", "softmax"], seed=0)
    header, arrays = contents(save(net, tmp_path / "m"))
    header["format_version"] = 1
    again = load(write(tmp_path / "old.npz", header, arrays))
    assert again.sizes == (3, 5, 2)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(net.weights, again.weights))


def test_a_version_1_file_cannot_describe_convolutions(good: Path) -> None:
    header, arrays = contents(good)
    header["format_version"] = 1
    write(good, header, arrays)
    with pytest.raises(FormatError, match=r"format_version 1 describes dense networks only"):
        load(good)


class _MyConv(Conv2D):
    """A Conv2D subclass that stays itself when built: load() could not rebuild it."""

    def build(self, in_shape: tuple[int, ...], *, first: bool) -> Conv2D:
        built = super().build(in_shape, first=first)
        layer = type(self)(self.filters, self.kernel_size, self.stride, self.padding)
        layer.__dict__.update(built.__dict__)
        return layer


@pytest.mark.parametrize(
    ("cls", "match"),
    [
        (_MyConv, r"layers\[0\] is a .*_MyConv, which load\(\) could not rebuild.*'_MyConv'"),
        (type("Conv2D", (_MyConv,), {}), r"layers\[0\] = .*only psinet's own Dense and Conv2D"),
    ],
)
def test_save_refuses_a_layer_load_could_not_rebuild(tmp_path: Path, cls: Any, match: str) -> None:
    net = Network([(1, 4, 4), cls(2, 3), 2], "tanh", seed=0)
    with pytest.raises(ValueError, match=match):
        save(net, tmp_path / "m")
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------ hostile files


CONV_0 = {
    "class": "Conv2D",
    "filters": 4,
    "kernel_size": [2, 3],
    "stride": [2, 3],
    "padding": [1, 1],
}


def _conv(**change: Any) -> dict[str, Any]:
    return {**CONV_0, **change}


ONE_BY_ONE = _conv(kernel_size=1, stride=1, padding=0)


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        (_conv(stride=[0, 1]), r"architecture\[1\].*Conv2D stride must be >= 1"),
        (_conv(stride=0), r"architecture\[1\].*Conv2D stride must be >= 1"),
        (_conv(filters=0), r"architecture\[1\].*filters must be >= 1"),
        (_conv(filters=True), r"architecture\[1\].*filters must be an int"),
        (_conv(filters=4.0), r"architecture\[1\].*filters must be an int"),
        (_conv(padding=[-1, 0]), r"architecture\[1\].*padding must be >= 0"),
        (_conv(kernel_size=[2, 3, 4]), r"architecture\[1\].*kernel_size must be an int or a pair"),
        (_conv(kernel_size=[20, 3]), r"architecture\[1\].*kernel 20×3 is larger than"),
        (_conv(dilation=2), r"architecture\[1\].*unexpected keyword argument 'dilation'"),
        (_conv(**{"class": "MaxPool2D"}), r"architecture\[1\].*unknown layer class 'MaxPool2D'"),
        ({k: v for k, v in CONV_0.items() if k != "class"}, r"unknown layer class None"),
        (_conv(**{"class": "__import__"}), r"unknown layer class '__import__'"),
        ("Conv2D(4, 2)", r"architecture\[1\].*width or a layer object.*found str"),
        ([4, 2], r"architecture\[1\].*found list"),
    ],
)
def test_hostile_layer_entries_are_refused(good: Path, entry: Any, match: str) -> None:
    header, arrays = contents(good)
    header["architecture"][1] = entry
    write(good, header, arrays)
    with pytest.raises(FormatError, match=match) as info:
        load(good)
    assert str(good) in str(info.value)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda a: a.__setitem__(0, 3), r"architecture\[0\] must be the image input shape"),
        (lambda a: a.__setitem__(0, [3, 9]), r"architecture\[0\] must be the image input shape"),
        (lambda a: a.__setitem__(0, [3, 0, 8]), r"architecture\[0\] must be .*>= 1"),
        (lambda a: a.__setitem__(0, [3, True, 8]), r"architecture\[0\] must be the image input"),
        (lambda a: a.__setitem__(0, [4, 9, 8]), r"sizes must be the values per sample"),
        (lambda a: a.__setitem__(3, 6), r"sizes must be the values per sample"),
        (lambda a: a.__setitem__(slice(3, 5), [ONE_BY_ONE] * 2), "last layer must be dense"),
        (lambda a: a.pop(), r"architecture must be a list .*\(5 entries, as sizes\)"),
        (lambda a: a.append(3), r"architecture must be a list .*\(5 entries, as sizes\)"),
        (lambda a: a.__setitem__(3, 0), r"architecture\[3\].*units must be >= 1"),
        (lambda a: a.__setitem__(3, -7), r"architecture\[3\].*units must be >= 1"),
        (
            lambda a: a.__setitem__(slice(2, 4), [11, ONE_BY_ONE]),
            r"architecture\[3\] = .*Conv2D.*needs an image input \(C, H, W\).*shape \(11,\)",
        ),
    ],
)
def test_hostile_architectures_are_refused(good: Path, change: Any, match: str) -> None:
    header, arrays = contents(good)
    change(header["architecture"])
    write(good, header, arrays)
    with pytest.raises(FormatError, match=match):
        load(good)


@pytest.mark.parametrize("value", ["[(3, 9, 8), Conv2D(4, 2), 3]", {"input": [3, 9, 8]}, None])
def test_architecture_must_be_a_list(good: Path, value: Any) -> None:
    header, arrays = contents(good)
    header["architecture"] = value
    write(good, header, arrays)
    with pytest.raises(FormatError, match="architecture must be a list"):
        load(good)


def test_sizes_and_n_layers_must_agree_with_the_architecture(good: Path) -> None:
    header, arrays = contents(good)
    header["sizes"][1] += 1
    write(good, header, arrays)
    with pytest.raises(FormatError, match=r"sizes must be the values per sample .* found"):
        load(good)
    header["sizes"][1] -= 1
    header["n_layers"] = 3
    write(good, header, arrays)
    with pytest.raises(FormatError, match="n_layers must be len"):
        load(good)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            lambda a: a.update(W_0=np.zeros((4, 7))),
            r"W_0 must have shape \(4, 19\) \(from the arch",
        ),
        (lambda a: a.update(W_1=a["W_1"].T.copy()), r"W_1 must have shape \(5, 17\)"),
        (lambda a: a.update(W_2=a["W_2"][:, :-1].copy()), r"W_2 must have shape \(7, 121\)"),
        (lambda a: a.update(opt_m_0=np.zeros((4, 18))), r"opt_m_0 must have shape \(4, 19\)"),
        (lambda a: a.pop("W_3"), r"missing \['W_3'\]"),
        (lambda a: a["W_0"].__setitem__((0, 0), np.nan), "W_0 must be finite"),
    ],
)
def test_weights_must_fit_the_architecture(good: Path, change: Any, match: str) -> None:
    header, arrays = contents(good)
    change(arrays)
    write(good, header, arrays)
    with pytest.raises(FormatError, match=match):
        load(good)


def test_a_huge_declared_architecture_is_refused_from_the_declared_shapes(tmp_path: Path) -> None:
    # A kernel of 10^6 × 10^6 would be a 7 TiB W_0: the small member declares otherwise.
    big = 10**6
    header = {
        "format": "psinet",
        "format_version": 2,
        "psinet_version": "0.1.0",
        "sizes": [big * big, 1, 1],
        "activations": [{"name": "tanh"}, {"name": "identity"}],
        "dtype": "float64",
        "n_layers": 2,
        "architecture": [
            [1, big, big],
            {"class": "Conv2D", "filters": 1, "kernel_size": big, "stride": 1, "padding": 0},
            1,
        ],
    }
    path = write(tmp_path / "m.npz", header, {"W_0": np.zeros((1, 2)), "W_1": np.zeros((1, 2))})
    with pytest.raises(FormatError, match=r"W_0 must have shape \(1, 1000000000001\)"):
        load(path)
