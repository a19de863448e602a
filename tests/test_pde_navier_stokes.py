"""2D Navier–Stokes (vorticity, spectral, ETDRK4): Taylor–Green, order, invariants, gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffsim import pde

GRID = pde.uniform_grid((32, 32), 0, 2 * np.pi)
MODEL = pde.NavierStokes2D(GRID)
X, Y = GRID.coordinates()
SMOOTH = jnp.asarray(np.sin(X) * np.cos(2 * Y) + 0.5 * np.cos(3 * X + Y) + 0.3 * np.sin(X + 2 * Y))


def test_taylor_green_vortex_decays_exactly():
    k, nu, horizon = 2, 0.05, 1.0
    omega0 = 2 * k * np.cos(k * X) * np.cos(k * Y)
    sol = pde.solve(
        MODEL,
        jnp.asarray(omega0),
        jnp.array([0.0, horizon]),
        {"viscosity": nu},
        solver="etdrk4",
        dt=0.125,
    )
    assert np.allclose(sol.ys[-1], omega0 * np.exp(-2 * nu * k**2 * horizon), atol=1e-12)
    ratio = MODEL.energy(sol.ys[-1]) / MODEL.energy(omega0)
    assert float(ratio) == pytest.approx(np.exp(-4 * nu * k**2 * horizon), rel=1e-12)


def test_etdrk4_fourth_order_in_time():
    params = {"viscosity": 0.01}
    ts = jnp.array([0.0, 1.0])
    reference = pde.solve(MODEL, SMOOTH, ts, params, solver="etdrk4", dt=1 / 128).ys[-1]
    errors = [
        float(
            GRID.norm(
                pde.solve(MODEL, SMOOTH, ts, params, solver="etdrk4", dt=dt).ys[-1] - reference
            )
        )
        for dt in (1 / 8, 1 / 16)
    ]
    assert 3.8 < np.log2(errors[0] / errors[1]) < 4.2


def test_inviscid_flow_conserves_energy_and_enstrophy():
    sol = pde.solve(
        MODEL, SMOOTH, jnp.array([0.0, 2.0]), {"viscosity": 0.0}, solver="etdrk4", dt=0.02
    )
    for invariant in (MODEL.energy, MODEL.enstrophy):
        assert float(invariant(sol.ys[-1])) == pytest.approx(float(invariant(sol.ys[0])), rel=1e-9)


def test_spatial_convergence_is_spectral():
    """Energy at t = 0.5 on 12² and 24² grids against 48²: the error falls far faster than
    any algebraic order when the grid doubles."""
    params, ts = {"viscosity": 0.1}, np.array([0.0, 0.5])
    energies = []
    for n in (12, 24, 48):
        grid = pde.uniform_grid((n, n), 0, 2 * np.pi)
        model = pde.NavierStokes2D(grid)
        x, y = grid.coordinates()
        omega0 = jnp.asarray(np.sin(x) * np.cos(y) + 0.6 * np.cos(2 * x + y))
        final = pde.solve(model, omega0, ts, params, solver="etdrk4", dt=0.05).ys[-1]
        energies.append(float(model.energy(final)))
    errors = [abs(e - energies[-1]) for e in energies[:2]]
    assert errors[1] < 1e-4 * errors[0]


def test_gradient_with_respect_to_viscosity():
    grid = pde.uniform_grid((16, 16), 0, 2 * np.pi)
    model = pde.NavierStokes2D(grid)
    x, y = grid.coordinates()
    omega0 = jnp.asarray(np.sin(x) * np.cos(2 * y) + 0.5 * np.cos(3 * x + y))

    @jax.jit
    def loss(nu):
        sol = pde.solve(
            model,
            omega0,
            np.array([0.0, 0.5]),
            {"viscosity": nu},
            solver="etdrk4",
            dt=0.05,
            adjoint="direct",
        )
        return jnp.sum(sol.ys[-1] ** 2)

    gradient = float(jax.grad(loss)(0.05))
    assert gradient == pytest.approx(float(jax.jacfwd(loss)(0.05)), rel=1e-10)
    fd = (loss(0.05 + 1e-6) - loss(0.05 - 1e-6)) / 2e-6
    assert gradient == pytest.approx(float(fd), rel=1e-7)


def test_bad_input():
    ts = jnp.array([0.0, 1.0])
    with pytest.raises(ValueError, match="needs a 2D grid"):
        pde.NavierStokes2D(pde.uniform_grid(16))
    with pytest.raises(ValueError, match=r"state 'vorticity' has shape \(32, 16\)"):
        pde.solve(MODEL, jnp.zeros((32, 16)), ts, {"viscosity": 0.1})
    with pytest.raises(ValueError, match="beyond the stability limit of solver 'etdrk4'"):
        pde.solve(MODEL, 10 * SMOOTH, ts, {"viscosity": 0.1}, solver="etdrk4", dt=0.5)
