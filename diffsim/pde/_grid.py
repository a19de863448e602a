"""`Grid`: a uniform, cell-centred grid on a box in 1D or 2D."""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike


class Grid(eqx.Module):
    """A uniform grid of cells on the box `[lower, upper]` (one entry per axis, 1D or 2D).

    Values live at cell centres `lower + (i + 1/2) dx`: finite-volume fluxes then sit on cell
    faces, boundary faces are the box's ends, and a periodic grid is a plain uniform sampling
    (as Fourier methods need). Everything is static, so a grid is hashable and free to close
    over; the coordinates are built on demand as constants.

    **Fields:**
    - `shape`: cells per axis, e.g. `(128,)` or `(64, 64)`.
    - `lower`, `upper`: the box, per axis.

    **Example:**

    ```python
    import jax.numpy as jnp
    from diffsim import pde

    grid = pde.Grid(shape=(4,), lower=(0.0,), upper=(2.0,))
    assert grid.spacing == (0.5,) and grid.x.tolist() == [0.25, 0.75, 1.25, 1.75]
    assert grid.integrate(jnp.ones(4)) == 2.0 and grid.refine(2).shape == (8,)
    ```
    """

    shape: tuple[int, ...] = eqx.field(static=True)
    lower: tuple[float, ...] = eqx.field(static=True)
    upper: tuple[float, ...] = eqx.field(static=True)

    def __check_init__(self):
        if len(self.shape) not in (1, 2):
            raise ValueError(f"Grid: 1D or 2D grids only, got shape {self.shape}")
        if not (len(self.lower) == len(self.upper) == len(self.shape)):
            raise ValueError("Grid: `shape`, `lower` and `upper` need one entry per axis")
        if any(int(n) < 3 for n in self.shape):
            raise ValueError(f"Grid: at least 3 cells per axis, got shape {self.shape}")
        if any(not hi > lo for lo, hi in zip(self.lower, self.upper, strict=True)):
            raise ValueError(f"Grid: need upper > lower, got {self.lower} and {self.upper}")

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def lengths(self) -> tuple[float, ...]:
        return tuple(hi - lo for lo, hi in zip(self.lower, self.upper, strict=True))

    @property
    def spacing(self) -> tuple[float, ...]:
        """Cell widths `dx` per axis."""
        return tuple(length / n for length, n in zip(self.lengths, self.shape, strict=True))

    @property
    def cell_volume(self) -> float:
        return float(np.prod(self.spacing))

    def axis(self, i: int = 0) -> np.ndarray:
        """Cell-centre coordinates along axis `i` (a NumPy array)."""
        return self.lower[i] + (np.arange(self.shape[i]) + 0.5) * self.spacing[i]

    @property
    def x(self) -> np.ndarray:
        """Cell centres along the first axis."""
        return self.axis(0)

    def coordinates(self) -> tuple[np.ndarray, ...]:
        """Cell-centre coordinate arrays, each of the grid's shape (`indexing="ij"`)."""
        return tuple(np.meshgrid(*(self.axis(i) for i in range(self.ndim)), indexing="ij"))

    def integrate(self, u: ArrayLike) -> Array:
        """Midpoint-rule integral of a field over the box (over the grid axes, the last ones)."""
        axes = tuple(range(-self.ndim, 0))
        return jnp.sum(jnp.asarray(u), axis=axes) * self.cell_volume

    def norm(self, u: ArrayLike) -> Array:
        """The discrete L2 norm `sqrt(∫ u²)`."""
        return jnp.sqrt(self.integrate(jnp.abs(jnp.asarray(u)) ** 2))

    def refine(self, factor: int) -> "Grid":
        """The same box with `factor` times more cells per axis."""
        return Grid(tuple(n * factor for n in self.shape), self.lower, self.upper)

    def check_field(self, u, name: str = "field") -> None:
        """Raise `ValueError` unless `u` has the grid's shape (in its last axes)."""
        shape = tuple(np.shape(u))
        if shape[len(shape) - self.ndim :] != self.shape or len(shape) < self.ndim:
            raise ValueError(f"{name}: shape {shape} does not match the grid's shape {self.shape}")


def uniform_grid(shape, lower=0.0, upper=1.0) -> Grid:
    """A `Grid` from a cell count (or counts) and box ends (numbers or one per axis).

    **Arguments:**

    - `shape`: cells per axis, an integer (1D) or a tuple (`(64, 64)` for 2D).
    - `lower`, `upper`: the box's ends, numbers (the same on every axis) or one per axis.

    **Returns:** the `Grid` (cell-centred, static and hashable).

    **Example:**

    ```python
    import numpy as np
    from diffsim import pde

    grid = pde.uniform_grid(64)  # 64 cells on [0, 1]
    assert grid.x[0] == 0.5 / 64 and np.isclose(grid.integrate(np.ones(64)), 1.0)
    box = pde.uniform_grid((32, 32), 0.0, 2 * np.pi)  # a 2D box, e.g. for periodic problems
    ```
    """
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(n) for n in shape)
    lower = (float(lower),) * len(shape) if np.ndim(lower) == 0 else tuple(map(float, lower))
    upper = (float(upper),) * len(shape) if np.ndim(upper) == 0 else tuple(map(float, upper))
    return Grid(shape, lower, upper)


def interpolate(u: ArrayLike, grid: Grid, points: ArrayLike) -> Array:
    """Linear interpolation of a 1D field (last axis on `grid`) at `points`.

    Values beyond the outermost cell centres are held constant. Used to sample a field at
    sensor positions, e.g. data simulated on a finer grid than the one that is fitted.

    **Arguments:**

    - `u`: the field, its last axis on the 1D `grid` (leading axes, e.g. time, are kept).
    - `grid`: a 1D `Grid`.
    - `points`: the positions, a 1-D array.

    **Returns:** the interpolated values, shape `u.shape[:-1] + (len(points),)`.

    **Example:** sensors at three points of a finer solution:

    ```python
    import jax.numpy as jnp
    from diffsim import pde

    grid = pde.uniform_grid(100)
    values = pde.interpolate(grid.x**2, grid, jnp.array([0.25, 0.5, 0.75]))
    assert jnp.allclose(values, jnp.array([0.0625, 0.25, 0.5625]), atol=1e-4)
    ```
    """
    if grid.ndim != 1:
        raise ValueError("interpolate: 1D grids only")
    return jnp.interp(jnp.asarray(points), jnp.asarray(grid.x), jnp.asarray(u))
