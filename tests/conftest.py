"""Shared test set-up: hypothesis profiles and small helpers."""

import os

import pytest
from hypothesis import HealthCheck, settings

from psinet.engine import deferred

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


@pytest.fixture
def deferring(monkeypatch):
    """The engine's deferred first-layer update on for any size (both dtypes): returns a
    switch (``on()``, ``off()``) whose ``count`` lists the steps pended (so a test can see
    that deferral ran)."""
    monkeypatch.setattr(deferred, "_DEFER_MIN_BYTES", 0)
    for dtype, (steps, _) in list(deferred._DEFER.items()):
        monkeypatch.setitem(deferred._DEFER, dtype, (steps, 0.0))
    pended = []
    pend = deferred.PendingFirstLayer.pend

    def counting_pend(self):
        pended.append(self.k)
        pend(self)

    monkeypatch.setattr(deferred.PendingFirstLayer, "pend", counting_pend)

    class Switch:
        count = pended

        @staticmethod
        def off():
            monkeypatch.setattr(deferred, "_DEFER_MIN_BYTES", 1 << 62)

        @staticmethod
        def on():
            monkeypatch.setattr(deferred, "_DEFER_MIN_BYTES", 0)

    return Switch
