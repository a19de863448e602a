"""Boundary conditions, applied by filling ghost cells around a cell-centred field."""

import abc

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike


class AbstractBoundary(eqx.Module):
    """One end of one axis. `ghosts(u, dx, width, side)` returns `width` ghost cells.

    `u` has the boundary axis last-moved to axis 0; `side` is `"lower"` or `"upper"`; ghost
    cells are returned ordered outward from the boundary face.
    """

    @abc.abstractmethod
    def ghosts(self, u: Array, dx: float, width: int, side: str) -> Array: ...


class Periodic(AbstractBoundary):
    """The field repeats: the ghost cells are the other end's cells.

    **Example:**

    ```python
    import jax.numpy as jnp
    from diffsim import pde

    grid = pde.uniform_grid(5)
    padded = pde.boundaries(grid, pde.Periodic()).pad(jnp.arange(5.0), grid.spacing, axis=0)
    assert padded.tolist() == [4.0, 0.0, 1.0, 2.0, 3.0, 4.0, 0.0]
    ```
    """

    def ghosts(self, u, dx, width, side):
        del dx
        # Outward order: for the lower side the nearest ghost is u[-1], then u[-2], ...
        return u[::-1][:width] if side == "lower" else u[:width]


class Dirichlet(AbstractBoundary):
    """A given value at the boundary face.

    Ghost cells mirror the field oddly about the face value, `g_k = 2 value - u_k`, which is
    second-order accurate for the face value.

    **Arguments:**

    - `value`: the boundary value, a scalar; may be traced, so it can be fitted.

    **Example:** the face value is the mean of the ghost and the first cell.

    ```python
    import jax.numpy as jnp
    from diffsim import pde

    grid = pde.uniform_grid(4)
    padded = pde.boundaries(grid, pde.Dirichlet(2.0)).pad(jnp.ones(4), grid.spacing, axis=0)
    assert padded[0] == 3.0 and padded[-1] == 3.0  # (3 + 1) / 2 = 2 on both faces
    ```
    """

    value: ArrayLike = 0.0

    def ghosts(self, u, dx, width, side):
        del dx
        inner = u[:width] if side == "lower" else u[::-1][:width]
        return 2 * jnp.asarray(self.value, u.dtype) - inner


def even_mirror(u, dx, width, side, flux):
    """Ghost cells `g_k = u_k + (2k + 1) dx flux`: an even mirror about the face plus the
    outward derivative `flux` (a scalar, or an array shaped like the boundary face)."""
    inner = u[:width] if side == "lower" else u[::-1][:width]
    k = jnp.arange(width, dtype=u.dtype).reshape((width,) + (1,) * (u.ndim - 1))
    return inner + (2 * k + 1) * dx * jnp.asarray(flux, u.dtype)


class Neumann(AbstractBoundary):
    """A given outward normal derivative `∂u/∂n` at the boundary face; `0` insulates.

    Ghost cells mirror the field evenly plus the gradient, `g_k = u_k + (2k + 1) dx flux`.

    **Arguments:**

    - `flux`: the outward normal derivative, a scalar or an array shaped like the boundary face;
      may be traced.

    **Example:** the outward derivative at the upper face.

    ```python
    import jax.numpy as jnp
    from diffsim import pde

    grid = pde.uniform_grid(10)
    bcs = pde.boundaries(grid, (pde.Neumann(0.0), pde.Neumann(2.0)))
    padded = bcs.pad(jnp.zeros(10), grid.spacing, axis=0)
    dx = grid.spacing[0]
    assert jnp.isclose((padded[-1] - padded[-2]) / dx, 2.0) and padded[0] == padded[1]
    ```
    """

    flux: ArrayLike = 0.0

    def ghosts(self, u, dx, width, side):
        return even_mirror(u, dx, width, side, self.flux)


def _one_axis(bc) -> tuple[AbstractBoundary, AbstractBoundary]:
    if isinstance(bc, AbstractBoundary):
        return bc, bc
    lower, upper = bc
    if isinstance(lower, Periodic) != isinstance(upper, Periodic):
        raise ValueError("boundary: a periodic axis must be periodic at both ends")
    return lower, upper


class Boundaries(eqx.Module):
    """Boundary conditions of every axis: `(lower, upper)` per axis.

    Build it with `boundaries(grid, bc)`; models and operators take it as `bcs`.

    **Fields:**

    - `sides`: one `(lower, upper)` pair of conditions per axis.

    **Example:** a fixed value on the left, an insulated end on the right, as ghost cells.

    ```python
    import jax.numpy as jnp
    from diffsim import pde

    grid = pde.uniform_grid(8)
    bcs = pde.boundaries(grid, (pde.Dirichlet(1.0), pde.Neumann(0.0)))
    padded = bcs.pad(jnp.arange(8.0), grid.spacing, axis=0)
    assert padded.shape == (10,) and not bcs.all_periodic
    assert (padded[0] + padded[1]) / 2 == 1.0 and padded[-1] == padded[-2]
    ```
    """

    sides: tuple[tuple[AbstractBoundary, AbstractBoundary], ...]

    def periodic(self, axis: int) -> bool:
        return isinstance(self.sides[axis][0], Periodic)

    @property
    def all_periodic(self) -> bool:
        return all(self.periodic(a) for a in range(len(self.sides)))

    def pad(self, u: Array, spacing, axis: int, width: int = 1) -> Array:
        """`u` with `width` ghost cells on both ends of grid axis `axis` (counted from the end
        of the grid's axes: trailing axes of `u` are the grid)."""
        ndim = len(self.sides)
        position = u.ndim - ndim + axis
        moved = jnp.moveaxis(u, position, 0)
        lower, upper = self.sides[axis]
        dx = spacing[axis]
        low = lower.ghosts(moved, dx, width, "lower")[::-1]
        high = upper.ghosts(moved, dx, width, "upper")
        return jnp.moveaxis(jnp.concatenate([low, moved, high], axis=0), 0, position)


def boundaries(grid, bc) -> Boundaries:
    """Boundary conditions for every axis of `grid`.

    **Arguments:**

    - `grid`: the `Grid`.
    - `bc`: one condition for all ends (`Periodic()`, `Dirichlet(0.0)`, `Neumann(0.0)`), a pair
      `(lower, upper)` used on every axis, or one such entry per axis.

    **Returns:** the `Boundaries`.

    **Raises:** `ValueError` when the number of axes does not match or a periodic end is paired
    with a non-periodic one.

    **Example:**

    ```python
    from diffsim import pde

    grid = pde.uniform_grid((32, 16))
    bcs = pde.boundaries(grid, [pde.Periodic(), (pde.Dirichlet(1.0), pde.Neumann(0.0))])
    assert bcs.periodic(0) and not bcs.periodic(1)
    ```
    """
    if isinstance(bc, Boundaries):
        if len(bc.sides) != grid.ndim:
            raise ValueError(f"boundary: {len(bc.sides)} axes given for a {grid.ndim}D grid")
        return bc
    if isinstance(bc, AbstractBoundary):
        per_axis = [bc] * grid.ndim
    elif (
        isinstance(bc, (tuple, list))
        and len(bc) == 2
        and all(isinstance(b, AbstractBoundary) for b in bc)
        and grid.ndim == 1
    ):
        per_axis = [tuple(bc)]
    elif isinstance(bc, (tuple, list)) and len(bc) == grid.ndim:
        per_axis = list(bc)
    elif (
        isinstance(bc, (tuple, list))
        and len(bc) == 2
        and all(isinstance(b, AbstractBoundary) for b in bc)
    ):
        per_axis = [tuple(bc)] * grid.ndim
    else:
        raise ValueError(
            f"boundary: expected a condition, a (lower, upper) pair or one entry per axis of the "
            f"{grid.ndim}D grid, got {bc!r}"
        )
    return Boundaries(tuple(_one_axis(b) for b in per_axis))
