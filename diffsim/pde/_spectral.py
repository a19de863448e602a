"""Fourier pseudo-spectral operators on periodic grids, and diagonal operators in Fourier space."""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from ._grid import Grid


def wavenumbers(grid: Grid) -> tuple[np.ndarray, ...]:
    """Angular wavenumbers per axis in the `rfftn` layout (last axis halved), broadcastable.

    **Arguments:**

    - `grid`: a `Grid` (periodic problems).

    **Returns:** one NumPy array per axis, shaped to broadcast against the Fourier coefficients
    (`2π m / L` for mode `m` on an axis of length `L`).

    **Example:**

    ```python
    import numpy as np
    from diffsim import pde

    (k,) = pde.wavenumbers(pde.uniform_grid(8, 0.0, 4 * np.pi))  # length 4π: k = m / 2
    assert np.allclose(k, [0.0, 0.5, 1.0, 1.5, 2.0])
    kx, ky = pde.wavenumbers(pde.uniform_grid((8, 8), 0.0, 2 * np.pi))
    assert kx.shape == (8, 1) and ky.shape == (1, 5)  # the last axis is halved
    ```
    """
    ks = []
    for axis in range(grid.ndim):
        n, dx = grid.shape[axis], grid.spacing[axis]
        last = axis == grid.ndim - 1
        k = 2 * np.pi * (np.fft.rfftfreq(n, dx) if last else np.fft.fftfreq(n, dx))
        shape = [1] * grid.ndim
        shape[axis] = k.size
        ks.append(k.reshape(shape))
    return tuple(ks)


def dealias_mask(grid: Grid, fraction: float = 2 / 3) -> np.ndarray:
    """Orszag's dealiasing mask: the Fourier modes to keep on a periodic grid.

    Keeps modes with `|m| < fraction * n / 2` on every axis (2/3 by default), so that quadratic
    products computed on the grid have no aliased modes left.

    **Arguments:**

    - `grid`: a periodic `Grid`.
    - `fraction`: the kept fraction of the resolved wavenumbers.

    **Returns:** a boolean NumPy array in the `rfftn` layout of `grid` (as `wavenumbers`).

    **Example:** of 17 real-FFT modes on 32 points, the 2/3 rule keeps 11.

    ```python
    from diffsim import pde

    mask = pde.dealias_mask(pde.uniform_grid(32))
    assert mask.shape == (17,) and mask.sum() == 11 and mask[:11].all()
    ```
    """
    keep = np.ones((), bool)
    for axis, k in enumerate(wavenumbers(grid)):
        index = np.abs(k) * grid.lengths[axis] / (2 * np.pi)
        keep = keep & (index < fraction * grid.shape[axis] / 2)
    return keep


def _axes(grid: Grid) -> tuple[int, ...]:
    return tuple(range(-grid.ndim, 0))


def to_fourier(u: ArrayLike, grid: Grid) -> Array:
    """`rfftn` over the grid axes (the last ones)."""
    return jnp.fft.rfftn(jnp.asarray(u), axes=_axes(grid))


def from_fourier(u_hat: ArrayLike, grid: Grid) -> Array:
    """Inverse of `to_fourier` (a real field of the grid's shape)."""
    return jnp.fft.irfftn(jnp.asarray(u_hat), s=grid.shape, axes=_axes(grid))


def spectral_derivative(u: ArrayLike, grid: Grid, axis: int = 0, order: int = 1) -> Array:
    """`∂ⁿu/∂x_axisⁿ` of a periodic field, exact for resolved Fourier modes.

    The Nyquist mode of an odd derivative is dropped (its derivative is not real).

    **Arguments:**

    - `u`: a real field on the periodic `grid` (grid axes last).
    - `grid`: the `Grid`.
    - `axis`: the grid axis to differentiate along.
    - `order`: the order `n` of the derivative.

    **Returns:** the derivative, a real field shaped like `u`.

    **Example:**

    ```python
    import jax.numpy as jnp
    from diffsim import pde

    grid = pde.uniform_grid(32, 0.0, 2 * jnp.pi)
    du = pde.spectral_derivative(jnp.sin(3 * grid.x), grid)
    assert jnp.allclose(du, 3 * jnp.cos(3 * grid.x), atol=1e-5)
    ```
    """
    k = wavenumbers(grid)[axis]
    n = grid.shape[axis]
    if order % 2 == 1 and n % 2 == 0:
        k = np.where(np.abs(k) * grid.lengths[axis] / (2 * np.pi) == n // 2, 0.0, k)
    return from_fourier((1j * k) ** order * to_fourier(u, grid), grid)


def laplacian_symbol(grid: Grid, discretisation: str = "spectral") -> np.ndarray:
    """The eigenvalues of the periodic Laplacian in the `rfftn` layout.

    `"spectral"`: `-|k|²`; `"fd"`: the second-order finite-difference Laplacian's
    `-Σ (4/dx²) sin²(k dx / 2)` (so a periodic finite-difference model is diagonal too).
    """
    total = 0.0
    for axis, k in enumerate(wavenumbers(grid)):
        if discretisation == "spectral":
            total = total - k**2
        else:
            dx = grid.spacing[axis]
            total = total - (4 / dx**2) * np.sin(k * dx / 2) ** 2
    return np.asarray(total)


def spectral_laplacian(u: ArrayLike, grid: Grid) -> Array:
    """`∇²u` of a periodic field by Fourier differentiation.

    **Arguments:**

    - `u`: a real field on the periodic `grid` (grid axes last).
    - `grid`: the `Grid`.

    **Returns:** `∇²u`, shaped like `u`.

    **Example:**

    ```python
    import jax.numpy as jnp
    from diffsim import pde

    grid = pde.uniform_grid((32, 32), 0.0, 2 * jnp.pi)
    x, y = grid.coordinates()
    lap = pde.spectral_laplacian(jnp.sin(x) * jnp.cos(2 * y), grid)
    assert jnp.allclose(lap, -5 * jnp.sin(x) * jnp.cos(2 * y), atol=1e-4)
    ```
    """
    return from_fourier(laplacian_symbol(grid) * to_fourier(u, grid), grid)


class FourierMultiplier(eqx.Module):
    """A linear operator diagonal in Fourier space: `L u = F⁻¹(symbol · F u)`.

    The stiff linear part of a semilinear PDE for `ETDRK4`. The symbol may be traced (e.g.
    `-ν|k|²` with a fitted viscosity `ν`), so derivatives flow through the exponentials.

    **Arguments:**

    - `symbol`: eigenvalues in the `rfftn` layout of `grid` (real or complex).
    - `grid`: the periodic grid.

    **Example:** the second derivative as the symbol `-k²`.

    ```python
    import jax.numpy as jnp
    from diffsim import pde

    grid = pde.uniform_grid(32, 0.0, 2 * jnp.pi)
    (k,) = pde.wavenumbers(grid)
    second_derivative = pde.FourierMultiplier(jnp.asarray(-(k**2)), grid)
    u = jnp.sin(2 * grid.x)
    assert jnp.allclose(second_derivative(u), -4 * u, atol=1e-12)
    ```
    """

    symbol: Array
    grid: Grid

    def forward(self, u: Array) -> Array:
        return to_fourier(u, self.grid)

    def inverse(self, u_hat: Array) -> Array:
        return from_fourier(u_hat, self.grid)

    def __call__(self, u: Array) -> Array:
        return self.inverse(self.symbol * self.forward(u))
