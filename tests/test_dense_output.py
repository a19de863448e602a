"""Dense output: outputs inside steps and `sol.evaluate(t)`, their accuracy and gradients."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
from problems import LV_P, LV_Y0, lotka_volterra

import diffsim


def _reference(ts, p=LV_P):
    sol = scipy.integrate.solve_ivp(
        lambda t, y: np.asarray(lotka_volterra(t, y, p)),
        (0.0, max(ts)),
        LV_Y0,
        t_eval=np.sort(ts),
        method="DOP853",
        rtol=1e-13,
        atol=1e-13,
    )
    return sol.y.T


@pytest.mark.parametrize("name", ["bosh3", "dopri5", "tsit5"])
def test_evaluate_matches_reference_anywhere(name):
    sol = diffsim.solve_ode(
        lotka_volterra,
        LV_Y0,
        [0.0, 10.0],
        LV_P,
        solver=name,
        rtol=1e-9,
        atol=1e-9,
        max_steps=20000,
        saveat=diffsim.SaveAt(dense=True),
    )
    t = np.sort(np.random.default_rng(0).uniform(0.0, 10.0, 50))
    np.testing.assert_allclose(sol.evaluate(t), _reference(t), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(sol.evaluate(10.0), sol.ys[-1], rtol=1e-12)
    np.testing.assert_allclose(sol.evaluate(0.0), LV_Y0, rtol=1e-14)


@pytest.mark.parametrize("name, order", [("bosh3", 3), ("rk4", 4), ("dopri5", 5), ("tsit5", 5)])
def test_interpolation_error_at_mid_steps_converges_at_the_method_order(name, order):
    # Outputs halfway between fixed steps come only from the interpolant (cubic Hermite for
    # bosh3 and rk4, the methods' own 4th-order dense output for dopri5 and tsit5).
    errors, dts = [], [0.2, 0.1, 0.05, 0.025]
    for dt in dts:
        sol = diffsim.solve_ode(
            lotka_volterra,
            LV_Y0,
            [0.0, 4.0],
            LV_P,
            solver=name,
            dt=dt,
            saveat=diffsim.SaveAt(dense=True),
        )
        mids = np.arange(dt / 2, 4.0, dt)
        errors.append(np.max(np.abs(np.asarray(sol.evaluate(mids)) - _reference(mids))))
    slope = np.polyfit(np.log(dts), np.log(errors), 1)[0]
    assert slope > order - 0.3, (slope, errors)


def _loss(p, adjoint, dense):
    ts = np.linspace(0.0, 3.0, 17)  # between the adaptive steps
    sol = diffsim.solve_ode(
        lotka_volterra,
        LV_Y0,
        ts,
        p,
        rtol=1e-6,
        atol=1e-6,
        adjoint=adjoint,
        saveat=diffsim.SaveAt(dense=dense),
    )
    out = jnp.sum(jnp.sin(sol.ys))
    if dense:
        out = out + jnp.sum(sol.evaluate(jnp.array([0.37, 1.91, 2.5])) ** 2)
    return out


@functools.cache
def _forward_reference(dense):
    """jax.jacfwd of the loss (forward mode), computed once per `dense` for the module."""
    return jax.jacfwd(_loss)(LV_P, "forward", dense)


@pytest.mark.parametrize("dense", [False, True])
@pytest.mark.parametrize(
    "adjoint",
    [
        "direct",
        # The default schedule shares Checkpoint(snapshots=2)'s code, which recomputes more.
        pytest.param("checkpoint", marks=pytest.mark.slow),
        diffsim.Checkpoint(snapshots=2),
    ],
)
def test_gradients_through_interpolated_outputs_agree_with_jacfwd(adjoint, dense):
    ref = _forward_reference(dense)
    np.testing.assert_allclose(jax.grad(_loss)(LV_P, adjoint, dense), ref, rtol=1e-10)


@pytest.mark.parametrize("dense", [False, True])
def test_gradients_through_interpolated_outputs_taylor(dense):
    def f(p):
        return _loss(p, "direct", dense)

    # The step grid is held fixed: perturbations small enough not to change it.
    result = diffsim.ad.taylor_test(f, jnp.asarray(LV_P), grad=jax.grad(f)(LV_P))
    assert result.passed, result.table()
    assert abs(result.rate1 - 2.0) < 0.2, result.table()


def test_evaluate_needs_dense_and_backsolve_refuses_it():
    sol = diffsim.solve_ode(lotka_volterra, LV_Y0, [0.0, 1.0], LV_P)
    with pytest.raises(ValueError, match="SaveAt"):
        sol.evaluate(0.5)
    with pytest.raises(ValueError, match="backsolve"):
        jax.grad(lambda p: _loss(p, "backsolve", True))(LV_P)
