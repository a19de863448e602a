"""Chemical kinetics: Robertson's stiff three-species reaction."""

import jax.numpy as jnp

from ._model import ODEModel


def _robertson(t, y, p):
    y1, y2, y3 = y
    return jnp.stack(
        [
            -p["k1"] * y1 + p["k3"] * y2 * y3,
            p["k1"] * y1 - p["k2"] * y2**2 - p["k3"] * y2 * y3,
            p["k2"] * y2**2,
        ]
    )


def robertson() -> ODEModel:
    """Robertson's autocatalytic reaction, the classic stiff test problem.

    Rate constants span nine orders of magnitude (`k1=0.04, k2=3e7, k3=1e4`); total mass
    `y1 + y2 + y3` is conserved. Use an implicit solver (`"kvaerno5"`, alias `"stiff"`).

    **Returns:** an `ODEModel` with states `y1`, `y2`, `y3`, parameters (defaults) `k1=0.04`,
    `k2=3e+07`, `k3=10000` and default initial state `(1, 0, 0)`.

    **Example:** stiff: the Jacobian's eigenvalues span many orders of magnitude.

    ```python
    import jax
    import jax.numpy as jnp
    from diffsim import models

    rober = models.robertson()
    y = jnp.array([0.5, 2e-5, 0.5])
    rate = rober(0.0, y, rober.default_parameters)
    eig = jnp.linalg.eigvals(jax.jacfwd(lambda y: rober(0.0, y, rober.default_parameters))(y))
    assert rober.stiff and abs(jnp.sum(rate)) < 1e-12  # mass is conserved
    assert jnp.max(jnp.abs(eig)) / jnp.min(jnp.abs(eig[jnp.abs(eig) > 1e-12])) > 1e5
    ```
    """
    return ODEModel(
        name="robertson",
        states=("y1", "y2", "y3"),
        parameters=("k1", "k2", "k3"),
        vector_field=_robertson,
        default_parameters={"k1": 0.04, "k2": 3.0e7, "k3": 1.0e4},
        default_initial_state=(1.0, 0.0, 0.0),
        stiff=True,
        description="Robertson kinetics (stiff): y1' = -k1 y1 + k3 y2 y3, "
        "y2' = k1 y1 - k2 y2^2 - k3 y2 y3, y3' = k2 y2^2",
    )
