"""JAX's persistent compilation cache, so that rerunning a config skips compilation."""

import os
from pathlib import Path

import jax


def default_cache_dir() -> Path:
    """`$DIFFSIM_CACHE_DIR`, else `$XDG_CACHE_HOME/diffsim/jax`, else `~/.cache/diffsim/jax`.

    **Example:**

    ```python
    import os

    from diffsim import runner

    os.environ["DIFFSIM_CACHE_DIR"] = "/tmp/my-cache"
    assert str(runner.default_cache_dir()) == "/tmp/my-cache"
    del os.environ["DIFFSIM_CACHE_DIR"]
    print(runner.default_cache_dir())  # e.g. ~/.cache/diffsim/jax
    ```
    """
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

    **Example:** the JAX settings it changes (restored here, so nothing else is cached).

    ```python
    import tempfile

    import jax
    from diffsim import runner

    names = ["jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
             "jax_persistent_cache_min_entry_size_bytes"]  # fmt: skip
    before = {name: getattr(jax.config, name) for name in names}
    folder = runner.enable_compilation_cache(tempfile.mkdtemp())
    assert jax.config.jax_compilation_cache_dir == str(folder) and folder.is_dir()
    assert jax.config.jax_persistent_cache_min_compile_time_secs == 0.0
    for name, value in before.items():
        jax.config.update(name, value)
    ```
    """
    path = Path(path) if path is not None else default_cache_dir()
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
