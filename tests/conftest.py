"""Test configuration: every test runs in float64 (tolerances below assume it), and runs of the
CLI inside the tests use a compilation cache of their own, never the user's."""

import os
import tempfile

import jax

jax.config.update("jax_enable_x64", True)
os.environ["DIFFSIM_CACHE_DIR"] = tempfile.mkdtemp(prefix="diffsim-test-cache-")
