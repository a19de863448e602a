"""Test configuration: every test runs in float64 (tolerances below assume it).

CLI runs inside the test process do not switch on JAX's persistent compilation cache: with
hundreds of programs compiled in one process, reading and writing that cache crashed XLA
(segmentation faults in `compile_or_get_cached`). CLI runs in subprocesses use a cache folder of
their own, never the user's.
"""

import os
import tempfile

import jax
import pytest

import diffsim.runner

jax.config.update("jax_enable_x64", True)
os.environ["DIFFSIM_CACHE_DIR"] = tempfile.mkdtemp(prefix="diffsim-test-cache-")


@pytest.fixture(autouse=True)
def _no_persistent_cache_in_process(monkeypatch):
    monkeypatch.setattr(diffsim.runner, "enable_compilation_cache", lambda path=None: None)
