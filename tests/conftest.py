"""Test configuration: every test runs in float64 (tolerances below assume it).

Each compiled XLA:CPU program holds a few memory mappings of its own, and Linux allows a process
65,530 of them (`vm.max_map_count`). The whole suite compiles thousands of programs in one
process; it passed that limit about 80 % of the way through and XLA segfaulted inside a compile.
So JAX's caches are cleared after every test module (`jax.clear_caches`), which frees the programs
no longer referenced. The persistent compilation cache stays off in the test process, and CLI runs
in subprocesses use a cache folder of their own, never the user's.
"""

import gc
import os
import tempfile

import jax
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_enable_compilation_cache", False)
os.environ["DIFFSIM_CACHE_DIR"] = tempfile.mkdtemp(prefix="diffsim-test-cache-")


@pytest.fixture(autouse=True, scope="module")
def _free_compiled_programs():
    """Release each module's compiled programs once it has run (see the module docstring)."""
    yield
    jax.clear_caches()
    gc.collect()
