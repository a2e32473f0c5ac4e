"""End to end: the playground page in a real headless Chromium, used as a learner uses it.

Playwright for Python drives the system Chromium (Debian's ``chromium`` package; Playwright
cannot download its own browser here). Without a Chromium binary the test is skipped with
a message saying how to install one, except where ``PSINET_REQUIRE_BROWSER=1`` (``.ci/run``
sets it): there a missing browser is a failure.
"""

import http.client
import json
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import psinet
from psinet.playground import make_server

pytestmark = pytest.mark.e2e


def chromium_executable():
    """The system Chromium, or None."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@pytest.fixture
def browser():
    executable = chromium_executable()
    if executable is None:
        message = "no Chromium binary found: install one with `apt-get install chromium`"
        if os.environ.get("PSINET_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " (PSINET_REQUIRE_BROWSER=1: CI must run this test)")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def server():
    baseline = set(threading.enumerate())
    srv = make_server("127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), name="e2e-playground")
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=10)
    # Playwright keeps its own asyncio threads; the server must leave none of its own.
    left = {t for t in set(threading.enumerate()) - baseline if not t.name.startswith("asyncio")}
    assert not left


def api_state(srv, session):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    body = json.dumps({"session": session})
    headers = {"X-Psinet-Token": srv.app.token, "Content-Type": "application/json"}
    conn.request("POST", "/api/state", body=body, headers=headers)
    response = conn.getresponse()
    assert response.status == 200
    state = json.loads(response.read())
    conn.close()
    return state


def shown_loss(page):
    return float(page.get_by_test_id("train-loss").inner_text())


CANVAS_COLOURS = """() => {
  const c = document.getElementById("data-plot");
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  const colours = new Set();
  for (let i = 0; i < d.length; i += 4 * 37) colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
  return colours.size;
}"""


def open_page(browser, server):
    """The page, loaded, with a list collecting its errors (console and uncaught)."""
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    problems = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.goto(server.url)
    page.wait_for_selector("body[data-frames]")
    return page, problems


def redrawn_after(page, action):
    """Do ``action`` and wait until the page has drawn a new frame."""
    frames = page.locator("body").get_attribute("data-frames")
    action()
    page.wait_for_selector(f"body:not([data-frames='{frames}'])")


def test_a_learner_trains_spirals_and_reads_psi_in_the_backward_view(browser, server, tmp_path):
    page, problems = open_page(browser, server)
    page.screenshot(path=tmp_path / "1-opened.png", full_page=True)

    # Pick spirals: a new run (3 classes, so softmax + categorical cross-entropy).
    redrawn_after(page, lambda: page.get_by_label("Dataset").select_option("spirals"))
    assert page.get_by_label("Output, loss").input_value() == "softmax"
    assert page.get_by_test_id("epoch").inner_text() == "0"
    loss_before = shown_loss(page)

    # Play, wait a few seconds, and the loss shown has fallen.
    page.get_by_role("button", name="Play").click()
    page.wait_for_timeout(3000)
    play_to_frame_ms = page.evaluate("window.psinet.playToFirstFrameMs")
    assert play_to_frame_ms is not None
    page.get_by_role("button", name="Pause").click()
    paused = time.perf_counter()
    page.wait_for_selector("body[data-playing=false][data-busy=false]", timeout=1000)
    pause_ms = 1000 * (time.perf_counter() - paused)
    frames = page.locator("body").get_attribute("data-frames")
    page.wait_for_timeout(300)
    assert page.locator("body").get_attribute("data-frames") == frames  # it really stopped
    loss_after = shown_loss(page)
    epochs = int(page.get_by_test_id("epoch").inner_text())
    assert epochs >= 5
    assert loss_after < 0.9 * loss_before, (loss_before, loss_after)
    # The decision-boundary canvas is not blank: many colours (boundary blend and points).
    assert page.evaluate(CANVAS_COLOURS) > 30
    page.screenshot(path=tmp_path / "2-trained.png", full_page=True)

    # Click a point, switch to the backward view: Ψ as psinet.trace computes it.
    box = page.locator("#data-plot").bounding_box()
    page.mouse.click(box["x"] + 0.6 * box["width"], box["y"] + 0.4 * box["height"])
    info = page.get_by_test_id("sample-info")
    info.and_(page.locator("[data-index]")).wait_for()
    index = int(info.get_attribute("data-index"))
    page.get_by_label("Backward").check()
    psi_nodes = page.locator("[data-testid^='psi-']")
    psi_nodes.first.wait_for()
    shown = {
        node.get_attribute("data-testid"): float(node.get_attribute("data-value"))
        for node in psi_nodes.all()
    }
    page.screenshot(path=tmp_path / "3-backward.png", full_page=True)

    session = page.evaluate("window.psinet.ui.session")
    state = api_state(server, session)
    c = state["config"]
    net = psinet.Network(state["sizes"], [*c["activations"], c["output"]])
    net.weights = [np.array(W) for W in state["weights"]]
    x = np.array([state["data"]["X"][index]])
    Y = psinet.one_hot(np.array([state["data"]["y"][index]]), c["n_classes"])
    t = psinet.trace(net, x, Y, state["loss_name"])
    expected = {
        f"psi-{layer.layer}-{j}": float(layer.psi[0, j])
        for layer in t.layers
        for j in range(layer.psi.shape[1])
    }
    assert shown.keys() == expected.keys()
    for key, value in expected.items():
        assert abs(shown[key] - value) <= 1e-9, (key, shown[key], value)
    assert not problems, problems
    print(f"Play → first updated frame: {play_to_frame_ms:.0f} ms; Pause took {pause_ms:.0f} ms")

    # Closing the page tells the server, which forgets the session.
    assert session in server.app.sessions
    page.close(run_before_unload=True)
    deadline = time.monotonic() + 5
    while session in server.app.sessions and time.monotonic() < deadline:
        time.sleep(0.05)
    assert session not in server.app.sessions


def test_a_learning_rate_that_diverges_shows_a_message(browser, server, tmp_path):
    page, problems = open_page(browser, server)
    redrawn_after(page, lambda: page.get_by_label("Dataset").select_option("spirals"))
    redrawn_after(page, lambda: page.get_by_label("Activation").select_option("leaky_relu"))
    for layer in (1, 2):
        width = page.get_by_label(f"Neurons in hidden layer {layer}")
        redrawn_after(page, lambda width=width: (width.fill("8"), width.blur()))
    redrawn_after(page, lambda: page.get_by_label("Optimizer").select_option("sgd"))
    rate = page.get_by_label("Learning rate")
    redrawn_after(page, lambda: (rate.fill("10"), rate.blur()))
    state = page.evaluate("window.psinet.ui.state.config")
    assert (state["hidden"], state["activations"]) == ([8, 8], ["leaky_relu"] * 2)
    assert (state["optimizer"], state["learning_rate"]) == ("sgd", 10)

    page.get_by_role("button", name="Play").click()
    alert = page.get_by_role("alert")
    alert.wait_for(state="visible", timeout=5000)
    assert alert.inner_text().startswith("Training diverged in epoch 1, step ")
    assert "smaller learning rate (now 10)" in alert.inner_text()
    page.wait_for_selector("body[data-playing=false][data-busy=false]")
    assert page.get_by_role("button", name="Play").is_disabled()
    assert page.get_by_role("button", name="Step").is_disabled()
    page.screenshot(path=tmp_path / "diverged.png", full_page=True)
    # Reset: a fresh run, the message gone, training possible again.
    redrawn_after(page, lambda: page.get_by_role("button", name="Reset").click())
    assert alert.is_hidden()
    assert page.get_by_role("button", name="Play").is_enabled()
    assert not problems, problems
    page.close()


NON_BLANK_CANVAS = """(c) => {
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  const colours = new Set();
  for (let i = 0; i < d.length; i += 4) colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
  return colours.size;
}"""

EDGE_MIDDLE = """(line) => {
  const m = line.getScreenCTM();
  const p = new DOMPoint((line.x1.baseVal.value + line.x2.baseVal.value) / 2,
                         (line.y1.baseVal.value + line.y2.baseVal.value) / 2).matrixTransform(m);
  return [p.x, p.y];
}"""


def refused_requests_only(problems):
    """Console errors other than the browser's own line for a refused (HTTP 400) request."""
    return [p for p in problems if "status of 400" not in p]


def test_a_learner_steps_backward_sees_neurons_edits_and_exports(browser, server):
    """Issue 22: step Ψ backward, f′, neuron maps, features, a weight, own data, export."""
    from playwright.sync_api import expect

    page, problems = open_page(browser, server)
    page.screenshot(path="/tmp/pg_initial.png", full_page=True)
    for _ in range(2):
        redrawn_after(page, lambda: page.get_by_role("button", name="Epoch").click())
    box = page.locator("#data-plot").bounding_box()
    redrawn_after(
        page,
        lambda: page.mouse.click(box["x"] + 0.6 * box["width"], box["y"] + 0.4 * box["height"]),
    )
    page.get_by_label("Backward").check()
    session = page.evaluate("window.psinet.ui.session")
    state = api_state(server, session)
    sample, sizes = state["sample"], state["sizes"]
    L = len(sizes) - 1
    steps = sample["steps"]
    assert [s["layer"] for s in steps] == list(range(L - 1, -1, -1))

    # 1. f′ under every Ψ, as the server computed it (none for a softmax output).
    for l, layer in enumerate(sample["layers"]):
        for j in range(sizes[l + 1]):
            node = page.get_by_test_id(f"fprime-{l}-{j}")
            expected = layer["f_prime"]
            assert (
                node.get_attribute("data-value") == str("null" if expected is None else expected[j])
                or abs(float(node.get_attribute("data-value")) - expected[j]) <= 1e-12
            )
    assert "W_l[:, :-1]) ⊙ f'_{l-1}(z_{l-1})" in page.locator("#view-help").inner_text()
    # the ring by f': the neuron that lets least through has a redder, thicker border than
    # the one that lets most through (as the page computes it, not the stylesheet's grey)
    f_hidden = [(fp, l, j) for l, layer in enumerate(sample["layers"][:-1])
                for j, fp in enumerate(layer["f_prime"] or [])]  # fmt: skip
    rings = {}
    for fp, l, j in (min(f_hidden), max(f_hidden)):
        rect = page.get_by_test_id(f"fprime-{l}-{j}").locator("xpath=..").locator("rect")
        rings[fp] = rect.evaluate(
            "r => [getComputedStyle(r).stroke, getComputedStyle(r).strokeWidth]"
        )
    (least, wide), (most, thin) = rings[min(f_hidden)[0]], rings[max(f_hidden)[0]]
    assert least != most and float(wide.rstrip("px")) > float(thin.rstrip("px")), rings

    # 1. Step backward: one layer per press, equation, numbers, code and highlight.
    down = page.get_by_role("button", name="Walk down one layer")
    assert down.inner_text() == "▶ Step backward"
    equation = page.get_by_test_id("step-equation")
    seen = []
    for k, step in enumerate(steps):
        down.click()
        assert equation.inner_text() == step["equation"]
        numbers = step["numbers"]
        numbers = numbers if isinstance(numbers, list) else numbers.split("; ")
        shown_numbers = page.get_by_test_id("step-numbers").inner_text().splitlines()
        assert len(shown_numbers) == len(step["psi"]) == len(numbers)
        for j, (line, expected) in enumerate(zip(shown_numbers, numbers, strict=True)):
            assert line == f"Ψ_{step['layer']}[{j}] = {expected}"
        assert page.get_by_test_id("step-code").inner_text() == step["code"]
        computing = page.get_by_test_id("highlight-computing")
        assert computing.get_attribute("data-column") == str(step["layer"] + 1)
        reading = page.get_by_test_id("highlight-reading")
        if step["kind"] == "start":
            assert reading.count() == 0
        else:
            assert reading.get_attribute("data-column") == str(step["from_layer"] + 1)
            assert f"W_{step['from_layer']}[:, :-1]" in step["equation"]
        seen.append((equation.inner_text(), computing.get_attribute("data-column")))
        if k < 2:
            page.screenshot(path=f"/tmp/pg_backward_step{k + 1}.png", full_page=True)
    assert len(set(seen)) == len(steps)  # every press changed equation and highlight
    assert down.is_disabled()  # layer 0 reached
    page.get_by_role("button", name="Walk up one layer").click()
    assert equation.inner_text() == steps[-2]["equation"]
    page.get_by_role("button", name="Show all layers again").click()
    assert equation.is_hidden()
    assert page.get_by_test_id("highlight-computing").count() == 0

    # 2. A heatmap per hidden neuron, each drawn (many colours, not a blank canvas).
    maps = page.locator("[data-testid^='neuron-map-']")
    assert maps.count() == sum(sizes[1:-1])
    for canvas in maps.all():
        assert canvas.evaluate(NON_BLANK_CANVAS) > 20
    page.locator("#neurons-figure").scroll_into_view_if_needed()
    page.screenshot(path="/tmp/pg_heatmaps.png", full_page=True)

    # 3. Input features: ticking x1² makes the input layer 3 wide.
    redrawn_after(page, lambda: page.get_by_label("feature x1^2").check())
    config = page.evaluate("window.psinet.ui.state.config")
    assert config["features"] == ["x1", "x2", "x1^2"]
    assert page.evaluate("window.psinet.ui.state.sizes[0]") == 3
    assert page.locator("#network .node:not(.bias):not(.output) >> text=x₁²").count() == 1
    page.screenshot(path="/tmp/pg_features.png", full_page=True)

    # 4. Click an edge, set its weight; a refused value shows the server's message.
    L = len(page.evaluate("window.psinet.ui.state.sizes")) - 1
    edge = page.get_by_test_id(f"edge-{L - 1}-0-0")
    x, y = edge.evaluate(EDGE_MIDDLE)
    page.mouse.click(x, y)
    editor = page.locator("#weight-editor")
    editor.wait_for(state="visible")
    where = [int(editor.get_attribute(f"data-{k}")) for k in ("layer", "row", "col")]
    page.locator("#weight-value").fill("0.5")
    redrawn_after(page, lambda: page.get_by_role("button", name="Set", exact=True).click())
    assert editor.is_hidden()
    layer, row, col = where
    weights = api_state(server, page.evaluate("window.psinet.ui.session"))["weights"]
    assert weights[layer][row][col] == 0.5
    page.mouse.click(x, y)
    editor.wait_for(state="visible")
    page.locator("#weight-value").fill("1e9")
    page.get_by_role("button", name="Set", exact=True).click()
    alert = page.get_by_role("alert")
    alert.wait_for(state="visible")
    assert alert.inner_text().startswith("Weight refused: ")
    assert "value" in alert.inner_text()
    page.screenshot(path="/tmp/pg_weight.png", full_page=True)
    page.get_by_role("button", name="Cancel").click()

    # 5. Own data: a pasted CSV and a loaded file train; a bad one shows the message.
    rows = ["x1,x2,label"] + [
        f"{a},{b},{int(a * b > 0)}" for a in (-1.0, -0.5, 0.5, 1.0) for b in (-1.0, 0.6)
    ]
    csv = "\n".join(rows) + "\n"
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "mine.csv", "mimeType": "text/csv", "buffer": csv.encode()}]
    )
    expect(page.locator("#csv")).to_have_value(csv)  # FileReader is asynchronous
    redrawn_after(page, lambda: page.get_by_role("button", name="Train on my data").click())
    assert alert.is_hidden()
    assert page.get_by_label("Dataset").input_value() == "custom"
    data = api_state(server, page.evaluate("window.psinet.ui.session"))["data"]
    assert len(data["X"]) == 8
    redrawn_after(page, lambda: page.get_by_role("button", name="Epoch").click())
    page.screenshot(path="/tmp/pg_own_data.png", full_page=True)
    page.locator("#csv").fill("x1,x2,label\n1,2,cat\n")
    page.get_by_role("button", name="Train on my data").click()
    alert.wait_for(state="visible")
    assert alert.inner_text().startswith("Your data was refused: ")
    assert "label 'cat'" in alert.inner_text()  # the server's own words
    big = b"x1,x2,label\n" + b"0.1,0.2,0\n" * 7000  # > 64 KiB: refused before sending
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "big.csv", "mimeType": "text/csv", "buffer": big}]
    )
    expect(page.get_by_role("alert")).to_contain_text("CSV refused: big.csv has 70012 bytes")
    page.screenshot(path="/tmp/pg_own_data_refused.png", full_page=True)

    # 6. Copy as Python: the script, in a box (and on the clipboard where allowed).
    page.get_by_role("button", name="Copy as Python").click()
    code = page.get_by_test_id("export-code")
    code.wait_for(state="visible")
    script = code.inner_text()
    assert "psinet.Network" in script
    compile(script, "exported.py", "exec")
    page.locator("#export-box").scroll_into_view_if_needed()
    page.screenshot(path="/tmp/pg_export.png", full_page=True)
    assert not refused_requests_only(problems), problems
    page.close()
