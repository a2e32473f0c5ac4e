"""Accuracy: how often the network's output names the right class.

>>> import numpy as np
>>> accuracy(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([[1.0, 0.0], [1.0, 0.0]]))
0.5
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._checks import check_bool, refuse_masked

Array = np.ndarray


def accuracy(y_hat: Any, Y: Any, *, multilabel: bool = False) -> float:
    """The fraction of correct predictions.

    ``y_hat``: ndarray of shape (N, k), the network's output. ``Y``: one-hot (or
    probability) targets of shape (N, k), or integer labels of shape (N,). One output
    (k = 1) is a binary classifier: the class is ``ŷ > 0.5``. With k > 1 the class is
    the argmax, unless ``multilabel`` (k independent binary outputs: the mean over all
    N·k thresholded outputs).

    >>> accuracy(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([0, 0]))
    0.5
    """
    refuse_masked(y_hat, "y_hat")
    refuse_masked(Y, "Y")
    multilabel = check_bool(multilabel, "multilabel")
    y_hat, Y = np.asarray(y_hat), np.asarray(Y)
    if y_hat.ndim == 1:
        y_hat = y_hat[:, None]
    if y_hat.ndim != 2 or len(Y) != len(y_hat):
        raise ValueError(
            f"y_hat must have shape (N, k) and Y N rows, got {y_hat.shape} and {Y.shape}"
        )
    k = y_hat.shape[1]
    if Y.ndim == 1 and k > 1:  # integer labels
        return float(np.mean(y_hat.argmax(axis=1) == Y))
    Y = Y.reshape(len(Y), -1)
    if Y.shape != y_hat.shape:
        raise ValueError(f"Y must have shape {y_hat.shape} or ({len(y_hat)},), got {Y.shape}")
    if k == 1 or multilabel:
        return float(np.mean((y_hat > 0.5) == (Y > 0.5)))
    return float(np.mean(y_hat.argmax(axis=1) == Y.argmax(axis=1)))


def weighted_correct(
    y_hat: Array, Y: Array, r: Array | None, multilabel: bool, threshold: float = 0.5
) -> float:
    """Σ_n r_n c_n, c_n the fraction of sample n's outputs classified right (checked (N, k)).

    ``r``: (N,) or None for ones. An output counts as class 1 above ``threshold`` (0.5 for
    ŷ; 0 for the z of a sigmoid, since σ(z) > ½ exactly when z > 0).
    """
    k = y_hat.shape[1]
    if k == 1 or multilabel:
        hit = (y_hat > threshold) == (Y > 0.5)  # (N, k)
        correct = hit[:, 0] if k == 1 else np.dot(hit, np.ones(k)) / k  # row means, fast
    else:
        correct = y_hat.argmax(axis=1) == Y.argmax(axis=1)
    if r is None:
        return float(np.count_nonzero(correct) if correct.dtype == bool else correct.sum())
    return float(np.dot(r, correct))
