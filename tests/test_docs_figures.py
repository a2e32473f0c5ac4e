"""The pictures of docs/derivation.md are drawn by docs/make_figures.py and committed.

This test draws them again into a temporary directory and fails when a committed one is
stale: the data drawn (every text, a digest of every line, in figures.json) must match
exactly, and the pixels must match up to small anti-aliasing differences.
To refresh them: ``python docs/make_figures.py``.
"""

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

DOCS = Path(__file__).resolve().parent.parent / "docs"
FIGURES = DOCS / "figures"
FIX = "stale: run `python docs/make_figures.py` and commit docs/figures/"


def _make_figures():
    spec = importlib.util.spec_from_file_location("make_figures", DOCS / "make_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    return out, _make_figures().make(out)


def test_every_figure_the_document_shows_is_made_by_the_script(fresh):
    _, manifest = fresh
    shown = set(re.findall(r"\]\(figures/([\w.-]+)\)", (DOCS / "derivation.md").read_text()))
    assert shown == set(manifest), "docs/derivation.md shows pictures the script does not make"
    for name in manifest:
        assert (FIGURES / name).is_file(), f"docs/figures/{name} is not committed"


def test_committed_figures_draw_the_current_data(fresh):
    _, manifest = fresh
    committed = json.loads((FIGURES / "figures.json").read_text(encoding="utf-8"))
    committed.pop("matplotlib")
    assert committed == manifest, f"docs/figures/figures.json {FIX}"


def test_committed_pngs_match_a_fresh_drawing(fresh):
    import matplotlib
    from matplotlib.image import imread

    drawn_with = json.loads((FIGURES / "figures.json").read_text(encoding="utf-8"))["matplotlib"]
    if drawn_with != matplotlib.__version__:  # the data drawn were compared above regardless
        pytest.skip(
            f"the PNGs were rendered by matplotlib {drawn_with}, this is "
            f"{matplotlib.__version__}: pixels are compared with the same renderer only"
        )
    out, manifest = fresh
    for name in manifest:
        new, old = imread(out / name), imread(FIGURES / name)
        assert new.shape == old.shape, f"docs/figures/{name}: size changed, {FIX}"
        assert np.abs(new - old).mean() < 2e-3, f"docs/figures/{name}: {FIX}"


def test_the_pngs_carry_no_version_stamp(fresh):
    """Metadata stripped: the bytes depend on the drawing only, not on who drew it when."""
    out, manifest = fresh
    for name in manifest:
        data = (out / name).read_bytes()
        assert b"matplotlib" not in data.lower(), f"{name} names the matplotlib version"


def test_a_changed_number_is_caught(fresh):
    """The check fails when the figure draws other data: change a weight, compare."""
    module = _make_figures()
    module.W_1 = [[0.6, -0.7, 0.2]]  # the output bias 0.1 -> 0.2
    import matplotlib

    with matplotlib.rc_context(matplotlib.rcParamsDefault):
        changed = module.drawn_data(module.network_weights())
    _, manifest = fresh
    assert changed != manifest["network_weights.png"]
