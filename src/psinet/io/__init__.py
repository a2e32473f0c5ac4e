"""Saving and loading networks (and optimizer state) as one ``.npz`` file.

:func:`save` writes a network (dense, or an image network with Conv2D layers), and
optionally its optimizer's state, to a plain, uncompressed NumPy ``.npz`` archive
(``np.load`` reads it, no pickle involved); :func:`load` and :func:`load_with_optimizer`
read it back, bit for bit, architecture included. Writing is atomic: a failed save
never damages an existing file. Loading never trusts the file: a damaged, foreign, newer
or inconsistent file raises :class:`FormatError`, and nothing in it is ever executed or
unpickled. One module per idea:

* :mod:`psinet.io._format`: the file format: its members, the JSON header's keys (an
  image network's ``"architecture"`` among them), :data:`FORMAT_VERSION` and
  :data:`HEADER_LIMIT`;
* :mod:`psinet.io._save`: :func:`save`: a Network and optimizer checked, then turned
  into that header and those arrays;
* :mod:`psinet.io._load`: :func:`load` and :func:`load_with_optimizer`: a checked
  header turned back into a Network and optimizer;
* :mod:`psinet.io._archive`: the ``.npz`` container, written the same on every NumPy
  and read defensively (what the zip directory and each ``.npy`` header declare is
  checked before any data is read), :class:`FormatError`, :func:`decode_json_object`;
* :mod:`psinet.io._atomic`: replacing a file atomically (temporary file, lock, fsync,
  removal of what killed saves left behind).

>>> import tempfile, numpy as np
>>> from psinet import Network
>>> net = Network([2, 3, 1], ["tanh", "sigmoid"], seed=0)
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = save(net, f"{tmp}/model")  # the .npz suffix is added
...     again = load(path)
>>> path.name
'model.npz'
>>> all(np.array_equal(a, b) for a, b in zip(net.weights, again.weights))
True
"""

from __future__ import annotations

# The module the archive writer uses: tests patch ``psinet.io.npy_format.write_array``.
from numpy.lib import format as npy_format  # noqa: F401

from ._archive import FormatError
from ._archive import decode_json_object as decode_json_object
from ._format import FORMAT_VERSION
from ._format import HEADER_LIMIT as HEADER_LIMIT
from ._load import load, load_with_optimizer
from ._save import save

__all__ = ["FORMAT_VERSION", "FormatError", "load", "load_with_optimizer", "save"]
