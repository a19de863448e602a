"""SIGTERM handled like Ctrl-C: the run stops where it is and still writes its report."""

import contextlib
import signal
import threading

CTRL_C = "Interrupted by the user (Ctrl-C)"
SIGTERM = "Terminated (SIGTERM)"


class Terminated(KeyboardInterrupt):
    """Raised by SIGTERM wherever the program is, as Ctrl-C raises `KeyboardInterrupt`."""


_received: list[int] = []


def _terminate(signum, frame):
    _received.append(signum)
    raise Terminated


def interruption() -> str:
    """What stopped the run: `SIGTERM` once one was received, else `CTRL_C`."""
    return SIGTERM if _received else CTRL_C


@contextlib.contextmanager
def sigterm_interrupts():
    """Within the block, SIGTERM raises `Terminated` (a `KeyboardInterrupt`).

    Only the main thread can handle signals; elsewhere the block changes nothing.
    """
    _received.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
