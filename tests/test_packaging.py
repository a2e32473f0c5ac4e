"""Packaging: the metadata says what is tested, py.typed ships, every doc reference resolves.

The built distributions themselves (wheel contents, the suite from the unpacked sdist
against the installed wheel, mypy on a user script) are checked by ``nox -s dist``,
which ``.ci/run`` runs; the NumPy/Python range by ``nox -s oldest`` and ``nox -s newest``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import psinet

if sys.version_info >= (3, 11):
    import tomllib
else:  # the test extra installs tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]


def _minor(version: str) -> int:
    major, minor = version.split(".")[:2]
    assert major == "3", version
    return int(minor)


def test_py_typed_ships_inside_the_package():
    # Wherever psinet is imported from (source tree or installed wheel), mypy must find it.
    assert (Path(psinet.__file__).parent / "py.typed").is_file()


def test_python_classifiers_are_the_tested_range_without_gaps():
    floor = re.fullmatch(r">=\s*(3\.\d+)", PROJECT["requires-python"])
    assert floor, PROJECT["requires-python"]
    prefix = "Programming Language :: Python :: "
    declared = sorted(
        _minor(c.removeprefix(prefix))
        for c in PROJECT["classifiers"]
        if re.fullmatch(re.escape(prefix) + r"3\.\d+", c)
    )
    # nox's oldest session runs the first, its newest session the last (noxfile.py).
    assert declared[0] == _minor(floor.group(1))
    assert declared == list(range(declared[0], declared[-1] + 1))
    assert declared[-1] >= 13
    # The interpreter running this suite is one of them.
    assert sys.version_info[1] in declared


def test_the_licence_is_declared_once_as_an_spdx_expression():
    assert PROJECT["license"] == "MIT"
    assert PROJECT["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    assert not [c for c in PROJECT["classifiers"] if c.startswith("License ::")]


def test_numpy_floor_is_a_release_line_the_oldest_session_can_pin():
    (numpy,) = [d for d in PROJECT["dependencies"] if d.startswith("numpy")]
    assert re.fullmatch(r"numpy>=\d+\.\d+", numpy), numpy
    assert PROJECT["dependencies"] == [numpy]  # numpy is the only run-time dependency


def test_sdist_holds_what_the_readme_links_to_and_the_tests_read():
    include = PYPROJECT["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]
    for needed in ["src/psinet", "tests", "examples", "docs", "benchmarks", "noxfile.py"]:
        assert needed in include
    for needed in ["docs/derivation.md", "docs/notation.md", "benchmarks/bench_step.py"]:
        assert (ROOT / needed).is_file()


def test_dev_extra_has_the_tooling_ci_runs():
    dev = " ".join(PROJECT["optional-dependencies"]["dev"])
    for tool in ["ruff", "mypy", "nox", "build"]:
        assert re.search(rf"\b{tool}\b", dev), tool


# ------------------------------------------------------------ references to documents
SCANNED = [
    *sorted((ROOT / "src").rglob("*.py")),
    *sorted(p for p in (ROOT / "tests").rglob("*.py") if p.name != "test_packaging.py"),
    *sorted((ROOT / "benchmarks").rglob("*.*")),
    *sorted((ROOT / "examples").rglob("*.py")),
    *sorted((ROOT / "docs").rglob("*.md")),
    ROOT / "README.md",
    ROOT / "noxfile.py",
]
MD_REFERENCE = re.compile(r"(?<![\w/.-])((?:\.\./|[\w-]+/)*[\w-]+\.md)\b")
SECTION_REFERENCE = re.compile(r"((?:\.\./|[\w-]+/)*[\w-]+\.md)\)?,\s*\"([^\"]+)\"")
REPOSITORY_FILES = [
    p for p in ROOT.rglob("*.md") if not {".venv", ".nox"} & set(p.relative_to(ROOT).parts)
]


def _resolve(reference: str, source: Path) -> Path | None:
    """The repository file ``reference`` names, seen from ``source``; None if there is none."""
    if "/" not in reference:  # a bare name: a file of that name anywhere in the repository
        return next((p for p in REPOSITORY_FILES if p.name == reference), None)
    for base in [source.parent, *source.parent.parents]:
        candidate = (base / reference).resolve()
        if candidate.is_file() and candidate.is_relative_to(ROOT):
            return candidate
        if base == ROOT:
            break
    return None


def _problems(source: Path, text: str) -> list[str]:
    """Every reference in ``text`` (read from ``source``) that does not resolve."""
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        line = re.sub(r"\w+://\S+", "", line)  # web addresses are not repository files
        where = f"{source.relative_to(ROOT)}:{number}"
        for match in MD_REFERENCE.finditer(line):
            if _resolve(match.group(1), source) is None:
                problems.append(f"{where}: {match.group(1)} is not a file in the repository")
        for match in SECTION_REFERENCE.finditer(line):
            target = _resolve(match.group(1), source)
            headings = [
                h.lstrip("#").strip()
                for h in (target.read_text(encoding="utf-8") if target else "").splitlines()
                if h.startswith("#")
            ]
            if target and not any(h.startswith(match.group(2)) for h in headings):
                problems.append(f"{where}: {match.group(1)} has no section {match.group(2)!r}")
    return problems


def test_every_document_a_reader_is_pointed_to_is_in_the_repository():
    problems = []
    for source in SCANNED:
        if source.suffix in {".py", ".md"} and "__pycache__" not in source.parts:
            problems += _problems(source, source.read_text(encoding="utf-8"))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('see docs/notation.md, "Cost model"', None),
        ("see docs/derivation.md and ../docs/notation.md", None),
        ('see docs/notation.md, "No such section"', "has no section 'No such section'"),
        ("see NOTATION" + ".md for the symbols", "NOTATION.md is not a file"),
        ("see docs/nowhere" + ".md", "docs/nowhere.md is not a file"),
    ],
)
def test_the_reference_check_can_fail(line, problem):
    problems = _problems(ROOT / "docs" / "probe.md", line)
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0]
        assert problems[0].startswith("docs/probe.md:1: ")


# ------------------------------------------------- the sdist's suite against the wheel
def _pytest_in(cwd: Path, *args: str, pythonpath: Path | None = None) -> str:
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def test_the_unpacked_sdist_runs_plain_pytest_against_an_installed_psinet(tmp_path):
    """What a distribution packager does: ``python -m pytest`` in the unpacked sdist with
    the wheel installed. Here the "wheel" is a copy of the package earlier on sys.path; the
    "sdist" holds pyproject.toml, conftest.py and src/psinet as the real one does. The
    doctests of src/psinet cannot run against another psinet (pytest's "import file
    mismatch"): the root conftest.py leaves them out, and says so in the header."""
    import shutil

    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    installed = tmp_path / "site-packages"
    shutil.copytree(ROOT / "src" / "psinet", installed / "psinet", ignore=ignore)
    sdist = tmp_path / "psinet-0.1.0"
    shutil.copytree(ROOT / "src" / "psinet", sdist / "src" / "psinet", ignore=ignore)
    for name in ("pyproject.toml", "conftest.py"):
        shutil.copy(ROOT / name, sdist / name)
    (sdist / "tests").mkdir()
    (sdist / "tests" / "test_which.py").write_text(
        "import psinet\n\ndef test_imports_the_installed_psinet():\n"
        f"    assert psinet.__file__.startswith({str(installed)!r})\n"
    )
    output = _pytest_in(sdist, pythonpath=installed)
    assert "1 passed" in output and "import file mismatch" not in output
    assert "the doctests of src/psinet are not collected" in output


def test_the_repository_run_collects_the_doctests():
    if Path(psinet.__file__).resolve().parent != ROOT / "src" / "psinet":
        pytest.skip("another psinet is imported (an sdist against its wheel): by design")
    output = _pytest_in(ROOT, "--collect-only", "-q", "src/psinet")  # a folder: not an
    assert "src/psinet/preprocessing.py::psinet.preprocessing.one_hot" in output  # init path
    assert "not collected" not in output
