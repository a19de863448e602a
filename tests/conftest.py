"""Test configuration: every test runs in float64 (tolerances below assume it).

Each compiled XLA:CPU program holds a few memory mappings of its own, and Linux allows a process
65,530 of them (`vm.max_map_count`). The whole suite compiles thousands of programs in one
process; it passed that limit about 80 % of the way through and XLA segfaulted inside a compile.
So JAX's caches are cleared after every test module (`jax.clear_caches`), which frees the programs
no longer referenced.

Compilation is most of the suite's time, and many tests compile the same programs (the same small
configs, in this process, in other xdist workers and in CLI subprocesses). So all of a test run's
processes share one persistent compilation cache, in a temporary folder that the first pytest
process makes (its workers and subprocesses inherit it) and removes at the end; never the user's.
"""

import gc
import os
import shutil
import tempfile

import jax
import pytest

from diffsim.runner import enable_compilation_cache

jax.config.update("jax_enable_x64", True)
_OWNS_CACHE = "DIFFSIM_TEST_CACHE" not in os.environ
if _OWNS_CACHE:
    os.environ["DIFFSIM_TEST_CACHE"] = tempfile.mkdtemp(prefix="diffsim-test-cache-")
os.environ["DIFFSIM_CACHE_DIR"] = os.environ["DIFFSIM_TEST_CACHE"]
enable_compilation_cache()


def pytest_sessionfinish(session):
    """The process that made the shared cache folder removes it (after its workers)."""
    if _OWNS_CACHE:
        shutil.rmtree(os.environ["DIFFSIM_TEST_CACHE"], ignore_errors=True)


@pytest.fixture(autouse=True, scope="module")
def _free_compiled_programs():
    """Release each module's compiled programs once it has run (see the module docstring)."""
    yield
    jax.clear_caches()
    gc.collect()
