"""Writing a network file: :func:`save` checks a Network (and optimizer), builds the
header and arrays :mod:`psinet.io._format` describes, and writes them atomically.

Everything is checked before anything is written: a file :func:`psinet.io.load` would
refuse, or could not rebuild exactly, is never written.
"""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import activations as _activations
from .. import schedules as _schedules
from .._version import __version__
from ..activations import Activation
from ..layers import Layer, from_config
from ..network import Network
from ..optimizers import Optimizer
from ._atomic import _atomic_write
from ._format import _STATE_NAME, FORMAT_VERSION, HEADER_LIMIT, _optimizer_classes

Array = np.ndarray
PathLike = str | os.PathLike[str]


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def save(net: Network, path: PathLike, *, optimizer: Optimizer | None = None) -> Path:
    """Write ``net`` (and optionally ``optimizer``'s state) to one ``.npz`` file.

    Parameters
    ----------
    net : Network
        Its weights ``W_l``, ndarray of shape (n_{l+1}, n_l + 1) each (a convolution's
        (filters, C·kh·kw + 1)), must be finite; each activation must be built in or
        registered (``psinet.register_activation``). An image network's architecture
        (input shape, Conv2D layers) is written too.
    path : str or path-like
        The file to write; ``.npz`` is appended when the name does not end with it
        (as :func:`numpy.savez` does). An existing regular file is replaced atomically
        (through a symlink, the file it leads to, as :func:`load` reads it). A path
        ending in a separator, or naming anything else that exists (a directory, a
        FIFO, a socket, a device), is refused with a ValueError and left as it is.
    optimizer : Optimizer or None
        One of :mod:`psinet.optimizers`' classes whose state (if any) is by position
        for ``net.weights``: ndarray of shape (n_{l+1}, n_l + 1) in ``net.dtype``.

    Returns
    -------
    pathlib.Path
        The path written, with its ``.npz`` suffix.

    Raises
    ------
    TypeError, ValueError
        Before anything is written: something :func:`load` could not rebuild exactly.
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be a psinet.Network, got {type(net).__name__}")
    if optimizer is not None and not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"optimizer must be a psinet.optimizers.Optimizer or None, "
            f"got {type(optimizer).__name__}"
        )
    target = _target(path)

    # 1. Everything to be written, checked first: a file load() would refuse is not written.

    dtype = np.dtype(net.dtype)
    weights = [np.asarray(W) for W in net.weights]
    for l, W in enumerate(weights):
        if not np.isfinite(W).all():
            raise ValueError(f"net.weights[{l}] must be finite to be saved, got NaN or inf")
    header: dict[str, Any] = {
        "format": "psinet",
        # version 1 for a dense network (older psinet reads it), 2 for an image network
        "format_version": 1 if len(net.input_shape) == 1 else FORMAT_VERSION,
        "psinet_version": __version__,
        "sizes": list(net.sizes),
        "activations": [_activation_config(l, f) for l, f in enumerate(net.activations)],
        "dtype": dtype.name,
        "n_layers": net.n_layers,
    }
    if len(net.input_shape) != 1:  # an image network: "sizes" alone cannot rebuild it
        header["architecture"] = _architecture(net)
    arrays: dict[str, Array] = {f"W_{l}": W for l, W in enumerate(weights)}
    if optimizer is not None:
        header["optimizer"], opt_arrays = _optimizer_part(optimizer, weights)
        arrays.update(opt_arrays)
    try:
        text = json.dumps(header, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the header must be finite JSON data, got {header!r}: {exc}") from None
    raw = text.encode("utf-8")
    if len(raw) > HEADER_LIMIT:
        raise ValueError(
            f"the header must be at most {HEADER_LIMIT} bytes of JSON to be loadable, "
            f"got {len(raw)}"
        )

    # 2. Write a temporary file beside the target, then rename it over the target.
    members = [("header", np.frombuffer(raw, dtype=np.uint8)), *arrays.items()]
    _atomic_write(target, members)
    return target


def _target(path: PathLike) -> Path:
    """The file ``save`` writes: ``path`` with ``.npz`` appended unless it ends with it."""
    raw = os.fspath(path)
    if not isinstance(raw, str):
        raise TypeError(f"path must be a str or os.PathLike[str], got {type(raw).__name__}")
    separators = tuple(s for s in (os.sep, os.altsep) if s)
    if not raw or raw.endswith(separators):
        raise ValueError(f"path must name a file, got {raw!r}, which names a directory")
    given = Path(raw)
    if given.name in ("", ".", "..") or given.is_dir():
        raise ValueError(f"path must name a file, got {raw!r}, which is a directory")
    target = given if given.name.endswith(".npz") else given.with_name(given.name + ".npz")
    if target.is_dir():
        raise ValueError(f"path must name a file, got {raw!r}, and {target} is a directory")
    return target


def _architecture(net: Network) -> list[Any]:
    """``net.architecture`` as JSON data: the input shape [C, H, W], then per weight layer a
    convolution's ``{"class": "Conv2D", **get_config()}`` or a dense layer's width,
    each checked to rebuild the very layer through :func:`psinet.layers.from_config`."""
    first, *layers = net.architecture
    entries: list[Any] = [list(first)]
    for l, layer in enumerate(layers):
        if not isinstance(layer, Layer):  # a dense layer's width
            entries.append(layer)
            continue
        config = {"class": type(layer).__name__, **layer.get_config()}
        try:
            rebuilt = from_config(config)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"net.layers[{l}] is a {_qualname(type(layer))}, which load() could not "
                f"rebuild from {config!r}: {exc}"
            ) from None
        if type(rebuilt) is not type(layer) or rebuilt.get_config() != layer.get_config():
            raise ValueError(
                f"net.layers[{l}] = {layer!r} is not rebuilt by psinet.layers.from_config "
                f"from {config!r}; only psinet's own Dense and Conv2D can be saved"
            )
        entries.append(config)
    return entries


def _activation_config(l: int, f: Activation) -> dict[str, Any]:
    """``f.get_config()``, checked to rebuild ``f`` exactly through the registry."""
    cls = type(f)
    name = getattr(f, "name", None)
    known = _activations.lookup(name) if isinstance(name, str) else None
    if known is not cls:
        reason = (
            f"the name {name!r} is that of {_qualname(known)}"
            if known is not None
            else f"no activation is registered under its name {name!r}"
        )
        raise ValueError(
            f"net.activations[{l}] is a {_qualname(cls)}, which load() could not rebuild: "
            f"{reason}. Give the class its own name = '...' and register it with "
            f"psinet.register_activation before saving (and before loading)"
        )
    config = f.get_config()
    try:
        rebuilt = _activations.get(config)
    except Exception as exc:
        raise ValueError(
            f"net.activations[{l}] cannot be rebuilt from its get_config() {config!r}: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    differs = _differing_parameter(f, rebuilt)
    if type(rebuilt) is not cls or rebuilt.get_config() != config or differs:
        detail = f": its {differs!r} differs" if differs else ""
        raise ValueError(
            f"net.activations[{l}] = {f!r} is not rebuilt by {cls.__qualname__}(**params) from "
            f"its get_config() {config!r}{detail}; get_config() must return every "
            f"constructor argument"
        )
    return config


def _differing_parameter(f: Activation, rebuilt: Activation) -> str | None:
    """A constructor parameter stored on ``f`` whose value ``rebuilt`` does not share."""
    try:
        params = inspect.signature(type(f)).parameters
    except (TypeError, ValueError):  # no signature to inspect: nothing to compare
        return None
    mine, theirs = getattr(f, "__dict__", {}), getattr(rebuilt, "__dict__", {})
    for name in params:
        if name not in mine:
            continue
        a, b = mine[name], theirs.get(name, _MISSING)
        try:
            same = bool(np.array_equal(a, b)) if isinstance(a, np.ndarray) else bool(a == b)
        except Exception:
            same = a is b
        if not same:
            return name
    return None


_MISSING = object()


def _optimizer_part(
    optimizer: Optimizer, weights: list[Array]
) -> tuple[dict[str, Any], dict[str, Array]]:
    """The header entry and the ``opt_<name>_<i>`` arrays for ``optimizer``'s state."""
    cls_name = type(optimizer).__name__
    if _optimizer_classes().get(cls_name) is not type(optimizer):
        raise ValueError(
            f"optimizer must be one of psinet.optimizers' classes "
            f"{sorted(_optimizer_classes())}, got {_qualname(type(optimizer))}"
        )
    lr = optimizer.lr
    if isinstance(lr, _schedules.Schedule) and (
        _schedules.SCHEDULES.get(type(lr).__name__) is not type(lr)
    ):
        raise ValueError(
            f"optimizer.lr must be one of psinet.schedules' classes "
            f"{sorted(_schedules.SCHEDULES)} to be saved, got {_qualname(type(lr))}"
        )
    d = optimizer.state_dict()
    arrays: dict[str, Array] = {}
    for name, state in d["state"].items():
        if not isinstance(name, str) or not _STATE_NAME.fullmatch(name):
            raise ValueError(f"optimizer state names must be identifiers, got {name!r}")
        if state and len(state) != len(weights):
            raise ValueError(
                f"optimizer state {name!r} must hold one array per weight matrix "
                f"({len(weights)}), got {len(state)}: was it stepped on another network?"
            )
        for i, (a, W) in enumerate(zip(state, weights, strict=False)):
            if a.shape != W.shape or a.dtype != W.dtype:
                raise ValueError(
                    f"optimizer state {name}[{i}] must match net.weights[{i}] (shape "
                    f"{W.shape}, dtype {W.dtype}), got shape {a.shape} dtype {a.dtype}"
                )
            if not np.isfinite(a).all():
                raise ValueError(f"optimizer state {name}[{i}] must be finite, got NaN or inf")
            arrays[f"opt_{name}_{i}"] = a
    # Every plain-data key of state_dict() is stored; load_state_dict() checks them on load.
    entry = {key: value for key, value in d.items() if key != "state"}
    entry["state_names"] = {name: len(state) for name, state in d["state"].items()}
    return entry, arrays
