"""Test configuration: every test runs in float64 (tolerances below assume it).

JAX's persistent compilation cache stays off in the test process: with hundreds of programs
compiled in one process after in-process CLI runs had switched it on, XLA crashed (segmentation
faults in `compile_or_get_cached`). CLI runs in subprocesses use a cache folder of their own,
never the user's.
"""

import os
import tempfile

import jax

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_enable_compilation_cache", False)
os.environ["DIFFSIM_CACHE_DIR"] = tempfile.mkdtemp(prefix="diffsim-test-cache-")
