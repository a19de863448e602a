"""Finite-difference / finite-volume operators on a cell-centred `Grid`.

Every operator takes the field (grid axes last; leading batch axes allowed), the `Grid` and the
`Boundaries`, and fills ghost cells from the boundary conditions. Coefficients (diffusivity,
velocity) may be scalars or traced arrays of the grid's shape, so `jax.grad` reaches them.
"""

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

from ._boundary import Boundaries
from ._grid import Grid
from ._limiter import limited_slope


def _grid_axis(u: Array, grid: Grid, axis: int) -> int:
    return u.ndim - grid.ndim + axis


def _pad_coefficient(k: Array, grid: Grid, bcs: Boundaries, axis: int) -> Array:
    """A coefficient field with one ghost cell per end: wrapped if periodic, else extrapolated
    linearly (so the boundary face gets a second-order value)."""
    a = _grid_axis(k, grid, axis)
    if bcs.periodic(axis):
        widths = [(0, 0)] * k.ndim
        widths[a] = (1, 1)
        return jnp.pad(k, widths, mode="wrap")
    n = k.shape[a]
    first, second = jnp.take(k, jnp.array([0]), axis=a), jnp.take(k, jnp.array([1]), axis=a)
    last, before = jnp.take(k, jnp.array([n - 1]), axis=a), jnp.take(k, jnp.array([n - 2]), axis=a)
    return jnp.concatenate([2 * first - second, k, 2 * last - before], axis=a)


def _face_coefficient(k: ArrayLike | None, grid: Grid, bcs: Boundaries, axis: int):
    """A cell coefficient averaged onto the faces along `axis` (arithmetic mean), or a scalar."""
    if k is None:
        return 1.0
    k = jnp.asarray(k)
    if k.ndim < grid.ndim:
        return k
    padded = _pad_coefficient(k, grid, bcs, axis)
    a = _grid_axis(padded, grid, axis)
    n = padded.shape[a]
    upper = jnp.take(padded, jnp.arange(1, n), axis=a)
    return 0.5 * (upper + jnp.take(padded, jnp.arange(n - 1), axis=a))


def _diff(p: Array, axis: int) -> Array:
    return jnp.diff(p, axis=axis)


def gradient(u: ArrayLike, grid: Grid, bcs: Boundaries, axis: int = 0) -> Array:
    """`∂u/∂x_axis` by central differences (second order).

    **Arguments:**

    - `u`: the field (grid axes last).
    - `grid`, `bcs`: the `Grid` and its `Boundaries` (ghost cells give the boundary values).
    - `axis`: the grid axis to differentiate along.

    **Returns:** the derivative, shaped like `u`.

    **Example:**

    ```python
    import jax.numpy as jnp
    from diffsim import pde

    grid = pde.uniform_grid(64, 0.0, 2 * jnp.pi)
    bcs = pde.boundaries(grid, pde.Periodic())
    du = pde.gradient(jnp.sin(grid.x), grid, bcs)
    assert jnp.max(jnp.abs(du - jnp.cos(grid.x))) < 2e-3  # second order: error ~ dx^2 / 6
    ```
    """
    u = jnp.asarray(u)
    p = bcs.pad(u, grid.spacing, axis)
    a = _grid_axis(u, grid, axis)
    n = p.shape[a]
    upper = jnp.take(p, jnp.arange(2, n), axis=a)
    lower = jnp.take(p, jnp.arange(0, n - 2), axis=a)
    return (upper - lower) / (2 * grid.spacing[axis])


def divergence_of_faces(fluxes, grid: Grid) -> Array:
    """`Σ_axis (F_{i+1/2} - F_{i-1/2}) / dx` for face fluxes (one array per axis, one more face
    than cells along its axis): the finite-volume divergence."""
    total = 0.0
    for axis, flux in enumerate(fluxes):
        total = total + _diff(flux, _grid_axis(flux, grid, axis)) / grid.spacing[axis]
    return total


def diffusive_fluxes(u: ArrayLike, grid: Grid, bcs: Boundaries, coefficient=None):
    """Face fluxes `k ∂u/∂x` per axis (the face coefficient is the mean of its two cells)."""
    u = jnp.asarray(u)
    fluxes = []
    for axis in range(grid.ndim):
        p = bcs.pad(u, grid.spacing, axis)
        k = _face_coefficient(coefficient, grid, bcs, axis)
        fluxes.append(k * _diff(p, _grid_axis(p, grid, axis)) / grid.spacing[axis])
    return fluxes


def laplacian(u: ArrayLike, grid: Grid, bcs: Boundaries, coefficient: ArrayLike | None = None):
    """`∇·(k ∇u)`, the conservative (finite-volume) Laplacian with variable coefficient `k`.

    **Arguments:**

    - `u`: the field (grid axes last).
    - `grid`, `bcs`: the grid and its boundary conditions.
    - `coefficient`: `k`, a scalar or a field of the grid's shape (default 1).

    **Returns:** the field `∇·(k ∇u)`: second-order accurate; with zero-flux (Neumann 0) or
    periodic boundaries its integral is exactly zero, so diffusion conserves mass.

    **Example:**

    ```python
    import jax.numpy as jnp
    from diffsim import pde

    grid = pde.uniform_grid(50)
    bcs = pde.boundaries(grid, pde.Neumann(0.0))
    u = jnp.exp(-50 * (grid.x - 0.3) ** 2)
    rate = pde.laplacian(u, grid, bcs, coefficient=1.0 + grid.x)  # a variable diffusivity
    assert abs(grid.integrate(rate)) < 1e-10  # insulated ends: no mass is lost
    ```
    """
    return divergence_of_faces(diffusive_fluxes(u, grid, bcs, coefficient), grid)


def face_states(u: ArrayLike, grid: Grid, bcs: Boundaries, axis: int, limiter: str | None):
    """MUSCL reconstruction: the left and right states at every face along `axis`.

    **Returns:** `(u_left, u_right)`, each with one more entry than cells along `axis`; with
    `limiter=None` piecewise-constant (first-order upwind), else piecewise-linear with the
    named slope limiter (see `LIMITERS`).
    """
    u = jnp.asarray(u)
    p = bcs.pad(u, grid.spacing, axis, width=2)
    a = _grid_axis(p, grid, axis)
    n = p.shape[a]
    cells = jnp.take(p, jnp.arange(1, n - 1), axis=a)  # cells -1 .. N
    if limiter is None:
        slope = jnp.zeros_like(cells)
    else:
        d = _diff(p, a)
        m = d.shape[a]
        backward = jnp.take(d, jnp.arange(0, m - 1), axis=a)
        slope = limited_slope(backward, jnp.take(d, jnp.arange(1, m), axis=a), limiter)
    k = cells.shape[a]
    left = jnp.take(cells + slope / 2, jnp.arange(0, k - 1), axis=a)
    right = jnp.take(cells - slope / 2, jnp.arange(1, k), axis=a)
    return left, right


def advection(
    u: ArrayLike, velocity, grid: Grid, bcs: Boundaries, limiter: str | None = "van_leer"
) -> Array:
    """`-∇·(a u)`: conservative upwind advection with a flux limiter.

    **Arguments:**

    - `u`: the advected field.
    - `velocity`: one entry per axis, each a scalar or a cell field (averaged onto faces).
    - `grid`, `bcs`: the grid and the boundary conditions of `u` (inflow values for Dirichlet).
    - `limiter`: `None` (first-order upwind) or a name in `LIMITERS` (second order where the
      field is smooth, no new extrema).

    **Returns:** the rate `-∇·(a u)`, shaped like `u`.

    **Example:** a periodic pulse carried to the right conserves its mass exactly:

    ```python
    import jax.numpy as jnp
    from diffsim import pde

    grid = pde.uniform_grid(64)
    bcs = pde.boundaries(grid, pde.Periodic())
    u = jnp.exp(-100 * (grid.x - 0.5) ** 2)
    rate = pde.advection(u, (1.0,), grid, bcs, limiter="van_leer")
    assert abs(grid.integrate(rate)) < 1e-12 and rate[40] > 0 > rate[24]  # the pulse moves right
    ```
    """
    fluxes = []
    for axis in range(grid.ndim):
        left, right = face_states(u, grid, bcs, axis, limiter)
        a = _face_coefficient(velocity[axis], grid, bcs, axis)
        fluxes.append(jnp.maximum(a, 0) * left + jnp.minimum(a, 0) * right)
    return -divergence_of_faces(fluxes, grid)


def conservation_law(
    u: ArrayLike, flux, speed, grid: Grid, bcs: Boundaries, limiter: str | None = "van_leer"
) -> Array:
    """The rate `-Σ ∂f_axis(u)/∂x_axis` of a conservation law with a nonlinear flux.

    Finite volumes with the local Lax–Friedrichs (Rusanov) numerical flux on MUSCL face
    states, so shocks stay non-oscillatory.

    **Arguments:**

    - `u`: the cell averages, shaped like the grid.
    - `flux`: `flux(u, axis) -> f_axis(u)`.
    - `speed`: `speed(u, axis) -> |f'_axis(u)|`, the largest local wave speed.
    - `grid`, `bcs`: the `Grid` and its `Boundaries`.
    - `limiter`: as in `advection` (a name from `LIMITERS`, or `None` for first order).

    **Returns:** `du/dt`, shaped like `u`.

    **Example:** inviscid Burgers' flux `u²/2`: a shock forms, mass is conserved exactly.

    ```python
    import jax.numpy as jnp
    from diffsim import pde

    grid = pde.uniform_grid(64)
    bcs = pde.boundaries(grid, pde.Periodic())
    u = jnp.where(grid.x < 0.5, 1.0, 0.0)  # a step
    rate = pde.conservation_law(u, lambda u, axis: u**2 / 2, lambda u, axis: jnp.abs(u), grid, bcs)
    assert abs(grid.integrate(rate)) < 1e-12
    assert rate[32] > 0 and rate[31] < 0  # the step moves right at speed 1/2
    ```
    """
    fluxes = []
    for axis in range(grid.ndim):
        left, right = face_states(u, grid, bcs, axis, limiter)
        alpha = jnp.maximum(speed(left, axis), speed(right, axis))
        fluxes.append(0.5 * (flux(left, axis) + flux(right, axis)) - 0.5 * alpha * (right - left))
    return -divergence_of_faces(fluxes, grid)
