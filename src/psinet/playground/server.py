"""The playground's local web server: Python's standard library, numpy and psinet, nothing else.

``python -m psinet.playground`` (or ``psinet-playground``) serves the page in
``static/`` and a small JSON API that the page calls; every number comes from a
:class:`~psinet.playground.session.Session`, which calls psinet's public functions.

It is a server, however small, so:

* it binds to 127.0.0.1 unless told otherwise, and says so loudly when told;
* every request must carry the random token printed in the URL (``?token=`` or the
  ``X-Psinet-Token`` header), compared in constant time;
* a ``Host`` header other than the served host (or an IP address) with the served port is
  refused, so a web page cannot reach it through DNS rebinding;
* only the files shipped in ``static/`` are served, looked up by exact name (no paths, no
  directory listing);
* request bodies are bounded (:data:`MAX_BODY` bytes, JSON nested at most
  :data:`MAX_JSON_DEPTH` deep, integers of at most :data:`MAX_INT_DIGITS` digits), and so
  are headers (:data:`MAX_HEADER_BYTES`); malformed or out-of-range requests get a 400
  (411, 413) with a JSON ``{"error": message}``, never a 500, and the server keeps serving;
* slow clients are bounded: a request (headers and body) must arrive within
  :data:`REQUEST_DEADLINE` seconds of its connection's accept, or the connection is closed;
  at most :data:`MAX_CONNECTIONS` connections are served at once (more get a 503); handler
  threads are daemons, and stopping the server closes the connections still open, so
  Ctrl-C never waits for a client;
* the configuration and the work of one request are bounded (see
  :mod:`psinet.playground.session`), and so is the number of sessions kept
  (:data:`MAX_SESSIONS`; the least recently used one is dropped).

API (all JSON; POST bodies are objects)::

    GET  /api/options                          choices and bounds
    POST /api/session {config}                 a new session -> state (with the data)
    POST /api/reset   {session, config?}       start over (new config) -> state (with data)
    POST /api/train   {session, steps | epochs} train -> state
    POST /api/select  {session, index}         follow sample `index` -> state
    POST /api/state   {session}                the state (with the data)
    POST /api/weight  {session, layer, row, col, value}
                                               net.weights[layer][row, col] = value -> state
                                               (col n_l is the bias; |value| <= 100)
    POST /api/export  {session}                {"python": a script rebuilding the run}
    POST /api/close   {session}                forget the session
"""

from __future__ import annotations

import argparse
import http.server
import io
import ipaddress
import json
import secrets
import socket
import sys
import threading
import time
import webbrowser
from collections import OrderedDict
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .session import (
    JSON,
    MAX_EPOCHS_PER_REQUEST,
    MAX_STEPS_PER_REQUEST,
    RequestError,
    Session,
    dumps,
    options,
    parse_config,
)

MAX_BODY = 160 * 1024  # bytes; a configuration is a few hundred, a custom CSV <= 64 KiB
MAX_HEADER_BYTES = 32 * 1024  # request line and headers; a browser sends about one
MAX_JSON_DEPTH = 8  # a configuration is nested 3 deep
MAX_INT_DIGITS = 20  # 2**64 has 20 digits; the largest bound (seed) has 10
REQUEST_DEADLINE = 10.0  # seconds from accept to the request's last byte
MAX_CONNECTIONS = 200  # served at once; a page opens a few
MAX_SESSIONS = 16
TOKEN_HEADER = "X-Psinet-Token"
LOOPBACK = ("127.0.0.1", "::1", "localhost")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
}


class HTTPError(Exception):
    """A refusal: HTTP ``status`` and a message for the JSON body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def load_static() -> dict[str, bytes]:
    """The page's files (``static/``, shipped as package data), by file name."""
    folder = resources.files("psinet.playground") / "static"
    return {f.name: f.read_bytes() for f in folder.iterdir() if f.is_file()}


class Playground:
    """The application behind the server: token, sessions, routes. No sockets here."""

    def __init__(self, token: str | None = None, max_sessions: int = MAX_SESSIONS) -> None:
        self.token = token or secrets.token_urlsafe(24)
        self.max_sessions = max_sessions
        self.static = load_static()
        self.sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()
        self.routes: dict[str, Callable[[JSON], JSON]] = {
            "/api/session": self.new_session,
            "/api/reset": self.reset,
            "/api/train": self.train,
            "/api/select": self.select,
            "/api/state": self.state,
            "/api/weight": self.weight,
            "/api/export": self.export,
            "/api/close": self.close,
        }

    # -------------------------------------------------------------- checks
    def check_token(self, query: dict[str, list[str]], header: str | None) -> None:
        """Refuse (403) a request without this server's token."""
        given = header if header is not None else (query.get("token") or [""])[0]
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            raise HTTPError(403, "missing or wrong token: open the URL the server printed")

    # -------------------------------------------------------------- GET
    def get(self, path: str) -> tuple[str, bytes]:
        """``(content type, body)`` for a GET of ``path`` (token already checked)."""
        if path in ("/", "/index.html"):
            html = self.static["index.html"].decode().replace("__PSINET_TOKEN__", self.token)
            return CONTENT_TYPES[".html"], html.encode()
        if path == "/api/options":
            return "application/json", dumps(options())
        name = path.removeprefix("/static/")
        if path.startswith("/static/") and name in self.static and name != "index.html":
            return CONTENT_TYPES.get(name[name.rfind(".") :], "application/octet-stream"), (
                self.static[name]
            )
        raise HTTPError(404, f"not found: {path}")

    # -------------------------------------------------------------- POST
    def post(self, path: str, body: bytes) -> bytes:
        """The JSON answer to a POST of ``body`` to ``path`` (token already checked)."""
        route = self.routes.get(path)
        if route is None:
            raise HTTPError(404, f"not found: {path}; the API is {sorted(self.routes)}")
        request = parse_json(body or b"{}")
        if not isinstance(request, dict):
            raise HTTPError(400, f"the body must be a JSON object, got {type(request).__name__}")
        try:
            return dumps(route(request))
        except (RequestError, ValueError, TypeError) as exc:
            raise HTTPError(400, str(exc)) from None

    def _session(self, request: JSON) -> Session:
        sid = request.get("session")
        with self._lock:
            session = self.sessions.get(sid) if isinstance(sid, str) else None
            if session is None:
                raise HTTPError(404, f"unknown session {sid!r}: it may have expired; reload")
            self.sessions.move_to_end(sid)  # type: ignore[arg-type]
        return session

    def _fields(self, request: JSON, allowed: Sequence[str]) -> None:
        unknown = sorted(set(request) - set(allowed))
        if unknown:
            raise RequestError(f"unknown field(s) {unknown}; expected some of {sorted(allowed)}")

    def new_session(self, request: JSON) -> JSON:
        """``{config}`` → a new session's state, data included."""
        self._fields(request, ["config"])
        session = Session(parse_config(request.get("config", {})))
        session.id = secrets.token_urlsafe(12)
        with self._lock:
            self.sessions[session.id] = session
            while len(self.sessions) > self.max_sessions:
                self.sessions.popitem(last=False)  # the least recently used
        with session.lock:
            return session.state(with_data=True)

    def reset(self, request: JSON) -> JSON:
        """``{session, config?}`` → start over (with the new config); state with data."""
        self._fields(request, ["session", "config"])
        session = self._session(request)
        config = parse_config(request["config"]) if "config" in request else session.config
        with session.lock:
            session.reset(config)
            return session.state(with_data=True)

    def train(self, request: JSON) -> JSON:
        """``{session, steps}`` or ``{session, epochs}`` → train, then the state."""
        self._fields(request, ["session", "steps", "epochs"])
        session = self._session(request)
        if ("steps" in request) == ("epochs" in request):
            raise RequestError("give exactly one of steps (mini-batches) or epochs")
        if "steps" in request:
            steps = _count(request, "steps", MAX_STEPS_PER_REQUEST)
            with session.lock:
                return session.train_steps(steps)
        epochs = _count(request, "epochs", MAX_EPOCHS_PER_REQUEST)
        with session.lock:
            return session.train_epochs(epochs)

    def select(self, request: JSON) -> JSON:
        """``{session, index}`` → follow that sample through the network; the state."""
        self._fields(request, ["session", "index"])
        session = self._session(request)
        index = request.get("index")
        if isinstance(index, bool) or not isinstance(index, int):
            raise RequestError(f"index must be an integer sample index, got {index!r}")
        with session.lock:
            return session.select(index)

    def state(self, request: JSON) -> JSON:
        """``{session}`` → the state, data included."""
        self._fields(request, ["session"])
        session = self._session(request)
        with session.lock:
            return session.state(with_data=True)

    def weight(self, request: JSON) -> JSON:
        """``{session, layer, row, col, value}`` → set that weight; the state."""
        self._fields(request, ["session", "layer", "row", "col", "value"])
        session = self._session(request)
        missing = [k for k in ("layer", "row", "col", "value") if k not in request]
        if missing:
            raise RequestError(f"missing field(s) {missing}")
        with session.lock:
            return session.set_weight(
                request["layer"], request["row"], request["col"], request["value"]
            )

    def export(self, request: JSON) -> JSON:
        """``{session}`` → ``{"python": script}`` rebuilding the run with psinet."""
        self._fields(request, ["session"])
        session = self._session(request)
        with session.lock:
            return session.export()

    def close(self, request: JSON) -> JSON:
        """``{session}`` → forget it (the page sends this when it is closed)."""
        self._fields(request, ["session"])
        session = self._session(request)
        with self._lock:
            self.sessions.pop(session.id, None)
        return {"closed": session.id}


def parse_json(body: bytes) -> Any:
    """The JSON value of a request's ``body`` (UTF-8), or :class:`HTTPError` 400 saying why.

    Bounded before anything reads it: nested at most :data:`MAX_JSON_DEPTH` deep (a deeper
    body would hit Python's recursion limit, in ``json`` or later in ``repr``), integers of at
    most :data:`MAX_INT_DIGITS` digits (Python refuses to convert more than 4300, and
    ``float()`` of a long one overflows).
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPError(400, f"the body must be a JSON object in UTF-8: {exc}") from None
    depth = _json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise HTTPError(
            400,
            f"the body must be a JSON object nested at most {MAX_JSON_DEPTH} deep: "
            f"it is nested {depth} deep",
        )
    try:
        return json.loads(text, parse_int=_parse_int)
    except (ValueError, RecursionError) as exc:  # json.JSONDecodeError is a ValueError
        raise HTTPError(400, f"the body must be a JSON object: {exc}") from None


def _json_depth(text: str) -> int:
    """How deep the brackets of JSON ``text`` nest (those in strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _parse_int(digits: str) -> int:
    n = len(digits.lstrip("-"))
    if n > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {n} digits; at most {MAX_INT_DIGITS} are accepted")
    return int(digits)


def _count(request: JSON, key: str, maximum: int) -> int:
    value = request[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise RequestError(f"{key} must be an integer in [1, {maximum}], got {value!r}")
    return value


class RequestTooLarge(ConnectionAbortedError):
    """A request beyond :data:`MAX_HEADER_BYTES` + :data:`MAX_BODY`: its connection is closed."""


class DeadlineReader(io.RawIOBase):
    """A socket's bytes, read before ``deadline`` (``time.monotonic()``) and at most ``limit``.

    Each read waits only for what is left of the deadline, so a client trickling a byte at a
    time cannot stretch its request: past the deadline a read raises :class:`TimeoutError`,
    past ``limit`` bytes :class:`RequestTooLarge`.
    """

    def __init__(self, sock: socket.socket, deadline: float, limit: int) -> None:
        super().__init__()
        self.sock, self.deadline, self.left = sock, deadline, limit

    def readable(self) -> bool:
        """Yes."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Receive into ``buffer`` what arrives before the deadline (0 at the end)."""
        wait = self.deadline - time.monotonic()
        if wait <= 0:
            raise TimeoutError("the request did not arrive before its deadline")
        if self.left <= 0:
            raise RequestTooLarge("the request is too large")
        self.sock.settimeout(wait)
        with memoryview(buffer) as view:
            n = self.sock.recv_into(view[: self.left])
        self.left -= n
        return n


class Handler(http.server.BaseHTTPRequestHandler):
    """Checks Host and token, bounds the body, and hands the request to :class:`Playground`.

    Reading the request is bounded by the server's deadline (see :class:`DeadlineReader`);
    writing the answer by :attr:`timeout`.
    """

    server: PlaygroundServer
    timeout = 10  # seconds a client may take to accept a part of the answer
    server_version = "psinet-playground"
    sys_version = ""

    def setup(self) -> None:
        """Read the request through a :class:`DeadlineReader`."""
        super().setup()
        self.rfile.close()
        deadline = self.server.deadline_of(self.request)
        self.reader = DeadlineReader(self.connection, deadline, MAX_HEADER_BYTES)
        self.rfile = io.BufferedReader(self.reader)

    def handle_one_request(self) -> None:
        """One request; a request line and headers beyond :data:`MAX_HEADER_BYTES` get a
        431 answer with a message (then the connection is closed), never a silent close."""
        try:
            super().handle_one_request()
        except RequestTooLarge:
            self.close_connection = True
            self.request_version = "HTTP/1.1"  # a status line, whatever was read of the request
            self.send_error(
                431, f"the request line and headers may have at most {MAX_HEADER_BYTES} bytes"
            )

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own refusals (a bad request line, too many headers, ...)
        answered like every other: JSON with a message."""
        self.close_connection = True
        self._send_error(HTTPError(code, message or explain or http.HTTPStatus(code).phrase))

    def send_response(self, code: int, message: str | None = None) -> None:
        """Start the answer: from here on, each write may take :attr:`timeout` seconds."""
        self.connection.settimeout(self.timeout)
        super().send_response(code, message)

    def do_GET(self) -> None:
        """Serve the page, its assets and ``/api/options``."""
        self._respond(lambda path: self.server.app.get(path))

    def do_POST(self) -> None:
        """Answer the JSON API."""
        self._respond(lambda path: ("application/json", self.server.app.post(path, self._body())))

    def do_PUT(self) -> None:
        """Refused: 405."""
        self._send_error(HTTPError(405, "only GET and POST are served"))

    do_DELETE = do_PATCH = do_PUT

    def _respond(self, answer: Callable[[str], tuple[str, bytes]]) -> None:
        try:
            self._check_host()
            try:
                url = urlsplit(self.path)
            except ValueError as exc:
                raise HTTPError(400, f"malformed request target: {exc}") from None
            self.server.app.check_token(parse_qs(url.query), self.headers.get(TOKEN_HEADER))
            content_type, body = answer(url.path)
        except HTTPError as exc:
            self._send_error(exc)
            return
        except Exception as exc:  # a bug must not stop the server: report it and go on
            self._send_error(HTTPError(500, f"internal error: {type(exc).__name__}: {exc}"))
            return
        self._send(200, content_type, body)

    def _check_host(self) -> None:
        hosts = self.headers.get_all("Host") or [""]
        if len(hosts) > 1:
            raise HTTPError(400, f"{len(hosts)} Host headers: a request has one")
        host = hosts[0]
        if not self.server.host_allowed(host):
            raise HTTPError(403, f"Host header {host!r} refused: use {self.server.netloc}")

    def _body(self) -> bytes:
        self.close_connection = True  # whatever goes wrong, the connection's bytes are spent
        if self.headers.get("Transfer-Encoding") is not None:
            raise HTTPError(400, "Transfer-Encoding is not accepted: send a Content-Length")
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            raise HTTPError(411, "a POST needs a Content-Length header")
        if len(lengths) > 1:
            raise HTTPError(400, f"{len(lengths)} Content-Length headers: a request has one")
        length = lengths[0].strip()
        if not (length.isascii() and length.isdigit()):  # "²".isdigit() is true too
            raise HTTPError(400, f"Content-Length must be a number of bytes, got {length[:20]!r}")
        digits = length.lstrip("0") or "0"
        if len(digits) > len(str(MAX_BODY)) or int(digits) > MAX_BODY:
            shown = digits if len(digits) <= 20 else f"a {len(digits)}-digit number"
            raise HTTPError(413, f"the body may have at most {MAX_BODY} bytes, got {shown}")
        n = int(digits)
        self.reader.left += MAX_BODY  # the headers had MAX_HEADER_BYTES; now the body
        try:
            body = self.rfile.read(n)
        except TimeoutError:
            raise HTTPError(408, "the request did not arrive before its deadline") from None
        if len(body) < n:
            raise HTTPError(400, f"the body ended after {len(body)} of the {n} bytes announced")
        return body

    def _send_error(self, exc: HTTPError) -> None:
        self._send(exc.status, "application/json", dumps({"error": str(exc)}))

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in SECURITY_HEADERS.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: request lines would print the token."""


class PlaygroundServer(http.server.ThreadingHTTPServer):
    """A threading HTTP server whose ``app`` is a :class:`Playground`.

    Slow clients are bounded: each connection must deliver its request within
    :attr:`request_deadline` seconds of its accept; beyond :attr:`max_connections` open
    connections a new one gets a 503 and is closed. Handler threads are daemons, never
    waited for at exit; ``server_close`` shuts down the connections still open and waits
    at most :attr:`close_grace` seconds for their threads.
    """

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # the listen backlog: a burst of connects is not dropped
    request_deadline = REQUEST_DEADLINE
    max_connections = MAX_CONNECTIONS
    close_grace = 1.0  # seconds server_close waits for the handlers it woke

    def __init__(
        self,
        host: str,
        port: int,
        app: Playground,
        *,
        request_deadline: float | None = None,
        max_connections: int | None = None,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.app = app
        self.host = host
        if request_deadline is not None:
            self.request_deadline = request_deadline
        if max_connections is not None:
            self.max_connections = max_connections
        # open connection -> (its request's deadline, its handler thread)
        self._connections: dict[Any, tuple[float, threading.Thread]] = {}
        self._connections_lock = threading.Lock()
        super().__init__((host, port), Handler)
        self.port = int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        """Just accepted: start its deadline and a daemon thread, or refuse it (503) if full."""
        deadline = time.monotonic() + self.request_deadline
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="psinet-playground-request",
            daemon=True,
        )
        with self._connections_lock:
            full = len(self._connections) >= self.max_connections
            if not full:
                self._connections[request] = (deadline, thread)
        if full:
            self._refuse(request)
            return
        try:
            thread.start()
        except BaseException:
            with self._connections_lock:
                self._connections.pop(request, None)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Serve the connection (in its thread), then forget it."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.pop(request, None)

    def deadline_of(self, request: Any) -> float:
        """The ``time.monotonic()`` by which ``request``'s connection must have sent it."""
        with self._connections_lock:
            entry = self._connections.get(request)
        return entry[0] if entry else time.monotonic() + self.request_deadline

    def _refuse(self, request: socket.socket) -> None:
        body = dumps({"error": "too many connections: try again in a moment"})
        head = [
            "HTTP/1.0 503 Service Unavailable",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            "Retry-After: 1",
            "Connection: close",
            *(f"{key}: {value}" for key, value in SECURITY_HEADERS.items()),
        ]
        try:
            request.setblocking(False)  # a fresh socket's buffer takes it whole; never wait
            request.send("\r\n".join(head).encode() + b"\r\n\r\n" + body)
        except OSError:
            pass
        self.shutdown_request(request)

    def server_close(self) -> None:
        """Stop listening, shut down the open connections, wait briefly for their threads."""
        super().server_close()
        with self._connections_lock:
            open_ = list(self._connections.items())
        for request, _ in open_:
            try:
                request.shutdown(socket.SHUT_RDWR)  # wakes a handler blocked reading it
            except OSError:
                pass  # already closed by its handler
        end = time.monotonic() + self.close_grace
        for _, (_, thread) in open_:
            if thread.is_alive():
                thread.join(max(0.0, end - time.monotonic()))

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer (a closed tab) is normal; other errors print."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    @property
    def netloc(self) -> str:
        """``host:port`` as a URL writes it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The page's address, token included."""
        return f"http://{self.netloc}/?token={self.app.token}"

    def host_allowed(self, host_header: str) -> bool:
        """Is ``host_header`` this server (its name, localhost, or an IP address, and its port)?"""
        name, _, port = host_header.rpartition(":")
        if not name or not (port.isascii() and port.isdigit() and len(port) <= 5):
            return False
        if int(port) != self.port:
            return False
        name = name.strip("[]").lower()
        if name in (self.host.lower(), "localhost"):
            return True
        try:
            ipaddress.ip_address(name)  # an address typed by a person, not a rebound name
        except ValueError:
            return False
        return True


def make_server(
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    *,
    request_deadline: float | None = None,
    max_connections: int | None = None,
) -> PlaygroundServer:
    """A ready (bound, not yet serving) playground server; ``port=0`` picks a free port.

    ``request_deadline`` (seconds) and ``max_connections`` default to
    :data:`REQUEST_DEADLINE` and :data:`MAX_CONNECTIONS`.
    """
    return PlaygroundServer(
        host,
        port,
        Playground(token),
        request_deadline=request_deadline,
        max_connections=max_connections,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m psinet.playground [--port N] [--host H] [--no-browser]``; Ctrl-C stops it."""
    parser = argparse.ArgumentParser(
        prog="psinet-playground",
        description="Watch backpropagation (the Ψ recursion) in your browser. "
        "Serves a local page computed by psinet.",
    )
    parser.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be in [0, 65535], got {args.port}")
    if args.host not in LOOPBACK:
        print(
            f"WARNING: binding to {args.host}, not to 127.0.0.1: other machines on the network "
            "can reach this server. Anyone with the URL's token can run computations on it.",
            file=sys.stderr,
        )
    try:
        server = make_server(args.host, args.port)
    except OSError as exc:
        print(
            f"psinet-playground: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr
        )
        return 1
    print(f"psinet playground: {server.url}\n(Ctrl-C stops it)", flush=True)
    if not args.no_browser:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nstopped", flush=True)
    finally:
        server.server_close()
    return 0
