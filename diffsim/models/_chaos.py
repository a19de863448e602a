"""The Lorenz system."""

import jax.numpy as jnp

from ._model import ODEModel


def _lorenz(t, u, p):
    x, y, z = u
    return jnp.stack([p["sigma"] * (y - x), x * (p["rho"] - z) - y, x * y - p["beta"] * z])


def lorenz() -> ODEModel:
    """Lorenz 1963 convection model (chaotic at the classic `sigma=10, rho=28, beta=8/3`).

    Its flow contracts volume at the constant rate `-(sigma + 1 + beta)` (the trace of the
    Jacobian), so fits should use short time windows: nearby trajectories separate fast.

    **Returns:** an `ODEModel` with states `x`, `y`, `z`, parameters (defaults) `sigma=10`,
    `rho=28`, `beta=8/3` and default initial state `(1, 1, 1)`.

    **Example:** the volume contraction rate is the trace of the Jacobian, everywhere.

    ```python
    import jax
    import jax.numpy as jnp
    from diffsim import models

    lorenz = models.lorenz()
    p = lorenz.default_parameters
    jacobian = jax.jacfwd(lambda y: lorenz(0.0, y, p))(jnp.array([1.0, -2.0, 20.0]))
    assert jnp.isclose(jnp.trace(jacobian), -(p["sigma"] + 1 + p["beta"]))
    ```
    """
    return ODEModel(
        name="lorenz",
        states=("x", "y", "z"),
        parameters=("sigma", "rho", "beta"),
        vector_field=_lorenz,
        default_parameters={"sigma": 10.0, "rho": 28.0, "beta": 8.0 / 3.0},
        default_initial_state=(1.0, 1.0, 1.0),
        description="Lorenz system: x' = sigma (y - x), y' = x (rho - z) - y, z' = x y - beta z",
    )
