"""The README's Python examples run, and print what their `# prints` comments say."""

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def _expected_prints(code):
    """The text after `# prints` on each line that has one, in order; `...` is a wildcard."""
    return [m.group(1).strip() for m in re.finditer(r"#\s*prints\s+(.*)$", code, re.M)]


def test_the_readme_has_python_examples_with_expected_output():
    assert len(BLOCKS) >= 2
    assert any(_expected_prints(block) for block in BLOCKS)


@pytest.fixture
def registries():
    """The README registers its own activation and loss: forget them afterwards."""
    import psinet

    saved = [(r, dict(r)) for r in (psinet.activations.REGISTERED, psinet.losses.REGISTERED)]
    yield
    for registry, contents in saved:
        registry.clear()
        registry.update(contents)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs_and_prints_what_it_says(index, tmp_path, monkeypatch, registries):
    monkeypatch.chdir(tmp_path)  # examples that save files write them here
    code = BLOCKS[index]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"README.md block {index}", "exec"), {"__name__": "__readme__"})
    printed = out.getvalue().splitlines()
    lines = iter(printed)  # in order: each expectation is met by a line after the last one's
    for expected in _expected_prints(code):
        pattern = ".*".join(re.escape(part) for part in expected.split("..."))
        assert any(re.fullmatch(pattern, line) for line in lines), (
            f"README says it prints {expected!r} (after the lines before it); it printed:\n"
            + "\n".join(printed)
        )
