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
* request bodies are bounded (:data:`MAX_BODY` bytes); malformed or out-of-range requests
  get a 400 with a JSON ``{"error": message}`` and the server keeps serving;
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
    POST /api/close   {session}                forget the session
"""

from __future__ import annotations

import argparse
import http.server
import ipaddress
import json
import secrets
import socket
import sys
import threading
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

MAX_BODY = 16 * 1024  # bytes; a configuration is a few hundred
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
        try:
            request = json.loads(body or b"{}")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HTTPError(400, f"the body must be a JSON object: {exc}") from None
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

    def close(self, request: JSON) -> JSON:
        """``{session}`` → forget it (the page sends this when it is closed)."""
        self._fields(request, ["session"])
        session = self._session(request)
        with self._lock:
            self.sessions.pop(session.id, None)
        return {"closed": session.id}


def _count(request: JSON, key: str, maximum: int) -> int:
    value = request[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise RequestError(f"{key} must be an integer in [1, {maximum}], got {value!r}")
    return value


class Handler(http.server.BaseHTTPRequestHandler):
    """Checks Host and token, bounds the body, and hands the request to :class:`Playground`."""

    server: PlaygroundServer
    timeout = 10  # seconds a client may take to send its request
    server_version = "psinet-playground"
    sys_version = ""

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
            url = urlsplit(self.path)
            self._check_host()
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
        host = self.headers.get("Host", "")
        if not self.server.host_allowed(host):
            raise HTTPError(403, f"Host header {host!r} refused: use {self.server.netloc}")

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise HTTPError(411, "a POST needs a Content-Length header")
        if int(length) > MAX_BODY:
            self.close_connection = True  # do not read it
            raise HTTPError(413, f"the body may have at most {MAX_BODY} bytes, got {length}")
        return self.rfile.read(int(length))

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

    Handler threads are not daemons and ``server_close`` joins them, so stopping the
    server leaves no thread behind; each request is short and bounded.
    """

    daemon_threads = False
    block_on_close = True

    def __init__(self, host: str, port: int, app: Playground) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.app = app
        self.host = host
        super().__init__((host, port), Handler)
        self.port = int(self.server_address[1])

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
        if not name or not port.isdigit() or int(port) != self.port:
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
    host: str = "127.0.0.1", port: int = 0, token: str | None = None
) -> PlaygroundServer:
    """A ready (bound, not yet serving) playground server; ``port=0`` picks a free port."""
    return PlaygroundServer(host, port, Playground(token))


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
