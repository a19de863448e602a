"""When the process started, on the `time.perf_counter` clock (for a run's total time)."""

import os
import time


def process_start() -> float:
    """The `time.perf_counter()` value at which this process started.

    Read from the process start time in `/proc/self/stat` and the system uptime (Linux, 10 ms
    resolution), so the interpreter's start-up and imports are counted. Where `/proc` is not
    available, the time of the first call is returned instead.

    **Example:** the time since start-up, imports included.

    ```python
    import time

    from diffsim import runner

    since_start = time.perf_counter() - runner.process_start()
    assert since_start >= 0
    print(f"{since_start:.1f} s since this process started")
    ```
    """
    now = time.perf_counter()
    try:
        with open("/proc/self/stat") as stream:
            # The command name (field 2) may hold spaces; fields after it are space-separated.
            fields = stream.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as stream:
            uptime = float(stream.read().split()[0])
        started_after_boot = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
    except (OSError, ValueError, IndexError):
        return now
    return now - max(0.0, uptime - started_after_boot)
