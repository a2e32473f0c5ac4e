"""``python -m psinet.playground``: start the playground server (see ``--help``)."""

import sys

from .server import main

sys.exit(main())
