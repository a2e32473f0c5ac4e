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
