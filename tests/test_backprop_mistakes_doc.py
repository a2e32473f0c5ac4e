"""docs/backprop_mistakes.md: every mistake on the page is run, and says what the page says.

The page has a setup block (after ``<!-- backprop-setup -->``: the network, the batch, a
shared forward pass and a right ``backprop``), a block that checks it (after
``<!-- backprop-check -->``), and one example per mistake: after
``<!-- mistake: DIAGNOSIS layer=L -->`` a ``python`` block that redefines ``backprop``
with the mistake, then a ``text`` block whose first line is
``diagnosis = "DIAGNOSIS", first_wrong_layer = L`` and whose rest is the explanation
``check_backprop`` gives. Each example is checked twice:

* against psinet's own gradients, without the checker: the example really makes the
  mistake it is filed under (a factor N, a minus sign, the transpose, ...);
* with ``psinet.check_backprop``: the diagnosis, the layer and the explanation are the
  page's.

The checkers return lists of problems, so the last tests can feed them a changed copy of
the page and show that they do fail. When the checker's wording changes on purpose,
``python tests/test_backprop_mistakes_doc.py --write`` rewrites the text blocks with what it
says now (the diagnoses and layers of the markers are never rewritten).
"""

import contextlib
import io
import re
import sys
import textwrap
from functools import cache
from pathlib import Path

import numpy as np
import pytest

import psinet

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "backprop_mistakes.md"
SETUP, CHECK = "<!-- backprop-setup -->", "<!-- backprop-check -->"
MISTAKE = re.compile(
    r"<!-- mistake: (\w+) layer=(\w+) -->\s*```python\n(.*?)\n```\s*```text\n(.*?)\n```", re.S
)
# the mistakes a learner makes most often (issue 20): each must be on the page
COMMON = {
    "scale",
    "sign",
    "missing_derivative",
    "derivative_at_output",
    "transposed",
    "bias_gradient",
    "wrong_input",
}


@cache
def _doc():
    return DOC.read_text(encoding="utf-8")


def _block_after(doc, marker):
    start = doc.index(marker)
    return re.search(r"```python\n(.*?)\n```", doc[start:], re.S).group(1)


def _setup(doc):
    """The namespace of the setup block: net, X, Y, forward, a right backprop."""
    namespace = {"__name__": "__backprop_mistakes__"}
    exec(compile(_block_after(doc, SETUP), "backprop_mistakes.md setup", "exec"), namespace)
    return namespace


def mistakes(doc):
    """[(diagnosis, layer or None, code, text)] for each marked example, in order."""
    found = []
    for diagnosis, layer, code, text in MISTAKE.findall(doc):
        found.append((diagnosis, None if layer == "None" else int(layer), code, text))
    return found


def _run(doc, code, where):
    """The ``backprop`` that ``code`` defines, next to the setup's names."""
    namespace = _setup(doc)
    exec(compile(code, f"backprop_mistakes.md {where}", "exec"), namespace)
    return namespace["backprop"], namespace


def _grads(out):
    return out[0] if isinstance(out, tuple) else out


# ---------------------------------------------------------------------- without the checker
def _reference(ns):
    """psinet's gradients, Ψ and forward cache for the page's network and batch."""
    net, X, Y = ns["net"], ns["X"], ns["Y"]
    grads, _, psi = psinet.gradients(net, X, Y, "mse", return_psi=True)
    return {
        "W": list(net.weights),
        "grads": grads,
        "psi": psi,
        "X_bar": net.cache.X_bar,
        "z": net.cache.z,
        "a": net.cache.a,
        "N": len(X),
        "Y": np.asarray(Y, dtype=float),
    }


def _sigma_prime(t):
    s = 1 / (1 + np.exp(-t))
    return s * (1 - s)


def _expected_at(diagnosis, l, ref):
    """What layer l's gradient is when it makes exactly this mistake (None: any shape)."""
    right, psi, X_bar, z, a, W = (ref[k] for k in ("grads", "psi", "X_bar", "z", "a", "W"))
    ones = np.ones((ref["N"], 1))
    if diagnosis == "scale":
        return right[l] * ref["N"]
    if diagnosis == "sign":
        return -right[l]
    if diagnosis == "transposed":
        return right[l].T
    if diagnosis == "missing_derivative":  # Ψ_l without its ⊙ f'(z_l), Ψ_{l+1} right
        return (psi[l + 1] @ W[l + 1][:, :-1]).T @ X_bar[l]
    if diagnosis == "derivative_at_output":  # f' at a = f(z) wherever f' is taken
        psi_l = (a[-1] - ref["Y"]) / ref["N"] * _sigma_prime(a[-1])
        for k in range(len(W) - 1, l, -1):
            psi_l = (psi_l @ W[k][:, :-1]) * _sigma_prime(a[k - 1])
        return psi_l.T @ X_bar[l]
    if diagnosis == "bias_gradient":  # the weights right, the bias one sample's Ψ
        return np.column_stack([right[l][:, :-1], psi[l][0]])
    if diagnosis == "wrong_input":  # Ψ_l right, the input z_{l-1} instead of f(z_{l-1})
        return psi[l].T @ np.hstack([z[l - 1], ones])
    return None


def example_problems(doc, diagnosis, layer, code):
    """Does the example make the mistake it is filed under, at that layer, and only there?"""
    fn, ns = _run(doc, code, diagnosis)
    ref = _reference(ns)
    if diagnosis == "exception":  # the function raises: no layer to name
        try:
            fn([W.copy() for W in ref["W"]], ns["X"], ns["Y"])
        except Exception:  # any exception is the mistake
            return [] if layer is None else [(diagnosis, "an exception has no layer")]
        return [(diagnosis, "the example raises nothing")]
    grads = _grads(fn([W.copy() for W in ref["W"]], ns["X"], ns["Y"]))
    problems = []
    if len(grads) != len(ref["grads"]):
        return [(diagnosis, f"{len(grads)} gradients for {len(ref['grads'])} layers")]
    for l in range(layer + 1, len(grads)):  # the layers nearer the output: right
        if grads[l].shape != ref["grads"][l].shape or not np.allclose(
            grads[l], ref["grads"][l], rtol=1e-9, atol=1e-14
        ):
            problems.append((diagnosis, f"layer {l} is wrong too, but it is nearer the output"))
    g, right = grads[layer], ref["grads"][layer]
    if g.shape == right.shape and np.allclose(g, right, rtol=1e-6, atol=1e-12):
        problems.append((diagnosis, f"layer {layer} is right: the example makes no mistake"))
    expected = _expected_at(diagnosis, layer, ref)
    if expected is None:
        return problems
    if g.shape != expected.shape or not np.allclose(g, expected, rtol=1e-9, atol=1e-14):
        problems.append((diagnosis, f"layer {layer} is not what this mistake gives"))
    return problems


# ---------------------------------------------------------------------- with the checker
def _head(diagnosis, layer):
    return f'diagnosis = "{diagnosis}", first_wrong_layer = {layer}'


def checker_problems(doc, diagnosis, layer, code, text):
    """Does ``check_backprop`` say what the page says it says?"""
    fn, ns = _run(doc, code, diagnosis)
    report = psinet.check_backprop(fn, ns["net"], ns["X"], ns["Y"], loss="mse")
    problems = []
    if (report.diagnosis, report.first_wrong_layer) != (diagnosis, layer):
        said = _head(report.diagnosis, report.first_wrong_layer)
        problems.append((diagnosis, f"check_backprop says {said}, the marker {diagnosis}/{layer}"))
    if report.passed:
        problems.append((diagnosis, "check_backprop passes it"))
    head, _, explanation = text.partition("\n")
    if head.strip() != _head(diagnosis, layer):
        problems.append((diagnosis, f"the text block starts {head!r}"))
    if " ".join(explanation.split()) != " ".join(report.explanation.split()):
        said = report.explanation
        problems.append((diagnosis, f"the page shows {explanation!r}; check_backprop: {said!r}"))
    return problems


def _report(problems):
    return "\n".join(f"{where}: {what}" for where, what in problems)


# ---------------------------------------------------------------------- tests
def test_the_page_lists_every_common_mistake_once():
    found = [d for d, *_ in mistakes(_doc())]
    assert COMMON <= set(found), f"not on the page: {sorted(COMMON - set(found))}"
    assert len(found) == len(set(found)), f"a mistake twice: {found}"
    markers = re.findall(r"^<!-- mistake:", _doc(), re.M)  # each on a line of its own
    assert len(markers) == len(found), "a malformed mistake marker or block"


def test_the_derivation_and_the_notebook_link_the_page():
    assert "(backprop_mistakes.md)" in (ROOT / "docs" / "derivation.md").read_text("utf-8")
    notebook = (ROOT / "notebooks" / "04_your_own_backprop.py").read_text("utf-8")
    assert "docs/backprop_mistakes.md" in notebook


def test_the_setup_backprop_is_psinets():
    ns = _setup(_doc())
    ref = _reference(ns)
    grads, psi = ns["backprop"]([W.copy() for W in ref["W"]], ns["X"], ns["Y"])
    for l in range(len(grads)):
        np.testing.assert_allclose(grads[l], ref["grads"][l], rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(psi[l], ref["psi"][l], rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("index", range(len(mistakes(_doc()))))
def test_each_example_makes_the_mistake_it_is_filed_under(index):
    diagnosis, layer, code, _ = mistakes(_doc())[index]
    problems = example_problems(_doc(), diagnosis, layer, code)
    assert not problems, _report(problems)


def test_check_backprop_passes_the_setup_and_prints_what_the_comment_says():
    ns = _setup(_doc())
    code = _block_after(_doc(), CHECK)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "backprop_mistakes.md check", "exec"), ns)
    assert ns["report"].passed
    comment = re.search(r"# (.*)$", code, re.M).group(1)
    assert out.getvalue().strip() == comment.strip()


@pytest.mark.parametrize("index", range(len(mistakes(_doc()))))
def test_check_backprop_says_what_the_page_says(index):
    diagnosis, layer, code, text = mistakes(_doc())[index]
    problems = checker_problems(_doc(), diagnosis, layer, code, text)
    assert not problems, _report(problems)


def test_a_mistake_filed_under_another_name_fails():
    doc = _doc()
    sign = next(m for m in mistakes(doc) if m[0] == "sign")
    assert example_problems(doc, "scale", sign[1], sign[2])  # a minus sign is not a factor N
    assert checker_problems(doc, "scale", sign[1], sign[2], sign[3])
    # the right function filed as a mistake: no layer is wrong
    assert example_problems(doc, "sign", 2, _block_after(doc, SETUP).split("\n\n\n")[-1])


def test_a_changed_explanation_or_layer_fails():
    doc = _doc()
    diagnosis, layer, code, text = mistakes(doc)[0]
    assert checker_problems(doc, diagnosis, layer + 1 if layer < 2 else 0, code, text)
    assert checker_problems(doc, diagnosis, layer, code, text + " And more.")


# ---------------------------------------------------------------------- rewriting the page
def rewritten(doc):
    """``doc`` with each mistake's text block set to what ``check_backprop`` says now."""

    def text_block(match):
        diagnosis, _, code, text = match.groups()
        fn, ns = _run(doc, code, diagnosis)
        report = psinet.check_backprop(fn, ns["net"], ns["X"], ns["Y"], loss="mse")
        wrapped = textwrap.fill(
            report.explanation, 88, break_long_words=False, break_on_hyphens=False
        )
        body = _head(report.diagnosis, report.first_wrong_layer) + "\n" + wrapped
        old = "```text\n" + text + "\n```"
        return match.group(0).replace(old, "```text\n" + body + "\n```")

    return MISTAKE.sub(text_block, doc)


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    DOC.write_text(rewritten(_doc()), encoding="utf-8")
