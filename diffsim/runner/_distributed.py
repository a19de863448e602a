"""Joining a multi-process run (`jax.distributed`) when the environment asks for one.

Each process of a run executes the same command on its own devices; together they form one
set of global devices over which batches are sharded (`diffsim.inverse._sharding`). The
processes meet at a coordinator (process 0's address):

- `DIFFSIM_COORDINATOR=host:port`, `DIFFSIM_NUM_PROCESSES=N`, `DIFFSIM_PROCESS_ID=i`
  (`0 <= i < N`), and optionally `DIFFSIM_JOIN_TIMEOUT` (seconds, default 120) name them
  explicitly (any launcher, several shells, Kubernetes);
- under SLURM with more than one task (`srun`), JAX reads them from SLURM's variables;
- `DIFFSIM_DISTRIBUTED=auto` lets JAX detect them on any cluster it knows (Cloud TPU pods,
  Open MPI, SLURM).

Without either, the run is one process and nothing is initialized.
"""

import os
import socket
import time

import jax
import numpy as np
from jax.experimental import multihost_utils

COORDINATOR = "DIFFSIM_COORDINATOR"
NUM_PROCESSES = "DIFFSIM_NUM_PROCESSES"
PROCESS_ID = "DIFFSIM_PROCESS_ID"
JOIN_TIMEOUT = "DIFFSIM_JOIN_TIMEOUT"
DISTRIBUTED = "DIFFSIM_DISTRIBUTED"


_JOINED: list[bool] = []
"""Non-empty once this process has joined a multi-process run (a second call is a no-op)."""


class DistributedError(ValueError):
    """The multi-process settings are unusable, or the processes could not meet.

    **Example:** a malformed setting is one line naming the variable.

    ```python
    from diffsim import runner

    environ = {"DIFFSIM_COORDINATOR": "localhost:1234", "DIFFSIM_NUM_PROCESSES": "two",
               "DIFFSIM_PROCESS_ID": "0"}  # fmt: skip
    try:
        runner.join_processes(environ)
    except runner.DistributedError as error:
        assert "DIFFSIM_NUM_PROCESSES" in str(error)
        print(error)
    else:
        raise AssertionError("a process count of 'two' was accepted")
    ```
    """


def _integer(environ, name: str, default: str | None = None) -> int:
    text = environ.get(name, default)
    if text is None:
        raise DistributedError(f"{name}: not set ({COORDINATOR} is set, so both are needed)")
    try:
        return int(text)
    except ValueError:
        raise DistributedError(f"{name}: {text!r} is not a whole number") from None


def join_processes(environ=None) -> int:
    """Join the multi-process run the environment describes; returns this process's index.

    **Arguments:**
    - `environ`: the environment (default `os.environ`).

    **Returns:** `jax.process_index()` (0 when the run is one process); once joined, a
    second call returns it at once.

    **Raises:** `DistributedError` with one line when a variable is missing or malformed, the
    coordinator cannot be reached within the timeout, or the processes disagree on their number.

    **Example:** without the variables a run is one process (index 0).

    ```python
    from diffsim import runner

    assert runner.join_processes({}) == 0
    ```
    """
    if _JOINED:  # `jax.distributed.initialize` may run once per process
        return jax.process_index()
    environ = os.environ if environ is None else environ
    coordinator = environ.get(COORDINATOR)
    automatic = environ.get(DISTRIBUTED)
    if automatic not in (None, "", "auto"):
        raise DistributedError(f"{DISTRIBUTED}: {automatic!r} is not 'auto'")
    slurm = int(environ.get("SLURM_NTASKS", "1") or 1) > 1 and "SLURM_JOB_ID" in environ
    if coordinator is None and not slurm and not automatic:
        return 0
    timeout = _integer(environ, JOIN_TIMEOUT, "120")
    if timeout < 1:
        raise DistributedError(f"{JOIN_TIMEOUT}: must be at least 1 second, got {timeout}")
    if coordinator is None:
        where, settings, count = ("SLURM" if slurm else DISTRIBUTED), {}, None
    else:
        count = _integer(environ, NUM_PROCESSES)
        index = _integer(environ, PROCESS_ID)
        if count < 1:
            raise DistributedError(f"{NUM_PROCESSES}: must be at least 1, got {count}")
        if not 0 <= index < count:
            raise DistributedError(f"{PROCESS_ID}: {index} is not in 0..{count - 1}")
        if ":" not in coordinator:
            raise DistributedError(f"{COORDINATOR}: {coordinator!r} is not host:port")
        where = f"{COORDINATOR}={coordinator}"
        if index != 0:  # jaxlib aborts the process when it cannot reach the coordinator
            _wait_for(coordinator, timeout, where)
        settings = {
            "coordinator_address": coordinator,
            "num_processes": count,
            "process_id": index,
        }
    try:
        jax.distributed.initialize(**settings, initialization_timeout=timeout)
    except Exception as error:  # jaxlib raises its own runtime errors
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DistributedError(
            f"{where}: could not join the multi-process run within {timeout} s ({reason})"
        ) from None
    # every process learns every process's count, so that all of them stop alike
    counts = multihost_utils.process_allgather(np.asarray(count or jax.process_count()))
    if count is not None and set(np.ravel(counts).tolist()) != {jax.process_count()}:
        said = ", ".join(str(c) for c in np.ravel(counts))
        raise DistributedError(
            f"{NUM_PROCESSES}: the processes disagree on their number (they say {said}; "
            f"{jax.process_count()} joined)"
        )
    _JOINED.append(True)
    return jax.process_index()


def _wait_for(coordinator: str, timeout: float, where: str) -> None:
    """Wait until something listens at `coordinator` (`host:port`), at most `timeout` seconds."""
    host, _, port = coordinator.rpartition(":")
    try:
        address = (host.strip("[]"), int(port))
    except ValueError:
        raise DistributedError(f"{where}: the port {port!r} is not a number") from None
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(address, timeout=1.0):
                return
        except OSError as error:
            if time.monotonic() >= deadline:
                reason = error.strerror or str(error)
                raise DistributedError(
                    f"{where}: the coordinator (process 0) did not answer within "
                    f"{timeout:g} s ({reason}); is process 0 running?"
                ) from None
            time.sleep(0.2)
