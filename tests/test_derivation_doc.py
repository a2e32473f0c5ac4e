"""docs/derivation.md cannot drift from the code.

Two things in the document are machine-checked:

* **Quotes of source.** Every quote has the form

      `src/psinet/FILE.py`, `NAME`: `CODE`

  (three inline code spans: the file, possibly in a sub-folder like
  ``engine/step.py``, a function or class, possibly dotted like ``Network._forward``,
  and the quoted code). The named definition must exist in that file and ``CODE`` must
  occur, whitespace-normalized, in that definition's source (and so in the file).
* **The textbook sections quote the textbook.** §3–§11 derive the algorithm, so every
  quote there names a file of the textbook (the forward pass, the Ψ recursion, the
  activations, the losses, the finite differences, ``train_step``), never the engine
  (``src/psinet/engine/``), which only §14 may quote.
* **The worked example.** The fenced ``text`` block after ``<!-- worked-example -->``
  holds lines ``name = value``; every value is recomputed with psinet and must agree
  to the 6 significant digits printed.

The checkers return lists of problems, so the last tests can feed them a mutated copy
of the document and show that they do fail.
"""

import ast
import re
from functools import cache
from pathlib import Path

import numpy as np
import pytest

import psinet
from psinet import Network

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "derivation.md"

# `src/psinet/file.py`, `name`: `code`   (the spans may be separated by a line break)
QUOTE = re.compile(r"`(src/psinet/[\w/]+\.py)`,\s*`([A-Za-z_][\w.]*)`:\s*`([^`]+)`")
# anything that starts like a quote, to catch malformed ones the full pattern misses
QUOTE_START = re.compile(r"`src/psinet/[\w/]+\.py`,\s*`")

# §3–§11, the derivation itself: it may quote only these files (training.py: train_step only)
TEXTBOOK_START, TEXTBOOK_END = "\n## 3. ", "\n## 12. "
TEXTBOOK = {
    "src/psinet/network.py": None,
    "src/psinet/backprop.py": None,
    "src/psinet/activations.py": None,
    "src/psinet/losses.py": None,
    "src/psinet/gradcheck.py": None,
    "src/psinet/training.py": ("train_step",),
}
ENGINE_TEST = ROOT / "tests" / "test_engine.py"

MARKER = "<!-- worked-example -->"
INPUTS = {
    "W_0": [[0.1, 0.2, 0.0], [-0.3, 0.4, 0.5]],
    "W_1": [[0.6, -0.7, 0.1]],
    "x": [1.0, 2.0],
    "y": [1.0],
}  # the same network and sample as tests/test_backprop.py::test_two_two_one_sigmoid_mse_by_hand
OUTPUTS = ("X̄_0", "z_0", "X_1", "X̄_1", "z_1", "ŷ", "E", "Ψ_1", "∂E/∂W_1", "Ψ_0", "∂E/∂W_0")
DIGITS = 6


def _normalize(text):
    return " ".join(text.split())


@cache
def _doc():
    return DOC.read_text(encoding="utf-8")


# ---------------------------------------------------------------------- quotes
def _definitions(tree, qualname):
    """All def/class nodes named ``qualname`` ("f", "Cls.method"); several for overloads."""
    defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    first, *rest = qualname.split(".")
    nodes = [n for n in ast.walk(tree) if isinstance(n, defs) and n.name == first]
    for part in rest:
        nodes = [
            child
            for n in nodes
            if isinstance(n, ast.ClassDef)
            for child in n.body
            if isinstance(child, defs) and child.name == part
        ]
    return nodes


@cache
def _parsed(file):
    """(source, whitespace-normalized source, AST) of a file, read once per test run."""
    source = file.read_text(encoding="utf-8")
    return source, _normalize(source), ast.parse(source)


def quote_problems(doc):
    """(quote, problem) for each quote of source in ``doc`` that does not hold."""
    problems = []
    n_starts = len(QUOTE_START.findall(doc))
    quotes = QUOTE.findall(doc)
    if n_starts != len(quotes):
        problems.append(
            ("(document)", f"{n_starts - len(quotes)} malformed quote(s): `file`, `name`: `code`")
        )
    for path, name, code in quotes:
        label = f"`{path}`, `{name}`: `{code}`"
        file = ROOT / path
        if not file.is_file():
            problems.append((label, f"no file {path}"))
            continue
        source, normalized, tree = _parsed(file)
        wanted = _normalize(code)
        if wanted not in normalized:
            problems.append((label, f"the code does not occur in {path}"))
            continue
        nodes = _definitions(tree, name)
        if not nodes:
            problems.append((label, f"no def or class {name} in {path}"))
            continue
        bodies = [_normalize(ast.get_source_segment(source, n) or "") for n in nodes]
        if not any(wanted in body for body in bodies):
            problems.append((label, f"the code occurs in {path} but not in {name}"))
    return problems


def _section(doc, start, end):
    """The text of ``doc`` from the heading ``start`` up to the heading ``end``."""
    assert start in doc and end in doc, f"headings {start!r} and {end!r} must both be there"
    return doc[doc.index(start) : doc.index(end)]


def textbook_problems(doc):
    """(quote, problem) for each quote in §3–§11 of something other than the textbook."""
    problems = []
    for path, name, code in QUOTE.findall(_section(doc, TEXTBOOK_START, TEXTBOOK_END)):
        label = f"`{path}`, `{name}`: `{code}`"
        if path.startswith("src/psinet/engine/"):
            problems.append((label, "§3–§11 quote the textbook; the engine belongs in §14"))
        elif path not in TEXTBOOK:
            problems.append((label, f"{path} is not a file of the textbook"))
        elif TEXTBOOK[path] is not None and name.split(".")[0] not in TEXTBOOK[path]:
            problems.append((label, f"of {path}, §3–§11 quote only {', '.join(TEXTBOOK[path])}"))
    return problems


def engine_test_problems(doc):
    """(name, problem) for each test §14 names that tests/test_engine.py does not define."""
    chapter = _section(doc, "\n## 14. ", "\n## 15. ")
    problems = []
    if "`tests/test_engine.py`" not in chapter:
        problems.append(("§14", "does not name tests/test_engine.py, the test that ties the two"))
    defined = set(re.findall(r"^def (test_\w+)", ENGINE_TEST.read_text(encoding="utf-8"), re.M))
    for name in re.findall(r"`(test_\w+)`", chapter):
        if name not in defined:
            problems.append((name, "is not a test in tests/test_engine.py"))
    return problems


# ---------------------------------------------------------------------- worked example
def worked_example(doc):
    """The ``name = value`` lines of the block after the marker, as {name: ndarray}."""
    start = doc.index(MARKER)
    block = re.search(r"```text\n(.*?)\n```", doc[start:], re.DOTALL)
    assert block, f"no ```text block after {MARKER}"
    values = {}
    for line in block.group(1).splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep, f"worked example: line without '=': {line!r}"
        name = name.strip()
        assert name not in values, f"worked example: {name} given twice"
        values[name] = np.array(ast.literal_eval(value.strip()), dtype=float)
    return values


def recompute(inputs):
    """Every quantity of the worked example, computed by psinet, shaped as printed."""
    net = Network([2, 2, 1], "sigmoid")
    net.weights[0] = inputs["W_0"]
    net.weights[1] = inputs["W_1"]
    grads, E, psi = psinet.gradients(
        net, inputs["x"][None, :], inputs["y"][None, :], "mse", return_psi=True
    )
    c = net.cache
    return {
        "X̄_0": c.X_bar[0][0],
        "z_0": c.z[0][0],
        "X_1": c.a[0][0],
        "X̄_1": c.X_bar[1][0],
        "z_1": c.z[1][0],
        "ŷ": c.y_hat[0],
        "E": np.array(E),
        "Ψ_1": psi[1][0],
        "∂E/∂W_1": grads[1],
        "Ψ_0": psi[0][0],
        "∂E/∂W_0": grads[0],
    }


def _agrees(printed, exact, digits=DIGITS):
    """``printed`` is ``exact`` rounded to ``digits`` significant digits (half a unit + slack)."""
    if exact == 0:
        return printed == 0
    unit = 10.0 ** (np.floor(np.log10(abs(exact))) - (digits - 1))
    return abs(printed - exact) <= 0.5 * unit * (1 + 1e-9) + 1e-15 * abs(exact)


def example_problems(doc):
    """(name, problem) for each printed number of the worked example that is wrong."""
    printed = worked_example(doc)
    problems = []
    missing = [k for k in (*INPUTS, *OUTPUTS) if k not in printed]
    extra = [k for k in printed if k not in INPUTS and k not in OUTPUTS]
    if missing or extra:
        problems.append(("(block)", f"missing {missing}, unknown {extra}"))
    for name, value in INPUTS.items():
        if name in printed and not np.array_equal(printed[name], value):
            problems.append((name, f"is {printed[name].tolist()}, the example uses {value}"))
    if any(k not in printed for k in INPUTS):
        return problems
    exact = recompute({k: printed[k] for k in INPUTS})
    for name in OUTPUTS:
        if name not in printed:
            continue
        p, e = printed[name], exact[name]
        if p.shape != e.shape:
            problems.append((name, f"printed with shape {p.shape}, psinet's is {e.shape}"))
            continue
        for i in np.ndindex(*e.shape):
            if not _agrees(float(p[i]), float(e[i])):
                problems.append(
                    (name, f"entry {i}: printed {float(p[i])!r}, psinet gives {e[i]:.{DIGITS}g}")
                )
    return problems


# ---------------------------------------------------------------------- tests
def _report(problems):
    return "\n".join(f"{where}: {what}" for where, what in problems)


def test_every_quoted_line_is_in_its_function():
    problems = quote_problems(_doc())
    assert not problems, "quotes in docs/derivation.md that drifted:\n" + _report(problems)


def test_the_document_quotes_the_code_it_derives():
    quoted = {(path, name) for path, name, _ in QUOTE.findall(_doc())}
    for must in [
        ("src/psinet/network.py", "Network._forward"),
        ("src/psinet/backprop.py", "backward"),
        ("src/psinet/backprop.py", "output_psi"),
        ("src/psinet/backprop.py", "output_loss"),
        ("src/psinet/activations.py", "Activation.chain"),
        ("src/psinet/activations.py", "Activation.backward"),
        ("src/psinet/activations.py", "Sigmoid.derivative"),
        ("src/psinet/activations.py", "Softmax.backward"),
        ("src/psinet/losses.py", "MeanSquaredError.gradient"),
        ("src/psinet/losses.py", "BinaryCrossEntropy.value_from_z"),
        ("src/psinet/losses.py", "CategoricalCrossEntropy.value_from_z"),
        ("src/psinet/gradcheck.py", "numerical_gradients"),
        ("src/psinet/training.py", "train_step"),
        ("src/psinet/engine/step.py", "StepPlan.step"),
        ("src/psinet/engine/step.py", "StepPlan.start"),
        ("src/psinet/engine/step.py", "StepPlan.finish"),
        ("src/psinet/engine/sweep.py", "Sweep.run"),
        ("src/psinet/engine/sweep.py", "gradient_bound"),
        ("src/psinet/engine/buffers.py", "forward"),
        ("src/psinet/engine/deferred.py", "PendingFirstLayer.forward_product"),
        ("src/psinet/engine/data.py", "EpochData.loss"),
    ]:
        assert must in quoted, f"docs/derivation.md quotes nothing from {must[0]}, {must[1]}"


def test_the_derivation_quotes_only_the_textbook():
    problems = textbook_problems(_doc())
    assert not problems, "quotes in §3–§11 of docs/derivation.md:\n" + _report(problems)
    assert QUOTE.findall(_section(_doc(), TEXTBOOK_START, TEXTBOOK_END)), "§3–§11 quote nothing"


def test_the_engine_chapter_names_the_test_that_ties_it_to_the_textbook():
    problems = engine_test_problems(_doc())
    assert not problems, "§14 of docs/derivation.md:\n" + _report(problems)


def test_worked_example_numbers_are_what_psinet_computes():
    problems = example_problems(_doc())
    assert not problems, "worked example in docs/derivation.md:\n" + _report(problems)


def test_worked_example_agrees_with_the_hand_computation():
    """The recomputation itself, checked against plain NumPy arithmetic."""
    inputs = {k: np.array(v) for k, v in INPUTS.items()}
    got = recompute(inputs)
    s = lambda t: 1 / (1 + np.exp(-t))
    W0, W1 = inputs["W_0"], inputs["W_1"]
    x_bar0 = np.append(inputs["x"], 1.0)
    x1 = s(W0 @ x_bar0)
    x_bar1 = np.append(x1, 1.0)
    y_hat = s(W1 @ x_bar1)
    psi1 = (y_hat - inputs["y"]) * y_hat * (1 - y_hat)
    psi0 = (W1[:, :-1].T @ psi1) * x1 * (1 - x1)
    hand = {
        "X̄_0": x_bar0,
        "z_0": W0 @ x_bar0,
        "X_1": x1,
        "X̄_1": x_bar1,
        "z_1": W1 @ x_bar1,
        "ŷ": y_hat,
        "E": np.array(0.5 * np.sum((y_hat - inputs["y"]) ** 2)),
        "Ψ_1": psi1,
        "∂E/∂W_1": np.outer(psi1, x_bar1),
        "Ψ_0": psi0,
        "∂E/∂W_0": np.outer(psi0, x_bar0),
    }
    for name in OUTPUTS:
        np.testing.assert_allclose(got[name], hand[name], rtol=1e-12, err_msg=name)


@pytest.mark.parametrize(
    ("old", "new"),
    [("0.622459, 0.731059]", "0.622459, 0.731058]"), ("E       = 0.129828", "E = 0.129829")],
)
def test_a_changed_number_fails(old, new):
    doc = _doc()
    assert old in doc, f"mutation target {old!r} not in the document"
    problems = example_problems(doc.replace(old, new, 1))
    assert problems, "a wrong number in the worked example went unnoticed"


def test_a_changed_quote_fails():
    doc = _doc()
    good = "`grad_W[l] = psi[l].T @ X_bar[l]`"
    assert good in doc
    for bad in [
        good.replace("psi[l].T", "psi[l - 1].T"),  # code that is not in the file
        good.strip("`"),  # malformed: the code is not a code span
    ]:
        assert quote_problems(doc.replace(good, bad, 1)), bad
    wrong_function = doc.replace("`backward`: " + good, "`output_psi`: " + good, 1)
    assert wrong_function != doc
    assert any("not in output_psi" in p for _, p in quote_problems(wrong_function))


def test_an_engine_quote_in_the_derivation_fails():
    """A quote of the engine moved into §7 is refused, though the quote itself holds."""
    doc = _doc()
    engine = "`src/psinet/engine/sweep.py`, `Sweep.run`: `grad_product(psi_T, X_bar_l, grad_l)`"
    textbook = "`src/psinet/backprop.py`, `backward`: `grad_W[l] = psi[l].T @ X_bar[l]`"
    assert engine in doc and textbook in _section(doc, TEXTBOOK_START, TEXTBOOK_END)
    start = doc.index(TEXTBOOK_START)
    doctored = doc[:start] + doc[start:].replace(textbook, engine, 1)
    assert not quote_problems(doctored)  # the quote is true ...
    problems = textbook_problems(doctored)  # ... but it is the engine, in the derivation
    assert [p for _, p in problems] == ["§3–§11 quote the textbook; the engine belongs in §14"]
    for path, name in [
        ("src/psinet/engine/step.py", "StepPlan.step"),  # the engine
        ("src/psinet/io/_save.py", "save"),  # not a file of the textbook
        ("src/psinet/training.py", "fit"),  # of training.py, train_step only
    ]:
        quote = f"`{path}`, `{name}`: `x`"
        assert textbook_problems(doc[:start] + doc[start:].replace(textbook, quote, 1)), quote


def test_a_wrong_engine_test_name_fails():
    doc = _doc()
    good = "`test_mutation_sigmoid_start`"
    assert good in _section(doc, "\n## 14. ", "\n## 15. ")
    assert engine_test_problems(doc.replace(good, "`test_mutation_sigmoid_begin`", 1))
    assert engine_test_problems(doc.replace("`tests/test_engine.py`", "the engine's test"))
