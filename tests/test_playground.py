"""The playground's server and JSON API, without a browser: every endpoint, every refusal."""

import http.client
import json
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import psinet
from psinet.playground import make_server
from psinet.playground import server as server_module
from psinet.playground import session as session_module
from psinet.playground.session import Session, parse_config

SMALL = {"dataset": "xor", "n_samples": 40, "hidden": [3], "activations": ["tanh"], "seed": 1}


@pytest.fixture
def server():
    """A playground server on a free port, stopped afterwards; no thread may survive it."""
    baseline = set(threading.enumerate())
    srv = make_server("127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), name="test-playground")
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=10)
    assert set(threading.enumerate()) == baseline


def request(srv, method, path, body=None, *, token=True, host=None, headers=None, raw=None):
    """(status, parsed JSON or text) of one request; the token goes in the header."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    h = {"Host": f"127.0.0.1:{srv.port}" if host is None else host}
    if token is True:
        h["X-Psinet-Token"] = srv.app.token
    elif isinstance(token, str):
        h["X-Psinet-Token"] = token
    h.update(headers or {})
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    conn.request(method, path, body=data, headers=h)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    if response.getheader("Content-Type", "").startswith("application/json"):
        return response.status, json.loads(payload)
    return response.status, payload.decode()


def new_session(srv, config=SMALL):
    status, state = request(srv, "POST", "/api/session", {"config": config})
    assert status == 200, state
    return state


def net_of(state):
    """A fresh Network with the state's weights: the reference the page is checked against."""
    c = state["config"]
    net = psinet.Network(state["sizes"], [*c["activations"], c["output"]])
    net.weights = [np.array(W) for W in state["weights"]]
    return net


# ---------------------------------------------------------------------- the page and assets
def test_page_is_served_with_the_token_and_only_local_assets(server):
    status, html = request(server, "GET", f"/?token={server.app.token}", token=None)
    assert status == 200
    assert f'content="{server.app.token}"' in html
    # Nothing from the internet: every src/href is one of the server's own files or data:.
    for url in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert url.startswith(("/static/", "data:")), url
    for name in ("app.js", "style.css"):
        status, text = request(
            server, "GET", f"/static/{name}?token={server.app.token}", token=None
        )
        assert status == 200 and len(text) > 1000
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), name


def test_page_names_every_control_as_the_issue_lists(server):
    _, html = request(server, "GET", "/")
    for label in ("Dataset", "Learning rate", "Activation"):
        assert re.search(rf"<label for=\"\w+\">{label}</label>", html), label
    for button in ("Step", "Epoch", "Play", "Pause", "Reset"):
        assert re.search(rf"<button [^>]*>{button}</button>", html), button
    for testid in ("train-loss", "epoch"):
        assert f'data-testid="{testid}"' in html
    _, js = request(server, "GET", "/static/app.js")
    assert '"data-testid": `psi-${c - 1}-${j}`, "data-value": String(psi)' in js


@pytest.mark.parametrize(
    "path",
    [
        "/static/../server.py",
        "/static/%2e%2e/server.py",
        "/static/",
        "/static",
        "/static/index.html/",
        "/../pyproject.toml",
        "/server.py",
        "/static/session.py",
    ],
)
def test_only_its_own_assets_are_served(server, path):
    status, answer = request(server, "GET", path)
    assert status == 404
    assert "not found" in answer["error"]


def test_every_request_needs_the_token(server):
    for method, path, body in [
        ("GET", "/", None),
        ("GET", "/static/app.js", None),
        ("GET", "/api/options", None),
        ("POST", "/api/session", {"config": SMALL}),
    ]:
        for token in (None, "wrong", server.app.token[:-1]):
            status, answer = request(server, method, path, body, token=token)
            assert status == 403, (method, path, token)
            assert "token" in answer["error"]
    assert not server.app.sessions  # the refused POST created nothing
    assert request(server, "GET", f"/api/options?token={server.app.token}", token=None)[0] == 200


@pytest.mark.parametrize(
    "host",
    ["evil.example:{port}", "evil.example", "127.0.0.1:1", "localhost.evil.example:{port}", ""],
)
def test_a_foreign_host_header_is_refused(server, host):
    status, answer = request(server, "GET", "/api/options", host=host.format(port=server.port))
    assert status == 403
    assert "Host header" in answer["error"]


def test_localhost_and_the_served_address_are_accepted(server):
    for host in (f"localhost:{server.port}", f"127.0.0.1:{server.port}"):
        assert request(server, "GET", "/api/options", host=host)[0] == 200


# ---------------------------------------------------------------------- bad requests
def test_bodies_are_bounded_and_malformed_requests_get_a_clear_400(server):
    big = b'{"config": "' + b"x" * (server_module.MAX_BODY + 1) + b'"}'
    status, answer = request(server, "POST", "/api/session", raw=big)
    assert status == 413 and "at most" in answer["error"]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.putrequest("POST", "/api/session", skip_host=True)
    conn.putheader("Host", f"127.0.0.1:{server.port}")
    conn.putheader("X-Psinet-Token", server.app.token)
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 411
    conn.close()
    for raw, message in [
        (b"{not json", "JSON object"),
        (b"[1, 2]", "JSON object, got list"),
        (b"\xff\xfe", "JSON object"),
    ]:
        status, answer = request(server, "POST", "/api/session", raw=raw)
        assert status == 400 and message in answer["error"], answer
    assert request(server, "PUT", "/api/session", {})[0] == 405
    assert request(server, "POST", "/api/nothing", {})[0] == 404
    assert request(server, "GET", "/api/options")[0] == 200  # and it keeps serving


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"hidden": [17]}, "width must be in [1, 16]"),
        ({"hidden": [0]}, "width must be in [1, 16]"),
        ({"hidden": [2] * 7, "activations": ["relu"] * 7}, "at most 6"),
        ({"hidden": "8"}, "hidden must be a list"),
        ({"hidden": [2], "activations": ["relu", "relu"]}, "one name per hidden layer"),
        ({"hidden": [2], "activations": ["softmax"]}, "activation must be one of"),
        ({"n_samples": 5000}, "n_samples must be in [8, 1000]"),
        ({"n_samples": 50.5}, "n_samples must be an integer"),
        ({"n_samples": True}, "n_samples must be an integer"),
        ({"learning_rate": 0}, "learning_rate must be in"),
        ({"learning_rate": "fast"}, "learning_rate must be a number"),
        ({"batch_size": 0}, "batch_size must be in"),
        ({"noise": -1}, "noise must be in"),
        ({"dataset": "mnist"}, "dataset must be one of"),
        ({"dataset": "moons", "n_classes": 3}, "n_classes must be 2"),
        ({"dataset": "spirals", "n_classes": 3, "output": "sigmoid"}, "use output 'softmax'"),
        ({"optimizer": "lbfgs"}, "optimizer must be one of"),
        ({"colour": "red"}, "unknown config field(s) ['colour']"),
        ("spirals", "config must be a JSON object"),
    ],
)
def test_out_of_range_configurations_are_refused(server, config, message):
    status, answer = request(server, "POST", "/api/session", {"config": config})
    assert status == 400
    assert message in answer["error"]
    assert not server.app.sessions


def test_nan_in_the_json_is_refused(server):
    raw = b'{"config": {"learning_rate": NaN}}'
    status, answer = request(server, "POST", "/api/session", raw=raw)
    assert status == 400 and "learning_rate must be in" in answer["error"]


def test_training_requests_are_bounded(server):
    sid = new_session(server)["session"]
    for body, message in [
        ({"steps": 0}, "steps must be an integer in [1, 1000]"),
        ({"steps": 1001}, "steps must be an integer in [1, 1000]"),
        ({"steps": 2.0}, "steps must be an integer"),
        ({"epochs": 6}, "epochs must be an integer in [1, 5]"),
        ({"steps": 1, "epochs": 1}, "exactly one of steps"),
        ({}, "exactly one of steps"),
        ({"steps": 1, "speed": 3}, "unknown field(s) ['speed']"),
    ]:
        status, answer = request(server, "POST", "/api/train", {"session": sid, **body})
        assert status == 400 and message in answer["error"], (body, answer)
    status, answer = request(server, "POST", "/api/train", {"session": "nope", "steps": 1})
    assert status == 404 and "unknown session" in answer["error"]
    status, state = request(server, "POST", "/api/state", {"session": sid})
    assert state["total_steps"] == 0  # nothing refused changed anything


def test_select_refuses_an_index_outside_the_data(server):
    state = new_session(server)
    for index, message in [
        (40, "index must be in [0, 39]"),
        (-1, "index must be in"),
        ("3", "integer"),
    ]:
        status, answer = request(
            server, "POST", "/api/select", {"session": state["session"], "index": index}
        )
        assert status == 400 and message in answer["error"]


# ---------------------------------------------------------------------- the endpoints
def test_options_state_every_bound_the_server_enforces(server):
    status, options = request(server, "GET", "/api/options")
    assert status == 200
    assert options["datasets"] == ["xor", "circles", "moons", "spirals"]
    assert options["bounds"]["width"] == [1, 16]
    assert options["bounds"]["hidden_layers"] == [0, 6]
    assert options["bounds"]["steps"] == [1, session_module.MAX_STEPS_PER_REQUEST]
    assert parse_config(options["defaults"]) == parse_config({})


def test_a_new_session_is_the_network_a_script_would_build(server):
    state = new_session(server)
    c = state["config"]
    assert state["sizes"] == [2, 3, 1] and c["output"] == "sigmoid"
    assert state["loss_name"] == "binary_crossentropy"
    reference = psinet.Network([2, 3, 1], ["tanh", "sigmoid"], seed=1)
    for W, W_ref in zip(state["weights"], reference.weights):
        np.testing.assert_array_equal(np.array(W), W_ref)
    X, y = psinet.datasets.xor(n_samples=40, noise=c["noise"], seed=1)
    data = state["data"]
    assert len(data["X"]) == 40 and data["n_train"] == 32  # validation 0.2, stratified
    assert sorted(map(tuple, data["X"])) == sorted(map(tuple, X.tolist()))
    assert sorted(data["y"]) == sorted(y.tolist())
    # The numbers shown are psinet.evaluate's.
    X_tr, y_tr = np.array(data["X"][:32]), np.array(data["y"][:32], dtype=float)
    expected = psinet.evaluate(net_of(state), X_tr, y_tr, "binary_crossentropy")
    assert state["train"]["loss"] == pytest.approx(expected["loss"], rel=1e-12)
    assert state["train"]["accuracy"] == expected["accuracy"]
    assert state["epoch"] == 0 and state["step"] == 0 and state["steps_per_epoch"] == 2


def test_train_steps_and_epochs_count_as_fit_does(server):
    sid = new_session(server)["session"]
    status, state = request(server, "POST", "/api/train", {"session": sid, "steps": 1})
    assert status == 200 and (state["epoch"], state["step"], state["total_steps"]) == (0, 1, 1)
    # Epoch after a Step finishes the current epoch ...
    _, state = request(server, "POST", "/api/train", {"session": sid, "epochs": 1})
    assert (state["epoch"], state["step"], state["total_steps"]) == (1, 0, 2)
    # ... and from an epoch's start runs a whole one.
    _, state = request(server, "POST", "/api/train", {"session": sid, "epochs": 2})
    assert (state["epoch"], state["step"], state["total_steps"]) == (3, 0, 6)
    _, state = request(server, "POST", "/api/train", {"session": sid, "steps": 5})
    assert (state["epoch"], state["step"], state["total_steps"]) == (5, 1, 11)
    assert state["history"]["epochs"] == [0, 0.5, 1, 3, 5.5]
    assert len(state["history"]["grad_norms"][-1]) == 2
    assert "data" not in state  # sent once, with the session


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_n_steps_are_one_epoch_of_fit(optimizer):
    """Step walks the very batches that ``net.fit(..., epochs=1)`` draws for that epoch."""
    config = parse_config({**SMALL, "optimizer": optimizer, "batch_size": 5, "n_samples": 60})
    by_steps, by_fit = Session(config), Session(config)
    n = by_steps.steps_per_epoch
    assert n == 10
    for _ in range(2):
        by_steps.train_steps(n)
        by_fit.train_epochs(1)
    assert by_steps.epoch == by_fit.epoch == 2
    for W, W_fit in zip(by_steps.net.weights, by_fit.net.weights):
        np.testing.assert_allclose(W, W_fit, rtol=1e-12, atol=1e-14)


def test_select_shows_the_sample_as_psinet_trace_computes_it(server):
    sid = new_session(server, {**SMALL, "l2": 0.01})["session"]
    request(server, "POST", "/api/train", {"session": sid, "steps": 7})
    status, state = request(server, "POST", "/api/select", {"session": sid, "index": 35})
    assert status == 200
    sample = state["sample"]
    assert sample["index"] == 35 and sample["part"] == "validation"
    _, full = request(server, "POST", "/api/state", {"session": sid})
    x = np.array([full["data"]["X"][35]])
    y = np.array([[full["data"]["y"][35]]], dtype=float)
    t = psinet.trace(net_of(state), x, y, "binary_crossentropy")
    assert sample["E"] == pytest.approx(t.E, rel=1e-12)
    for shown, layer in zip(sample["layers"], t.layers):
        for key in ("z", "a", "psi"):
            np.testing.assert_allclose(shown[key], getattr(layer, key)[0], rtol=1e-12, atol=0)
        np.testing.assert_allclose(shown["grad_W"], layer.grad_W, rtol=1e-12, atol=0)
    # The sample stays selected while training goes on.
    _, state = request(server, "POST", "/api/train", {"session": sid, "steps": 1})
    assert state["sample"]["index"] == 35


def test_the_trace_table_and_the_boundary_are_psinet_s(server):
    state = new_session(server)
    net = net_of(state)
    data = state["data"]
    batch = state["trace"]["batch"]
    X_tr, y_tr = np.array(data["X"]), np.array(data["y"], dtype=float)
    t = psinet.trace(net, X_tr[batch], y_tr[batch][:, None], "binary_crossentropy")
    assert state["trace"]["text"] == str(t)
    grid = state["grid"]
    n = grid["n"]
    x0, x1, y0, y1 = grid["extent"]
    xs, ys = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y1, y0, n))
    expected = net.predict(np.column_stack([xs.ravel(), ys.ravel()]))
    np.testing.assert_allclose(np.array(grid["y_hat"]), expected, atol=5e-5)
    assert (x0 < X_tr[:, 0].min()) and (X_tr[:, 0].max() < x1)


def test_reset_starts_over_and_takes_a_new_config(server):
    first = new_session(server)
    sid = first["session"]
    request(server, "POST", "/api/train", {"session": sid, "steps": 3})
    _, again = request(server, "POST", "/api/reset", {"session": sid})
    assert again["total_steps"] == 0 and again["weights"] == first["weights"]
    assert again["history"]["epochs"] == [0]
    config = {**SMALL, "dataset": "spirals", "n_classes": 4, "hidden": [5, 4]}
    config["activations"] = ["relu", "sigmoid"]
    _, other = request(server, "POST", "/api/reset", {"session": sid, "config": config})
    assert other["sizes"] == [2, 5, 4, 4] and other["config"]["output"] == "softmax"
    assert other["loss_name"] == "categorical_crossentropy"
    status, answer = request(server, "POST", "/api/reset", {"session": sid, "config": {"seed": -1}})
    assert status == 400 and "seed must be in" in answer["error"]
    _, state = request(server, "POST", "/api/state", {"session": sid})
    assert state["sizes"] == [2, 5, 4, 4]  # the refused reset left the run alone


def test_close_forgets_the_session_and_sessions_are_capped(server, monkeypatch):
    sid = new_session(server)["session"]
    assert request(server, "POST", "/api/close", {"session": sid}) == (200, {"closed": sid})
    assert request(server, "POST", "/api/state", {"session": sid})[0] == 404
    monkeypatch.setattr(server.app, "max_sessions", 2)
    ids = [new_session(server)["session"] for _ in range(3)]
    assert list(server.app.sessions) == ids[1:]  # the least recently used one went
    assert request(server, "POST", "/api/state", {"session": ids[0]})[0] == 404


def test_a_diverging_learning_rate_is_a_message_not_a_crash(server):
    config = {"dataset": "spirals", "optimizer": "sgd", "learning_rate": 10.0}
    config |= {"hidden": [16, 16, 16], "activations": ["identity"] * 3}
    sid = new_session(server, config)["session"]
    status, state = request(server, "POST", "/api/select", {"session": sid, "index": 0})
    status, state = request(server, "POST", "/api/train", {"session": sid, "steps": 100})
    assert status == 200
    assert state["diverged"].startswith("Training diverged in epoch 1, step ")
    assert "smaller learning rate (now 10)" in state["diverged"]
    assert state["total_steps"] < 100
    assert all(np.isfinite(np.array(W)).all() for W in state["weights"])
    status, again = request(server, "POST", "/api/train", {"session": sid, "epochs": 1})
    assert status == 200 and again["total_steps"] == state["total_steps"]  # stays stopped
    _, fresh = request(server, "POST", "/api/reset", {"session": sid})
    assert fresh["diverged"] is None


def test_history_is_bounded(monkeypatch):
    monkeypatch.setattr(session_module, "MAX_HISTORY", 10)
    s = Session(parse_config(SMALL))
    for _ in range(30):
        state = s.train_steps(1)
    epochs = state["history"]["epochs"]
    assert len(epochs) <= 10 and epochs[-1] == 15 and epochs == sorted(epochs)


# ---------------------------------------------------------------------- concurrency
def test_two_clients_train_at_the_same_time_without_mixing_their_runs(server):
    configs = [SMALL, {**SMALL, "dataset": "moons", "hidden": [4, 4], "activations": ["relu"] * 2}]
    results, errors = {}, []

    def client(k):
        try:
            sid = new_session(server, configs[k])["session"]
            for _ in range(15):
                status, state = request(server, "POST", "/api/train", {"session": sid, "steps": 3})
                assert status == 200
            results[k] = state
        except Exception as exc:  # reported below: a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for k, config in enumerate(configs):  # the same as training alone
        alone = Session(parse_config(config))
        for _ in range(15):
            alone.train_steps(3)
        for W, W_alone in zip(results[k]["weights"], alone.net.weights):
            np.testing.assert_array_equal(np.array(W), W_alone)


def test_concurrent_requests_on_one_session_are_serialized(server):
    sid = new_session(server)["session"]
    threads = [
        threading.Thread(
            target=request, args=(server, "POST", "/api/train", {"session": sid, "steps": 4})
        )
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _, state = request(server, "POST", "/api/state", {"session": sid})
    assert state["total_steps"] == 16


# ---------------------------------------------------------------------- the command
def _start(*args):
    process = subprocess.Popen(
        [sys.executable, "-m", "psinet.playground", "--no-browser", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    return process, line


def test_the_command_prints_a_url_with_a_token_and_stops_cleanly_on_ctrl_c():
    process, line = _start("--port", "0")
    try:
        match = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=([\w-]+)", line)
        assert match, line
        port, token = int(match.group(1)), match.group(2)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", f"/?token={token}")
        assert conn.getresponse().status == 200
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/")
        assert conn.getresponse().status == 403
        conn.close()
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err


def test_binding_beyond_loopback_warns_loudly():
    process, line = _start("--host", "0.0.0.0", "--port", "0")
    try:
        assert "http://0.0.0.0:" in line
        time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
    assert "WARNING: binding to 0.0.0.0" in err and "other machines" in err


def test_the_command_refuses_a_bad_port():
    result = subprocess.run(
        [sys.executable, "-m", "psinet.playground", "--no-browser", "--port", "70000"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "--port must be in [0, 65535]" in result.stderr


def test_an_epoch_that_diverges_stops_at_the_same_step_as_steps_do():
    config = parse_config(
        {
            "dataset": "spirals",
            "hidden": [8, 8],
            "activations": ["leaky_relu"] * 2,
            "optimizer": "sgd",
            "learning_rate": 10.0,
        }
    )
    by_epoch, by_steps = Session(config), Session(config)
    by_epoch.train_epochs(1)
    by_steps.train_steps(1000)
    assert by_epoch.diverged is not None and "step" in by_epoch.diverged
    assert by_epoch.diverged == by_steps.diverged
    assert by_epoch.total_steps == by_steps.total_steps < by_epoch.steps_per_epoch
    for W, W_steps in zip(by_epoch.net.weights, by_steps.net.weights):
        np.testing.assert_array_equal(W, W_steps)
        assert np.isfinite(W).all()


def test_the_console_script_is_installed():
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "psinet-playground"]
    assert script.value == "psinet.playground.server:main"
    assert script.load() is server_module.main


# ---------------------------------------------------------------------- slow and malformed clients
class SlowClients:
    """``n`` raw connections that send a request line, then one header line every ``interval``
    seconds and never finish the request; they stop by themselves after ``duration`` seconds.

    ``closed_after[k]`` is when (seconds after its connect) the server closed connection ``k``;
    ``answers[k]`` what it sent before closing. One thread drives them all, with ``select``.
    """

    def __init__(self, port, n, *, interval=0.3, duration=5.0):
        self.interval, self.duration = interval, duration
        self.socks, self.connected_at = [], []
        for _ in range(n):
            self.socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            self.connected_at.append(time.monotonic())
            self.socks[-1].sendall(b"GET / HTTP/1.1\r\n")
        self.start = time.monotonic()
        self.closed_after, self.answers = {}, {k: b"" for k in range(n)}
        self.thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)
        self.thread.start()

    def _run(self):
        end, next_line = self.start + self.duration, self.start + self.interval
        try:
            while (now := time.monotonic()) < end and len(self.closed_after) < len(self.socks):
                open_ = [s for k, s in enumerate(self.socks) if k not in self.closed_after]
                ready, _, _ = select.select(open_, [], [], max(0.0, min(next_line, end) - now))
                for s in ready:
                    k = self.socks.index(s)
                    try:
                        data = s.recv(4096)
                    except OSError:
                        data = b""
                    self.answers[k] += data
                    if not data:
                        self.closed_after[k] = time.monotonic() - self.connected_at[k]
                if time.monotonic() >= next_line:
                    next_line += self.interval
                    for k, s in enumerate(self.socks):
                        if k not in self.closed_after:
                            try:
                                s.sendall(b"X-Slow: 1\r\n")
                            except OSError:
                                self.closed_after[k] = time.monotonic() - self.connected_at[k]
        finally:
            for s in self.socks:
                s.close()

    def join(self):
        self.thread.join(self.duration + 5)
        assert not self.thread.is_alive()


def exchange(srv, data, *, half_close=True):
    """(status, JSON answer) of raw bytes sent to the server (then EOF, unless told not to)."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body) if b"application/json" in head else body.decode()


def post_head(srv, path="/api/session", *, extra=b"", length=None):
    """A POST's request line and the usual headers, as bytes (add ``extra`` header lines)."""
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
    head += f"X-Psinet-Token: {srv.app.token}\r\n"
    if length is not None:
        head += f"Content-Length: {length}\r\n"
    return head.encode("latin-1") + extra + b"\r\n"


def test_slow_clients_are_cut_at_the_request_deadline_and_the_page_still_loads(server):
    server.request_deadline = 1.0  # seconds from accept to the end of the request
    clients = SlowClients(server.port, 100, interval=0.3, duration=4.0)
    try:
        time.sleep(0.3)
        start = time.monotonic()
        status, html = request(server, "GET", f"/?token={server.app.token}", token=None)
        assert status == 200 and "__PSINET_TOKEN__" not in html
        assert time.monotonic() - start < 1.0  # a learner's page is not queued behind them
    finally:
        clients.join()
    # Every slow client was closed by the server at its deadline, whatever it kept sending.
    assert len(clients.closed_after) == 100
    assert max(clients.closed_after.values()) < 1.0 + 1.0, sorted(clients.closed_after.values())
    assert min(clients.closed_after.values()) > 0.9
    assert request(server, "GET", "/api/options")[0] == 200


def test_a_slow_body_is_cut_at_the_deadline_with_a_408(server):
    server.request_deadline = 1.0
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(post_head(server, length=100) + b'{"config": ')
        start = time.monotonic()
        answer = b""
        for _ in range(40):  # a byte every 0.1 s, up to 4 s: each read is quick
            ready, _, _ = select.select([s], [], [], 0.1)
            if ready:
                chunk = s.recv(65536)
                answer += chunk
                if not chunk:
                    break
            else:
                s.sendall(b" ")
        elapsed = time.monotonic() - start
    assert answer.startswith(b"HTTP/1.0 408"), answer
    assert b"deadline" in answer and elapsed < 1.5


def test_connections_beyond_the_cap_are_refused_with_a_503(server):
    server.request_deadline = 1.0
    server.max_connections = 5
    clients = SlowClients(server.port, 5, interval=0.2, duration=3.0)
    try:
        time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", server.port), timeout=3) as s:
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.0 503"), answer
        assert b"too many connections" in answer
    finally:
        clients.join()
    assert len(clients.closed_after) == 5  # cut at the deadline; then there is room again
    assert request(server, "GET", "/api/options")[0] == 200


def test_stopping_the_server_does_not_wait_for_slow_clients():
    baseline = set(threading.enumerate())
    srv = make_server("127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), name="test-playground")
    thread.start()
    clients = SlowClients(srv.port, 50, interval=0.3, duration=6.0)
    time.sleep(0.3)
    start = time.monotonic()
    srv.shutdown()
    srv.server_close()
    elapsed = time.monotonic() - start
    thread.join(timeout=10)
    clients.join()
    assert elapsed < 2.0, elapsed
    assert all(t.daemon for t in set(threading.enumerate()) - baseline - {clients.thread})
    assert set(threading.enumerate()) - {clients.thread} == baseline


def test_ctrl_c_stops_the_command_promptly_with_slow_clients_connected():
    process, line = _start("--port", "0")
    clients = None
    try:
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", line).group(1))
        clients = SlowClients(port, 50, interval=0.3, duration=8.0)
        time.sleep(0.5)
    finally:
        start = time.monotonic()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=15)
        elapsed = time.monotonic() - start
        if clients is not None:
            clients.join()
    assert process.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err
    assert elapsed < 2.0, elapsed


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/api/session", b"[" * 10_000, 400, "nested"),
        ("/api/session", b'{"config": ' * 40 + b"{}" + b"}" * 40, 400, "nested"),
        ("/api/train", b'{"session": "s", "steps": ' + b"1" * 5000 + b"}", 400, "digits"),
        ("/api/train", b'{"session": "s", "steps": -' + b"9" * 5000 + b"}", 400, "digits"),
        ("/api/session", b'{"config": {"learning_rate": 1' + b"0" * 400 + b"}}", 400, "digits"),
    ],
)
def test_malformed_json_gets_a_400_never_a_500(server, path, body, status, message):
    got, answer = request(server, "POST", path, raw=body)
    assert (got, message in answer["error"]) == (status, True), answer
    assert request(server, "GET", "/api/options")[0] == 200


@pytest.mark.parametrize(
    ("length", "status", "message"),
    [
        ("²", 400, "Content-Length must be"),
        ("+2", 400, "Content-Length must be"),
        ("1" * 5000, 413, "at most"),
        ("0" * 5000 + "2", 400, "JSON"),  # leading zeros: a length of 2, then "[]"
    ],
)
def test_a_malformed_content_length_gets_a_400_or_413(server, length, status, message):
    data = post_head(server, length=length) + b"[]"  # "²" goes as Latin-1, as http.client would
    got, answer = exchange(server, data)
    assert got == status and message in answer["error"], answer


def test_request_framing_errors_get_a_400(server):
    # Two Content-Length headers, or one with Transfer-Encoding: which one frames the body?
    twice = post_head(server, extra=b"Content-Length: 2\r\nContent-Length: 30\r\n") + b"{}"
    status, answer = exchange(server, twice)
    assert status == 400 and "Content-Length" in answer["error"]
    chunked = post_head(server, length=2, extra=b"Transfer-Encoding: chunked\r\n") + b"{}"
    status, answer = exchange(server, chunked)
    assert status == 400 and "Transfer-Encoding" in answer["error"]
    # A body shorter than announced (the client stopped sending) is not a JSON "{}".
    status, answer = exchange(server, post_head(server, length=10) + b"{}")
    assert status == 400 and "2 of the 10 bytes" in answer["error"]
    assert not server.app.sessions
    # A request target that urlsplit cannot parse.
    status, answer = exchange(
        server,
        f"GET http://[ HTTP/1.0\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"X-Psinet-Token: {server.app.token}\r\n\r\n".encode(),
    )
    assert status == 400 and "request target" in answer["error"]


def test_a_second_host_header_is_refused(server):
    for hosts in (
        [f"127.0.0.1:{server.port}", "evil.example"],
        ["evil.example", f"127.0.0.1:{server.port}"],
        [f"127.0.0.1:{server.port}", f"127.0.0.1:{server.port}"],
    ):
        lines = "".join(f"Host: {h}\r\n" for h in hosts)
        data = f"GET /api/options?token={server.app.token} HTTP/1.1\r\n{lines}\r\n".encode()
        status, answer = exchange(server, data)
        assert status == 400 and "Host" in answer["error"], (hosts, answer)


@pytest.mark.parametrize("port", ["²", "1" * 5000, "+1", ""])
def test_a_host_header_with_a_malformed_port_is_refused(server, port):
    data = f"GET /api/options HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n"
    data += f"X-Psinet-Token: {server.app.token}\r\n\r\n"
    status, answer = exchange(server, data.encode("latin-1"))
    assert status == 403 and "Host header" in answer["error"], answer


@pytest.mark.parametrize(
    "headers",
    [
        [b"X-A: " + b"a" * 60000],  # one header over the limit
        [b"X-Pad-%d: %s" % (k, b"x" * 1000) for k in range(40)],  # 40 KB of headers
        [b"X-N-%d: 1" % k for k in range(150)],  # more headers than http.client reads
    ],
    ids=["one-huge", "many-large", "too-many"],
)
def test_oversized_headers_get_a_431_with_a_message(server, headers):
    data = f"POST /api/session?token={server.app.token} HTTP/1.1\r\n".encode()
    data += f"Host: 127.0.0.1:{server.port}\r\n".encode() + b"\r\n".join(headers)
    data += b"\r\nContent-Length: 2\r\n\r\n{}"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        try:
            s.sendall(data)
        except ConnectionError:
            pass
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.0 431"), answer[:100]
    assert b'"error"' in answer and b"headers" in answer, answer[-200:]
    assert request(server, "GET", "/api/options")[0] == 200


def test_oversized_headers_close_the_connection(server):
    padding = b"".join(b"X-Pad-%d: %s\r\n" % (k, b"x" * 4000) for k in range(90))  # 360 KB
    data = f"GET /api/options?token={server.app.token} HTTP/1.0\r\n".encode()
    data += f"Host: 127.0.0.1:{server.port}\r\n".encode() + padding + b"\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        try:
            s.sendall(data)
            answer = s.recv(65536)
        except ConnectionError:
            answer = b""
    assert not answer.startswith(b"HTTP/1.0 200"), answer[:100]
    assert request(server, "GET", "/api/options")[0] == 200


# ---------------------------------------------------------------------- issue 22 additions
from psinet.playground.session import (  # noqa: E402
    EXPORT_TRAIN_MARK,
    FEATURE_CODE,
    FEATURES,
    MAX_CSV_BYTES,
    RequestError,
    backward_walk,
    features,
    parse_csv,
)


@pytest.mark.parametrize(
    ("sizes", "acts", "loss", "fused"),
    [
        ([2, 3, 3, 1], ["sigmoid", "sigmoid", "sigmoid"], "mse", False),
        ([2, 4, 3], ["tanh", "softmax"], "categorical_crossentropy", True),
    ],
)
def test_the_backward_walk_is_psinet_trace_step_by_step(sizes, acts, loss, fused):
    net = psinet.Network(sizes, acts, seed=3)
    x = np.array([[0.3, -0.7]])
    target = np.zeros((1, sizes[-1]))
    target[0, 0] = 1.0
    t, f_prime, steps = backward_walk(net, x, target, loss)
    L = len(sizes) - 1
    assert [s["layer"] for s in steps] == list(reversed(range(L)))
    start = steps[0]
    assert start["kind"] == "start"
    np.testing.assert_array_equal(start["psi"], t.layers[L - 1].psi[0])
    if fused:
        assert start["equation"] == f"Ψ_{L - 1} = (ŷ − Y)/N"
        assert "psi = (y_hat - Y) / len(Y)" in start["code"]
        assert f_prime[L - 1] is None  # softmax is not elementwise
    else:
        assert start["equation"] == f"Ψ_{L - 1} = ∂E/∂ŷ ⊙ f'_{L - 1}(z_{L - 1})"
        assert "f_out.chain(loss.dE_dy_hat(y_hat, Y), z, y_hat)" in start["code"]
    for l, fp in enumerate(f_prime):
        if fp is not None:
            layer = t.layers[l]
            np.testing.assert_array_equal(fp, net.activations[l].derivative(layer.z, layer.a)[0])
    for step in steps[1:]:
        l = step["from_layer"]
        assert step["kind"] == "recursion" and step["layer"] == l - 1
        assert step["equation"] == f"Ψ_{l - 1} = (Ψ_{l} W_{l}[:, :-1]) ⊙ f'_{l - 1}(z_{l - 1})"
        np.testing.assert_array_equal(step["psi"], t.layers[l - 1].psi[0])
        np.testing.assert_array_equal(step["psi_above"], t.layers[l].psi[0])
        np.testing.assert_array_equal(step["rows"], net.weights[l][:, :-1])
        np.testing.assert_allclose(
            np.array(step["product"]) * np.array(step["f_prime"]), step["psi"], rtol=0, atol=1e-12
        )
        assert len(step["numbers"]) == sizes[l]
        assert "psi[l - 1] = f[l - 1].chain(psi[l] @ W[l][:, :-1]" in step["code"]


def test_the_selected_sample_carries_f_prime_and_the_steps(server):
    sid = new_session(server, {**SMALL, "hidden": [3, 2], "activations": ["tanh", "relu"]})[
        "session"
    ]
    _, state = request(server, "POST", "/api/select", {"session": sid, "index": 3})
    sample = state["sample"]
    assert [s["layer"] for s in sample["steps"]] == [2, 1, 0]
    assert sample["steps"][0]["equation"] == "Ψ_2 = (ŷ − Y)/N"
    assert [len(layer["f_prime"]) for layer in sample["layers"]] == [3, 2, 1]
    for step in sample["steps"]:
        np.testing.assert_array_equal(step["psi"], sample["layers"][step["layer"]]["psi"])


def test_hidden_neurons_are_drawn_from_the_network_s_forward_pass(server):
    config = {**SMALL, "hidden": [3, 2], "activations": ["tanh", "sigmoid"]}
    config["features"] = ["x1", "x2", "x1x2"]
    state = new_session(server, config)
    neurons = state["neurons"]
    n = neurons["n"]
    assert n == 24 and neurons["extent"] == state["grid"]["extent"]
    assert [len(layer) for layer in neurons["layers"]] == [3, 2]
    assert all(len(v) == n * n for layer in neurons["layers"] for v in layer)
    x0, x1, y0, y1 = neurons["extent"]
    xs, ys = np.linspace(x0, x1, n), np.linspace(y1, y0, n)
    points = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    net = net_of(state)
    net.forward(features(points, config["features"]))
    for l, layer in enumerate(neurons["layers"]):
        np.testing.assert_allclose(np.array(layer).T, net.cache.a[l], atol=5.1e-5)


def test_features_are_the_network_s_inputs_everywhere(server):
    assert list(FEATURES) == ["x1", "x2", "x1^2", "x2^2", "x1x2", "sin_x1", "sin_x2"]
    _, options = request(server, "GET", "/api/options")
    assert options["features"] == list(FEATURES)
    X = np.random.default_rng(0).normal(size=(7, 2))
    for name in FEATURES:  # the exported script's expressions are the same numbers
        np.testing.assert_array_equal(eval(FEATURE_CODE[name]), FEATURES[name](X))
    names = ["x1", "x2^2", "sin_x2"]
    state = new_session(server, {**SMALL, "features": names})
    assert state["sizes"][0] == 3 and state["config"]["features"] == names
    assert len(state["data"]["X"][0]) == 2  # the data stay points of the plane
    F = features(np.array(state["data"]["X"]), names)
    np.testing.assert_array_equal(F[:, 1], np.array(state["data"]["X"])[:, 1] ** 2)
    net = net_of(state)
    Y = np.array(state["data"]["y"][:32], dtype=float)[:, None]
    expected = psinet.evaluate(net, F[:32], Y, "binary_crossentropy")
    assert state["train"]["loss"] == pytest.approx(expected["loss"], rel=1e-12)
    _, state = request(server, "POST", "/api/select", {"session": state["session"], "index": 0})
    np.testing.assert_array_equal(state["sample"]["input"], F[0])
    sid = state["session"]
    _, state = request(server, "POST", "/api/train", {"session": sid, "epochs": 1})
    assert state["diverged"] is None and state["total_steps"] == 2
    for bad in ([], ["x3"], ["x1", "x1"], ["x2", "x1"], "x1", [1]):
        status, answer = request(
            server, "POST", "/api/session", {"config": {**SMALL, "features": bad}}
        )
        assert status == 400 and "features" in answer["error"], bad


def test_a_weight_can_be_set_and_bad_values_change_nothing(server):
    state = new_session(server)
    sid = state["session"]
    status, after = request(
        server,
        "POST",
        "/api/weight",
        {"session": sid, "layer": 0, "row": 2, "col": 2, "value": 1.5},
    )
    assert status == 200 and after["weights"][0][2][2] == 1.5  # col n_0 = 2: the bias
    expected = [np.array(W) for W in state["weights"]]
    expected[0][2, 2] = 1.5
    for W, W_exp in zip(after["weights"], expected):
        np.testing.assert_array_equal(W, W_exp)
    # the shown loss is the edited network's
    net = net_of(after)
    X, y = np.array(state["data"]["X"]), np.array(state["data"]["y"], dtype=float)
    loss = psinet.evaluate(net, X[:32], y[:32, None], "binary_crossentropy")["loss"]
    assert after["train"]["loss"] == pytest.approx(loss, rel=1e-12)
    bad = [
        ({"layer": 2, "row": 0, "col": 0, "value": 1}, "layer"),
        ({"layer": -1, "row": 0, "col": 0, "value": 1}, "layer"),
        ({"layer": 1, "row": 1, "col": 0, "value": 1}, "row"),
        ({"layer": 0, "row": 0, "col": 3, "value": 1}, "col"),
        ({"layer": 0, "row": 0.0, "col": 0, "value": 1}, "row"),
        ({"layer": True, "row": 0, "col": 0, "value": 1}, "layer"),
        ({"layer": 0, "row": 0, "col": 0, "value": 100.5}, "value"),
        ({"layer": 0, "row": 0, "col": 0, "value": "1"}, "value"),
        ({"layer": 0, "row": 0, "col": 0, "value": None}, "value"),
        ({"layer": 0, "row": 0, "col": 0}, "value"),
        ({"layer": 0, "row": 0, "col": 0, "value": 1, "x": 1}, "unknown"),
    ]
    for body, word in bad:
        status, answer = request(server, "POST", "/api/weight", {"session": sid, **body})
        assert status == 400 and word in answer["error"], (body, answer)
    status, _ = request(
        server,
        "POST",
        "/api/weight",
        raw=f'{{"session": "{sid}", "layer": 0, "row": 0, "col": 0, "value": 1e400}}'.encode(),
    )
    assert status == 400
    status, _ = request(
        server,
        "POST",
        "/api/weight",
        raw=f'{{"session": "{sid}", "layer": 0, "row": 0, "col": 0, "value": NaN}}'.encode(),
    )
    assert status == 400
    _, now = request(server, "POST", "/api/state", {"session": sid})
    assert now["weights"] == after["weights"]  # nothing changed on a refusal


CSV = "x1,x2,label\n" + "\n".join(
    f"{x:.3f},{(-1) ** i * x:.3f},{i % 3}" for i, x in enumerate(np.linspace(-1, 1, 30))
)


def test_your_own_data_from_csv(server):
    X, y = parse_csv(CSV)
    assert X.shape == (30, 2) and sorted(set(y.tolist())) == [0, 1, 2]
    state = new_session(server, {"dataset": "custom", "csv": CSV, "hidden": [4]})
    c = state["config"]
    assert c["n_classes"] == 3 and c["output"] == "softmax" and c["n_samples"] == 30
    assert state["sizes"] == [2, 4, 3] and state["data"]["n_train"] == 24
    assert sorted(map(tuple, state["data"]["X"])) == sorted(map(tuple, X.tolist()))
    _, state = request(server, "POST", "/api/train", {"session": state["session"], "epochs": 1})
    assert state["diverged"] is None
    # reset takes one too; no header, two classes, sigmoid
    two = "\n".join(f"{i},{i % 2},{i % 2}" for i in range(10))
    status, state = request(
        server,
        "POST",
        "/api/reset",
        {"session": state["session"], "config": {"dataset": "custom", "csv": two}},
    )
    assert status == 200 and state["sizes"][-1] == 1 and len(state["data"]["X"]) == 10


@pytest.mark.parametrize(
    ("csv", "message"),
    [
        ("", "empty"),
        ("x1,x2,label\n", "no rows"),
        ("1,2,0\n3,4,0\n5,6,0", "one class"),
        ("1,2,0\n3,4,0\n5,6,1", "class 1 has 1"),
        ("1,2,0\n3,4,0\n5,6,2\n7,8,2", "class 1 has 0"),
        ("1,2,0\nnan,4,0\n5,6,1\n1,1,1", "row 2: 'nan' is not a number"),
        ("1,2,0\n3,inf,0\n5,6,1\n1,1,1", "row 2: 'inf' is not a number"),
        ("1,2,0\n3,1e400,0\n5,6,1\n1,1,1", "row 2: '1e400' is not a finite number"),
        ("1,2,0\n3,4\n5,6,1\n1,1,1", "row 2: expected 3 cells"),
        ("1,2,0\n3,4,0,9\n5,6,1\n1,1,1", "row 2: expected 3 cells"),
        ("1,2,0\n3,4,0.5\n5,6,1\n1,1,1", "row 2: label '0.5' is not an integer"),
        ("1,2,0\n3,4,-1\n5,6,1\n1,1,1", "row 2: label -1 is not in"),
        ("1,2,0\n3,4,5\n5,6,1\n1,1,1", "row 2: label 5 is not in"),
        ("1,2,0\n3,4,0\n=cmd|' /C calc'!A0,6,1\n1,1,1", "row 3: \"=cmd|' /C calc'!A0\" is not"),
        ("1,2,0\n3,4,0\n5,\u0661\u0662,1\n1,1,1", "row 3: '١٢' is not a number"),
        ("1,2,0\n3,4,0\n5,1_000,1\n1,1,1", "row 3: '1_000' is not a number"),
        ("1,2,0\n\x00\x01\xff\x7f,4,0\n5,6,1\n1,1,1", "row 2:"),
        ("x1,x2,label\n1,2,0\nabc,4,0\n5,6,1\n1,1,1", "row 3: 'abc' is not a number"),
        ("\n".join(f"{i},{i},{i % 2}" for i in range(1001)), "at most 1000"),
        ("1,2,0\n" * 3 + " " * MAX_CSV_BYTES, "at most 65536 bytes"),
    ],
)
def test_hostile_csv_is_refused_naming_the_row(csv, message):
    with pytest.raises(RequestError) as info:
        parse_config({"dataset": "custom", "csv": csv})
    assert message in str(info.value)


def test_hostile_csv_over_http_is_a_400(server):
    for config in (
        {"dataset": "custom"},
        {"dataset": "custom", "csv": 5},
        {"dataset": "custom", "csv": "1,2,0\n7,abc,1"},
        {"dataset": "xor", "csv": "1,2,0"},
    ):
        status, answer = request(server, "POST", "/api/session", {"config": config})
        assert status == 400 and ("csv" in answer["error"] or "row" in answer["error"]), answer


def _run_export(python, tmp_path, epochs=1):
    path = tmp_path / "export.py"
    path.write_text(python.replace("EPOCHS = 100", f"EPOCHS = {epochs}"))
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "final loss:" in done.stdout
    return done


@pytest.mark.parametrize(
    "config",
    [
        {**SMALL, "features": ["x1", "x2", "x1x2", "sin_x1"], "l2": 0.001},
        {"dataset": "spirals", "n_samples": 60, "hidden": [5], "optimizer": "momentum"},
        {"dataset": "custom", "csv": CSV, "hidden": [4], "validation": 0.0},
    ],
)
def test_export_rebuilds_the_run_and_trains(server, config, tmp_path):
    state = new_session(server, config)
    sid = state["session"]
    request(server, "POST", "/api/train", {"session": sid, "steps": 3})
    _, state = request(
        server,
        "POST",
        "/api/weight",
        {"session": sid, "layer": 0, "row": 0, "col": 0, "value": 0.25},
    )
    _, full = request(server, "POST", "/api/state", {"session": sid})
    status, answer = request(server, "POST", "/api/export", {"session": sid})
    assert status == 200
    python = answer["python"]
    assert "model = psinet.interop.to_torch(net)" in python.splitlines()[-1]
    # Everything before training: the same data, features and weights as the session.
    scope: dict = {}
    exec(python.split(EXPORT_TRAIN_MARK)[0], scope)
    for W, W_shown in zip(scope["net"].weights, state["weights"]):
        np.testing.assert_array_equal(W, np.array(W_shown))
    n_train = full["data"]["n_train"]
    np.testing.assert_array_equal(scope["X_train"], np.array(full["data"]["X"][:n_train]))
    np.testing.assert_array_equal(
        scope["F_train"],
        features(np.array(full["data"]["X"][:n_train]), state["config"]["features"]),
    )
    _run_export(python, tmp_path)


def test_an_untrained_export_keeps_the_seeded_weights(server):
    state = new_session(server)
    _, answer = request(server, "POST", "/api/export", {"session": state["session"]})
    assert "net.weights" not in answer["python"]
    scope: dict = {}
    exec(answer["python"].split(EXPORT_TRAIN_MARK)[0], scope)
    for W, W_shown in zip(scope["net"].weights, state["weights"]):
        np.testing.assert_array_equal(W, np.array(W_shown))
