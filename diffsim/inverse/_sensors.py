"""Observation operators: a field on a solver grid sampled at sensor positions and times.

Each sensor value is a weighted sum of grid values, separable per axis: linear between cell
centres (two weights per axis) or, on a periodic axis, the trigonometric interpolant through
all cells (spectral accuracy for smooth periodic fields).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..pde import Grid

INTERPOLATIONS = ("linear", "spectral")


def _linear_weights(points, grid: Grid, axis: int, periodic: bool):
    """Indices and weights `(N, 2)` of the two cell centres around each point."""
    n, dx = grid.shape[axis], grid.spacing[axis]
    p = (np.asarray(points, float) - grid.lower[axis]) / dx - 0.5
    if periodic:
        i0 = np.floor(p).astype(int)
        frac = p - i0
        return np.stack([i0 % n, (i0 + 1) % n], 1), np.stack([1 - frac, frac], 1)
    p = np.clip(p, 0.0, n - 1.0)  # beyond the outermost centres: the nearest centre's value
    i0 = np.minimum(np.floor(p).astype(int), n - 2)
    frac = p - i0
    return np.stack([i0, i0 + 1], 1), np.stack([1 - frac, frac], 1)


def _fourier_weights(points, grid: Grid, axis: int):
    """The periodic cardinal functions of all `n` cells at each point: `(N, n)` weights.

    `S(θ) = sin(nθ/2) cot(θ/2) / n` (even `n`) or `sin(nθ/2) / (n sin(θ/2))` (odd `n`), with
    `θ = 2π (x - x_j) / L`: 1 at its own cell, 0 at the others.
    """
    n, length = grid.shape[axis], grid.lengths[axis]
    theta = 2 * np.pi * (np.asarray(points, float)[:, None] - grid.axis(axis)[None, :]) / length
    half = np.sin(theta / 2)
    at_node = np.abs(half) < 1e-13
    safe = np.where(at_node, 1.0, half)
    if n % 2 == 0:
        weights = np.sin(n * theta / 2) * np.cos(theta / 2) / (n * safe)
    else:
        weights = np.sin(n * theta / 2) / (n * safe)
    weights = np.where(at_node, 1.0, weights)
    indices = np.broadcast_to(np.arange(n), weights.shape)
    return indices, weights


class SensorOperator(eqx.Module):
    """Sample states on a grid at sensors: `value_k = Σ w_k · u[state_k][time_k, cells_k]`.

    **Fields:**
    - `time_index`: for each value, the output time it is taken at; `state_index`: the state.
    - `indices`, `weights`: per grid axis, `(N, K)` cell indices and weights.

    **Example:** sampling a field's trajectory at two sensors and times.

    ```python
    import jax.numpy as jnp
    import numpy as np
    from diffsim import inverse, pde

    grid = pde.uniform_grid(10)
    sensors = inverse.sensor_operator(
        grid, (False,), np.array([[0.3], [0.5]]), np.array([0, 1]), np.array([0, 0]), "linear"
    )
    u = jnp.stack([grid.x, 2 * grid.x])  # two output times of a linear profile
    assert jnp.allclose(sensors((u,)), jnp.array([0.3, 1.0]))  # u(t0, 0.3), u(t1, 0.5)
    ```
    """

    time_index: np.ndarray
    state_index: np.ndarray
    indices: tuple[np.ndarray, ...]
    weights: tuple[np.ndarray, ...]

    def __call__(self, states: tuple[Array, ...]) -> Array:
        """The sensor values (shape `(N,)`) of `states` (one `(T, *grid)` array per state), in
        the states' dtype."""
        stacked = jnp.stack(states) if len(states) > 1 else states[0][None]
        fields = stacked[jnp.asarray(self.state_index), jnp.asarray(self.time_index)]
        weights = [jnp.asarray(w, fields.dtype) for w in self.weights]
        if len(self.indices) == 1:
            picked = jnp.take_along_axis(fields, jnp.asarray(self.indices[0]), axis=1)
            return jnp.sum(picked * weights[0], axis=1)

        def one(field, ix, iy, wx, wy):
            return wx @ field[ix][:, iy] @ wy

        ix, iy = (jnp.asarray(i) for i in self.indices)
        return jax.vmap(one)(fields, ix, iy, *weights)


def sensor_operator(
    grid: Grid,
    periodic: tuple[bool, ...],
    coordinates: np.ndarray,
    time_index: np.ndarray,
    state_index: np.ndarray,
    interpolation: str,
) -> SensorOperator:
    """The `SensorOperator` for sensor `coordinates` `(N, ndim)` on `grid`.

    **Arguments:**
    - `periodic`: per axis, whether the grid wraps around.
    - `time_index`, `state_index`: for each value, its output time and state.
    - `interpolation`: `"linear"` or `"spectral"` (periodic axes only; others use linear).

    **Example:** spectral interpolation is exact for a resolved Fourier mode.

    ```python
    import jax.numpy as jnp
    import numpy as np
    from diffsim import inverse, pde

    grid = pde.uniform_grid(16, 0.0, 2 * np.pi)
    points = np.array([[0.1], [1.0], [2.5]])
    sensors = inverse.sensor_operator(grid, (True,), points, np.zeros(3, int), np.zeros(3, int),
                                      "spectral")  # fmt: skip
    values = sensors((jnp.sin(2 * jnp.asarray(grid.x))[None],))
    assert jnp.allclose(values, jnp.sin(2 * points[:, 0]), atol=1e-10)
    ```
    """
    indices, weights = [], []
    for axis in range(grid.ndim):
        points = coordinates[:, axis]
        if interpolation == "spectral" and periodic[axis]:
            i, w = _fourier_weights(points, grid, axis)
        else:
            i, w = _linear_weights(points, grid, axis, periodic[axis])
        indices.append(np.asarray(i))
        weights.append(np.asarray(w))
    return SensorOperator(
        np.asarray(time_index), np.asarray(state_index), tuple(indices), tuple(weights)
    )
