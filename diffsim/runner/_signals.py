"""SIGTERM handled like Ctrl-C: the run stops where it is and still writes its report."""

import contextlib
import signal
import threading

CTRL_C = "Interrupted by the user (Ctrl-C)"
SIGTERM = "Terminated (SIGTERM)"


class Terminated(KeyboardInterrupt):
    """Raised by SIGTERM wherever the program is, as Ctrl-C raises `KeyboardInterrupt`.

    **Example:**

    ```python
    from diffsim import runner

    assert issubclass(runner.Terminated, KeyboardInterrupt)  # handled wherever Ctrl-C is
    ```
    """


_received: list[int] = []


def _terminate(signum, frame):
    _received.append(signum)
    raise Terminated


def interruption() -> str:
    """What stopped the run: `SIGTERM` once one was received, else `CTRL_C`.

    **Example:** Ctrl-C unless a SIGTERM arrived in the block.

    ```python
    import os
    import signal

    from diffsim import runner

    with runner.sigterm_interrupts():
        assert "Ctrl-C" in runner.interruption()
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        except runner.Terminated:
            assert "SIGTERM" in runner.interruption()
    with runner.sigterm_interrupts():  # each block starts afresh
        assert "Ctrl-C" in runner.interruption()
    ```
    """
    return SIGTERM if _received else CTRL_C


@contextlib.contextmanager
def sigterm_interrupts():
    """Within the block, SIGTERM raises `Terminated` (a `KeyboardInterrupt`).

    Only the main thread can handle signals; elsewhere the block changes nothing.

    **Example:** a batch scheduler's SIGTERM stops a loop like Ctrl-C.

    ```python
    import os
    import signal

    from diffsim import runner

    done = 0
    with runner.sigterm_interrupts():
        try:
            for step in range(1000):
                if step == 3:
                    os.kill(os.getpid(), signal.SIGTERM)  # what `scancel` or `kill` sends
                done += 1
        except KeyboardInterrupt:
            pass
    assert done == 3
    with runner.sigterm_interrupts():  # leave the record of signals empty again
        pass
    ```
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
