"""Viscous Burgers' equation `u_t + (u²/2)_x = ν u_xx`."""

import equinox as eqx
import jax.numpy as jnp

from ._boundary import Boundaries, Periodic, boundaries
from ._grid import Grid
from ._limiter import check_limiter
from ._local import AbstractLocalPDE
from ._model import SCALAR, concrete_max_abs
from ._operators import GridOperators


def _flux(u, axis):
    del axis
    return 0.5 * u * u


def _speed(u, axis):
    del axis
    return jnp.abs(u)


_DEFAULT_BC = Periodic()


class Burgers(AbstractLocalPDE):
    """Viscous Burgers (1D or 2D with the flux `u²/2` along every axis): finite volumes with
    the Rusanov flux on MUSCL states, so shocks of the inviscid limit stay non-oscillatory.

    **Arguments:** `grid`, `bc` (default periodic), `limiter` (default `"van_leer"`).

    **Parameters:** `viscosity` (scalar).
    """

    grid: Grid
    bcs: Boundaries
    limiter: str | None = eqx.field(static=True)
    parameters = {"viscosity": SCALAR}
    optional = ()
    state_names = ("u",)

    def __init__(self, grid: Grid, bc=_DEFAULT_BC, limiter: str | None = "van_leer"):
        check_limiter(limiter)
        self.grid = grid
        self.bcs = boundaries(grid, bc)
        self.limiter = limiter

    def equation(self, t, ops, params):
        return ops.conservation(_flux, _speed) + ops.diffusion(params["viscosity"])

    def operators(self, u, params):
        return GridOperators(u, self.grid, self.bcs, "fd", self.limiter)

    def rates(self, u, params):
        nu, speed = concrete_max_abs(params["viscosity"]), concrete_max_abs(u)
        if nu is None or speed is None:
            return None, None
        return sum(4 * nu / dx**2 + 2 * speed / dx for dx in self.grid.spacing), 0.0
