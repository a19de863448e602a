"""Grids, boundary conditions, finite-volume and Fourier operators, limiters, φ-functions."""

import jax.numpy as jnp
import mpmath
import numpy as np
import pytest

from diffsim import pde


def _order(errors):
    return np.log2(errors[0] / errors[1])


def _laplacian_error(n, bc, u, k, exact):
    grid = pde.uniform_grid(n)
    x = grid.x
    value = pde.laplacian(jnp.asarray(u(x)), grid, pde.boundaries(grid, bc), k(x))
    return float(np.max(np.abs(value - exact(x))))


@pytest.mark.parametrize(
    "bc, u, exact",
    [
        # periodic, variable coefficient k = 1 + sin(2πx)/2: (k u')'
        (
            pde.Periodic(),
            lambda x: np.cos(2 * np.pi * x),
            lambda x: -2 * np.pi**2 * np.sin(4 * np.pi * x) - 4 * np.pi**2 * np.cos(2 * np.pi * x),
        ),
        # Dirichlet zero ends, u = sin(πx)
        (
            pde.Dirichlet(0.0),
            lambda x: np.sin(np.pi * x),
            lambda x: (
                np.pi**2 * np.cos(2 * np.pi * x) * np.cos(np.pi * x)
                - np.pi**2 * (1 + np.sin(2 * np.pi * x) / 2) * np.sin(np.pi * x)
            ),
        ),
    ],
)
def test_laplacian_second_order(bc, u, exact):
    k = lambda x: 1 + np.sin(2 * np.pi * x) / 2
    errors = [_laplacian_error(n, bc, u, k, exact) for n in (32, 64)]
    assert 1.8 < _order(errors) < 2.2


def test_neumann_and_dirichlet_values():
    grid = pde.uniform_grid(64)
    x = grid.x
    # u = x²: u'(0) = 0 (outward derivative 0 at the lower end), u'(1) = 2 (outward 2)
    bcs = pde.boundaries(grid, (pde.Neumann(0.0), pde.Neumann(2.0)))
    assert np.allclose(pde.laplacian(jnp.asarray(x**2), grid, bcs), 2.0, atol=1e-9)
    # u = 1 + x: Dirichlet 1 and 2; the Laplacian of a line vanishes, also at the ends
    bcs = pde.boundaries(grid, (pde.Dirichlet(1.0), pde.Dirichlet(2.0)))
    assert np.allclose(pde.laplacian(jnp.asarray(1 + x), grid, bcs), 0.0, atol=1e-9)
    assert np.allclose(pde.gradient(jnp.asarray(1 + x), grid, bcs), 1.0)


def test_laplacian_2d_eigenfunction():
    grid = pde.uniform_grid((16, 24))
    x, y = grid.coordinates()
    u = np.sin(np.pi * x) * np.sin(2 * np.pi * y)
    value = pde.laplacian(jnp.asarray(u), grid, pde.boundaries(grid, pde.Dirichlet(0.0)))
    dx, dy = grid.spacing
    eigen = -(4 / dx**2) * np.sin(np.pi * dx / 2) ** 2 - (4 / dy**2) * np.sin(np.pi * dy) ** 2
    assert np.allclose(value, eigen * u, atol=1e-10)


def test_conservation_of_discrete_operators():
    grid = pde.uniform_grid(40)
    rng = np.random.default_rng(0)
    u = jnp.asarray(rng.normal(size=40))
    k = jnp.asarray(1 + rng.uniform(size=40))
    for bc in (pde.Periodic(), pde.Neumann(0.0)):
        bcs = pde.boundaries(grid, bc)
        assert abs(float(jnp.sum(pde.laplacian(u, grid, bcs, k)))) < 1e-10
    periodic = pde.boundaries(grid, pde.Periodic())
    for limiter in (None, *pde.LIMITERS):
        du = pde.advection(u, (jnp.asarray(rng.normal(size=40)),), grid, periodic, limiter)
        assert abs(float(jnp.sum(du))) < 1e-10


@pytest.mark.parametrize("limiter", ["minmod", "van_leer", "superbee", "mc"])
def test_limited_advection_creates_no_new_extrema(limiter):
    grid = pde.uniform_grid(50)
    bcs = pde.boundaries(grid, pde.Periodic())
    u = jnp.asarray(np.where((grid.x > 0.3) & (grid.x < 0.6), 1.0, 0.0))
    dt = 0.5 * grid.spacing[0]  # CFL 1/2 with unit velocity, forward Euler
    for _ in range(20):
        u = u + dt * pde.advection(u, (1.0,), grid, bcs, limiter)
    assert float(jnp.min(u)) > -1e-12 and float(jnp.max(u)) < 1 + 1e-12


def test_spectral_derivatives_are_exact_for_trigonometric_polynomials():
    grid = pde.uniform_grid((24, 16), 0, 2 * np.pi)
    x, y = grid.coordinates()
    u = np.sin(3 * x) * np.cos(2 * y) + np.cos(5 * x)
    du = pde.spectral_derivative(jnp.asarray(u), grid, axis=0)
    assert np.allclose(du, 3 * np.cos(3 * x) * np.cos(2 * y) - 5 * np.sin(5 * x), atol=1e-12)
    assert np.allclose(pde.spectral_laplacian(jnp.asarray(u), grid), -13 * u - 12 * np.cos(5 * x))


def test_dealiasing_removes_aliased_modes():
    grid = pde.uniform_grid(24, 0, 2 * np.pi)
    mask = pde.dealias_mask(grid)
    kept = np.flatnonzero(mask)
    assert kept.max() == 7  # |m| < 24/3
    # the product of two kept modes has no component that aliases back below the cutoff
    u = jnp.asarray(np.cos(7 * grid.x))
    product = jnp.fft.rfft(u * u) * mask
    assert np.allclose(np.abs(product[1:]), 0.0, atol=1e-12)


def test_phi_functions_match_high_precision():
    mpmath.mp.dps = 40
    points = [-60.0, -3.0, -1.0, -0.999, -1e-3, -1e-9, 0.0, 0.5, 0.999, 1.001, 4.0, 2j, -0.3 + 0.4j]

    def phi(z, k):
        z = mpmath.mpc(z)
        if z == 0:
            return 1 / mpmath.factorial(k)
        taylor = sum(z**j / mpmath.factorial(j) for j in range(k))
        return (mpmath.exp(z) - taylor) / z**k

    values = pde.phi_functions(jnp.asarray(points, complex))
    for index, z in enumerate(points):
        for k in (1, 2, 3):
            reference = complex(phi(z, k))
            assert abs(complex(values[k][index]) - reference) <= 1e-14 * max(1, abs(reference))


def test_interpolation_and_grid_helpers():
    grid = pde.uniform_grid(10, 0.0, 2.0)
    assert np.allclose(grid.x, 0.1 + 0.2 * np.arange(10))
    assert np.allclose(pde.interpolate(jnp.asarray(3 * grid.x), grid, [0.5, 1.3]), [1.5, 3.9])
    assert float(grid.integrate(jnp.ones(10))) == pytest.approx(2.0)
    assert grid.refine(3).shape == (30,)


def test_bad_grids_and_boundaries():
    with pytest.raises(ValueError, match="upper > lower"):
        pde.uniform_grid(8, 1.0, 0.0)
    with pytest.raises(ValueError, match="1D or 2D"):
        pde.uniform_grid((4, 4, 4))
    with pytest.raises(ValueError, match="periodic at both ends"):
        pde.boundaries(pde.uniform_grid(8), (pde.Periodic(), pde.Dirichlet(0.0)))
    with pytest.raises(ValueError, match="one entry per axis"):
        pde.boundaries(pde.uniform_grid((8, 8)), (pde.Periodic(),) * 3)
    with pytest.raises(ValueError, match="limiter"):
        pde.AdvectionDiffusion(pde.uniform_grid(8), limiter="upwind2")
    with pytest.raises(ValueError, match="periodic"):
        pde.Heat(pde.uniform_grid(8), pde.Dirichlet(0.0), spatial="spectral")
