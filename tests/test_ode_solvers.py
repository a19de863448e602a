"""Solvers against analytic solutions, scipy's solve_ivp, and their theoretical order."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.linalg
from problems import (
    LV_P,
    LV_Y0,
    ROBERTSON_K,
    linear,
    lorenz,
    lotka_volterra,
    robertson,
    van_der_pol,
)

import diffsim

TS_SHORT = np.linspace(0.0, 1.0, 3)
ORDERS = {"euler": 1, "heun": 2, "bosh3": 3, "rk4": 4, "dopri5": 5, "tsit5": 5, "kvaerno5": 5}
# Step counts on [0, 4] in each method's asymptotic range, above round-off.
STEPS = {1: (200, 400, 800, 1600), 2: (50, 100, 200, 400), 3: (50, 100, 200, 400)}


def damped_oscillator(t, y, w):
    """Nonlinear (cubic) damping: no closed form, a clean asymptotic error regime."""
    return jnp.stack([y[1], -(w**2) * y[0] - 0.1 * y[1] ** 3])


def _reference(rhs, y0, ts, p, method="DOP853", tol=1e-13):
    """scipy's solution at tight tolerance (rhs jitted: scipy calls it once per stage)."""
    f = jax.jit(lambda t, y: rhs(t, y, p))
    sol = scipy.integrate.solve_ivp(
        lambda t, y: np.asarray(f(t, y)),
        (ts[0], ts[-1]),
        y0,
        t_eval=ts,
        method=method,
        rtol=tol,
        atol=tol,
    )
    return sol.y.T


@pytest.mark.parametrize("name", sorted(ORDERS))
def test_observed_order(name):
    order = ORDERS[name]
    ts, y0 = np.array([0.0, 2.0, 4.0]), np.array([1.0, 0.0])
    ref = _reference(damped_oscillator, y0, ts, 3.0)
    steps = STEPS.get(order, (50, 100, 200, 400))
    errors = []
    for n in steps:
        ys = diffsim.solve_ode(
            damped_oscillator, y0, ts, 3.0, solver=name, dt=4.0 / n, rtol=1e-13, atol=1e-13
        ).ys
        errors.append(np.max(np.abs(np.asarray(ys) - ref)))
    slope = np.polyfit(np.log(4.0 / np.array(steps)), np.log(errors), 1)[0]
    assert abs(slope - order) < 0.2, (name, slope, errors)


@pytest.mark.parametrize("name", ["bosh3", "dopri5", "tsit5", "kvaerno5"])
def test_adaptive_matches_scipy_lotka_volterra(name):
    ts = np.linspace(0.0, 15.0, 31)
    sol = diffsim.solve_ode(
        lotka_volterra, LV_Y0, ts, LV_P, solver=name, rtol=1e-10, atol=1e-10, max_steps=20000
    )
    ref = _reference(lotka_volterra, LV_Y0, ts, LV_P)
    np.testing.assert_allclose(sol.ys, ref, rtol=1e-7, atol=1e-7)
    assert sol.stats["num_accepted"] + sol.stats["num_rejected"] == sol.stats["num_steps"]


def test_adaptive_matches_scipy_lorenz():
    ts = np.linspace(0.0, 2.0, 21)
    y0, p = np.array([1.0, 1.0, 1.0]), np.array([10.0, 28.0, 8.0 / 3.0])
    sol = diffsim.solve_ode(lorenz, y0, ts, p, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(sol.ys, _reference(lorenz, y0, ts, p), rtol=1e-7, atol=1e-7)


def test_linear_system_against_matrix_exponential():
    a = np.array([[-0.5, 2.0, 0.0], [-2.0, -0.5, 0.0], [0.3, 0.0, -1.0]])
    y0 = np.array([1.0, 0.0, 2.0])
    ts = np.linspace(0.0, 3.0, 7)
    sol = diffsim.solve_ode(linear, y0, ts, a, rtol=1e-12, atol=1e-12)
    exact = np.stack([scipy.linalg.expm(a * t) @ y0 for t in ts])
    np.testing.assert_allclose(sol.ys, exact, rtol=1e-9, atol=1e-10)


def test_harmonic_oscillator_pytree_state():
    def rhs(t, y, w):
        return {"x": y["v"], "v": -(w**2) * y["x"]}

    ts = np.linspace(0.0, 10.0, 11)
    w = 1.3
    sol = diffsim.solve_ode(
        rhs, {"x": jnp.array(1.0), "v": jnp.array(0.0)}, ts, w, rtol=1e-11, atol=1e-12
    )
    np.testing.assert_allclose(sol.ys["x"], np.cos(w * ts), atol=1e-9)
    np.testing.assert_allclose(sol.ys["v"], -w * np.sin(w * ts), atol=1e-9)
    energy = 0.5 * sol.ys["v"] ** 2 + 0.5 * w**2 * sol.ys["x"] ** 2
    np.testing.assert_allclose(energy, energy[0], rtol=1e-9)


def test_robertson_to_1e5_stiff():
    ts = np.array([0.0, 1e-2, 1.0, 1e2, 1e4, 1e5])
    y0 = np.array([1.0, 0.0, 0.0])
    sol = diffsim.solve_ode(robertson, y0, ts, ROBERTSON_K, solver="stiff", rtol=1e-8, atol=1e-12)
    ref = _reference(robertson, y0, ts, ROBERTSON_K, method="Radau", tol=1e-10)
    np.testing.assert_allclose(sol.ys, ref, rtol=1e-5, atol=1e-10)
    np.testing.assert_allclose(np.sum(sol.ys, axis=1), 1.0, atol=1e-9)  # mass conservation
    assert sol.stats["num_steps"] < 1000


def test_van_der_pol_mu_1000_stiff():
    ts = np.array([0.0, 500.0, 1000.0, 2000.0, 3000.0])
    y0 = np.array([2.0, 0.0])
    sol = diffsim.solve_ode(van_der_pol, y0, ts, 1000.0, solver="stiff", rtol=1e-6, atol=1e-8)
    ref = _reference(van_der_pol, y0, ts, 1000.0, method="Radau", tol=1e-10)
    np.testing.assert_allclose(sol.ys[:, 0], ref[:, 0], rtol=1e-3, atol=1e-3)
    assert sol.stats["num_steps"] < 2000


def test_matrix_free_newton_matches_dense():
    solver = diffsim.ESDIRK(diffsim.SOLVERS["stiff"].tableau, linear_solver=diffsim.GMRES())
    ts = np.array([0.0, 1.0, 10.0])
    y0 = np.array([1.0, 0.0, 0.0])
    dense = diffsim.solve_ode(robertson, y0, ts, ROBERTSON_K, solver="stiff", rtol=1e-8, atol=1e-12)
    free = diffsim.solve_ode(robertson, y0, ts, ROBERTSON_K, solver=solver, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(free.ys, dense.ys, rtol=1e-6, atol=1e-12)


def test_jit_vmap_and_float32():
    ts = jnp.linspace(0.0, 5.0, 6)

    @jax.jit
    @functools.partial(jax.vmap, in_axes=(0, 0))
    def solve(y0, p):
        return diffsim.solve_ode(lotka_volterra, y0, ts, p, rtol=1e-9, atol=1e-9).ys

    y0s = jnp.stack([LV_Y0, LV_Y0 * 1.1])
    ps = jnp.stack([LV_P, LV_P * 0.9])
    ys = solve(y0s, ps)
    for i in range(2):
        ref = _reference(lotka_volterra, np.asarray(y0s[i]), np.asarray(ts), np.asarray(ps[i]))
        np.testing.assert_allclose(ys[i], ref, rtol=1e-6)

    y32 = diffsim.solve_ode(
        lotka_volterra,
        LV_Y0.astype(np.float32),
        ts.astype(np.float32),
        LV_P.astype(np.float32),
        rtol=1e-5,
        atol=1e-5,
    ).ys
    assert y32.dtype == jnp.float32
    np.testing.assert_allclose(y32, ys[0], rtol=1e-3)


def test_traced_output_times_use_dynamic_fixed_steps():
    ts = jnp.linspace(0.0, 2.0, 5)
    static = diffsim.solve_ode(lotka_volterra, LV_Y0, ts, LV_P, solver="rk4", dt=0.01).ys
    with pytest.warns(UserWarning, match="`ts` is traced"):
        traced = jax.jit(
            lambda ts: diffsim.solve_ode(lotka_volterra, LV_Y0, ts, LV_P, solver="rk4", dt=0.01).ys
        )(ts)
    np.testing.assert_allclose(traced, static, rtol=1e-13)
    # dt = 1/2000 on [0, 1]: exactly 2000 steps (no extra step from accumulated round-off).
    with pytest.warns(UserWarning, match="`ts` is traced"):
        sol = jax.jit(
            lambda ts: diffsim.solve_ode(
                lotka_volterra, LV_Y0, ts, LV_P, solver="euler", dt=1 / 2000, max_steps=2000
            )
        )(jnp.array([0.0, 1.0]))
    assert sol.stats["num_steps"] == 2000


def test_second_call_does_not_retrace():
    traces = []

    def rhs(t, y, p):
        traces.append(1)  # runs only while JAX traces
        return lotka_volterra(t, y, p)

    solve = jax.jit(lambda p: diffsim.solve_ode(rhs, LV_Y0, TS_SHORT, p).ys)
    solve(jnp.asarray(LV_P)).block_until_ready()
    count = len(traces)
    solve(jnp.asarray(LV_P) * 1.01).block_until_ready()
    assert len(traces) == count


# -- work counted, not padded ------------------------------------------------------------------
def test_uneven_output_times_cost_their_steps():
    # 101 outputs on [0, 0.1] and one at t = 10 with dt = 0.01: 100 + 990 steps, 4 evaluations
    # each (plus f(t0, y0) once); no interval runs the longest interval's step count.
    ts = np.concatenate([np.linspace(0.0, 0.1, 101), [10.0]])
    sol = diffsim.solve_ode(lotka_volterra, LV_Y0, ts, LV_P, solver="rk4", dt=0.01)
    assert int(sol.stats["num_steps"]) == 1090
    assert int(sol.stats["num_fevals"]) == 4 * 1090 + 1
    ref = _reference(lotka_volterra, LV_Y0, ts, LV_P)
    np.testing.assert_allclose(sol.ys, ref, rtol=1e-6)


@pytest.mark.parametrize("name, stages", [("bosh3", 3), ("dopri5", 6), ("tsit5", 6)])
def test_first_same_as_last_saves_an_evaluation(name, stages):
    sol = diffsim.solve_ode(lotka_volterra, LV_Y0, [0.0, 5.0], LV_P, solver=name)
    steps = int(sol.stats["num_steps"])
    # f(t0, y0) for the first stage, two for the starting step size, then `stages` per step.
    assert int(sol.stats["num_fevals"]) == stages * steps + 3


def test_outputs_do_not_add_steps():
    # Outputs come from the dense output inside steps: 1001 outputs cost the steps of 2.
    few = diffsim.solve_ode(lotka_volterra, LV_Y0, [0.0, 10.0], LV_P, rtol=1e-4, atol=1e-6)
    ts = np.linspace(0.0, 10.0, 1001)
    many = diffsim.solve_ode(lotka_volterra, LV_Y0, ts, LV_P, rtol=1e-4, atol=1e-6)
    assert int(many.stats["num_steps"]) == int(few.stats["num_steps"])
    np.testing.assert_allclose(many.ys, _reference(lotka_volterra, LV_Y0, ts, LV_P), rtol=2e-3)


# -- float32 time arithmetic -------------------------------------------------------------------
def test_float32_fixed_step_count_same_for_concrete_and_traced_times():
    y0 = np.array([1.0], np.float32)
    ts = np.array([0.0, 0.3], np.float32)

    def solve(ts):
        return diffsim.solve_ode(lambda t, y, p: -y, y0, ts, None, solver="rk4", dt=0.1)

    concrete = solve(ts)
    with pytest.warns(UserWarning, match="`ts` is traced"):
        traced = jax.jit(solve)(jnp.asarray(ts))
    assert int(concrete.stats["num_steps"]) == 3
    assert int(traced.stats["num_steps"]) == 3
    np.testing.assert_allclose(traced.ys, concrete.ys, rtol=1e-6)


# -- compiled once -----------------------------------------------------------------------------
def test_eager_second_call_and_new_tolerances_do_not_retrace():
    traces = []

    def rhs(t, y, p):
        traces.append(1)
        return lotka_volterra(t, y, p)

    diffsim.solve_ode(rhs, LV_Y0, TS_SHORT, LV_P, rtol=1e-6)
    count = len(traces)
    for rtol in (1e-6, 1e-8, jnp.asarray(1e-9)):
        sol = diffsim.solve_ode(rhs, LV_Y0, TS_SHORT, LV_P * 1.01, rtol=rtol)
    assert len(traces) == count
    ref = _reference(lotka_volterra, LV_Y0, TS_SHORT, LV_P * 1.01)
    np.testing.assert_allclose(sol.ys, ref, rtol=1e-7)


def test_tolerance_is_differentiable_input_of_a_jitted_sweep():
    solve = jax.jit(
        jax.vmap(lambda r: diffsim.solve_ode(lotka_volterra, LV_Y0, TS_SHORT, LV_P, rtol=r).ys)
    )
    ys = solve(jnp.array([1e-4, 1e-6, 1e-8, 1e-10]))
    ref = _reference(lotka_volterra, LV_Y0, TS_SHORT, LV_P)
    errors = np.max(np.abs(np.asarray(ys) - ref), axis=(1, 2))
    assert np.all(np.diff(errors) < 0), errors


# -- backwards in time -------------------------------------------------------------------------
@pytest.mark.parametrize("setup", [dict(), dict(solver="rk4", dt=0.01)])
def test_decreasing_times_integrate_backwards(setup):
    forward = diffsim.solve_ode(
        lotka_volterra, LV_Y0, np.linspace(0.0, 2.0, 5), LV_P, rtol=1e-10, atol=1e-10
    )
    ts = np.linspace(2.0, 0.0, 5)
    back = diffsim.solve_ode(
        lotka_volterra, forward.ys[-1], ts, LV_P, **(dict(rtol=1e-10, atol=1e-10) | setup)
    )
    np.testing.assert_allclose(back.ys, forward.ys[::-1], rtol=1e-6)
    np.testing.assert_array_equal(back.ts, ts)


@pytest.mark.parametrize("adjoint", ["direct", "checkpoint", "forward"])
def test_gradient_backwards_in_time(adjoint):
    # y' = -k y from y(2) = 1 back to t = 0: y(0) = exp(2k), dy(0)/dk = 2 exp(2k).
    def y_at_0(k):
        sol = diffsim.solve_ode(
            lambda t, y, k: -k * y,
            jnp.array([1.0]),
            [2.0, 1.0, 0.0],
            k,
            rtol=1e-11,
            atol=1e-11,
            adjoint=adjoint,
        )
        return sol.ys[-1, 0]

    np.testing.assert_allclose(y_at_0(0.3), np.exp(0.6), rtol=1e-9)
    np.testing.assert_allclose(jax.grad(y_at_0)(0.3), 2 * np.exp(0.6), rtol=1e-8)
