"""Network checkpoints: the trainable leaves on disk (`eqx.tree_serialise_leaves`)."""

import os
import pathlib

import equinox as eqx


def save(path, trainable) -> None:
    """Write `trainable`'s array leaves to `path`.

    The file is written under a temporary name, then renamed, so an interrupted save never
    leaves a half-written checkpoint.

    ```python
    import tempfile
    from pathlib import Path

    import jax
    from diffsim import nn, pde, pinn

    model = pde.Heat(pde.uniform_grid(8, 0.0, 1.0))
    problem = pinn.PINNProblem(model, (0.0, 1.0), {"diffusivity": 1.0})
    net = nn.MLP(2, "scalar", 4, 1, dtype="float64", key=jax.random.key(0))
    path = Path(tempfile.mkdtemp()) / "net.eqx"
    pinn.save(path, problem.init(net))
    assert path.exists()
    ```
    """
    path = pathlib.Path(path)
    partial = path.with_name(path.name + ".partial")
    eqx.tree_serialise_leaves(partial, trainable)
    os.replace(partial, path)


def load(path, like):
    """Read leaves saved by `save` into a pytree with the structure of `like`.

    `like` is e.g. `problem.init(network)` for a network built with the same sizes.

    ```python
    import tempfile
    from pathlib import Path

    import jax
    import jax.numpy as jnp
    from diffsim import nn, pde, pinn

    model = pde.Heat(pde.uniform_grid(8, 0.0, 1.0))
    problem = pinn.PINNProblem(model, (0.0, 1.0), {"diffusivity": 1.0})
    make = lambda seed: nn.MLP(2, "scalar", 4, 1, dtype="float64", key=jax.random.key(seed))
    path = Path(tempfile.mkdtemp()) / "net.eqx"
    pinn.save(path, problem.init(make(0)))
    restored = pinn.load(path, problem.init(make(1)))  # sizes from `like`, values from the file
    x = jnp.array([0.3, 0.4])
    assert restored.network(x) == make(0)(x)
    ```
    """
    return eqx.tree_deserialise_leaves(path, like)
