"""The version of psinet (one place; ``psinet.__version__`` and saved files read it)."""

__version__ = "0.1.0"
