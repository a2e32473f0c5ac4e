"""``python -m psinet.check_backprop FILE.py:FUNCTION --sizes 3,5,4,2 --activations sigmoid``

Loads ``FUNCTION`` from ``FILE.py``, builds ``Network(sizes, activations, seed=seed)``
and prints :func:`psinet.check_backprop`'s report. Exit status: 0 when the gradients
are right, 1 when they are wrong, 2 on a usage error (a missing file or function, bad
sizes, an unknown activation or loss).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..network import Network
from . import check_backprop


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m psinet.check_backprop",
        description="Check your backprop fn(W, X, Y) against psinet's and name the mistake.",
    )
    parser.add_argument("target", metavar="FILE.py:FUNCTION", help="your backprop function")
    parser.add_argument("--sizes", required=True, help="layer widths, e.g. 3,5,4,2")
    parser.add_argument(
        "--activations",
        default="sigmoid",
        help="one activation for every layer, or one per layer separated by commas",
    )
    parser.add_argument("--loss", default="mse", help="mse, binary_crossentropy, ...")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and probes")
    return parser


def _load(target: str) -> Callable[..., Any]:
    """The function named by ``FILE.py:FUNCTION``; ValueError saying what is missing."""
    path, sep, name = target.rpartition(":")
    if not sep or not path or not name:
        raise ValueError(f"give FILE.py:FUNCTION, got {target!r}")
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"no such file: {path}")
    spec = importlib.util.spec_from_file_location(file.stem, file)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot import {path} (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(file.resolve().parent))  # its own helpers beside it import
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ValueError(f"importing {path} raised {type(exc).__name__}: {exc}") from None
    finally:
        sys.path.pop(0)
    fn = getattr(module, name, None)
    if not callable(fn):
        raise ValueError(f"{path} defines no function {name!r}")
    return fn


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 right, 1 wrong, 2 usage error)."""
    parser = _parser()
    args = parser.parse_args(argv)  # exits 2 itself on a malformed command line
    try:
        fn = _load(args.target)
        try:
            sizes = [int(n) for n in args.sizes.split(",")]
        except ValueError:
            raise ValueError(
                f"--sizes must be ints separated by commas, got {args.sizes!r}"
            ) from None
        names = args.activations.split(",")
        net = Network(sizes, names[0] if len(names) == 1 else names, seed=args.seed)
        report = check_backprop(fn, net, loss=args.loss, seed=args.seed)
    except (ValueError, TypeError, KeyError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    print(report)
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
