"""Built-in models: reference values, invariants, Jacobians against finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffsim import solve_ode
from diffsim.models import BUILTIN_MODELS, builtin_model


def _point(model):
    rng = np.random.default_rng(0)
    return jnp.asarray(rng.uniform(0.5, 2.0, len(model.states)))


def test_reference_values():
    y = jnp.array([2.0, 3.0])
    lv = builtin_model("lotka_volterra")
    np.testing.assert_allclose(lv(0.0, y, lv.default_parameters), [1.5 * 2 - 6, 6 - 9])
    lorenz = builtin_model("lorenz")
    np.testing.assert_allclose(
        lorenz(0.0, jnp.array([1.0, 2.0, 3.0]), lorenz.default_parameters),
        [10.0, 1 * 25 - 2, 2 - 8.0],
    )
    vdp = builtin_model("van_der_pol")
    np.testing.assert_allclose(vdp(0.0, y, {"mu": 2.0}), [3.0, 2 * (1 - 4) * 3 - 2])


@pytest.mark.parametrize("name", ["sir", "seir", "robertson"])
def test_mass_is_conserved(name):
    model = builtin_model(name)
    dy = model(0.0, _point(model), model.default_parameters)
    assert abs(float(jnp.sum(dy))) < 1e-12 * float(jnp.max(jnp.abs(dy)))


def test_lotka_volterra_first_integral():
    model = builtin_model("lotka_volterra")
    p = model.default_parameters

    def v(y):
        x, z = y
        return p["delta"] * x - p["gamma"] * jnp.log(x) + p["beta"] * z - p["alpha"] * jnp.log(z)

    y = _point(model)
    assert float(jax.grad(v)(y) @ model(0.0, y, p)) == pytest.approx(0.0, abs=1e-12)


def test_pendulum_energy_decays_at_damping_rate():
    model = builtin_model("damped_pendulum")
    p = model.default_parameters

    def energy(y):
        return y[1] ** 2 / 2 + p["omega0"] ** 2 * (1 - jnp.cos(y[0]))

    y = _point(model)
    rate = jax.grad(energy)(y) @ model(0.0, y, p)
    assert float(rate) == pytest.approx(-p["damping"] * float(y[1]) ** 2, rel=1e-12)


def test_lorenz_volume_contraction():
    model = builtin_model("lorenz")
    p = model.default_parameters
    jac = jax.jacfwd(lambda y: model(0.0, y, p))(_point(model))
    assert float(jnp.trace(jac)) == pytest.approx(-(p["sigma"] + 1 + p["beta"]), rel=1e-12)


@pytest.mark.parametrize("name", BUILTIN_MODELS)
def test_jacobian_matches_finite_differences(name):
    model = builtin_model(name)
    p = model.default_parameters
    y = _point(model)
    jac = jax.jacfwd(lambda y: model(0.3, y, p))(y)
    h = 1e-6
    fd = jnp.stack(
        [(model(0.3, y + h * e, p) - model(0.3, y - h * e, p)) / (2 * h) for e in jnp.eye(y.size)],
        axis=1,
    )
    np.testing.assert_allclose(jac, fd, rtol=1e-6, atol=1e-6 * float(jnp.max(jnp.abs(jac))))


def test_unknown_model_name():
    with pytest.raises(ValueError, match="unknown model 'lotka'.*lotka_volterra"):
        builtin_model("lotka")


def test_sir_solution_conserves_population():
    model = builtin_model("sir")
    sol = solve_ode(
        model.vector_field,
        jnp.array([762.0, 1.0, 0.0]),
        jnp.linspace(0, 14, 8),
        model.default_parameters,
        rtol=1e-8,
        atol=1e-8,
    )
    np.testing.assert_allclose(jnp.sum(sol.ys, axis=1), 763.0, rtol=1e-10)
