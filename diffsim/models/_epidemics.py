"""Compartmental epidemic models: SIR and SEIR in a closed population of size `N`."""

import jax.numpy as jnp

from ._model import ODEModel


def _sir(t, y, p):
    s, i, r = y
    infection = p["beta"] * s * i / p["N"]
    recovery = p["gamma"] * i
    return jnp.stack([-infection, infection - recovery, recovery])


def sir() -> ODEModel:
    """SIR epidemic: susceptible `S`, infectious `I`, removed `R`; `S + I + R` is conserved.

    `S' = -beta S I / N`, `I' = beta S I / N - gamma I`, `R' = gamma I`.

    **Returns:** an `ODEModel` with states `S`, `I`, `R`, parameters (defaults) `beta=1.7`,
    `gamma=0.45`, `N=763` and default initial state `(762, 1, 0)`.

    **Example:** a fresh outbreak grows when `beta / gamma > 1`, and `S + I + R` is kept.

    ```python
    import jax.numpy as jnp
    from diffsim import models

    sir = models.sir()
    p = sir.default_parameters
    rate = sir(0.0, jnp.array(sir.default_initial_state), p)
    assert rate[1] > 0 and p["beta"] / p["gamma"] > 1  # I grows: R0 = beta / gamma
    assert abs(jnp.sum(rate)) < 1e-12
    ```
    """
    return ODEModel(
        name="sir",
        states=("S", "I", "R"),
        parameters=("beta", "gamma", "N"),
        vector_field=_sir,
        default_parameters={"beta": 1.7, "gamma": 0.45, "N": 763.0},
        default_initial_state=(762.0, 1.0, 0.0),
        description="SIR epidemic: S' = -beta S I / N, I' = beta S I / N - gamma I, R' = gamma I",
    )


def _seir(t, y, p):
    s, e, i, r = y
    infection = p["beta"] * s * i / p["N"]
    onset = p["sigma"] * e
    recovery = p["gamma"] * i
    return jnp.stack([-infection, infection - onset, onset - recovery, recovery])


def seir() -> ODEModel:
    """SEIR epidemic with an exposed (latent) compartment `E` left at rate `sigma`.

    **Returns:** an `ODEModel` with states `S`, `E`, `I`, `R`, parameters (defaults) `beta=1.5`,
    `sigma=1`, `gamma=0.5`, `N=1000` and default initial state `(999, 0, 1, 0)`.

    **Example:** the population `S + E + I + R` does not change.

    ```python
    import jax.numpy as jnp
    from diffsim import models

    seir = models.seir()
    rate = seir(0.0, jnp.array([900.0, 50.0, 40.0, 10.0]), seir.default_parameters)
    assert seir.states == ("S", "E", "I", "R") and abs(jnp.sum(rate)) < 1e-12
    ```
    """
    return ODEModel(
        name="seir",
        states=("S", "E", "I", "R"),
        parameters=("beta", "sigma", "gamma", "N"),
        vector_field=_seir,
        default_parameters={"beta": 1.5, "sigma": 1.0, "gamma": 0.5, "N": 1000.0},
        default_initial_state=(999.0, 0.0, 1.0, 0.0),
        description="SEIR epidemic: S' = -beta S I / N, E' = beta S I / N - sigma E, "
        "I' = sigma E - gamma I, R' = gamma I",
    )
