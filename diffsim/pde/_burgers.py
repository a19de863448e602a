"""Viscous Burgers' equation `u_t + a (u²/2)_x = ν u_xx`."""

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
    """Viscous Burgers, 1D or 2D (the flux `u²/2` along every axis), by finite volumes.

    The Rusanov flux on MUSCL states keeps shocks of the inviscid limit non-oscillatory.

    **Arguments:** `grid`, `bc` (default periodic), `limiter` (default `"van_leer"`).

    **Parameters:** `viscosity` (scalar), `advection` (scalar `a`, optional, default 1: the
    coefficient λ₁ of `u u_x` in Raissi et al.'s identification problem).

    **Example:** the flux form conserves mass, and a constant state stays.

    ```python
    import jax.numpy as jnp
    from diffsim import pde

    grid = pde.uniform_grid(64, -1.0, 1.0)
    model = pde.Burgers(grid)
    params = {"viscosity": 0.01}
    u = -jnp.sin(jnp.pi * grid.x)
    assert abs(grid.integrate(model(0.0, u, params))) < 1e-12
    assert jnp.allclose(model(0.0, jnp.full(64, 0.3), params), 0.0)
    ```
    """

    grid: Grid
    bcs: Boundaries
    limiter: str | None = eqx.field(static=True)
    parameters = {"viscosity": SCALAR, "advection": SCALAR}
    optional = ("advection",)
    state_names = ("u",)

    def __init__(self, grid: Grid, bc=_DEFAULT_BC, limiter: str | None = "van_leer"):
        check_limiter(limiter)
        self.grid = grid
        self.bcs = boundaries(grid, bc)
        self.limiter = limiter

    def equation(self, t, ops, params):
        a = params.get("advection", 1.0)  # times 1.0 is exact: the default changes nothing
        advective = ops.conservation(
            lambda u, axis: a * _flux(u, axis), lambda u, axis: jnp.abs(a) * _speed(u, axis)
        )
        return advective + ops.diffusion(params["viscosity"])

    def operators(self, u, params):
        return GridOperators(u, self.grid, self.bcs, "fd", self.limiter)

    def rates(self, u, params):
        nu, speed = concrete_max_abs(params["viscosity"]), concrete_max_abs(u)
        a = concrete_max_abs(params.get("advection", 1.0))
        if nu is None or speed is None or a is None:
            return None, None
        return sum(4 * nu / dx**2 + 2 * a * speed / dx for dx in self.grid.spacing), 0.0
