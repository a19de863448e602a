"""Nonlinear oscillators: FitzHugh–Nagumo, Van der Pol, damped pendulum."""

import jax.numpy as jnp

from ._model import ODEModel


def _fitzhugh_nagumo(t, y, p):
    v, w = y
    return jnp.stack([v - v**3 / 3 - w + p["current"], (v + p["a"] - p["b"] * w) / p["tau"]])


def fitzhugh_nagumo() -> ODEModel:
    """FitzHugh–Nagumo neuron model with membrane voltage `v` and recovery variable `w`.

    `v' = v - v^3/3 - w + current`, `w' = (v + a - b w) / tau`.

    **Returns:** an `ODEModel` with states `v`, `w`, parameters (defaults) `a=0.7`, `b=0.8`,
    `tau=12.5`, `current=0.5` and default initial state `(-1, 1)`.

    **Example:** the vector field as written above.

    ```python
    import jax.numpy as jnp
    from diffsim import models

    fhn = models.fitzhugh_nagumo()
    p = fhn.default_parameters
    v, w = 1.0, 0.5
    rate = fhn(0.0, jnp.array([v, w]), p)
    assert jnp.isclose(rate[0], v - v**3 / 3 - w + p["current"])
    assert jnp.isclose(rate[1], (v + p["a"] - p["b"] * w) / p["tau"])
    ```
    """
    return ODEModel(
        name="fitzhugh_nagumo",
        states=("v", "w"),
        parameters=("a", "b", "tau", "current"),
        vector_field=_fitzhugh_nagumo,
        default_parameters={"a": 0.7, "b": 0.8, "tau": 12.5, "current": 0.5},
        default_initial_state=(-1.0, 1.0),
        description="FitzHugh-Nagumo: v' = v - v^3/3 - w + current, w' = (v + a - b w) / tau",
    )


def _van_der_pol(t, y, p):
    x, v = y
    return jnp.stack([v, p["mu"] * (1 - x**2) * v - x])


def van_der_pol() -> ODEModel:
    """Van der Pol oscillator `x'' = mu (1 - x^2) x' - x`, as a first-order system in `(x, v)`.

    **Returns:** an `ODEModel` with states `x`, `v`, parameters (defaults) `mu=1` and default
    initial state `(2, 0)`.

    **Example:** the damping `mu (1 - x^2)` pumps energy in for `|x| < 1` and takes it out
    beyond.

    ```python
    import jax.numpy as jnp
    from diffsim import models

    vdp = models.van_der_pol()
    p = {"mu": 5.0}
    assert vdp(0.0, jnp.array([0.5, 1.0]), p)[1] > 0  # |x| < 1: velocity grows
    assert vdp(0.0, jnp.array([0.0, 1.0]), p)[1] == 5.0  # x'' = mu x' at x = 0
    ```
    """
    return ODEModel(
        name="van_der_pol",
        states=("x", "v"),
        parameters=("mu",),
        vector_field=_van_der_pol,
        default_parameters={"mu": 1.0},
        default_initial_state=(2.0, 0.0),
        description="Van der Pol oscillator: x' = v, v' = mu (1 - x^2) v - x",
    )


def _damped_pendulum(t, y, p):
    angle, velocity = y
    return jnp.stack([velocity, -(p["omega0"] ** 2) * jnp.sin(angle) - p["damping"] * velocity])


def damped_pendulum() -> ODEModel:
    """Damped pendulum `angle'' = -omega0^2 sin(angle) - damping angle'`.

    The energy `velocity^2 / 2 + omega0^2 (1 - cos angle)` decays at the rate
    `damping * velocity^2`.

    **Returns:** an `ODEModel` with states `angle`, `velocity`, parameters (defaults)
    `omega0=3`, `damping=0.3` and default initial state `(1, 0)`.

    **Example:** the energy decays at the rate `damping * velocity^2`.

    ```python
    import jax
    import jax.numpy as jnp
    from diffsim import models

    pendulum = models.damped_pendulum()
    p = pendulum.default_parameters


    def energy(y):
        return y[1] ** 2 / 2 + p["omega0"] ** 2 * (1 - jnp.cos(y[0]))


    y = jnp.array([0.7, -1.2])
    dE_dt = jax.grad(energy)(y) @ pendulum(0.0, y, p)
    assert jnp.isclose(dE_dt, -p["damping"] * y[1] ** 2)
    ```
    """
    return ODEModel(
        name="damped_pendulum",
        states=("angle", "velocity"),
        parameters=("omega0", "damping"),
        vector_field=_damped_pendulum,
        default_parameters={"omega0": 3.0, "damping": 0.3},
        default_initial_state=(1.0, 0.0),
        description="Damped pendulum: angle' = velocity, "
        "velocity' = -omega0^2 sin(angle) - damping velocity",
    )
