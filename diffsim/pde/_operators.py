"""The spatial operators a PDE's equation is written in, and their grid discretisation.

A model states its continuous right-hand side once, `u_t = equation(t, ops, params)`, in terms
of `ops`: the state's values and the differential operators of one state. The method of lines
hands it `GridOperators` (finite volumes or Fourier on a `Grid`, with the boundary conditions);
a physics-informed network hands it `PointOperators` (exact derivatives of a function of
`(t, x)` at one point, by forward-mode AD). Either way the same equation is evaluated.
"""

import abc

import equinox as eqx
from jaxtyping import Array

from ._boundary import Boundaries
from ._diffusion_terms import diffusion
from ._finite_volume import advection, conservation_law, gradient
from ._grid import Grid
from ._spectral import spectral_derivative


class AbstractOperators(eqx.Module):
    """Values and spatial derivatives of one state, the terms a PDE's `equation` is made of.

    `i` picks the state's component: the i-th array of a tuple state; `0` for a single field.

    **Example:** one equation, on the grid and at a point.

    ```python
    import jax.numpy as jnp
    from diffsim import pde


    def equation(ops):  # u_t = 0.1 u_xx - u_x
        return ops.diffusion(0.1) - ops.gradient(0)


    grid = pde.uniform_grid(200, 0.0, 2 * jnp.pi)
    bcs = pde.boundaries(grid, pde.Periodic())
    on_grid = equation(pde.GridOperators(jnp.sin(grid.x), grid, bcs))
    point = jnp.array([grid.x[50]])
    at_point = equation(pde.PointOperators(lambda t, x: jnp.sin(x[0]), 0.0, point))
    assert abs(on_grid[50] - at_point) < 1e-3  # second order on the grid, exact at the point
    ```
    """

    @abc.abstractmethod
    def value(self, i: int = 0) -> Array:
        """The state component `u_i`."""

    @abc.abstractmethod
    def coordinates(self) -> tuple[Array, ...]:
        """The spatial coordinates where the values live, one per axis."""

    @abc.abstractmethod
    def gradient(self, axis: int, i: int = 0) -> Array:
        """`∂u_i/∂x_axis`."""

    @abc.abstractmethod
    def diffusion(self, coefficient, i: int = 0) -> Array:
        """`∇·(k ∇u_i)` for a scalar `k` (or a field/function of `x` where supported)."""

    @abc.abstractmethod
    def advection(self, velocity: tuple, i: int = 0) -> Array:
        """`-∇·(a u_i)`, `velocity` one entry per axis."""

    @abc.abstractmethod
    def conservation(self, flux, speed, i: int = 0) -> Array:
        """`-Σ_axis ∂ flux(u_i, axis)/∂x_axis`; `speed(u, axis) = |∂flux/∂u|` (the grid's
        upwinding needs it; exact derivatives do not)."""


class GridOperators(AbstractOperators):
    """The operators on a `Grid` with boundary conditions (the method of lines).

    Finite volumes (`spatial="fd"`, with `limiter` for advection and conservation laws) or
    Fourier (`"spectral"`).

    **Example:** the operators are the functions of `diffsim.pde` bound to a state.

    ```python
    import jax.numpy as jnp
    from diffsim import pde

    grid = pde.uniform_grid(32)
    bcs = pde.boundaries(grid, pde.Neumann(0.0))
    u = jnp.cos(jnp.pi * grid.x)
    ops = pde.GridOperators(u, grid, bcs)
    assert jnp.allclose(ops.diffusion(2.0), pde.laplacian(u, grid, bcs, coefficient=2.0))
    assert jnp.allclose(ops.gradient(0), pde.gradient(u, grid, bcs))
    ```
    """

    state: Array | tuple
    grid: Grid
    bcs: Boundaries
    spatial: str = eqx.field(static=True, default="fd")
    limiter: str | None = eqx.field(static=True, default="van_leer")

    def value(self, i=0):
        return self.state[i] if isinstance(self.state, tuple) else self.state

    def coordinates(self):
        return self.grid.coordinates()

    def gradient(self, axis, i=0):
        if self.spatial == "spectral":
            return spectral_derivative(self.value(i), self.grid, axis)
        return gradient(self.value(i), self.grid, self.bcs, axis)

    def diffusion(self, coefficient, i=0):
        return diffusion(self.value(i), self.grid, self.bcs, self.spatial, coefficient)

    def advection(self, velocity, i=0):
        return advection(self.value(i), velocity, self.grid, self.bcs, self.limiter)

    def conservation(self, flux, speed, i=0):
        return conservation_law(self.value(i), flux, speed, self.grid, self.bcs, self.limiter)
