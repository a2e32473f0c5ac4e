"""Plots for training: the loss curves, a 2-D decision boundary, per-layer gradient norms.

matplotlib is an optional extra (``pip install "psinet[plot]"``), imported only when a
plot is drawn: ``import psinet.plot`` works without it, and :func:`has_matplotlib` says
whether plotting will. The plots use matplotlib's object-oriented API only (a
``matplotlib.figure.Figure``, never ``pyplot``, never a change of backend), so they run
headless on a server and inside a notebook alike. Every plot function

* draws into ``ax`` when given one (a ``matplotlib.axes.Axes``), else into a new Figure;
* writes the figure to ``path`` when given one: a PNG (or the format the suffix names,
  e.g. ``.svg``, ``.pdf``), parent directories created, written atomically (a temporary
  file in the same directory, then ``os.replace``), so a failed save leaves an existing
  file untouched;
* returns the Figure.

:func:`layer_gradient_norms` needs NumPy only: the ``‖∂E/∂W_l‖_F`` of one step, the rows
that :func:`plot_gradient_norms` draws.

>>> import numpy as np
>>> layer_gradient_norms([np.full((3, 4), 0.5), np.array([[3.0, 4.0]])])
array([1.73205081, 5.        ])

The code is one module per plot, behind this package's names: ``_figure`` (the
matplotlib door and what every plot shares: Figure, Axes, the atomic save),
``_history`` (:func:`plot_history`), ``_decision_boundary``
(:func:`plot_decision_boundary`), ``_gradient_norms`` (:func:`layer_gradient_norms`,
:func:`plot_gradient_norms`) and ``_network_drawing`` (:func:`plot_network`). Import
from ``psinet.plot``; the modules may move.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._decision_boundary import _class_grid as _class_grid
from ._decision_boundary import _predict_class as _predict_class
from ._decision_boundary import plot_decision_boundary
from ._figure import MISSING_MATPLOTLIB as MISSING_MATPLOTLIB
from ._figure import Array as Array
from ._figure import figure, has_matplotlib, save
from ._gradient_norms import layer_gradient_norms, plot_gradient_norms
from ._history import HasHistory as HasHistory
from ._history import HistoryLike as HistoryLike
from ._history import plot_history
from ._network_drawing import plot_network

__all__ = [
    "figure",
    "has_matplotlib",
    "layer_gradient_norms",
    "plot_decision_boundary",
    "plot_gradient_norms",
    "plot_history",
    "plot_network",
    "save",
    "save_figures",
]


# save_figures lives here, not in _figure, because it asks this package's has_matplotlib:
# setting psinet.plot.has_matplotlib to ``lambda: False`` (as the examples' tests do) then
# makes it skip the pictures, as it did when psinet.plot was one module.
def save_figures(
    out_dir: str | os.PathLike[str], plots: Mapping[str, Any], *, file: Any = None
) -> list[Path]:
    """Draw each ``plots[name](path)`` into ``out_dir / name``; say so, or why not.

    For scripts and examples: without matplotlib nothing is drawn and one line says
    how to get the pictures, instead of an error. Returns the paths written.
    """
    import sys

    stream = sys.stdout if file is None else file
    if not has_matplotlib():
        names = ", ".join(plots)
        print(
            f'(matplotlib is not installed: skipped {names}; pip install "psinet[plot]")',
            file=stream,
        )
        return []
    written = []
    for name, draw in plots.items():
        path = Path(out_dir) / name
        draw(path)
        print(f"wrote {path}", file=stream)
        written.append(path)
    return written
