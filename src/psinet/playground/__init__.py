"""The playground: a local web page, served and computed by psinet, to watch backprop.

``python -m psinet.playground`` starts it (see :mod:`psinet.playground.server`); the
numbers come from :mod:`psinet.playground.session`, which calls psinet's public
functions; ``static/`` holds the page (HTML, CSS, JavaScript: no build step, no CDN).
"""

from .server import Playground, PlaygroundServer, main, make_server
from .session import Config, Session, parse_config

__all__ = [
    "Config",
    "Playground",
    "PlaygroundServer",
    "Session",
    "main",
    "make_server",
    "parse_config",
]
