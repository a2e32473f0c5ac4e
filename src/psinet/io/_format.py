"""The psinet network file format: what a file's members and JSON header hold, and the
version, limits and names that :func:`psinet.io.save` writes and :func:`psinet.io.load` checks.

The file is a plain, uncompressed NumPy ``.npz`` archive (``np.load`` reads it, no
pickle involved); each member is one ``.npy`` array:

* ``header.npy``: UTF-8 JSON stored as a 1-D uint8 array (at most 1 MiB)::

      {"format": "psinet", "format_version": 2, "psinet_version": "0.1.0",
       "sizes": [n_0, …, n_L], "activations": [{"name": "tanh"}, …],
       "dtype": "float64" or "float32", "n_layers": L,
       "architecture": [[C, H, W],                                      # images only:
                        {"class": "Conv2D", "filters": 8, "kernel_size": [3, 3],
                         "stride": [1, 1], "padding": [0, 0]}, …, 10],  # net.architecture
       "optimizer": {"class": "Adam", "hyper": {…}, "t": 3, "epoch": 0,    # optional:
                     …,                                                 # state_dict()
                     "state_names": {"m": L, "v": L}}}                  # minus its arrays

  ``"architecture"`` is written for a network with an image input (C, H, W) only: its
  ``net.architecture`` as JSON, the input shape, then one entry per weight layer, a
  convolution's ``{"class": "Conv2D", **get_config()}`` or a dense layer's width. Then
  ``"sizes"`` holds each layer's values per sample (a convolution's filters·Ho·Wo) and
  must agree with it. Without it the network is dense and ``"sizes"`` its widths.
* ``W_0.npy … W_{L-1}.npy``: the weight matrices, ``W_l`` ndarray of shape
  (n_{l+1}, n_l + 1) with the bias as the last column, in the network's dtype (a
  convolution's: (filters, C·kh·kw + 1));
* ``opt_<name>_<i>.npy``: with an optimizer, its state arrays by position, shaped like ``W_i``.

Versions: 1 (psinet 0.1.0) describes dense networks only; 2 added ``"architecture"``.
This psinet writes 2 and reads both; an older psinet refuses a version-2 file, saying
that a newer psinet wrote it, instead of misreading a convolution's weights.

Nothing in the file is ever executed or unpickled: activations, optimizers and schedules
are looked up by name among psinet's classes and those registered with
:func:`psinet.register_activation`.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from .. import optimizers as _optimizers
from ..optimizers import Optimizer

FORMAT_VERSION = 2
"""The newest file format version this psinet writes and reads: 2 for image networks
(their ``"architecture"``); a dense network is still written as version 1."""

_ARCHITECTURE_SINCE = 2  # the first version whose header may hold "architecture"

HEADER_LIMIT = 1 << 20
"""The largest JSON header, in bytes, that :func:`load` reads (1 MiB)."""

_DTYPES: dict[str, np.dtype[Any]] = {
    "float64": np.dtype(np.float64),
    "float32": np.dtype(np.float32),
}
_REQUIRED_KEYS = (
    "format",
    "format_version",
    "psinet_version",
    "sizes",
    "activations",
    "dtype",
    "n_layers",
)
_STATE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _optimizer_classes() -> dict[str, type[Optimizer]]:
    """The optimizers a file may name: the concrete classes psinet.optimizers exports."""
    table: dict[str, type[Optimizer]] = {}
    for name in _optimizers.__all__:
        cls = getattr(_optimizers, name)
        if isinstance(cls, type) and issubclass(cls, Optimizer) and cls is not Optimizer:
            table[cls.__name__] = cls
    return table
