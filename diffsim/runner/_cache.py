"""JAX's persistent compilation cache, so that rerunning a config skips compilation."""

import os
from pathlib import Path

import jax


def default_cache_dir() -> Path:
    """`$DIFFSIM_CACHE_DIR`, else `$XDG_CACHE_HOME/diffsim/jax`, else `~/.cache/diffsim/jax`."""
    if os.environ.get("DIFFSIM_CACHE_DIR"):
        return Path(os.environ["DIFFSIM_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "diffsim" / "jax"


def enable_compilation_cache(path: str | Path | None = None) -> Path:
    """Store compiled programs on disk and reuse them across processes.

    Every program is cached (no minimum compile time or size), since even sub-second
    compilations dominate a small fit.

    **Arguments:**
    - `path`: the cache folder (default `default_cache_dir()`); created if missing.

    **Returns:** the folder used.
    """
    path = Path(path) if path is not None else default_cache_dir()
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
