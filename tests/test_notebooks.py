"""The five tutorials in notebooks/ run top to bottom in a real Jupyter kernel.

They are jupytext percent scripts (diff-friendly, no stored outputs); each is turned into
a notebook and executed with nbclient, a per-cell timeout, no ``%matplotlib inline``.
Their own ``assert`` cells check the mathematics; this test also checks what a learner
sees: every figure displays inline as one PNG, and psinet objects display as HTML tables.

Marked ``notebooks`` (a kernel per notebook takes a few seconds): the default run
deselects them, CI runs them with ``python -m pytest -m notebooks``.
"""

from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9]*.py"))
CELL_TIMEOUT = 60  # seconds per cell


def _execute(path):
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("matplotlib")
    notebook = jupytext.read(path)
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, if an assert fails
    return notebook


def test_there_are_five_tutorials_linked_from_the_readme():
    assert [p.name for p in NOTEBOOKS] == [
        "01_psi_by_hand.py",
        "02_train_and_watch.py",
        "03_vanishing_gradients.py",
        "04_your_own_backprop.py",
        "05_convolution.py",
    ]
    readme = (NOTEBOOKS[0].parent.parent / "README.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        assert f"(notebooks/{path.name})" in readme, f"README does not link {path.name}"


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_and_displays_figures_and_tables(path):
    notebook = _execute(path)
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    displayed = [o for o in outputs if o.output_type in ("display_data", "execute_result")]
    pictures = [o for o in displayed if "image/png" in o.data]
    assert pictures, f"{path.name}: no figure displayed inline"
    for cell in notebook.cells:  # one picture per figure, never a figure twice
        if cell.cell_type == "code":
            pngs = [o for o in cell.outputs if "image/png" in getattr(o, "data", {})]
            assert len(pngs) <= 1, f"{path.name}: a cell shows {len(pngs)} pictures"
    texts = [o.data.get("text/plain", "") for o in displayed]
    assert not any(
        t.startswith("<Figure") and "image/png" not in o.data
        for t, o in zip(texts, displayed, strict=True)
    )
    if path.name != "03_vanishing_gradients.py":  # these end cells in a Network / Trace / History
        html = [o.data["text/html"] for o in displayed if "text/html" in o.data]
        assert any('<table class="psinet">' in h for h in html), f"{path.name}: no psinet table"
