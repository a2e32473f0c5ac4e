"""Test sessions that prove what pyproject.toml declares (run with ``nox -s NAME``).

* ``oldest``: the suite on the lowest declared Python with the lowest declared NumPy;
* ``newest``: the suite on the newest declared Python with the newest NumPy there is;
* ``dist``: build the sdist and the wheel, check what each holds, install the wheel in
  a fresh virtual environment and run ``python -m pytest`` in the unpacked sdist against
  it, as a distribution packager does (the root conftest.py leaves out the doctests of
  the sdist's src/psinet there: they run next, against the installed package), then
  type-check a small user script against the installed wheel with mypy.

The versions are read from pyproject.toml, never repeated here: the Python range from
the ``Programming Language :: Python :: 3.x`` classifiers, the NumPy floor from
``dependencies``. ``.ci/run`` runs all three (and says so when an interpreter is missing).
"""

from __future__ import annotations

import re
import subprocess
import tarfile
import zipfile
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
PYTHONS = nox.project.python_versions(PYPROJECT)  # from the classifiers, oldest first

nox.options.default_venv_backend = "venv"
nox.options.reuse_venv = "no"
nox.options.sessions = ["oldest", "newest", "dist"]


def numpy_floor(pyproject: dict) -> str:
    """The lowest NumPy release line the package declares, e.g. ``"1.23"`` for ``numpy>=1.23``."""
    for requirement in pyproject["project"]["dependencies"]:
        match = re.fullmatch(r"numpy\s*>=\s*(\d+\.\d+)(?:\.\d+)?", requirement.strip())
        if match:
            return match.group(1)
    raise ValueError("pyproject.toml must declare numpy as 'numpy>=X.Y'")


VERSIONS = "import sys, numpy; print('python', sys.version.split()[0], 'numpy', numpy.__version__)"


def _suite(session: nox.Session, numpy: list[str]) -> None:
    """Install psinet (editable: the doctests in src/ run too) with the extras the suite
    uses (test, plot, sklearn, and dev for the mypy test), then pytest. Not torch: its
    pinned CPU build is the one CI's main run installs; here its tests skip, saying so."""
    session.install("-e", ".[test,plot,dev,sklearn]", *numpy)
    session.run("python", "-c", VERSIONS)
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *session.posargs)


@nox.session(python=PYTHONS[0])
def oldest(session: nox.Session) -> None:
    """The suite on the lowest declared Python and the newest patch of the lowest NumPy."""
    _suite(session, [f"numpy=={numpy_floor(PYPROJECT)}.*"])


@nox.session(python=PYTHONS[-1])
def newest(session: nox.Session) -> None:
    """The suite on the newest declared Python and the newest NumPy released for it."""
    _suite(session, ["--upgrade", "numpy"])  # a fresh venv: pip picks the newest NumPy


# ------------------------------------------------------------------------------- dist
#: Files an sdist must hold: what the README links to and what the tests read or run.
SDIST_MUST_HOLD = [
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "noxfile.py",
    "conftest.py",
    "src/psinet/__init__.py",
    "src/psinet/py.typed",
    "docs/derivation.md",
    "docs/notation.md",
    "benchmarks/bench_step.py",
    "benchmarks/bench_conv.py",
    "examples/atari_network.py",
    "benchmarks/README.md",
    "tests/conftest.py",
    "examples/xor.py",
]

#: A user's script: correct calls that must type-check, then deliberate mistakes.
USER_SCRIPT = """\
import numpy as np
import psinet

net = psinet.Network([2, 3, 1], "sigmoid", seed=0)
X = np.zeros((4, 2))
reveal_type(net)
reveal_type(net.predict(X))
psinet.Network("3", "sigmoid")  # line 8: sizes must be ints, not a str
psinet.no_such_function()  # line 9: psinet has no such function
net.fit(X, X[:, :1], los="mse")  # line 10: a misspelt keyword
history = net.fit(X, X[:, :1], loss="mse", epochs=1, verbose=0)
reveal_type(history)
reveal_type(psinet.standardize(X))
"""


def check_wheel(wheel: Path) -> None:
    """The wheel holds py.typed, every data file of src/psinet (data sets, the playground's
    page), and no tests."""
    names = set(zipfile.ZipFile(wheel).namelist())
    package = ROOT / "src"
    data = sorted(
        p.relative_to(package).as_posix()
        for p in (package / "psinet").rglob("*")
        if p.is_file() and p.suffix not in {".py", ".pyc"} and "__pycache__" not in p.parts
    )
    missing = [n for n in ["psinet/py.typed", "psinet/__init__.py", *data] if n not in names]
    if missing:
        raise ValueError(f"the wheel lacks {missing}")
    tests = sorted(n for n in names if n.startswith("tests/") or "/tests/" in n)
    if tests:
        raise ValueError(f"the wheel must not ship tests, got {tests}")
    print(
        f"wheel {wheel.name}: {len(names)} files, {len(data)} data files (py.typed too), no tests"
    )


def check_sdist(sdist: Path) -> Path:
    """The sdist holds everything in SDIST_MUST_HOLD; unpack it and return its root."""
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
        root = names[0].split("/")[0]
        held = {n.removeprefix(f"{root}/") for n in names}
        missing = [n for n in SDIST_MUST_HOLD if n not in held]
        if missing:
            raise ValueError(f"the sdist lacks {missing}")
        tar.extractall(sdist.parent, filter="data")
    print(f"sdist {sdist.name}: {len(names)} files, all of {len(SDIST_MUST_HOLD)} required ones")
    return sdist.parent / root


def check_mypy_output(output: str) -> None:
    """mypy saw psinet's real types and flagged exactly the three deliberate mistakes."""
    expected = [
        ':6: note: Revealed type is "psinet.network.Network"',
        ':7: note: Revealed type is "numpy.ndarray',
        ':8: error: Argument 1 to "Network" has incompatible type "str"',
        ':9: error: Module has no attribute "no_such_function"',
        ':10: error: Unexpected keyword argument "los" for "fit" of "Network"',
        ':12: note: Revealed type is "psinet.training.History"',
        ':13: note: Revealed type is "numpy.ndarray',
    ]
    missing = [line for line in expected if line not in output]
    if missing or "py.typed" in output or "Found 3 errors" not in output:
        raise ValueError(f"mypy did not see psinet's types as expected ({missing}):\n{output}")


@nox.session  # on the interpreter nox runs on: this session never needs to be skipped
def dist(session: nox.Session) -> None:
    """Build sdist + wheel, check them, test the unpacked sdist against the installed wheel."""
    tmp = Path(session.create_tmp()).resolve()
    for old in tmp.iterdir():  # a previous run's files would confuse the globs below
        session.run("rm", "-rf", str(old), external=True, silent=True)
    session.install("build")
    session.run("python", "-m", "build", "--outdir", str(tmp / "dist"), str(ROOT), silent=True)
    (wheel,) = (tmp / "dist").glob("psinet-*.whl")
    (sdist,) = (tmp / "dist").glob("psinet-*.tar.gz")
    check_wheel(wheel)
    unpacked = check_sdist(sdist)

    session.install(f"{wheel}[test,plot,sklearn]", "mypy")
    session.chdir(unpacked)
    output = session.run("python", "-c", "import psinet; print(psinet.__file__)", silent=True)
    assert isinstance(output, str), output  # silent=True: run returns what was printed
    location = output.strip()
    installed = Path(location).parent
    if not installed.is_relative_to(Path(session.virtualenv.location).resolve()):
        raise ValueError(f"psinet must import from the installed wheel, got {location}")
    print(f"psinet imports from {installed}")
    # What a distribution packager runs: plain pytest in the unpacked sdist (tests/; the
    # root conftest.py leaves out src/psinet, whose modules are not the ones imported) ...
    session.run("python", "-m", "pytest", "-p", "no:cacheprovider")
    # ... then the doctests, from the installed package itself.
    session.run(
        "python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "-c", "pyproject.toml", "--rootdir", ".", str(installed),
    )  # fmt: skip

    script = tmp / "user_script.py"
    script.write_text(USER_SCRIPT)
    session.chdir(tmp)
    result = subprocess.run(
        [str(Path(session.bin) / "mypy"), "--no-incremental", "--config-file=", script.name],
        cwd=tmp,
        capture_output=True,
        text=True,
        check=False,
    )
    print(result.stdout, end="")
    if result.returncode != 1:
        raise ValueError(f"mypy should exit 1 on the deliberate errors, got {result.returncode}")
    check_mypy_output(result.stdout)
