"""Heat equation: Fourier-series solutions, orders, mass, stiff paths, gradients, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import diffsim
from diffsim import pde
from diffsim.ad import taylor_test

KAPPA, T = 0.1, 0.1


def _series(x, t, kappa=KAPPA):
    """u0 = x(1-x) on [0, 1] with zero ends: Σ_{n odd} 8/(nπ)³ sin(nπx) e^{-κ n²π² t}."""
    n = np.arange(1, 400, 2)[:, None]
    terms = 8 / (n * np.pi) ** 3 * np.sin(n * np.pi * x) * np.exp(-kappa * (n * np.pi) ** 2 * t)
    return terms.sum(axis=0)


def _solve(n, **options):
    grid = pde.uniform_grid(n)
    model = pde.Heat(grid)
    u0 = jnp.asarray(grid.x * (1 - grid.x))
    sol = pde.solve(model, u0, jnp.array([0.0, T]), {"diffusivity": KAPPA}, **options)
    return grid, sol


def test_fourier_series_and_spatial_order():
    errors = []
    for n in (16, 32):
        grid, sol = _solve(n, solver="rk4", dt=2e-3)
        errors.append(float(grid.norm(sol.ys[-1] - _series(grid.x, T))))
    assert errors[1] < 3e-5
    assert 1.9 < np.log2(errors[0] / errors[1]) < 2.1


def test_temporal_order_against_matrix_exponential():
    grid = pde.uniform_grid(16)
    model = pde.Heat(grid)
    u0 = jnp.asarray(grid.x * (1 - grid.x))
    params = {"diffusivity": KAPPA}
    matrix = jax.jacfwd(lambda u: model(0.0, u, params))(u0)
    exact = scipy.linalg.expm(T * np.asarray(matrix)) @ np.asarray(u0)
    limit = pde.stable_step(model, u0, params, "rk4")
    errors = []
    for dt in (limit / 2, limit / 4):
        sol = pde.solve(model, u0, jnp.array([0.0, T]), params, solver="rk4", dt=dt)
        errors.append(float(np.max(np.abs(sol.ys[-1] - exact))))
    assert 3.7 < np.log2(errors[0] / errors[1]) < 4.3


def test_2d_dirichlet_mode_decays_at_the_discrete_rate():
    grid = pde.uniform_grid((12, 16))
    x, y = grid.coordinates()
    u0 = np.sin(np.pi * x) * np.sin(2 * np.pi * y)
    sol = pde.solve(
        pde.Heat(grid),
        jnp.asarray(u0),
        jnp.array([0.0, T]),
        {"diffusivity": KAPPA},
        solver="rk4",
        dt=2e-3,
    )
    continuous = u0 * np.exp(-KAPPA * 5 * np.pi**2 * T)
    assert float(jnp.max(jnp.abs(sol.ys[-1] - continuous))) < 5e-3  # O(dx²) eigenvalue error
    dx, dy = grid.spacing
    eigen = (4 / dx**2) * np.sin(np.pi * dx / 2) ** 2 + (4 / dy**2) * np.sin(np.pi * dy) ** 2
    assert np.allclose(sol.ys[-1], u0 * np.exp(-KAPPA * eigen * T), atol=1e-9)


def test_variable_diffusivity_converges_and_insulated_ends_conserve_mass():
    """Self-convergence with κ(x) = 0.05 (1 + x + sin²(3x)) and zero-flux ends."""
    finals = []
    for n in (20, 40, 80):
        grid = pde.uniform_grid(n)
        kappa = 0.05 * (1 + grid.x + np.sin(3 * grid.x) ** 2)
        u0 = jnp.asarray(np.exp(-(((grid.x - 0.3) / 0.1) ** 2)))
        model = pde.Heat(grid, pde.Neumann(0.0))
        sol = pde.solve(
            model,
            u0,
            jnp.linspace(0, T, 3),
            {"diffusivity": jnp.asarray(kappa)},
            solver="rk4",
            dt=5e-4,
        )
        mass = grid.integrate(sol.ys)
        assert np.allclose(mass, mass[0], rtol=1e-9)
        finals.append(np.asarray(sol.ys[-1]))
    coarse = [f.reshape(-1, 2).mean(axis=1) for f in finals[1:]]  # cell averages on the coarse
    differences = [np.max(np.abs(finals[0] - coarse[0])), np.max(np.abs(finals[1] - coarse[1]))]
    assert 1.7 < np.log2(differences[0] / differences[1]) < 2.3


def test_stiff_solvers_take_steps_far_beyond_the_explicit_limit():
    grid = pde.uniform_grid(32)
    model = pde.Heat(grid)
    u0 = jnp.asarray(grid.x * (1 - grid.x))
    params = {"diffusivity": KAPPA}
    limit = pde.stable_step(model, u0, params, "rk4")
    implicit = diffsim.ESDIRK(diffsim.SOLVERS["stiff"].tableau, linear_solver=diffsim.GMRES())
    dt = 0.025
    assert dt > 3 * limit
    sol = pde.solve(model, u0, jnp.array([0.0, T]), params, solver=implicit, dt=dt)
    reference = _series(grid.x, T)
    assert float(grid.norm(sol.ys[-1] - reference)) < 3e-5  # the spatial error of n = 32


def test_etdrk4_is_exact_for_periodic_diffusion_with_any_step():
    grid = pde.uniform_grid(32, 0, 2 * np.pi)
    model = pde.Heat(grid, pde.Periodic(), spatial="spectral")
    u0 = np.sin(grid.x) + 0.5 * np.cos(4 * grid.x)
    sol = pde.solve(
        model, jnp.asarray(u0), jnp.array([0.0, 1.0]), {"diffusivity": 0.3}, solver="etdrk4", dt=0.5
    )
    exact = np.sin(grid.x) * np.exp(-0.3) + 0.5 * np.cos(4 * grid.x) * np.exp(-0.3 * 16)
    assert np.allclose(sol.ys[-1], exact, atol=1e-13)


def test_gradient_with_respect_to_a_diffusivity_field():
    grid = pde.uniform_grid(16)
    model = pde.Heat(grid)
    u0 = jnp.asarray(grid.x * (1 - grid.x))
    ts = jnp.array([0.0, 0.02, 0.04])  # 10 steps of 4e-3

    def loss(kappa, adjoint):
        sol = pde.solve(
            model, u0, ts, {"diffusivity": kappa}, solver="rk4", dt=2e-3, adjoint=adjoint
        )
        return jnp.sum(sol.ys[1:] ** 2)

    kappa = jnp.asarray(0.1 + 0.05 * np.sin(2 * np.pi * grid.x))
    direct = jax.grad(loss)(kappa, "direct")
    forward = jax.jacfwd(loss)(kappa, "direct")
    assert np.allclose(direct, forward, rtol=1e-10, atol=1e-14)
    check = taylor_test(lambda k: loss(k, "direct"), kappa, grad=direct)
    assert check.passed, check.table()


def test_bad_input():
    grid = pde.uniform_grid(16)
    model = pde.Heat(grid)
    u0 = jnp.zeros(16)
    ts = jnp.array([0.0, 0.1])
    with pytest.raises(ValueError, match=r"state 'u' has shape \(15,\).*\(16,\)"):
        pde.solve(model, jnp.zeros(15), ts, {"diffusivity": 0.1})
    with pytest.raises(ValueError, match=r"parameter 'diffusivity' has shape \(8,\)"):
        pde.solve(model, u0, ts, {"diffusivity": jnp.ones(8)})
    with pytest.raises(ValueError, match="parameter 'diffusivity' is missing"):
        pde.solve(model, u0, ts, {})
    with pytest.raises(ValueError, match="unknown parameter 'kappa'"):
        pde.solve(model, u0, ts, {"diffusivity": 0.1, "kappa": 1.0})
    with pytest.raises(ValueError, match="beyond the stability limit of solver 'rk4'"):
        pde.solve(model, u0, ts, {"diffusivity": 0.1}, solver="rk4", dt=0.1)
    with pytest.raises(ValueError, match="ETDRK4 needs periodic"):
        pde.solve(model, u0, ts, {"diffusivity": 0.1}, solver="etdrk4", dt=0.01)
