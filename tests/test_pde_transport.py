"""Advection–diffusion (Gaussian solution) and viscous Burgers (Cole–Hopf solution)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffsim import pde
from diffsim.ad import taylor_test

LENGTH, KAPPA, SPEED, WIDTH, CENTRE, HORIZON = 10.0, 0.05, 1.0, 0.5, 3.0, 2.0
NU, A = 0.1, 1.2


def _gaussian(x, t):
    """The advected, spreading Gaussian, with its periodic images."""
    s2 = WIDTH**2 + 2 * KAPPA * t
    return sum(
        np.sqrt(WIDTH**2 / s2) * np.exp(-((x - CENTRE - SPEED * t + k * LENGTH) ** 2) / (2 * s2))
        for k in range(-3, 4)
    )


def _cole_hopf(x, t):
    """u = -2ν φ_x / φ with φ = A + e^{-νt} cos x, a solution of φ_t = ν φ_xx."""
    decay = np.exp(-NU * t)
    return 2 * NU * decay * np.sin(x) / (A + decay * np.cos(x))


def test_advection_diffusion_gaussian_order_and_mass():
    errors = []
    for n in (50, 100):
        grid = pde.uniform_grid(n, 0, LENGTH)
        model = pde.AdvectionDiffusion(grid)
        params = {"velocity": SPEED, "diffusivity": KAPPA}
        sol = pde.solve(
            model,
            jnp.asarray(_gaussian(grid.x, 0)),
            jnp.linspace(0, HORIZON, 3),
            params,
            solver="rk4",
            dt=0.02,
        )
        mass = grid.integrate(sol.ys)
        assert np.allclose(mass, mass[0], rtol=1e-12)
        errors.append(float(grid.norm(sol.ys[-1] - _gaussian(grid.x, HORIZON))))
    assert errors[1] < 1e-2
    assert 1.8 < np.log2(errors[0] / errors[1]) < 2.5


def test_first_order_upwind_is_first_order():
    grid = pde.uniform_grid(100, 0, LENGTH)
    model = pde.AdvectionDiffusion(grid, limiter=None)
    params = {"velocity": SPEED, "diffusivity": KAPPA}
    sol = pde.solve(
        model,
        jnp.asarray(_gaussian(grid.x, 0)),
        jnp.array([0, HORIZON]),
        params,
        solver="rk4",
        dt=0.02,
    )
    assert float(grid.norm(sol.ys[-1] - _gaussian(grid.x, HORIZON))) > 0.05  # vs 7e-3 limited


def test_burgers_cole_hopf_order():
    errors = []
    for n in (32, 64):
        grid = pde.uniform_grid(n, 0, 2 * np.pi)
        sol = pde.solve(
            pde.Burgers(grid),
            jnp.asarray(_cole_hopf(grid.x, 0)),
            jnp.array([0.0, 1.0]),
            {"viscosity": NU},
            solver="rk4",
            dt=0.01,
        )
        errors.append(float(grid.norm(sol.ys[-1] - _cole_hopf(grid.x, 1.0))))
    assert errors[1] < 1e-3
    assert 1.8 < np.log2(errors[0] / errors[1]) < 2.3


def test_inviscid_burgers_shock_stays_bounded():
    """A steepening sine forms a shock; the limited scheme adds no over/undershoot."""
    grid = pde.uniform_grid(64, 0, 2 * np.pi)
    u0 = jnp.asarray(np.sin(grid.x))
    sol = pde.solve(
        pde.Burgers(grid), u0, jnp.array([0.0, 2.0]), {"viscosity": 0.0}, solver="rk4", dt=0.02
    )
    assert float(jnp.max(jnp.abs(sol.ys[-1]))) <= 1.0 + 1e-12
    assert abs(float(grid.integrate(sol.ys[-1]))) < 1e-12


def test_gradients_match_forward_mode_and_taylor():
    grid = pde.uniform_grid(24, 0, 2 * np.pi)
    u0 = jnp.asarray(_cole_hopf(grid.x, 0))
    ts = jnp.array([0.0, 0.1, 0.2])

    @jax.jit
    def burgers_loss(nu):
        sol = pde.solve(
            pde.Burgers(grid), u0, ts, {"viscosity": nu}, solver="rk4", dt=0.02, adjoint="direct"
        )
        return jnp.sum(sol.ys[1:] ** 2)

    step = 1e-6
    fd = (burgers_loss(NU + step) - burgers_loss(NU - step)) / (2 * step)
    assert float(jax.grad(burgers_loss)(NU)) == pytest.approx(float(fd), rel=1e-7)

    advection = pde.AdvectionDiffusion(grid)

    @jax.jit
    def source_loss(source):
        params = {"velocity": 1.0, "diffusivity": KAPPA, "source": source}
        sol = pde.solve(advection, u0, ts, params, solver="rk4", dt=0.02, adjoint="direct")
        return jnp.sum(sol.ys[-1] ** 2)

    source = jnp.asarray(np.exp(-((grid.x - 2.0) ** 2)))
    reverse = jax.grad(source_loss)(source)
    assert np.allclose(reverse, jax.jacfwd(source_loss)(source), rtol=1e-9, atol=1e-13)
    check = taylor_test(source_loss, source, grad=reverse)
    assert check.passed, check.table()


def test_bad_input():
    grid = pde.uniform_grid(16)
    ts = jnp.array([0.0, 0.1])
    model = pde.AdvectionDiffusion(grid)
    with pytest.raises(ValueError, match="parameter 'velocity' needs one entry per axis"):
        pde.solve(model, jnp.zeros(16), ts, {"velocity": (1.0, 1.0), "diffusivity": 0.1})
    with pytest.raises(ValueError, match=r"state 'u' has shape \(4, 4\)"):
        pde.solve(model, jnp.zeros((4, 4)), ts, {"velocity": 1.0, "diffusivity": 0.1})
    with pytest.raises(ValueError, match="beyond the stability limit"):
        pde.solve(
            model, jnp.zeros(16), ts, {"velocity": 1.0, "diffusivity": 0.0}, solver="euler", dt=0.1
        )
    burgers = pde.Burgers(grid)
    with pytest.raises(ValueError, match="parameter 'viscosity' has shape"):
        pde.solve(burgers, jnp.zeros(16), ts, {"viscosity": jnp.ones(16)})
    with pytest.raises(ValueError, match="beyond the stability limit"):
        pde.solve(burgers, jnp.ones(16), ts, {"viscosity": 0.1}, solver="rk4", dt=0.1)
