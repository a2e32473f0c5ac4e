"""Ctrl-C during training: whole steps only.

:class:`DeferredInterrupt` turns the first Ctrl-C into a flag that the training loop
checks after each step and epoch; :func:`whole` runs an update so that a second Ctrl-C
never leaves it half-applied. A foundation: imports nothing of psinet.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any, ClassVar


class DeferredInterrupt:
    """Ctrl-C during :func:`fit` (main thread only): the first one sets a flag that the
    loop checks after each step and epoch; the second one puts the previous handler back
    and raises KeyboardInterrupt at once, unless an update is being applied
    (``critical``): then as soon as that update is complete, so that no step is ever
    half-applied."""

    active: ClassVar[DeferredInterrupt | None] = None  # the one of the running fit

    def __init__(self) -> None:
        self.requested = False
        self.critical = False  # True while the optimizer writes the weights
        self._escalate = False
        self._previous: Any = None
        self._installed = False  # our handler is the SIGINT handler now
        self._main = False  # entered in the main thread
        self._outer: DeferredInterrupt | None = None

    def _handler(self, signum: int, frame: Any) -> None:
        if not self.requested:
            self.requested = True
        elif self.critical:
            self._escalate = True  # raised by leave_critical, right after the update
        else:
            self._restore()
            raise KeyboardInterrupt

    def leave_critical(self) -> None:
        """End of an update: raise the KeyboardInterrupt a second Ctrl-C asked for."""
        self.critical = False
        if self._escalate:
            self._escalate = False
            self._restore()
            raise KeyboardInterrupt

    def _restore(self) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def __enter__(self) -> DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():  # signals go there only
            self._previous = signal.signal(signal.SIGINT, self._handler)
            self._installed = self._main = True
            self._outer, DeferredInterrupt.active = DeferredInterrupt.active, self
        return self

    def __exit__(self, *exc: object) -> None:
        if self._main:
            DeferredInterrupt.active = self._outer
        self._restore()


def whole(interrupt: DeferredInterrupt | None, apply: Callable[..., None], *args: Any) -> None:
    """``apply(*args)`` run whole: a second Ctrl-C during it raises only at its end."""
    if interrupt is None:
        apply(*args)
        return
    interrupt.critical = True
    try:
        apply(*args)
    finally:
        interrupt.leave_critical()
