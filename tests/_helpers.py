"""Helpers shared by the tests."""

import numpy as np


def valid_targets(loss: str, n_samples: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Targets inside ``loss``'s domain, ndarray of shape (n_samples, width)."""
    if loss == "categorical_crossentropy":
        return np.eye(width)[rng.integers(0, width, n_samples)]
    if loss == "binary_crossentropy":
        return rng.integers(0, 2, (n_samples, width)).astype(float)
    return rng.normal(size=(n_samples, width))


def require_extra(module: str, extra: str):
    """``import module``, or skip the calling test module naming the extra to install.

    Where ``PSINET_REQUIRE_EXTRAS=1`` (``.ci/run`` sets it) a missing extra is a failure:
    CI installs every extra and must run every test of the doors.
    """
    import importlib
    import os

    import pytest

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        message = f"needs the {extra!r} extra ({module}): pip install -e '.[{extra}]'"
        if os.environ.get("PSINET_REQUIRE_EXTRAS") == "1":
            pytest.fail(f"{message} (PSINET_REQUIRE_EXTRAS=1: CI must run this test): {exc}")
        pytest.skip(message, allow_module_level=True)
