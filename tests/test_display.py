"""Jupyter display: _repr_html_ is well-formed, escaped and shows the values;
_repr_pretty_ gives the plain-text table (through IPython.lib.pretty when installed)."""

from html.parser import HTMLParser

import numpy as np
import pytest

import psinet
from psinet import Network
from psinet._display import html_table
from psinet.training import History

VOID = {"br", "hr", "img", "input", "meta", "link", "col", "wbr"}


class _Checker(HTMLParser):
    """Collects text and fails on a closing tag that does not match the open one."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.text, self.errors, self.tags = [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unexpected </{tag}>")

    def handle_data(self, data):
        self.text.append(data)


def parse(markup):
    """(text content, tags) of well-formed HTML; fails the test otherwise."""
    checker = _Checker()
    checker.feed(markup)
    checker.close()
    assert not checker.errors, checker.errors
    assert not checker.stack, f"unclosed tags {checker.stack}"
    return " ".join(checker.text), checker.tags


class FakePrinter:
    """What IPython passes to _repr_pretty_: an object with .text()."""

    def __init__(self):
        self.parts = []

    def text(self, s):
        self.parts.append(s)


def pretty(obj):
    try:
        from IPython.lib.pretty import pretty as ipython_pretty
    except ImportError:  # the fake printer exercises the same method
        p = FakePrinter()
        obj._repr_pretty_(p, False)
        return "".join(p.parts)
    return ipython_pretty(obj)


def worked_example():
    net = Network([2, 2, 1], "sigmoid")
    net.weights[0] = [[0.1, 0.2, 0.0], [-0.3, 0.4, 0.5]]
    net.weights[1] = [[0.6, -0.7, 0.1]]
    return net


# ---------------------------------------------------------------------- the helper
def test_html_table_escapes_every_header_cell_caption_and_footer():
    markup = html_table(
        ["<th>"], [["<script>alert(1)</script>", "a & b"]], caption="<i>", footer="\"'"
    )
    text, tags = parse(markup)
    assert "script" not in tags and "i" not in tags
    assert "<script>alert(1)</script>" in text and "a & b" in text and "<i>" in text


# ---------------------------------------------------------------------- Network
def test_network_html_is_the_summary_table():
    net = Network([4, 8, 3], ["tanh", "softmax"], seed=0)
    text, tags = parse(net._repr_html_())
    assert tags.count("tr") == 1 + 2  # header and one row per layer
    for expected in [
        "Network 4-8-3",
        "4 -> 8",
        "(8, 5)",
        "(3, 9)",
        "40",
        "27",
        "total parameters: 67",
    ]:
        assert expected in text
    assert "Tanh()" in text and "Softmax()" in text


def test_network_pretty_is_the_summary():
    net = Network([4, 8, 3], ["tanh", "softmax"], seed=0)
    text = pretty(net)
    assert net.summary() in text and text.startswith(repr(net))
    p = FakePrinter()
    net._repr_pretty_(p, True)  # inside a reference cycle: short
    assert p.parts == ["Network(...)"]


# ---------------------------------------------------------------------- Trace
def test_small_trace_html_shows_the_values_of_the_worked_example():
    record = psinet.trace(worked_example(), [[1.0, 2.0]], [[1.0]], "mse")
    assert record.is_small
    text, tags = parse(record._repr_html_())
    assert tags.count("table") == 1 + 2 * 5  # the layer table, a value table per array
    numbers = {float(t) for t in text.split() if t.lstrip("-").replace(".", "", 1).isdigit()}
    for t in record.layers:  # every value, to 4 significant digits
        for a in (t.X_bar, t.W, t.z, t.psi, t.grad_W):
            for v in a.ravel():
                assert float(f"{v:.4g}") in numbers, (t.layer, v)
    assert -0.1273 in numbers and -0.01796 in numbers  # Ψ_1, Ψ_0 of the derivation
    assert "E = 0.129828" in text and "sigmoid" in text


def test_large_trace_html_shows_shapes_and_norms_only():
    rng = np.random.default_rng(0)
    net = Network([3, 9, 2], ["tanh", "softmax"], seed=0)  # 9 > 8 wide
    record = psinet.trace(
        net, rng.normal(size=(2, 3)), np.eye(2)[[0, 1]], "categorical_crossentropy"
    )
    assert not record.is_small
    text, tags = parse(record._repr_html_())
    norm = np.linalg.norm(record.layers[0].psi)
    assert f"(2, 9) ‖·‖ = {norm:.4g}" in text
    assert tags.count("table") == 1  # no nested value tables
    many = psinet.trace(
        Network([2, 2, 1], "sigmoid", seed=0), np.zeros((5, 2)), np.ones((5, 1)), "mse"
    )
    assert not many.is_small  # 5 samples > 4


def test_trace_pretty_has_the_table_and_when_small_the_values():
    record = psinet.trace(worked_example(), [[1.0, 2.0]], [[1.0]], "mse")
    text = pretty(record)
    assert str(record) in text
    assert "Ψ_0 = [[-0.01796, 0.01753]]" in text
    assert "∂E/∂W_1 = [[-0.07927, -0.0931, -0.1273]]" in text
    assert len(repr(record)) < 200  # not the dataclass dump of every array


# ---------------------------------------------------------------------- History
def _history(n_epochs, extra=None):
    h = History()
    for e in range(1, n_epochs + 1):
        h.append(
            {"epoch": e, "loss": 1.0 / e, "accuracy": 0.5 + e / 100, "lr": 0.1, **(extra or {})}
        )
    return h


def test_history_html_is_a_short_table_of_first_and_last_epochs():
    h = _history(30)
    text, tags = parse(h._repr_html_())
    assert tags.count("tr") == 1 + 7  # header, 3 first, "…", 3 last
    assert "30 epochs" in text and "…" in text
    assert "0.03333" in text and "0.8" in text  # epoch 30's loss, accuracy
    header = text.split()
    assert header.index("loss") < header.index("accuracy") < header.index("lr")


def test_history_html_escapes_its_keys_and_pretty_has_every_row_when_short():
    h = _history(3, extra={"<b>x</b>": 1.0})
    text, tags = parse(h._repr_html_())
    assert "b" not in tags and "<b>x</b>" in text
    printed = pretty(h)
    assert printed.splitlines()[0] == "History: 3 epochs, all epochs ran"
    assert len(printed.splitlines()) == 1 + 1 + 3


def test_a_real_fit_history_displays():
    net = Network([2, 3, 1], ["tanh", "sigmoid"], seed=0)
    X, y = psinet.datasets.xor()
    h = net.fit(X, y, loss="binary_crossentropy", epochs=12, batch_size=4, seed=0, verbose=0)
    text, _ = parse(h._repr_html_())
    assert f"{h['loss'][-1]:.4g}" in text and str(h.epoch[-1]) in text
    pytest.importorskip("IPython")
    from IPython.core.formatters import DisplayFormatter

    data, _ = DisplayFormatter().format(h)  # what a notebook cell ending in `h` shows
    assert "text/html" in data and "History: 12 epochs" in data["text/plain"]


# ---------------------------------------------------------------------- gradient check
def test_gradient_check_html_has_each_layer_status_and_the_verdict():
    net = Network([3, 4, 2], ["tanh", "softmax"], seed=1)
    X = np.random.default_rng(0).normal(size=(5, 3))
    report = psinet.check_gradients(net, X, np.eye(2)[[0, 1, 1, 0, 1]], "categorical_crossentropy")
    text, tags = parse(report._repr_html_())
    assert tags.count("tr") == 1 + 2
    assert "gradient check: passed" in text and "passed (threshold 1e-06)" in text
    for row in report.layers:
        assert f"{row.rel_error:.2e} ({row.n_relative})" in text
    assert len(repr(report)) < 120 and "passed" in repr(report)
    assert pretty(report) == str(report)


def test_gradient_check_html_shows_unresolved_layers_with_their_reason_escaped():
    deep = Network([2, *[8] * 12, 1], "sigmoid", seed=0)  # Ψ vanishes in the first layers
    report = psinet.check_gradients(deep, np.ones((2, 2)), np.ones((2, 1)), "mse")
    assert report.status == "unresolved"
    text, tags = parse(report._repr_html_())
    assert "UNRESOLVED" in text and "unresolved" in text.split("gradient check: ")[1]
    reasons = [row.reason for row in report.layers if row.status != "passed"]
    assert reasons and reasons[-1][:40] in text
    assert "script" not in tags
