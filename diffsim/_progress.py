"""A progress meter for long solves: a host callback, traced only when asked for."""

import sys
import time

import jax

_last = {"time": 0.0}


def _show(t, t0, t1):
    now = time.monotonic()
    done = float((t - t0) / (t1 - t0)) if t1 != t0 else 1.0
    if done < 1.0 and now - _last["time"] < 0.5:
        return
    _last["time"] = now
    end = "\n" if done >= 1.0 else ""
    sys.stderr.write(f"\rsolve_ode: {100 * done:5.1f}% (t = {float(t):.6g}){end}")
    sys.stderr.flush()


def progress_meter(t, t0, t1):
    """Print the fraction of `[t0, t1]` done, at most twice a second (and at the end)."""
    jax.debug.callback(_show, t, t0, t1)
