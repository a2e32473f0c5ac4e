"""The training-history plot: :func:`plot_history`, the loss and accuracy per epoch.

It reads a training History (duck-typed: its ``history`` dict and ``epoch`` list, see
:class:`HasHistory`) or a plain dict of lists, checks them (``_check_history``; each
series through ``_as_series``, which the gradient-norm plot uses too) and draws the
loss, and the accuracy when recorded, beside it or on a twin y-axis.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ._figure import (
    _figure_and_axes,
    _float64_array,
    _for_plot,
    _log_if_positive,
    _new_figure,
    _require_matplotlib,
    _save,
    _whole_ticks_if_whole,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Array = np.ndarray

_LOSS_KEYS = ("loss", "val_loss")
_ACCURACY_KEYS = ("accuracy", "val_accuracy")
_KEY_COLORS = {"loss": "C0", "val_loss": "C1", "accuracy": "C0", "val_accuracy": "C1"}


class HasHistory(Protocol):
    """What :func:`plot_history` reads from a training History (duck-typed)."""

    @property
    def history(self) -> Mapping[str, Sequence[float]]:
        """Each metric's values, one per epoch (``History.history``)."""
        ...


HistoryLike = HasHistory | Mapping[str, Sequence[float]]


def plot_history(
    history: HistoryLike,
    path: str | os.PathLike[str] | None = None,
    *,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """The loss (and accuracy) per epoch of a training run.

    Parameters
    ----------
    history : History or dict of lists
        A training History (its ``history`` dict and, if present, its ``epoch`` list,
        counted from 1, give the x values) or a plain dict (epochs ``1 … T``). Key
        ``"loss"`` is required, ``"val_loss"``, ``"accuracy"`` and ``"val_accuracy"``
        are drawn when present, other keys are ignored. Each value: T numbers,
        ndarray of shape (T,).
    path : str or os.PathLike, optional
        Where to write the figure (PNG unless the suffix names another format).
    ax : matplotlib Axes, optional
        Draw into it; the accuracy then goes on a twin y-axis on the right. Without
        ``ax``, a new Figure with one panel for the loss and, when accuracy keys exist,
        a second panel for the accuracy.
    title : str, optional
        Say what the run shows (e.g. "XOR: the loss falls, accuracy reaches 100%"): the
        figure's title over both panels. Each panel has its own title in any case.

    Returns
    -------
    matplotlib.figure.Figure
        Loss lines first, in the order ``loss``, ``val_loss`` (labelled "training" and
        "validation"); legends at the place that covers the fewest points; the loss y-axis is
        logarithmic when every finite loss is positive. NaN or inf (a diverged run)
        shows as a gap.
    """
    _require_matplotlib()
    epochs, series = _check_history(history)
    has_accuracy = any(key in series for key in _ACCURACY_KEYS)

    if ax is None and has_accuracy:
        fig = _new_figure((10.0, 4.0))
        loss_ax, acc_ax = fig.subplots(1, 2)
    else:
        fig, loss_ax = _figure_and_axes(ax, (6.0, 4.0))
        acc_ax = loss_ax.twinx() if has_accuracy else None

    twin = ax is not None and acc_ax is not None
    names = {"loss": "training", "val_loss": "validation"}
    names |= {"accuracy": "training", "val_accuracy": "validation"}
    if twin:
        names = {key: key.replace("_", " ") for key in names}
    for key in _LOSS_KEYS:
        if key in series:
            loss_ax.plot(epochs, _for_plot(series[key]), color=_KEY_COLORS[key], label=names[key])
    _log_if_positive(loss_ax, [series[k] for k in _LOSS_KEYS if k in series])
    loss_ax.set_xlabel("epoch")
    _whole_ticks_if_whole(loss_ax, epochs)
    loss_ax.set_ylabel("loss E (mean over the samples)")
    handles, labels = loss_ax.get_legend_handles_labels()

    if acc_ax is not None:
        for key in _ACCURACY_KEYS:
            if key in series:
                acc_ax.plot(
                    epochs,
                    _for_plot(series[key]),
                    color=_KEY_COLORS[key],
                    linestyle=":" if twin else "-",
                    label=names[key],
                )
        acc_ax.set_ylabel("accuracy (fraction classified right)")
        acc_ax.set_xlabel("epoch")
        _whole_ticks_if_whole(acc_ax, epochs)
        acc_handles, acc_labels = acc_ax.get_legend_handles_labels()
        if twin:  # one legend for both y-axes
            handles, labels = handles + acc_handles, labels + acc_labels
        else:
            acc_ax.legend(acc_handles, acc_labels, loc="best")
            acc_ax.set_title("accuracy per epoch (higher is better)")
            loss_ax.set_title("loss per epoch (lower is better)")
    loss_ax.legend(handles, labels, loc="best")

    if title is not None:
        if ax is None and has_accuracy:
            fig.suptitle(title)
        else:
            loss_ax.set_title(title)
    elif acc_ax is None or twin:
        loss_ax.set_title("loss per epoch (lower is better)")
    _save(fig, path)
    return fig


def _check_history(history: Any) -> tuple[Array, dict[str, Array]]:
    """``(epochs, {key: values})``, each an ndarray of shape (T,), checked."""
    if isinstance(history, Mapping):
        raw, epoch = history, None
    elif isinstance(getattr(history, "history", None), Mapping):
        raw, epoch = history.history, getattr(history, "epoch", None)
    else:
        raise TypeError(
            "history must be a History (with a .history dict) or a dict of lists, "
            f"got {type(history).__name__}"
        )
    if "loss" not in raw:
        raise ValueError(f"history must have a 'loss' key, got keys {sorted(map(str, raw))}")
    series = {
        key: _as_series(raw[key], f"history[{key!r}]")
        for key in _LOSS_KEYS + _ACCURACY_KEYS
        if key in raw
    }
    n_epochs = series["loss"].size
    if n_epochs == 0:
        raise ValueError("history['loss'] must hold at least one epoch, got an empty list")
    for key, values in series.items():
        if values.size != n_epochs:
            raise ValueError(
                f"history[{key!r}] must have one value per epoch ({n_epochs}, like "
                f"history['loss']), got {values.size}"
            )
    if epoch is None:
        return np.arange(1, n_epochs + 1), series  # counted from 1, like the progress lines
    epochs = _as_series(epoch, "history.epoch")
    if epochs.size != n_epochs:
        raise ValueError(
            f"history.epoch must have one entry per loss value ({n_epochs}), got {epochs.size}"
        )
    return epochs, series


def _as_series(values: Any, name: str) -> Array:
    array = _float64_array(
        values, name, lambda: f"{name} must be a list of numbers, got {values!r:.60}"
    )
    if array.ndim != 1:
        raise ValueError(f"{name} must be a flat list of numbers, got shape {array.shape}")
    return array
