"""Population models: Lotka–Volterra predator–prey."""

import jax.numpy as jnp

from ._model import ODEModel


def _lotka_volterra(t, y, p):
    prey, predator = y
    return jnp.stack(
        [
            p["alpha"] * prey - p["beta"] * prey * predator,
            p["delta"] * prey * predator - p["gamma"] * predator,
        ]
    )


def lotka_volterra() -> ODEModel:
    """Lotka–Volterra predator–prey model.

    `x' = alpha x - beta x y`, `y' = delta x y - gamma y` with prey `x` and predators `y`.
    Orbits are closed: `V = delta x - gamma log x + beta y - alpha log y` is conserved.

    **Returns:** an `ODEModel` with states `x`, `y`, parameters (defaults) `alpha=1.5`,
    `beta=1`, `gamma=3`, `delta=1` and default initial state `(10, 5)`.

    **Example:** the vector field is tangent to the level sets of `V` (`dV/dt = 0`).

    ```python
    import jax
    import jax.numpy as jnp
    from diffsim import models

    lv = models.lotka_volterra()
    p = lv.default_parameters


    def V(y):
        x, z = y
        return p["delta"] * x - p["gamma"] * jnp.log(x) + p["beta"] * z - p["alpha"] * jnp.log(z)


    y = jnp.array([4.0, 2.5])
    assert abs(jax.grad(V)(y) @ lv(0.0, y, p)) < 1e-12
    ```
    """
    return ODEModel(
        name="lotka_volterra",
        states=("x", "y"),
        parameters=("alpha", "beta", "gamma", "delta"),
        vector_field=_lotka_volterra,
        default_parameters={"alpha": 1.5, "beta": 1.0, "gamma": 3.0, "delta": 1.0},
        default_initial_state=(10.0, 5.0),
        description="Lotka-Volterra predator-prey: "
        "x' = alpha x - beta x y, y' = delta x y - gamma y",
    )
