"""``python -m psinet.check_backprop FILE.py:FUNCTION --sizes 3,5,4,2 --activations sigmoid``

Loads ``FUNCTION`` from ``FILE.py``, builds ``Network(sizes, activations, seed=seed)``
and prints :func:`psinet.check_backprop`'s report. Exit status: 0 when the gradients
are right, 1 when they are wrong (an exception, ``sys.exit`` included, or no answer
within ``--timeout`` seconds), 2 on a usage error (a missing file or function, bad sizes,
an unknown activation or loss, a file that raises or exits when imported).
"""

from __future__ import annotations

import argparse
import importlib.util
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..network import Network
from . import CheckTimeout, _error_info, check_backprop


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
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds your function may run before it counts as wrong (0: no limit)",
    )
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
    except (Exception, SystemExit) as exc:  # sys.exit() at import is no answer either
        what, where, _ = _error_info(exc)
        raise ValueError(
            f"importing {path} raised {what}" + (f" at {where}" if where else "")
        ) from None
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
    timeout = args.timeout
    alarm = (
        timeout > 0
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if alarm:

        def ring(signum: int, frame: Any) -> None:
            raise CheckTimeout(f"timed out after {timeout:g} s")

        previous = signal.signal(signal.SIGALRM, ring)
        signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        report = _check(args)
    except (ValueError, TypeError, KeyError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    except CheckTimeout as exc:  # outside the learner's function (importing it, …)
        print(f"{exc}: your code never returned (an endless loop?)\nFAILED")
        return 1
    except KeyboardInterrupt:
        print("interrupted: not checked", file=sys.stderr)
        return 130
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    print(report)
    return 0 if report.passed else 1


def _check(args: argparse.Namespace) -> Any:
    """Load the function, build the network, run :func:`check_backprop`."""
    fn = _load(args.target)
    try:
        sizes = [int(n) for n in args.sizes.split(",")]
    except ValueError:
        raise ValueError(f"--sizes must be ints separated by commas, got {args.sizes!r}") from None
    names = args.activations.split(",")
    net = Network(sizes, names[0] if len(names) == 1 else names, seed=args.seed)
    return check_backprop(fn, net, loss=args.loss, seed=args.seed)


if __name__ == "__main__":
    sys.exit(main())
