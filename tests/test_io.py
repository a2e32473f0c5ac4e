"""Saving and loading: exact round trips, atomic writes, and every bad file refused."""

from __future__ import annotations

import json
import os
import pickle
import re
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import psinet
from psinet import Network, gradients
from psinet.io import FORMAT_VERSION, FormatError, load, load_with_optimizer, save
from psinet.optimizers import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from psinet.schedules import CosineDecay

POSIX = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes and symlinks")
ACTIVATIONS = ["tanh", {"name": "leaky_relu", "alpha": 0.2}, {"name": "elu", "alpha": 0.5}]


def make_net(dtype: Any = np.float64, seed: int = 0) -> Network:
    return Network([3, 5, 4, 2], [*ACTIVATIONS[:2], "softmax"], seed=seed, dtype=dtype)


def batch(net: Network, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(7, net.n_inputs)).astype(net.dtype)  # (N, n_0)
    Y = np.eye(net.n_outputs)[rng.integers(0, net.n_outputs, 7)]  # (N, n_L), one-hot
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


def write(path: Path, header: Any, arrays: dict[str, Any], **kw: Any) -> Path:
    """A hand-made file: ``header`` (JSON-encoded unless bytes) plus ``arrays``."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    np.savez(path, header=np.frombuffer(raw, np.uint8), **arrays, **kw)
    return path


@pytest.fixture
def good(tmp_path: Path) -> Path:
    """A valid file for a float64 net with Adam state after two steps."""
    net, opt = make_net(), Adam(lr=0.01)
    train(net, opt, 2)
    return save(net, tmp_path / "good.npz", optimizer=opt)


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_round_trip_is_exact(tmp_path: Path, dtype: Any) -> None:
    net = Network([4, 6, 5, 3], ACTIVATIONS, seed=3, dtype=dtype)
    net.weights[1][:, :] = np.random.default_rng(5).normal(size=net.weights[1].shape)
    again = load(save(net, tmp_path / "m.npz"))
    assert again.sizes == net.sizes == (4, 6, 5, 3)
    assert again.dtype == net.dtype == np.dtype(dtype)
    assert [f.get_config() for f in again.activations] == [
        {"name": "tanh"},
        {"name": "leaky_relu", "alpha": 0.2},
        {"name": "elu", "alpha": 0.5},
    ]
    for W, W2 in zip(net.weights, again.weights):
        assert W2.dtype == W.dtype and W2.shape == W.shape
        assert W2.tobytes() == W.tobytes()  # bitwise, not approximately
    X = np.random.default_rng(0).normal(size=(9, 4))
    assert np.array_equal(again.predict(X), net.predict(X))


@settings(deadline=None, derandomize=True, max_examples=25)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=5),
    seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_round_trip_any_shape(sizes: list[int], seed: int, dtype: Any) -> None:
    net = Network(sizes, "sigmoid", seed=seed, dtype=dtype)
    with tempfile.TemporaryDirectory() as tmp:
        again = load(save(net, Path(tmp) / "m"))
    assert again.sizes == net.sizes and again.dtype == net.dtype
    assert all(a.tobytes() == b.tobytes() for a, b in zip(net.weights, again.weights))


@pytest.mark.parametrize(
    ("given_name", "written"),
    [("m.npz", "m.npz"), ("m", "m.npz"), ("m.v1", "m.v1.npz"), ("m.npz.bak", "m.npz.bak.npz")],
)
@pytest.mark.parametrize("as_str", [True, False])
def test_suffix_like_numpy(tmp_path: Path, given_name: str, written: str, as_str: bool) -> None:
    target = tmp_path / given_name
    returned = save(make_net(), str(target) if as_str else target)
    assert isinstance(returned, Path)
    assert returned == tmp_path / written
    assert sorted(p.name for p in tmp_path.iterdir()) == [written]  # no temporary left over
    assert load(returned).sizes == make_net().sizes


def test_file_layout_needs_no_pickle(tmp_path: Path) -> None:
    net = make_net(np.float32)
    header, arrays = contents(save(net, tmp_path / "m"))
    assert header == {
        "format": "psinet",
        "format_version": FORMAT_VERSION,
        "psinet_version": psinet.__version__,
        "sizes": [3, 5, 4, 2],
        "activations": [
            {"name": "tanh"},
            {"name": "leaky_relu", "alpha": 0.2},
            {"name": "softmax"},
        ],
        "dtype": "float32",
        "n_layers": 3,
    }
    assert sorted(arrays) == ["W_0", "W_1", "W_2"]
    assert all(arrays[f"W_{l}"].dtype == np.float32 for l in range(3))


# ------------------------------------------------------------------ optimizer state


OPTIMIZERS: list[Callable[[], Optimizer]] = [
    lambda: Adam(lr=0.01),
    lambda: AdamW(lr=0.01, weight_decay=0.1),
    lambda: SGD(lr=0.1, momentum=0.9, nesterov=True),
    lambda: SGD(lr=0.1),  # no state arrays at all
    lambda: Adagrad(lr=0.05),
    lambda: RMSprop(lr=CosineDecay(0.01, epochs=5)),  # a schedule lr
]


@pytest.mark.parametrize("make_opt", OPTIMIZERS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_training_resumes_bit_identically(
    tmp_path: Path, make_opt: Callable[[], Optimizer], dtype: Any
) -> None:
    net, opt = make_net(dtype), make_opt()
    train(net, opt, 3)
    opt.set_epoch(2)
    net2, opt2 = load_with_optimizer(save(net, tmp_path / "ckpt", optimizer=opt))
    assert type(opt2) is type(opt) and opt2 is not None
    assert (opt2.t, opt2.epoch, repr(opt2)) == (3, 2, repr(opt))
    train(net, opt, 3, seed=10)  # continue both copies on the same batches
    train(net2, opt2, 3, seed=10)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(net.weights, net2.weights))
    for name, arrays in opt.state_dict()["state"].items():
        other = opt2.state_dict()["state"][name]
        assert all(a.tobytes() == b.tobytes() for a, b in zip(arrays, other))


def test_optimizer_before_first_step(tmp_path: Path) -> None:
    net, opt = make_net(), Adam(lr=0.02)
    header, arrays = contents(save(net, tmp_path / "m", optimizer=opt))
    assert header["optimizer"]["state_names"] == {"m": 0, "v": 0}
    assert sorted(arrays) == ["W_0", "W_1", "W_2"]
    _, opt2 = load_with_optimizer(tmp_path / "m.npz")
    assert isinstance(opt2, Adam) and opt2.t == 0 and opt2.lr == 0.02


def test_optimizer_arrays_and_header(good: Path) -> None:
    header, arrays = contents(good)
    assert header["optimizer"] == {
        "class": "Adam",
        "hyper": {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
        "t": 2,
        "epoch": 0,
        "state_names": {"m": 3, "v": 3},
    }
    assert sorted(arrays) == sorted(
        [f"W_{l}" for l in range(3)] + [f"opt_{n}_{l}" for n in "mv" for l in range(3)]
    )


def test_load_ignores_optimizer_and_without_one_gives_none(good: Path, tmp_path: Path) -> None:
    assert isinstance(load(good), Network)
    assert load_with_optimizer(save(make_net(), tmp_path / "plain"))[1] is None


def test_save_refuses_what_load_would_refuse(tmp_path: Path) -> None:
    net = make_net()
    old = save(net, tmp_path / "m").read_bytes()
    net.weights[0][0, 0] = np.nan  # in place, as a diverging training run would
    with pytest.raises(ValueError, match=r"weights\[0\] must be finite"):
        save(net, tmp_path / "m")
    other, opt = Network([2, 2], "tanh", seed=0), Adam()
    train_other = gradients(other, np.ones((1, 2)), np.ones((1, 2)), "mse")[0]
    opt.step(list(other.weights), train_other)  # state bound to another network
    with pytest.raises(ValueError, match="stepped on another network"):
        save(make_net(), tmp_path / "m", optimizer=opt)
    with pytest.raises(TypeError, match=r"must be a psinet\.Network"):
        save("net", tmp_path / "m")  # type: ignore[arg-type]

    class MyAdam(Adam):
        pass

    with pytest.raises(ValueError, match=r"one of psinet\.optimizers' classes"):
        save(make_net(), tmp_path / "m", optimizer=MyAdam())
    assert (tmp_path / "m.npz").read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


# ------------------------------------------------------------------ atomic writes


def _savez_then_fail(*args: Any, **kwargs: Any) -> None:
    args[0].write(b"PK\x03\x04 half an archive")
    raise OSError("disk full")


@pytest.mark.parametrize("fail", ["numpy.savez", "os.replace", "os.fsync"])
def test_failed_write_leaves_old_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail: str
) -> None:
    path = save(make_net(seed=0), tmp_path / "m.npz")
    old = path.read_bytes()
    boom: Callable[..., None] = _savez_then_fail
    if fail != "numpy.savez":
        boom = lambda *a, **k: (_ for _ in ()).throw(OSError(f"{fail} failed"))
    monkeypatch.setattr(fail, boom)
    with pytest.raises(OSError):
        save(make_net(seed=1), path)
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]
    assert load(path).weights[0].tobytes() == make_net(seed=0).weights[0].tobytes()


def test_failed_first_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("numpy.savez", _savez_then_fail)
    with pytest.raises(OSError, match="disk full"):
        save(make_net(), tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


def test_data_is_synced_before_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])

    def replace(src: Any, dst: Any) -> None:
        events.append(f"replace {Path(src).parent == tmp_path} {Path(dst).name}")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    save(make_net(), tmp_path / "m")
    assert events[:2] == ["fsync", "replace True m.npz"]  # same directory, then the target


@POSIX
def test_file_mode_umask_for_new_files_kept_for_existing(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        path = save(make_net(), tmp_path / "m")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's 0o600
        path.chmod(0o600)
        save(make_net(seed=1), path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(umask)


@POSIX
def test_save_through_symlink_replaces_the_target(tmp_path: Path) -> None:
    real = save(make_net(seed=0), tmp_path / "real.npz")
    link = tmp_path / "link.npz"
    link.symlink_to(real)
    save(make_net(seed=1), link)
    assert link.is_symlink()
    assert load(real).weights[0].tobytes() == make_net(seed=1).weights[0].tobytes()


# ------------------------------------------------------------------ bad files


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nope.npz")


@pytest.mark.parametrize("keep", [0, 3, 30, 0.5, -1])
def test_truncated_file(good: Path, keep: float) -> None:
    data = good.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
    good.write_bytes(data[:n])
    with pytest.raises(FormatError, match=r"damaged or non-\.npz"):
        load(good)


def test_corrupted_bytes_inside(good: Path) -> None:
    data = bytearray(good.read_bytes())
    start = data.index(b"\x93NUMPY", data.index(b"W_1.npy"))
    data[start + 200 : start + 216] = b"\xff" * 16  # weight bytes: the CRC no longer matches
    good.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="damaged"):
        load(good)


def test_random_bytes_and_npy(tmp_path: Path) -> None:
    rnd = tmp_path / "r.npz"
    rnd.write_bytes(np.random.default_rng(0).bytes(500))
    with pytest.raises(FormatError, match=r"damaged or non-\.npz"):
        load(rnd)
    np.save(tmp_path / "a.npy", np.zeros(3))
    with pytest.raises(FormatError, match=r"single \.npy"):
        load(tmp_path / "a.npy")


def test_foreign_npz(tmp_path: Path) -> None:
    np.savez(tmp_path / "f.npz", x=np.zeros(3), y=np.ones(2))
    with pytest.raises(FormatError, match=r"expected an array named 'header', found arrays \['x'"):
        load(tmp_path / "f.npz")
    write(tmp_path / "g.npz", {"format": "keras", "format_version": 1}, {})
    with pytest.raises(FormatError, match="expected header format 'psinet', found 'keras'"):
        load(tmp_path / "g.npz")


def test_newer_format_version(good: Path) -> None:
    header, arrays = contents(good)
    header["format_version"] = 999
    write(good, header, arrays)
    with pytest.raises(FormatError, match=r"newer psinet.*999.*upgrade"):
        load(good)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b'{"format": "psinet", ', "valid UTF-8 JSON"),
        (b"\xff\xfe not utf-8", "valid UTF-8 JSON"),
        (b'{"format": "psinet", "x": NaN}', "valid UTF-8 JSON"),
        (b'["format", "psinet"]', "must be a JSON object"),
    ],
)
def test_header_not_json(good: Path, raw: bytes, match: str) -> None:
    _, arrays = contents(good)
    write(good, raw, arrays)
    with pytest.raises(FormatError, match=match):
        load(good)


def test_header_array_of_wrong_kind(good: Path) -> None:
    _, arrays = contents(good)
    np.savez(good, header=np.zeros((2, 3)), **arrays)
    with pytest.raises(FormatError, match="1-D uint8 array"):
        load(good)


@pytest.mark.parametrize(
    "key", ["format_version", "psinet_version", "sizes", "activations", "dtype", "n_layers"]
)
def test_header_missing_key(good: Path, key: str) -> None:
    header, arrays = contents(good)
    del header[key]
    write(good, header, arrays)
    with pytest.raises(FormatError, match=key):
        load(good)


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("format_version", "1", "format_version must be an integer"),
        ("format_version", True, "format_version must be an integer"),
        ("format_version", 0, "format_version must be an integer >= 1"),
        ("psinet_version", 1, "psinet_version must be a string"),
        ("sizes", "3,5,4,2", "sizes must be a list"),
        ("sizes", [3, 5, 4, True], "sizes must be a list"),
        ("sizes", [3, 0, 4, 2], "sizes must be a list"),
        ("sizes", [3], "sizes must be a list"),
        ("n_layers", 2, "n_layers must be len"),
        ("n_layers", 3.0, "n_layers must be len"),
        ("dtype", "float16", r"dtype must be one of \['float32', 'float64'\], found 'float16'"),
        ("activations", [{"name": "tanh"}], "activations must be a list of 3"),
        ("activations", ["tanh", "tanh", "tanh"], r"activations\[0\] must be an object"),
    ],
)
def test_header_wrong_types(good: Path, key: str, value: Any, match: str) -> None:
    header, arrays = contents(good)
    header[key] = value
    write(good, header, arrays)
    with pytest.raises(FormatError, match=match):
        load(good)


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"name": "swish"}, "unknown activation 'swish'"),
        ({"name": "leaky_relu", "alpha": 5.0}, r"alpha must be in \[0, 1\)"),
        ({"name": "tanh", "code": "import os"}, "takes no arguments"),
        ({"name": "__class__"}, "unknown activation"),
    ],
)
def test_bad_activation(good: Path, config: dict[str, Any], match: str) -> None:
    header, arrays = contents(good)
    header["activations"][1] = config
    write(good, header, arrays)
    with pytest.raises(FormatError, match=rf"activations\[1\].*{match}"):
        load(good)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda a: a.pop("W_1"), r"missing \['W_1'\], unexpected \[\]"),
        (lambda a: a.pop("opt_v_2"), r"missing \['opt_v_2'\]"),
        (lambda a: a.update(junk=np.zeros(1)), r"missing \[\], unexpected \['junk'\]"),
        (lambda a: a.update(W_3=np.zeros((2, 3))), r"unexpected \['W_3'\]"),
        (lambda a: a.update(W_0=np.zeros((4, 3))), r"W_0 must have shape \(5, 4\).*found \(4, 3\)"),
        (lambda a: a.update(W_2=np.zeros((2, 5, 1))), r"W_2 must have shape \(2, 5\)"),
        (
            lambda a: a.update(W_0=a["W_0"].astype(np.float32)),
            "W_0 must have dtype float64, found float32",
        ),
        (lambda a: a.update(W_0=np.zeros((5, 4), int)), "W_0 must have dtype float64, found int64"),
        (lambda a: a["W_1"].__setitem__((0, 0), np.inf), "W_1 must be finite"),
        (lambda a: a["W_2"].__setitem__((1, 4), np.nan), "W_2 must be finite"),
        (lambda a: a.update(opt_m_1=np.zeros((3, 3))), r"opt_m_1 must have shape \(4, 6\)"),
        (lambda a: a["opt_v_0"].__setitem__((0, 0), np.nan), "opt_v_0 must be finite"),
    ],
)
def test_bad_arrays(good: Path, change: Callable[[dict[str, np.ndarray]], Any], match: str) -> None:
    header, arrays = contents(good)
    change(arrays)
    write(good, header, arrays)
    with pytest.raises(FormatError, match=match):
        load(good)


def test_big_endian_file_loads(good: Path) -> None:
    header, arrays = contents(good)
    swapped = {k: v.astype(v.dtype.newbyteorder(">")) for k, v in arrays.items()}
    write(good, header, swapped)
    net, opt = load_with_optimizer(good)
    assert all(W.dtype == np.float64 for W in net.weights)
    assert all(np.array_equal(W, arrays[f"W_{l}"]) for l, W in enumerate(net.weights))
    assert opt is not None and opt.state_dict()["state"]["m"][0].dtype == np.float64
    train(net, opt, 1)  # the restored state is usable


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda o: o.pop("t"), r"missing \['t'\]"),
        (lambda o: o.update({"class": "Optimizer"}), "optimizer class must be one of"),
        (lambda o: o.update({"class": "os.system"}), "optimizer class must be one of"),
        (lambda o: o.update(t=-1), "optimizer t must be an integer >= 0"),
        (lambda o: o.update(epoch=1.5), "optimizer epoch must be an integer"),
        (lambda o: o.update(hyper=[0.01]), "hyper must be an object"),
        (lambda o: o["hyper"].update(lr=-1.0), "lr must be > 0"),
        (lambda o: o["hyper"].update(exec="print(1)"), r"unknown key\(s\) \[.exec.\]"),
        (lambda o: o["hyper"].update(lr={"class": "Evil"}), "config.'class'. must be one of"),
        (lambda o: o.update(state_names={"m": 3}), r"unexpected \['opt_v_0'"),
        (lambda o: o.update(state_names={"m": 2, "v": 3}), "must hold 0 or 3 arrays"),
        (lambda o: o.update(state_names={"m": "3", "v": 3}), "must map names to counts"),
        (lambda o: o.update({"class": "RMSprop"}), "invalid"),
    ],
)
def test_bad_optimizer_part(
    good: Path, change: Callable[[dict[str, Any]], Any], match: str
) -> None:
    header, arrays = contents(good)
    change(header["optimizer"])
    write(good, header, arrays)
    with pytest.raises(FormatError, match=match):
        load_with_optimizer(good)
    with pytest.raises(FormatError):
        load(good)  # load checks the optimizer part too


def test_optimizer_state_names_without_arrays(good: Path) -> None:
    header, arrays = contents(good)
    header["optimizer"]["state_names"] = {"m": 3, "v": 0}
    write(good, header, {k: v for k, v in arrays.items() if not k.startswith("opt_v")})
    with pytest.raises(FormatError, match="same length"):
        load_with_optimizer(good)


@pytest.mark.parametrize("where", ["W_0", "header"])
def test_object_array_is_refused_without_unpickling(
    good: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    header, arrays = contents(good)
    raw = np.frombuffer(json.dumps(header).encode(), np.uint8)
    evil = np.empty(1, dtype=object)
    evil[0] = {"would": "run code when unpickled"}
    if where == "header":
        arrays["header"] = np.array([raw], dtype=object)
    else:
        arrays["header"], arrays["W_0"] = raw, evil
    np.savez(good, allow_pickle=True, **arrays)
    unpickled: list[str] = []
    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, lambda *a, _n=name, **k: unpickled.append(_n))
    with pytest.raises(FormatError, match=f"{where}.*object array"):
        load(good)
    assert unpickled == []


def test_errors_are_value_errors_with_the_path(tmp_path: Path) -> None:
    np.savez(tmp_path / "f.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "f.npz"))):
        load(tmp_path / "f.npz")
