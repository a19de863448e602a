"""Fisher–KPP (Ablowitz–Zeppetella front) and Gray–Scott (kinetics, ETDRK4 vs RK4)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim
from diffsim import pde


def _front(x, t):
    """The exact Fisher–KPP front for D = r = 1: (1 + e^{(x - 5t/√6)/√6})⁻²."""
    return (1 + np.exp((x - 5 * t / np.sqrt(6)) / np.sqrt(6))) ** -2.0


def test_fisher_kpp_front_and_order():
    errors = []
    for n in (100, 200):
        grid = pde.uniform_grid(n, -40, 60)
        sol = pde.solve(
            pde.FisherKPP(grid),
            jnp.asarray(_front(grid.x, 0)),
            jnp.array([0.0, 2.0]),
            {"diffusivity": 1.0, "rate": 1.0},
            solver="rk4",
            dt=0.02,
        )
        errors.append(float(grid.norm(sol.ys[-1] - _front(grid.x, 2.0))))
    assert errors[1] < 1e-3
    assert 1.9 < np.log2(errors[0] / errors[1]) < 2.1


def _gray_scott_setup():
    grid = pde.uniform_grid((24, 24), 0, 2.5)
    x, y = grid.coordinates()
    bump = np.exp(-((x - 1.25) ** 2 + (y - 1.0) ** 2) / 0.05)
    state = (jnp.asarray(1 - 0.5 * bump), jnp.asarray(0.25 * bump))
    params = {"diffusivity_u": 2e-3, "diffusivity_v": 1e-3, "feed": 0.04, "kill": 0.06}
    return grid, state, params


def test_gray_scott_uniform_state_follows_the_kinetics():
    grid, _, params = _gray_scott_setup()
    state = (jnp.full(grid.shape, 0.6), jnp.full(grid.shape, 0.3))
    sol = pde.solve(pde.GrayScott(grid), state, jnp.array([0.0, 5.0]), params, solver="rk4", dt=0.1)

    def kinetics(t, y, p):
        growth = y[0] * y[1] ** 2
        return jnp.stack(
            [-growth + p["feed"] * (1 - y[0]), growth - (p["feed"] + p["kill"]) * y[1]]
        )

    ode = diffsim.solve_ode(
        kinetics, jnp.array([0.6, 0.3]), jnp.array([0.0, 5.0]), params, rtol=1e-11, atol=1e-12
    )
    assert np.allclose(sol.ys[0][-1], ode.ys[-1, 0], atol=1e-8)
    assert np.allclose(sol.ys[1][-1], ode.ys[-1, 1], atol=1e-8)


def test_gray_scott_etdrk4_matches_rk4_on_the_same_discretisation():
    grid, state, params = _gray_scott_setup()
    model = pde.GrayScott(grid)
    ts = jnp.array([0.0, 20.0])
    fine = pde.solve(model, state, ts, params, solver="rk4", dt=0.05).ys
    limit = pde.stable_step(model, state, params, "rk4")
    etd = pde.solve(model, state, ts, params, solver="etdrk4", dt=2 * limit).ys
    for a, b in zip(fine, etd, strict=True):
        assert float(jnp.max(jnp.abs(a[-1] - b[-1]))) < 1e-6


def test_fisher_gradient_against_finite_differences():
    grid = pde.uniform_grid(40, -20, 20)
    u0 = jnp.asarray(_front(grid.x, 0))

    @jax.jit
    def loss(p):
        sol = pde.solve(
            pde.FisherKPP(grid),
            u0,
            np.array([0.0, 1.0, 2.0]),
            {"diffusivity": p[0], "rate": p[1]},
            solver="rk4",
            dt=0.05,
            adjoint="direct",
        )
        return jnp.sum(sol.ys[1:] ** 2)

    p = jnp.array([1.0, 1.0])
    gradient = jax.grad(loss)(p)
    assert np.allclose(gradient, jax.jacfwd(loss)(p), rtol=1e-10)
    step = 1e-6
    for i in range(2):
        e = jnp.zeros(2).at[i].set(step)
        assert float(gradient[i]) == pytest.approx(
            float((loss(p + e) - loss(p - e)) / (2 * step)), rel=1e-6
        )


def test_bad_input():
    grid, state, params = _gray_scott_setup()
    model = pde.GrayScott(grid)
    ts = jnp.array([0.0, 1.0])
    with pytest.raises(ValueError, match="parameter 'feed' has shape"):
        pde.solve(model, state, ts, {**params, "feed": jnp.ones(grid.shape)})
    with pytest.raises(ValueError, match=r"state 'u' has shape \(24, 23\)"):
        pde.solve(model, (jnp.ones((24, 23)), state[1]), ts, params)
    with pytest.raises(ValueError, match="beyond the stability limit"):
        pde.solve(model, state, ts, params, solver="rk4", dt=5.0)
    fisher = pde.FisherKPP(pde.uniform_grid(30))
    with pytest.raises(ValueError, match="ETDRK4 needs periodic"):
        pde.solve(
            fisher, jnp.zeros(30), ts, {"diffusivity": 1.0, "rate": 1.0}, solver="etdrk4", dt=0.1
        )
