"""Shared test set-up: hypothesis profiles and small helpers."""

import os

from hypothesis import HealthCheck, settings

# CI runs derandomized: the same examples every run, so results never depend on luck.
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.register_profile("dev", deadline=None, max_examples=60)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_configure(config):
    """Without -m, leave out the notebooks (a Jupyter kernel each); CI runs -m notebooks."""
    if not config.option.markexpr:
        config.option.markexpr = "not notebooks"
