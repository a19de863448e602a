"""The heat (diffusion) equation `u_t = ∇·(κ ∇u) + s`, in 1D or 2D."""

import equinox as eqx
import jax.numpy as jnp

from ._boundary import Boundaries, Dirichlet, boundaries
from ._diffusion_terms import check_discretisation, diffusion_operator, diffusion_rate
from ._etd import AbstractSemilinear
from ._grid import Grid
from ._local import AbstractLocalPDE
from ._model import FIELD
from ._operators import GridOperators

_DEFAULT_BC = Dirichlet(0.0)


class Heat(AbstractLocalPDE, AbstractSemilinear):
    """Diffusion with a constant or spatially varying diffusivity and an optional source.

    **Arguments:**
    - `grid`: the `Grid` (1D or 2D).
    - `bc`: boundary conditions (see `boundaries`); default `Dirichlet(0.0)` on every end.
    - `spatial`: `"fd"` (finite volumes, any boundary) or `"spectral"` (Fourier, periodic).

    **Parameters** (`params` dict): `diffusivity` (scalar or field, required), `source`
    (scalar or field, optional).

    **Example:** a Fourier mode is an eigenfunction of the discrete Laplacian (to `O(dx²)`).

    ```python
    import jax.numpy as jnp
    from diffsim import pde

    grid = pde.uniform_grid(64)
    model = pde.Heat(grid, pde.Dirichlet(0.0))
    u = jnp.sin(jnp.pi * grid.x)
    rate = model(0.0, u, {"diffusivity": 0.5})
    assert jnp.max(jnp.abs(rate + 0.5 * jnp.pi**2 * u)) < 1e-3
    ```
    """

    grid: Grid
    bcs: Boundaries
    spatial: str = eqx.field(static=True)
    parameters = {"diffusivity": FIELD, "source": FIELD}
    optional = ("source",)
    state_names = ("u",)

    def __init__(self, grid: Grid, bc=_DEFAULT_BC, spatial: str = "fd"):
        self.grid = grid
        self.bcs = boundaries(grid, bc)
        self.spatial = spatial
        check_discretisation("Heat", spatial, self.bcs)

    def equation(self, t, ops, params):
        return ops.diffusion(params["diffusivity"]) + params.get("source", 0.0)

    def operators(self, u, params):
        return GridOperators(u, self.grid, self.bcs, self.spatial)

    def linear(self, params):
        return diffusion_operator("Heat", self.grid, self.bcs, self.spatial, params["diffusivity"])

    def nonlinear(self, t, u, params):
        return jnp.broadcast_to(jnp.asarray(params.get("source", 0.0), u.dtype), u.shape)

    def rates(self, u, params):
        return diffusion_rate(self.grid, self.spatial, params["diffusivity"]), 0.0
