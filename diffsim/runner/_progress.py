"""A progress line while fitting: step, chi-square, gradient norm, elapsed time."""

import sys
import time
from typing import TextIO

from ..inverse import StepInfo


class Progress:
    """Print a status line at most every `interval` seconds (rewritten in place on a terminal).

    **Arguments:**
    - `enabled`: `False` for silence; `None` (default): only when `stream` is a terminal.
    - `stream`: where to print (default `sys.stderr`).
    - `interval`: the least seconds between two lines.

    **Example:** the line a fit step shows.

    ```python
    import io

    import numpy as np
    from diffsim import inverse, runner

    stream = io.StringIO()
    progress = runner.Progress(enabled=True, stream=stream, interval=0.0)
    progress.message("compiling...")
    info = inverse.StepInfo(step=3, losses=np.array([12.5]), best=0, x=np.array([0.8]),
                            gradient_norm=1e-3, accepted=True, running=1, elapsed=0.5)  # fmt: skip
    progress.update(info, max_steps=100)
    progress.close()
    assert stream.getvalue().splitlines()[1].startswith("step    3/100 | chi2 1.250000e+01")
    ```
    """

    def __init__(
        self, enabled: bool | None = None, stream: TextIO | None = None, interval: float = 0.25
    ):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.interval = interval
        self._last = -float("inf")
        self._shown = False
        self._skipped = None  # the last step not shown because of the throttle

    def message(self, text: str) -> None:
        """Print one line of text (e.g. "compiling...") when enabled."""
        if self.enabled:
            self._finish_line()
            print(text, file=self.stream, flush=True)

    def update(self, info: StepInfo, max_steps: int) -> None:
        """Show the state after a fit step (throttled; `close` shows the last one)."""
        now = time.perf_counter()
        if not self.enabled:
            return
        if now - self._last < self.interval:
            self._skipped = (info, max_steps)
            return
        self._last, self._skipped = now, None
        starts = (
            f" | {info.running}/{info.losses.size} starts running" if info.losses.size > 1 else ""
        )
        line = (
            f"step {info.step:>4}/{max_steps} | chi2 {info.losses[info.best]:.6e} | "
            f"|grad| {info.gradient_norm:.2e} | {info.elapsed:6.2f} s{starts}"
        )
        end = "\r" if self.stream.isatty() else "\n"
        print(line, end=end, file=self.stream, flush=True)
        self._shown = end == "\r"

    def close(self) -> None:
        """Show the last step if the throttle held it back, and end the in-place line."""
        if self._skipped is not None:
            self._last = -float("inf")
            self.update(*self._skipped)
        self._finish_line()

    def _finish_line(self) -> None:
        if self._shown:
            print(file=self.stream, flush=True)
            self._shown = False
