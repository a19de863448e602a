"""The diffusion term shared by the models: finite-volume or Fourier, with its stiffness."""

import jax.numpy as jnp
import numpy as np

from ._boundary import Boundaries
from ._finite_volume import laplacian
from ._grid import Grid
from ._model import concrete_max_abs
from ._spectral import FourierMultiplier, laplacian_symbol, spectral_derivative

DISCRETISATIONS = ("fd", "spectral")


def check_discretisation(name: str, spatial: str, bcs: Boundaries) -> None:
    """Raise `ValueError` for an unknown scheme, or a spectral one on a non-periodic grid."""
    if spatial not in DISCRETISATIONS:
        raise ValueError(f"{name}: spatial must be one of {DISCRETISATIONS}, got {spatial!r}")
    if spatial == "spectral" and not bcs.all_periodic:
        raise ValueError(f"{name}: spatial='spectral' needs periodic boundaries on every axis")


def diffusion(u, grid: Grid, bcs: Boundaries, spatial: str, coefficient):
    """`∇·(k ∇u)` by the finite-volume Laplacian or by Fourier differentiation."""
    if spatial == "fd":
        return laplacian(u, grid, bcs, coefficient)
    k = jnp.asarray(coefficient)
    if k.ndim == 0:
        return k * sum(spectral_derivative(u, grid, a, order=2) for a in range(grid.ndim))
    return sum(
        spectral_derivative(k * spectral_derivative(u, grid, a), grid, a) for a in range(grid.ndim)
    )


def diffusion_operator(name: str, grid: Grid, bcs: Boundaries, spatial: str, coefficient):
    """The diffusion term as a `FourierMultiplier` (periodic grid, constant coefficient)."""
    if not bcs.all_periodic:
        raise ValueError(f"{name}: ETDRK4 needs periodic boundaries on every axis")
    if jnp.ndim(coefficient) != 0:
        raise ValueError(f"{name}: ETDRK4 needs a constant (scalar) diffusion coefficient")
    return FourierMultiplier(coefficient * jnp.asarray(laplacian_symbol(grid, spatial)), grid)


def diffusion_rate(grid: Grid, spatial: str, coefficient) -> float | None:
    """Spectral radius of the diffusion term (`None` if the coefficient is traced)."""
    k = concrete_max_abs(coefficient)
    if k is None:
        return None
    per_axis = 4.0 if spatial == "fd" else np.pi**2
    return k * sum(per_axis / dx**2 for dx in grid.spacing)
