"""What a run ran on: versions, backend and devices (written to `env.json`)."""

import importlib.metadata
import os
import platform
import sys
from datetime import datetime, timezone

import jax

_PACKAGES = (
    "diffsim",
    "jax",
    "jaxlib",
    "equinox",
    "optax",
    "numpy",
    "scipy",
    "pydantic",
    "pyyaml",
    "matplotlib",
)


def environment_info(seed: int, argv: list[str] | None = None) -> dict:
    """Python and package versions, JAX backend and devices, CPU count, seed and command.

    **Arguments:**
    - `seed`: the run's seed.
    - `argv`: the command line (default `sys.argv`).

    **Example:** what `env.json` of a run folder records.

    ```python
    from diffsim import runner

    info = runner.environment_info(seed=7, argv=["python", "-m", "diffsim.run", "run.yaml"])
    assert info["seed"] == 7 and "jax" in str(info)
    print(sorted(info))
    ```
    """
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "processes": jax.process_count(),
        "cpus": os.cpu_count(),
        "x64": bool(jax.config.jax_enable_x64),
        "compilation_cache": jax.config.jax_compilation_cache_dir,
        "seed": seed,
        "command": list(sys.argv if argv is None else argv),
    }
