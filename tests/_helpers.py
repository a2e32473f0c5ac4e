"""Helpers shared by the tests."""

import numpy as np


def valid_targets(loss: str, n_samples: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Targets inside ``loss``'s domain, ndarray of shape (n_samples, width)."""
    if loss == "categorical_crossentropy":
        return np.eye(width)[rng.integers(0, width, n_samples)]
    if loss == "binary_crossentropy":
        return rng.integers(0, 2, (n_samples, width)).astype(float)
    return rng.normal(size=(n_samples, width))
