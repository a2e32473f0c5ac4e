"""Saving and loading: exact round trips, atomic writes, and every bad file refused."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import re
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import tracemalloc
import warnings
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib import format as npy_format

import psinet
from psinet import Network, gradients
from psinet import activations as act
from psinet.io import HEADER_LIMIT, FormatError, load, load_with_optimizer, save
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
        "format_version": 1,  # a dense network's file: older psinet reads it too
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
    with pytest.warns(UserWarning, match="no optimizer state"):
        assert load_with_optimizer(save(make_net(), tmp_path / "plain"))[1] is None


def test_load_with_optimizer_warns_when_the_file_has_none(tmp_path: Path) -> None:
    # fit(optimizer=None) would silently start a fresh Adam: a resume that is not one.
    path = save(make_net(), tmp_path / "plain")
    with pytest.warns(UserWarning, match=r"no optimizer state") as caught:
        net, opt = load_with_optimizer(path)
    assert opt is None and net.sizes == make_net().sizes
    (w,) = caught
    assert "net.save(path, optimizer=opt)" in str(w.message) and str(path) in str(w.message)
    assert w.filename == __file__  # points at the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load(path)  # load() never hands an optimizer back: nothing to warn about
        save(make_net(), path, optimizer=Adam())
        assert isinstance(load_with_optimizer(path)[1], Adam)


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


def _write_then_fail(*args: Any, **kwargs: Any) -> None:
    args[0].write(b"\x93NUMPY half an array")
    raise OSError("disk full")


WRITE_ARRAY = "psinet.io.npy_format.write_array"


@pytest.mark.parametrize("fail", [WRITE_ARRAY, "os.replace", "os.fsync"])
def test_failed_write_leaves_old_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail: str
) -> None:
    path = save(make_net(seed=0), tmp_path / "m.npz")
    old = path.read_bytes()
    boom: Callable[..., None] = _write_then_fail
    if fail != WRITE_ARRAY:
        boom = lambda *a, **k: (_ for _ in ()).throw(OSError(f"{fail} failed"))
    monkeypatch.setattr(fail, boom)
    with pytest.raises(OSError):
        save(make_net(seed=1), path)
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]
    assert load(path).weights[0].tobytes() == make_net(seed=0).weights[0].tobytes()


def test_failed_first_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(WRITE_ARRAY, _write_then_fail)
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


def _make_special(path: Path, kind: str) -> None:
    """A FIFO, a Unix socket or a directory at ``path`` (never a real device)."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        with socket.socket(socket.AF_UNIX) as s:  # a relative name: AF_UNIX paths are short
            cwd = os.getcwd()
            os.chdir(path.parent)
            try:
                s.bind(path.name)
            finally:
                os.chdir(cwd)
    else:
        path.mkdir()


def _identity(path: Path) -> tuple[int, int, int]:
    st = os.lstat(path)
    return stat.S_IFMT(st.st_mode), st.st_dev, st.st_ino


SPECIAL = ["fifo", "socket", "directory"]


@POSIX
@pytest.mark.parametrize("via_link", [False, True], ids=["direct", "symlink"])
@pytest.mark.parametrize("kind", SPECIAL)
def test_save_refuses_to_replace_a_special_file(tmp_path: Path, kind: str, via_link: bool) -> None:
    special = tmp_path / "m.npz"
    _make_special(special, kind)
    before = _identity(special)
    target = special
    if via_link:  # a link is followed, as load() follows it: what it leads to decides
        target = tmp_path / "link.npz"
        target.symlink_to(special)
    names = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(ValueError, match=r"must name a (regular )?file") as caught:
        save(make_net(), target)
    if kind != "directory":
        what = {"fifo": "a named pipe (FIFO)", "socket": "a socket"}[kind]
        assert what in str(caught.value) and str(special) in str(caught.value)
    assert _identity(special) == before  # still there, still the same kind, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == names  # no temporary file left


@POSIX
def test_save_refuses_a_special_file_swapped_in_during_the_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save(make_net(), tmp_path / "m.npz")
    real_write = npy_format.write_array

    def write_and_swap(*args: Any, **kwargs: Any) -> None:
        if path.is_file():  # another process puts a FIFO there while the archive is written
            path.unlink()
            os.mkfifo(path)
        real_write(*args, **kwargs)

    monkeypatch.setattr(WRITE_ARRAY, write_and_swap)
    with pytest.raises(ValueError, match=r"named pipe \(FIFO\)"):
        save(make_net(seed=1), path)
    assert stat.S_ISFIFO(os.lstat(path).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


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
        (lambda a: a.update(junk=np.zeros(1)), r"unexpected members \['junk\.npy'\]"),
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
        (lambda o: o.pop("t"), r"Adam optimizer is invalid: .*'t'"),
        (
            lambda o: o.pop("class"),
            r"must have keys 'class' and 'state_names', missing \['class'\]",
        ),
        (lambda o: o.update({"class": "Optimizer"}), "optimizer class must be one of"),
        (lambda o: o.update({"class": "os.system"}), "optimizer class must be one of"),
        (lambda o: o.update(t=-1), "t and epoch must be >= 0"),
        (lambda o: o.update(epoch=1.5), "epoch must be an integer"),
        (lambda o: o.update(hyper=[0.01]), "Adam optimizer is invalid"),
        (lambda o: o.update(t=10**17), None),  # large but in range: a valid step count
        (lambda o: o["hyper"].update(beta1=1.5), r"beta1 must be in \[0, 1\)"),
        (lambda o: o["hyper"].update(lr=-1.0), "lr must be >= 0"),
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
    if match is None:
        assert load_with_optimizer(good)[1] is not None
        return
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


# ------------------------------------------------------------------ crafted archives
# Small hand-made zips: each must be refused from what it *declares*, before any array
# of the declared size is allocated (tracemalloc sees NumPy's allocations too).


def npy(shape: tuple[int, ...], dtype: Any, data: bytes = b"") -> bytes:
    """A .npy member: the 1.0 header NumPy writes for ``shape`` and ``dtype``, then ``data``."""
    buf = io.BytesIO()
    header = {"descr": npy_format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False}
    npy_format.write_array_header_1_0(buf, {**header, "shape": shape})
    return buf.getvalue() + data


def npy_of(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    npy_format.write_array(buf, a, allow_pickle=False)
    return buf.getvalue()


def json_member(header: Any) -> tuple[str, bytes]:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return "header.npy", npy((len(raw),), np.uint8, raw)


def zip_members(
    path: Path, members: list[tuple[str, bytes]], method: int = zipfile.ZIP_STORED
) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate names we want
        with zipfile.ZipFile(path, "w", compression=method) as zf:
            for name, data in members:
                zf.writestr(name, data)
    return path


def members_of(path: Path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as zf:
        return [(name, zf.read(name)) for name in zf.namelist()]


@contextmanager
def peak_memory() -> Iterator[list[int]]:
    """Yields a list that holds the peak of traced memory, in bytes, once the block ends."""
    tracemalloc.start()
    peak: list[int] = []
    try:
        yield peak
    finally:
        peak.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


HUGE = {  # a network whose one weight matrix would take 7.28 TiB
    "format": "psinet",
    "format_version": 1,
    "psinet_version": "0.1.0",
    "sizes": [10**6, 10**6],
    "activations": [{"name": "identity"}],
    "dtype": "float64",
    "n_layers": 1,
}


def test_huge_declared_shape_is_refused_before_allocating(tmp_path: Path) -> None:
    path = zip_members(
        tmp_path / "m.npz", [json_member(HUGE), ("W_0.npy", npy((10**6, 10**6 + 1), "<f8"))]
    )
    assert path.stat().st_size < 1024
    with (
        peak_memory() as peak,
        pytest.raises(
            FormatError,
            match=r"W_0\.npy must be \d+ bytes for shape \(1000000, 1000001\).*found \d+",
        ),
    ):
        load(path)
    assert peak[0] < 1 << 20


def patch_central(data: bytes, name: str, field: int, value: int) -> bytes:
    """``data`` with a 4-byte (or 2-byte, for flags and method) field of ``name``'s central
    directory entry replaced: 8 flags, 10 method, 20 compressed size, 24 size."""
    pos = 0
    while True:
        pos = data.index(b"PK\x01\x02", pos + 1)
        n = int.from_bytes(data[pos + 28 : pos + 30], "little")
        if data[pos + 46 : pos + 46 + n] == name.encode():
            break
    width = 2 if field in (8, 10) else 4
    patched = bytearray(data)
    patched[pos + field : pos + field + width] = value.to_bytes(width, "little")
    return bytes(patched)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({20: 2**31, 24: 2**31}, r"W_1\.npy declares 2147483648 bytes, more than the file's"),
        ({20: 2**31}, r"W_1\.npy declares"),  # sizes that disagree: stored means equal
        ({8: 1}, r"W_1\.npy is encrypted"),
        ({10: 8}, r"W_1\.npy is compressed \(zip method 8\)"),
        ({10: 14}, r"W_1\.npy is compressed \(zip method 14\)"),  # LZMA
    ],
)
def test_directory_declarations_are_checked_first(
    good: Path, fields: dict[int, int], match: str
) -> None:
    data = good.read_bytes()
    for field, value in fields.items():
        data = patch_central(data, "W_1.npy", field, value)
    good.write_bytes(data)
    with pytest.raises(FormatError, match=match):
        load(good)


def test_members_overlapping_the_same_bytes_are_refused(tmp_path: Path) -> None:
    # Two members whose declared sizes together exceed the file: one region counted twice.
    net = Network([200, 300], "tanh", seed=0)
    path = save(net, tmp_path / "m")
    size = path.stat().st_size
    data = path.read_bytes()
    grown = size - 200  # W_0 claims (almost) the whole file, header included
    data = patch_central(patch_central(data, "W_0.npy", 20, grown), "W_0.npy", 24, grown)
    path.write_bytes(data)
    with pytest.raises(FormatError, match=r"declare"):
        load(path)


def test_compressed_members_are_refused_unread(good: Path, tmp_path: Path) -> None:
    compressed = tmp_path / "c.npz"
    with np.load(good) as npz:
        np.savez_compressed(compressed, **{name: npz[name] for name in npz.files})
    with pytest.raises(FormatError, match=r"header\.npy is compressed .*uncompressed members only"):
        load(compressed)

    # A "zip bomb": a legal name, 64 MiB of zeros that deflate to 64 KiB.
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w") as zf:
        for name, data in members_of(good):
            zf.writestr(name, data)
    with zipfile.ZipFile(bomb, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("opt_m_9.npy", "w") as member:
            member.write(npy((8, 1 << 20), "<f8"))
            for _ in range(64):
                member.write(bytes(1 << 20))
    assert bomb.stat().st_size < 1 << 20
    with peak_memory() as peak, pytest.raises(FormatError, match="compressed"):
        load(bomb)
    assert peak[0] < 4 << 20


def test_oversized_headers_are_refused_unread(good: Path, tmp_path: Path) -> None:
    header, _ = contents(good)
    others = [m for m in members_of(good) if m[0] != "header.npy"]
    raw = json.dumps(header).encode()
    padded = raw[:-1] + b" " * (HEADER_LIMIT + 1 - len(raw)) + b"}"  # valid JSON, too long
    big = zip_members(tmp_path / "big.npz", [json_member(padded), *others])
    with peak_memory() as peak, pytest.raises(FormatError, match=rf"at most {HEADER_LIMIT} bytes"):
        load(big)
    assert peak[0] < 1 << 20  # the 1 MiB of JSON is never read

    claims = zip_members(
        tmp_path / "claims.npz", [("header.npy", npy((512 << 20,), np.uint8, raw)), *others]
    )
    with pytest.raises(FormatError, match=rf"at most {HEADER_LIMIT} bytes"):
        load(claims)

    # The .npy header of a member (a Python literal) is bounded too, like np.load's.
    text = b"{'descr': '<f8', 'fortran_order': False, 'shape': (5, 4), }" + b" " * 20_000 + b"\n"
    long_npy = b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text
    npy_big = zip_members(
        tmp_path / "n.npz",
        [*[m for m in members_of(good) if m[0] != "W_0.npy"], ("W_0.npy", long_npy)],
    )
    with pytest.raises(
        FormatError, match=r"W_0\.npy's \.npy header must be at most 10000 bytes, found 20"
    ):
        load(npy_big)


def test_duplicate_member_names_are_refused(good: Path) -> None:
    members = members_of(good)
    zip_members(good, [*members, ("W_0.npy", dict(members)["W_0.npy"])])
    with pytest.raises(
        FormatError, match=r"each array must appear once, found \['W_0\.npy'\] twice"
    ):
        load(good)


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("junk", r"unexpected members \['junk'\]"),
        ("../W_0.npy", r"unexpected members \['\.\./W_0\.npy'\]"),
        ("W_0.npy/", "unexpected members"),
        ("header.npy.bak", "unexpected members"),
        ("W_3.npy", r"missing \[\], unexpected \['W_3'\]"),
        ("opt_v_0.npy", r"unexpected \['opt_v_0'\]"),  # no optimizer in this file
    ],
)
def test_unknown_members_are_refused(tmp_path: Path, name: str, match: str) -> None:
    path = save(make_net(), tmp_path / "m")
    zip_members(path, [*members_of(path), (name, npy_of(np.zeros((5, 4))))])
    with pytest.raises(FormatError, match=match):
        load(path)


def test_a_huge_zip_directory_is_refused_unparsed(tmp_path: Path) -> None:
    # 40,000 directory entries (2.2 MB) would become 40,000 ZipInfo objects (~20 MB).
    entries = b"".join(
        struct.pack(
            "<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0, n, 0, 0, 0, 0, 0, 0
        )
        + name
        for name in (f"W_{i}.npy".encode() for i in range(40_000))
        for n in [len(name)]
    )
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, 40_000 % 65536, 40_000 % 65536, len(entries), 0, 0
    )
    path = tmp_path / "many.npz"
    path.write_bytes(entries + end)
    with (
        peak_memory() as peak,
        pytest.raises(
            FormatError, match=r"zip directory must be at most 1048576 bytes.*found 2\d{6}"
        ),
    ):
        load(path)
    assert peak[0] < 1 << 20


def test_zip64_end_records_are_read_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 0)  # as for > 65535 members: zip64 records
    path = zip_members(tmp_path / "z.npz", members_of(save(make_net(), tmp_path / "m")))
    monkeypatch.undo()
    data = path.read_bytes()
    assert data[-42:-38] == b"PK\x06\x07"  # the zip64 locator, then the end record
    assert load(path).sizes == make_net().sizes  # a valid zip64 archive loads
    record = data.rindex(b"PK\x06\x06")
    patched = data[: record + 40] + (2**40).to_bytes(8, "little") + data[record + 48 :]
    path.write_bytes(patched)  # the zip64 record (not the plain one) claims a 1 TiB directory
    with pytest.raises(FormatError, match=r"zip directory must be at most .* found 1099511627776"):
        load(path)


def test_an_archive_comment_is_refused(good: Path) -> None:
    with zipfile.ZipFile(good, "a") as zf:
        zf.comment = b"psinet never writes one"
    with pytest.raises(FormatError, match="no zip end record in its last 22 bytes"):
        load(good)


def test_declared_size_must_match_the_member(good: Path) -> None:
    members = dict(members_of(good))
    members["W_0.npy"] += b"\x00" * 8  # one float more than the shape holds
    zip_members(good, list(members.items()))
    with pytest.raises(FormatError, match=r"W_0\.npy must be \d+ bytes for shape \(5, 4\)"):
        load(good)


# ------------------------------------------------------------------ every error a FormatError


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ('"alpha": 0.2', '"alpha": 1e400', r"number '1e400' is out of range"),
        ('"alpha": 0.2', '"alpha": -1E+999', "out of range"),
        ('"alpha": 0.2', '"alpha": 1' + "0" * 400, r"integer '1000.* is out of range"),
        ('"alpha": 0.2', '"alpha": Infinity', "Infinity is not valid JSON"),
        ('"alpha": 0.2', '"alpha": "0.2"', "leaky_relu alpha must be a real number"),
        ('"alpha": 0.2', '"alpha": true', "leaky_relu alpha must be a real number"),
        ('"alpha": 0.2', '"alpha": 1e308', r"alpha must be in \[0, 1\)"),
        ('"lr": 0.01', '"lr": 1e400', "out of range"),
        ('"lr": 0.01', '"lr": 1' + "0" * 400, "out of range"),
        ('"lr": 0.01', '"lr": -0.5', "lr must be >= 0"),  # the constructor's own check
        ('"t": 2', '"t": 1' + "0" * 30, "out of range"),
        ('"sizes": [3, 5, 4, 2]', '"sizes": [3, 5, 4, 1' + "0" * 25 + "]", "out of range"),
        (
            '"psinet_version": "0.1.0"',
            '"psinet_version": ' + "[" * 100_000 + "]" * 100_000,
            "nesting too deep",
        ),
        (
            '"psinet_version": "0.1.0"',
            '"psinet_version": ' + '{"a":' * 50_000 + "1" + "}" * 50_000,
            "nesting too deep",
        ),
    ],
)
def test_malformed_numbers_and_nesting_raise_format_error(
    good: Path, old: str, new: str, match: str
) -> None:
    header, arrays = contents(good)
    text = json.dumps(header)
    assert old in text
    write(good, text.replace(old, new, 1).encode(), arrays)
    with pytest.raises(FormatError, match=match) as caught:
        load_with_optimizer(good)
    assert isinstance(caught.value, ValueError)


@pytest.fixture
def registry() -> Iterator[None]:
    """Custom classes registered in a test are forgotten after it."""
    saved = dict(act.REGISTERED), dict(psinet.losses.REGISTERED)
    yield
    act.REGISTERED.clear()
    act.REGISTERED.update(saved[0])
    psinet.losses.REGISTERED.clear()
    psinet.losses.REGISTERED.update(saved[1])


def test_whatever_a_custom_constructor_raises_becomes_format_error(
    tmp_path: Path, registry: None
) -> None:
    @psinet.register_activation
    class Scaled(act.Activation):
        name = "io_scaled"

        def __init__(self, k: float = 1.0) -> None:
            self.k = 1.0 / k  # k = 0 raises ZeroDivisionError

        def value(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
            return np.multiply(z, self.k, out=out)

        def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
            return np.full_like(z, self.k)

        def get_config(self) -> dict[str, Any]:
            return {"name": self.name, "k": 1.0 / self.k}

    path = save(Network([2, 2], Scaled(2.0), seed=0), tmp_path / "m")
    header, arrays = contents(path)
    header["activations"][0]["k"] = 0.0
    write(path, header, arrays)
    with pytest.raises(FormatError, match=r"activations\[0\].*invalid: ZeroDivisionError"):
        load(path)


# ------------------------------------------------------------------ only regular files


def _load_in_thread(path: Path, timeout: float = 10.0) -> BaseException | None:
    """What ``load(path)`` raised, run in a thread so that a blocking open fails the test."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            load(path)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():  # unblock the reader (a writer's open ends its wait), then fail
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(timeout)
        pytest.fail(f"load({path}) blocked")
    return outcome[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    error = _load_in_thread(fifo)
    assert isinstance(error, FormatError), error
    assert "expected a regular file, found a named pipe (FIFO)" in str(error)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
def test_a_fifo_swapped_in_after_the_check_is_refused(
    tmp_path: Path, good: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    real_stat = os.stat
    monkeypatch.setattr(
        os, "stat", lambda p, *a, **k: real_stat(good if Path(p) == fifo else p, *a, **k)
    )
    error = _load_in_thread(fifo)  # the path looked regular; the opened descriptor is not
    assert isinstance(error, FormatError) and "named pipe (FIFO)" in str(error), error


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="no /dev/null")
def test_devices_and_directories_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="expected a regular file, found a character device"):
        load("/dev/null")
    with pytest.raises(IsADirectoryError, match="found a directory"):
        load(tmp_path)


# ------------------------------------------------------------------ custom parts by name


class _Swish(act.Activation):
    """f(z) = z·σ(βz), unregistered until a test registers it."""

    name = "io_swish"

    def __init__(self, beta: float = 1.0) -> None:
        self.beta = float(beta)

    def value(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return np.multiply(z, act.Sigmoid().value(self.beta * z), out=out)

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        s = act.Sigmoid().value(self.beta * z)
        return s + self.beta * z * s * (1 - s)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "beta": self.beta}


class _NotTanh(act.Tanh):
    """A subclass that inherits the name "tanh" but computes something else."""

    def value(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return np.multiply(z, 3.0, out=out)


def test_unregistered_activation_is_refused_with_the_fix(tmp_path: Path, registry: None) -> None:
    old = save(make_net(), tmp_path / "m").read_bytes()
    net = Network([2, 3, 1], [_Swish(0.5), "identity"], seed=0)
    with pytest.raises(
        ValueError,
        match=r"activations\[0\].*no activation is registered under its name 'io_swish'"
        r".*psinet\.register_activation",
    ):
        save(net, tmp_path / "m")
    assert (tmp_path / "m.npz").read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_a_subclass_is_never_saved_under_its_parents_name(tmp_path: Path, registry: None) -> None:
    net = Network([1, 1], _NotTanh(), seed=0)
    with pytest.raises(
        ValueError, match=r"the name 'tanh' is that of psinet\.activations\.Tanh.*own name"
    ):
        save(net, tmp_path / "m")
    with pytest.raises(ValueError, match=r"taken by psinet\.activations\.Tanh"):
        psinet.register_activation(_NotTanh)
    assert list(tmp_path.iterdir()) == []


def test_registered_activation_with_parameters_round_trips(tmp_path: Path, registry: None) -> None:
    assert psinet.register_activation(_Swish) is _Swish
    net = Network([3, 4, 2], [_Swish(0.5), "identity"], seed=2)
    again = load(save(net, tmp_path / "m"))
    f = again.activations[0]
    assert type(f) is _Swish and f.beta == 0.5
    X = np.random.default_rng(0).normal(size=(6, 3))
    assert np.array_equal(again.predict(X), net.predict(X))


def test_get_config_must_describe_the_activation(tmp_path: Path, registry: None) -> None:
    @psinet.register_activation
    class Forgetful(_Swish):
        name = "io_forgetful"

        def get_config(self) -> dict[str, Any]:
            return {"name": self.name}  # beta is lost

    with pytest.raises(
        ValueError,
        match=r"its 'beta' differs; get_config\(\) must return every constructor argument",
    ):
        save(Network([1, 1], Forgetful(0.5), seed=0), tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


def test_schedule_subclass_is_refused(tmp_path: Path) -> None:
    class MyDecay(CosineDecay):
        pass

    with pytest.raises(
        ValueError, match=r"optimizer\.lr must be one of psinet\.schedules' classes"
    ):
        save(make_net(), tmp_path / "m", optimizer=Adam(lr=MyDecay(0.1, epochs=3)))
    assert list(tmp_path.iterdir()) == []


def test_every_state_dict_key_is_stored_and_given_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Contract: save stores what state_dict() returns; load hands it to load_state_dict().
    original_state, original_load = Adam.state_dict, Adam.load_state_dict
    given: list[dict[str, Any]] = []
    monkeypatch.setattr(
        Adam, "state_dict", lambda self: {**original_state(self), "shuffle_epoch": 7}
    )

    def load_state(self: Adam, d: dict[str, Any]) -> None:
        given.append(dict(d))
        original_load(self, {k: v for k, v in d.items() if k != "shuffle_epoch"})

    monkeypatch.setattr(Adam, "load_state_dict", load_state)
    path = save(make_net(), tmp_path / "m", optimizer=Adam(lr=0.01))
    assert contents(path)[0]["optimizer"]["shuffle_epoch"] == 7
    load_with_optimizer(path)
    assert given[0]["shuffle_epoch"] == 7 and "state_names" not in given[0]


# ------------------------------------------------------------------ paths and temporary files


def test_a_250_byte_file_name_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = "m" * 246 + ".npz"
    temps: list[str] = []
    real_replace = os.replace
    monkeypatch.setattr(
        os, "replace", lambda a, b: (temps.append(Path(a).name), real_replace(a, b))[1]
    )
    path = save(make_net(), tmp_path / name)
    assert path.name == name and load(path).sizes == make_net().sizes
    assert len(temps) == 1 and len(temps[0]) <= 70 and temps[0].startswith(".mmmm")
    assert [p.name for p in tmp_path.iterdir()] == [name]


@pytest.mark.parametrize("kind", ["separator", "existing dir", "existing dir.npz", "dot"])
def test_directory_paths_are_refused(tmp_path: Path, kind: str) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "e.npz").mkdir()
    path: str | Path = {
        "separator": str(tmp_path / "new") + os.sep,
        "existing dir": tmp_path / "d",
        "existing dir.npz": tmp_path / "e",
        "dot": tmp_path / "d" / "..",
    }[kind]
    with pytest.raises(ValueError, match="path must name a file"):
        save(make_net(), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "e.npz"]
    assert list((tmp_path / "d").iterdir()) == list((tmp_path / "e.npz").iterdir()) == []


def _temp_name(target: str, random: str = "0123456789ab") -> str:
    """The temporary name a save to ``target`` uses (the documented scheme)."""
    digest = hashlib.sha256(target.encode()).hexdigest()[:12]
    return f".{target[:32]}.{digest}.psinet-tmp-{random}"


KILL_DURING_SAVE = """
import os, signal, sys
import psinet, psinet.io
os.replace = lambda *args: os.kill(os.getpid(), signal.SIGKILL)  # killed just before renaming
psinet.io.save(psinet.Network([2, 3, 1], "tanh", seed=0), sys.argv[1])
"""


@POSIX
def test_the_next_save_removes_what_a_killed_save_left(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", KILL_DURING_SAVE, str(tmp_path / "m")], env=env, timeout=120
    )
    assert done.returncode == -signal.SIGKILL
    (left,) = tmp_path.iterdir()
    assert re.fullmatch(r"\.m\.npz\.[0-9a-f]{12}\.psinet-tmp-[0-9a-f]{12}", left.name)
    assert left.stat().st_size > 0 and not (tmp_path / "m.npz").exists()

    legacy = tmp_path / ".m.npz.0123456789ab.npz.tmp"  # what psinet 0.1.0 left behind
    keep = [
        _temp_name("other.npz"),  # another target's
        _temp_name("m.npz", "0123456789AB"),  # not the exact pattern
        _temp_name("m.npz", "0123456789a"),
        ".m.npz.keep",
        "m.npz.psinet-tmp-0123456789ab",
        "notes.txt",
    ]
    for name in [legacy.name, *keep]:
        (tmp_path / name).write_bytes(b"not psinet's to delete" if name in keep else b"PK")
    (tmp_path / _temp_name("m.npz", "aaaaaaaaaaaa")).mkdir()  # a directory is never removed
    keep.append(_temp_name("m.npz", "aaaaaaaaaaaa"))

    path = save(make_net(), tmp_path / "m")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*keep, "m.npz"])
    assert load(path).sizes == make_net().sizes


@POSIX
def test_a_running_saves_temporary_file_is_kept(tmp_path: Path) -> None:
    import fcntl

    running = tmp_path / _temp_name("m.npz")
    with open(running, "wb") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a live save holds it
        save(make_net(), tmp_path / "m")
        assert running.exists()
    save(make_net(), tmp_path / "m")  # unlocked now: an abandoned file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


# ------------------------------------------------------------------ the same archive on every NumPy


def test_members_are_written_by_psinet_not_np_savez(tmp_path: Path) -> None:
    net, opt = make_net(), Adam(lr=0.01)
    train(net, opt, 1)
    path = save(net, tmp_path / "m", optimizer=opt)
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == [
        "header.npy",
        *[f"W_{l}.npy" for l in range(3)],
        *[f"opt_{n}_{l}.npy" for n in "mv" for l in range(3)],
    ]  # no "allow_pickle.npy", whatever NumPy's np.savez would add
    assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)
    assert save(net, tmp_path / "n", optimizer=opt).read_bytes() == path.read_bytes()
    _, arrays = contents(path)  # np.load reads it
    assert np.array_equal(arrays["W_1"], net.weights[1])


def test_files_from_numpy_before_2_2_with_an_allow_pickle_member_load(good: Path) -> None:
    zip_members(good, [*members_of(good), ("allow_pickle.npy", npy_of(np.array(False)))])
    net, opt = load_with_optimizer(good)
    assert opt is not None and net.sizes == make_net().sizes
    zip_members(good, [*members_of(good)[:-1], ("allow_pickle.npy", npy_of(np.zeros(3)))])
    with pytest.raises(FormatError, match="allow_pickle must have dtype bool"):
        load(good)


def test_load_memory_is_a_small_multiple_of_the_weights(tmp_path: Path) -> None:
    net = Network([1000, 1000], "tanh", seed=0)  # 8 MB of weights
    path = save(net, tmp_path / "m")
    with peak_memory() as peak:
        again = load(path)
    assert np.array_equal(again.weights[0], net.weights[0])
    assert peak[0] < 2.5 * net.weights[0].nbytes, peak[0] / net.weights[0].nbytes
