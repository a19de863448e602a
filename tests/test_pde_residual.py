"""Physics written once: the pointwise residual of the PDE models (what a PINN minimizes).

Exact solutions have residual ~0 (exact derivatives by forward-mode AD), and the grid's
right-hand side (the same `equation` on `GridOperators`) converges to the pointwise one.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.special import logsumexp

from diffsim import pde
from experiments.burgers_cole_hopf import LAMBDA2, exact

GRID = pde.uniform_grid(16, -1.0, 1.0)


def residuals(model, fn, points, params):
    return jax.vmap(lambda p: model.residual(fn, p[0], p[1:], params))(jnp.asarray(points))


def _points(n, ndim, t_range=(0.0, 1.0), x_range=(-1.0, 1.0), seed=0):
    rng = np.random.default_rng(seed)
    t = rng.uniform(*t_range, size=(n, 1))
    return np.hstack([t, rng.uniform(*x_range, size=(n, ndim))])


def test_heat_fourier_mode_1d_and_2d():
    kappa, k = 0.3, 2 * np.pi

    def mode(t, x):
        return jnp.exp(-kappa * k**2 * x.shape[0] * t) * jnp.prod(jnp.sin(k * x))

    for grid in (GRID, pde.uniform_grid((8, 8), -1.0, 1.0)):
        model = pde.Heat(grid)
        r = residuals(model, mode, _points(50, grid.ndim), {"diffusivity": kappa})
        assert np.max(np.abs(r)) < 1e-12
        # A wrong diffusivity is seen (the test can fail).
        wrong = residuals(model, mode, _points(50, grid.ndim), {"diffusivity": 1.01 * kappa})
        assert np.max(np.abs(wrong)) > 1e-3


def test_heat_with_source_and_varying_diffusivity():
    # u = t x²: u_t = x², (k u_x)_x with k = 1 + x: ∂x((1 + x) 2 t x) = 2t (1 + 2x).
    def u(t, x):
        return t * x[0] ** 2

    model = pde.Heat(GRID)
    pts = _points(20, 1)
    t, x = pts[:, 0], pts[:, 1]
    params = {"diffusivity": lambda x: 1 + x[0], "source": 0.0}
    r = residuals(model, u, pts, params)
    np.testing.assert_allclose(r, x**2 - 2 * t * (1 + 2 * x), rtol=1e-12, atol=1e-14)


def _cole_hopf(t, x, lambda2=LAMBDA2):
    """Burgers with u0 = -sin(πx) by Cole–Hopf, in JAX (log-sum-exp weights, trapezoid in z):
    an independent implementation of experiments/burgers_cole_hopf.py's `exact`."""
    z = jnp.linspace(-16.0, 16.0, 6401)
    y = x[0] - jnp.sqrt(4.0 * lambda2 * t) * z
    log_w = -(z**2) - jnp.cos(jnp.pi * y) / (2.0 * jnp.pi * lambda2)
    weights = jnp.exp(log_w - logsumexp(log_w))
    return -jnp.sum(jnp.sin(jnp.pi * y) * weights)


def test_burgers_cole_hopf():
    model = pde.Burgers(GRID, pde.Dirichlet(0.0))
    pts = _points(12, 1, t_range=(0.05, 1.0))
    values = jax.vmap(lambda p: _cole_hopf(p[0], p[1:]))(pts)
    np.testing.assert_allclose(values, exact(pts[:, 0], pts[:, 1]), atol=1e-12)
    r = residuals(model, _cole_hopf, pts, {"viscosity": LAMBDA2})
    # Relative to the size of the terms (u_xx reaches ~1e4 at the shock).
    ux = jax.vmap(lambda p: jax.grad(_cole_hopf, argnums=1)(p[0], p[1:])[0])(pts)
    scale = 1 + np.abs(values * ux)
    assert np.max(np.abs(r) / scale) < 1e-9
    wrong = residuals(model, _cole_hopf, pts, {"viscosity": 1.1 * LAMBDA2})
    assert np.max(np.abs(wrong) / scale) > 1e-3


@pytest.mark.parametrize("diffusivity, rate", [(1.0, 1.0), (0.1, 3.0)])
def test_fisher_kpp_travelling_front(diffusivity, rate):
    # Ablowitz–Zeppetella: u = (1 + exp(a (x - c t)))^-2, a = sqrt(r / 6D), c = 5 sqrt(r D / 6).
    a, c = np.sqrt(rate / (6 * diffusivity)), 5 * np.sqrt(rate * diffusivity / 6)

    def front(t, x):
        return (1 + jnp.exp(a * (x[0] - c * t))) ** -2

    model = pde.FisherKPP(GRID)
    pts = _points(50, 1, x_range=(-5.0, 5.0))
    r = residuals(model, front, pts, {"diffusivity": diffusivity, "rate": rate})
    assert np.max(np.abs(r)) < 1e-14 * max(1.0, rate)
    wrong = residuals(model, front, pts, {"diffusivity": diffusivity, "rate": 1.05 * rate})
    assert np.max(np.abs(wrong)) > 1e-3


def test_allen_cahn_kink():
    d, r = 1e-4, 5.0

    def kink(t, x):
        del t
        return jnp.tanh(x[0] * jnp.sqrt(r / (2 * d)))

    model = pde.AllenCahn(GRID)
    pts = _points(50, 1, x_range=(-0.05, 0.05))
    assert np.max(np.abs(residuals(model, kink, pts, {"diffusivity": d, "rate": r}))) < 1e-11


def test_advection_diffusion_travelling_mode_2d():
    kappa, a, k = 0.05, (0.7, -0.4), np.pi

    def mode(t, x):
        shifted = x - jnp.asarray(a) * t
        return jnp.exp(-2 * kappa * k**2 * t) * jnp.sin(k * shifted[0]) * jnp.cos(k * shifted[1])

    model = pde.AdvectionDiffusion(pde.uniform_grid((8, 8), -1.0, 1.0))
    r = residuals(model, mode, _points(50, 2), {"velocity": a, "diffusivity": kappa})
    assert np.max(np.abs(r)) < 1e-13


def test_wave_standing_mode_as_a_system():
    c, k = 1.5, 2 * np.pi

    def state(t, x):
        u = jnp.sin(k * x[0]) * jnp.cos(c * k * t)
        return jnp.stack([u, -c * k * jnp.sin(k * x[0]) * jnp.sin(c * k * t)])

    model = pde.Wave(GRID)
    r = residuals(model, state, _points(30, 1), {"speed": c})
    assert r.shape == (30, 2) and np.max(np.abs(r)) < 1e-12


def _stacked(value):
    return jnp.stack(value, -1) if isinstance(value, tuple) else value[..., None]


@pytest.mark.parametrize(
    "name, order",
    # Limited (TVD) upwinding is first order at smooth extrema in the max norm.
    [("gray_scott", 2), ("advection_diffusion", 1), ("burgers", 1)],
)
def test_grid_rhs_converges_to_pointwise_equation(name, order):
    """The grid discretisation of `equation` approaches the pointwise one (same physics)."""

    def smooth(t, x):
        u = 0.5 + 0.2 * jnp.sin(jnp.pi * x[0]) * jnp.cos(jnp.pi * x[-1]) + 0.1 * t
        return u if name != "gray_scott" else jnp.stack([u, 1 - u**2])

    errors = []
    for n in (12, 24, 48):
        grid = pde.uniform_grid((n, n), -1.0, 1.0)
        if name == "gray_scott":
            model = pde.GrayScott(grid)
            params = {"diffusivity_u": 0.1, "diffusivity_v": 0.05, "feed": 0.04, "kill": 0.06}
        elif name == "advection_diffusion":
            model = pde.AdvectionDiffusion(grid)
            params = {"velocity": (0.3, -0.2), "diffusivity": 0.1}
        else:
            model = pde.Burgers(grid)
            params = {"viscosity": 0.05}
        xs = jnp.stack([jnp.asarray(c) for c in grid.coordinates()], axis=-1).reshape(-1, 2)
        values = jax.vmap(lambda x: smooth(0.3, x))(xs)
        if values.ndim == 1:
            state = values.reshape(grid.shape)
        else:
            state = tuple(values[:, i].reshape(grid.shape) for i in range(values.shape[1]))
        on_grid = _stacked(model.rhs(0.3, state, params)).reshape(len(xs), -1)

        def pointwise(x, model=model, params=params):
            return _stacked(model.equation(0.3, pde.PointOperators(smooth, 0.3, x), params))

        errors.append(float(jnp.max(jnp.abs(on_grid - jax.vmap(pointwise)(xs)))))
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(rates > order - 0.2), (errors, rates)


def test_residual_is_differentiable_in_parameters():
    """d residual / d viscosity is -u_xx (exact), by jax.grad through the nested jvps."""
    model = pde.Burgers(GRID)

    def u(t, x):
        return jnp.sin(jnp.pi * x[0]) * jnp.exp(-t)

    t, x = 0.3, jnp.array([0.2])
    g = jax.grad(lambda nu: model.residual(u, t, x, {"viscosity": nu}))(0.01)
    np.testing.assert_allclose(g, np.pi**2 * np.sin(np.pi * 0.2) * np.exp(-0.3), rtol=1e-13)


def test_burgers_advection_coefficient():
    """`advection` scales `u u_x` (Raissi's λ1): d residual / d a = u u_x."""
    model = pde.Burgers(GRID)

    def u(t, x):
        return jnp.sin(jnp.pi * x[0]) * jnp.exp(-t)

    t, x = 0.3, jnp.array([0.2])
    g = jax.grad(lambda a: model.residual(u, t, x, {"viscosity": 0.01, "advection": a}))(1.7)
    value = np.sin(np.pi * 0.2) * np.exp(-0.3)
    np.testing.assert_allclose(g, value * np.pi * np.cos(np.pi * 0.2) * np.exp(-0.3), rtol=1e-13)
