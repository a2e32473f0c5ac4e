"""Collection set-up for the whole repository (tests/ and the doctests of src/psinet).

``src/psinet/estimators.py`` needs scikit-learn at import time, so its doctests can only
be collected where the ``sklearn`` extra is installed; elsewhere the module is left out
(the tests of tests/test_estimators.py skip with a message naming the extra instead of
the whole run failing at collection).

The doctests of ``src/psinet`` run against the psinet they are part of. Where another
psinet is the one imported (the unpacked sdist with the wheel installed: what a
distribution packager tests with ``python -m pytest``), pytest cannot import
``src/psinet`` beside it ("import file mismatch"): those doctests are then left out, and
the header of the run says so and how to run them against the installed package.
``nox -s dist`` runs both.
"""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent

collect_ignore = []
if importlib.util.find_spec("sklearn") is None:
    collect_ignore.append("src/psinet/estimators.py")


def _imported_psinet() -> Path | None:
    """The folder of the psinet that ``import psinet`` finds (without importing it)."""
    try:
        spec = importlib.util.find_spec("psinet")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).resolve().parent


SRC_PSINET = ROOT / "src" / "psinet"
IMPORTED = _imported_psinet()
OTHER_PSINET = IMPORTED is not None and IMPORTED != SRC_PSINET


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave out every module under src/psinet when another psinet is imported (an
    explicit path on the command line is still collected: pytest then says why not)."""
    if OTHER_PSINET and SRC_PSINET in Path(collection_path).resolve().parents:
        return True
    return None


def pytest_report_header(config: pytest.Config) -> str | None:
    if OTHER_PSINET:
        return (
            f"psinet imports from {IMPORTED}, not from src/psinet here: the doctests of "
            f"src/psinet are not collected (run them against it: python -m pytest {IMPORTED})"
        )
    return None
