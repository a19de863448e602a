"""The wave equation `u_tt = ∇·(c² ∇u)` as a first-order system in `(u, u_t)`."""

import jax.numpy as jnp

from ._boundary import AbstractBoundary, Boundaries, Dirichlet, boundaries, even_mirror
from ._finite_volume import diffusive_fluxes
from ._grid import Grid
from ._local import AbstractLocalPDE
from ._model import FIELD, concrete_max_abs
from ._operators import GridOperators

_DEFAULT_BC = Dirichlet(0.0)


class Absorbing(AbstractBoundary):
    """A first-order absorbing (Engquist–Majda) end for `Wave`: `u_t + c ∂u/∂n = 0`.

    It lets a normally incident wave leave the box without reflection.

    `Wave` sets `flux = -u_t / c` at the boundary on every evaluation; the ghost cells are then
    those of a Neumann condition with that outward derivative.

    **Example:** a pulse running out of the box leaves (a reflecting end would send it back).

    ```python
    # slow
    import jax.numpy as jnp
    from diffsim import pde

    grid = pde.uniform_grid(100)
    model = pde.Wave(grid, pde.Absorbing())
    u0 = jnp.exp(-200 * (grid.x - 0.5) ** 2)
    v0 = jnp.gradient(u0, grid.x)  # u(x - t): a pulse moving right (and none moving left)
    sol = pde.solve(model, (u0, -v0), [0.0, 1.0], {"speed": 1.0}, rtol=1e-6)
    assert jnp.max(jnp.abs(sol.ys[0][-1])) < 0.05  # out of the box
    ```
    """

    flux: jnp.ndarray | float = 0.0

    def ghosts(self, u, dx, width, side):
        return even_mirror(u, dx, width, side, self.flux)


def _edge(x, grid: Grid, axis: int, side: str):
    x = jnp.asarray(x)
    if x.ndim == 0:
        return x
    return jnp.take(x, 0 if side == "lower" else -1, axis=x.ndim - grid.ndim + axis)


class Wave(AbstractLocalPDE):
    """The (variable-speed) wave equation; state `(u, v)` with `v = u_t`.

    Finite volumes in space: `v_t = ∇·(c² ∇u)` with `c²` averaged onto faces, which conserves
    the discrete energy `½∫ v² + c² |∇u|²` with periodic, Dirichlet (fixed, reflecting) or
    zero-Neumann (free, reflecting) ends; `Absorbing()` ends let waves out.

    **Arguments:** `grid`, `bc` (default `Dirichlet(0.0)`; `Absorbing()` allowed).

    **Parameters:** `speed` (scalar or field).

    **Example:** the discrete energy `½∫ v² + c² |∇u|²` does not change (periodic box).

    ```python
    import jax
    import jax.numpy as jnp
    from diffsim import pde

    grid = pde.uniform_grid(32)
    model = pde.Wave(grid, pde.Periodic())
    dx = grid.spacing[0]


    def energy(state):
        u, v = state
        return 0.5 * dx * jnp.sum(v**2 + ((jnp.roll(u, -1) - u) / dx) ** 2)  # c = 1


    state = (jnp.sin(2 * jnp.pi * grid.x), jnp.cos(6 * jnp.pi * grid.x))
    rate = model(0.0, state, {"speed": 1.0})
    dE_dt = sum(jnp.sum(g * r) for g, r in zip(jax.grad(energy)(state), rate, strict=True))
    assert abs(dE_dt) < 1e-9
    ```
    """

    grid: Grid
    bcs: Boundaries
    parameters = {"speed": FIELD}
    optional = ()
    state_names = ("u", "v")

    def __init__(self, grid: Grid, bc=_DEFAULT_BC):
        self.grid = grid
        self.bcs = boundaries(grid, bc)

    def _boundaries(self, v, speed) -> Boundaries:
        """The boundary conditions with every absorbing end's `flux = -v / c` filled in."""
        sides = []
        for axis, pair in enumerate(self.bcs.sides):
            resolved = []
            for side, bc in zip(("lower", "upper"), pair, strict=True):
                if isinstance(bc, Absorbing):
                    edge_v = _edge(v, self.grid, axis, side)
                    edge_c = _edge(speed, self.grid, axis, side)
                    bc = Absorbing(flux=-edge_v / edge_c)
                resolved.append(bc)
            sides.append(tuple(resolved))
        return Boundaries(tuple(sides))

    def equation(self, t, ops, params):
        return ops.value(1), ops.diffusion(jnp.asarray(params["speed"]) ** 2, 0)

    def operators(self, u, params):
        bcs = self._boundaries(u[1], params["speed"])
        return GridOperators(tuple(u), self.grid, bcs, "fd")

    def energy(self, u, params):
        """`½∫ v² + c²|∇u|²` with face gradients (conserved by the semi-discretisation for
        reflecting or periodic ends)."""
        displacement, velocity = u
        speed = jnp.asarray(params["speed"])
        bcs = self._boundaries(velocity, speed)
        gradients = diffusive_fluxes(displacement, self.grid, bcs)
        weighted = diffusive_fluxes(displacement, self.grid, bcs, speed**2)
        potential = sum(jnp.sum(g * w) for g, w in zip(gradients, weighted, strict=True))
        volume = self.grid.cell_volume
        return 0.5 * volume * (jnp.sum(velocity**2) + potential)

    def rates(self, u, params):
        c = concrete_max_abs(params["speed"])
        if c is None:
            return None, None
        return 0.0, c * sum(4 / dx**2 for dx in self.grid.spacing) ** 0.5
