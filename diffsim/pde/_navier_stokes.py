"""Two-dimensional incompressible Navier–Stokes in vorticity form, Fourier pseudo-spectral."""

import jax.numpy as jnp
import numpy as np

from ._etd import AbstractSemilinear
from ._grid import Grid
from ._model import FIELD, SCALAR, AbstractPDE, concrete_max_abs
from ._spectral import FourierMultiplier, dealias_mask, from_fourier, to_fourier, wavenumbers


class NavierStokes2D(AbstractPDE, AbstractSemilinear):
    """Vorticity form of the 2D incompressible Navier–Stokes equations on a periodic box.

    `ω_t + u·∇ω = ν ∇²ω - α ω + f` with velocity `u = ∇⊥ψ` and stream function `∇²ψ = -ω`.
    Pseudo-spectral with the 2/3 dealiasing rule (the advection term is then a Galerkin
    truncation: with `ν = α = 0` it conserves energy and enstrophy). The state is the
    vorticity on the grid (real); the stiff viscous term is linear and diagonal, so
    `solver="etdrk4"` integrates it exactly.

    **Arguments:**

    - `grid`: a 2D periodic `Grid`.

    **Parameters** (`params` dict): `viscosity` (scalar), `drag` (scalar, optional), `forcing`
    (scalar or field, optional).

    **Example:** a Taylor–Green vortex decays at the viscous rate `exp(-2νt)`:

    ```python
    import jax.numpy as jnp
    from diffsim import pde

    grid = pde.uniform_grid((32, 32), 0.0, 2 * jnp.pi)
    x, y = grid.coordinates()
    w0 = 2 * jnp.sin(x) * jnp.sin(y)
    sol = pde.solve(pde.NavierStokes2D(grid), w0, [0.0, 1.0], {"viscosity": 0.1},
                    solver="etdrk4", dt=0.05)
    assert jnp.allclose(sol.ys[-1], w0 * jnp.exp(-0.2), atol=1e-4)
    ```
    """

    grid: Grid
    parameters = {"viscosity": SCALAR, "drag": SCALAR, "forcing": FIELD}
    optional = ("drag", "forcing")
    state_names = ("vorticity",)

    def __init__(self, grid: Grid):
        if grid.ndim != 2:
            raise ValueError(f"NavierStokes2D: needs a 2D grid, got shape {grid.shape}")
        self.grid = grid

    def velocity(self, omega):
        """`(u_x, u_y)` from the vorticity: `ψ̂ = ω̂ / |k|²`, `u = (∂ψ/∂y, -∂ψ/∂x)`."""
        kx, ky = wavenumbers(self.grid)
        k2 = kx**2 + ky**2
        inverse = np.where(k2 > 0, 1 / np.where(k2 > 0, k2, 1), 0.0)
        psi_hat = to_fourier(omega, self.grid) * inverse
        ux = from_fourier(1j * ky * psi_hat, self.grid)
        return ux, from_fourier(-1j * kx * psi_hat, self.grid)

    def linear(self, params):
        kx, ky = wavenumbers(self.grid)
        symbol = -params["viscosity"] * jnp.asarray(kx**2 + ky**2) - params.get("drag", 0.0)
        return FourierMultiplier(symbol, self.grid)

    def nonlinear(self, t, omega, params):
        kx, ky = wavenumbers(self.grid)
        mask = dealias_mask(self.grid)
        omega_hat = to_fourier(omega, self.grid) * mask
        k2 = kx**2 + ky**2
        psi_hat = omega_hat * np.where(k2 > 0, 1 / np.where(k2 > 0, k2, 1), 0.0)
        ux = from_fourier(1j * ky * psi_hat, self.grid)
        uy = from_fourier(-1j * kx * psi_hat, self.grid)
        wx = from_fourier(1j * kx * omega_hat, self.grid)
        wy = from_fourier(1j * ky * omega_hat, self.grid)
        advection = from_fourier(to_fourier(ux * wx + uy * wy, self.grid) * mask, self.grid)
        return -advection + params.get("forcing", 0.0)

    def rhs(self, t, omega, params):
        return self.linear(params)(omega) + self.nonlinear(t, omega, params)

    def energy(self, omega):
        """Kinetic energy `½∫|u|²`."""
        ux, uy = self.velocity(omega)
        return 0.5 * self.grid.integrate(ux**2 + uy**2)

    def enstrophy(self, omega):
        """`½∫ω²`."""
        return 0.5 * self.grid.integrate(omega**2)

    def rates(self, omega, params):
        nu = concrete_max_abs(params["viscosity"])
        drag = concrete_max_abs(params.get("drag", 0.0))
        if nu is None or drag is None:
            return None, None
        ux, uy = self.velocity(jnp.asarray(omega))
        speed = concrete_max_abs(jnp.abs(ux) + jnp.abs(uy))
        if speed is None:
            return None, None
        kmax = max(np.pi / dx for dx in self.grid.spacing)
        return nu * 2 * kmax**2 + drag, speed * kmax
