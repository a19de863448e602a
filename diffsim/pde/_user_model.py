"""`UserPDE`: a right-hand side written by a user with `diffsim.pde` operators."""

from collections.abc import Callable

import equinox as eqx
import numpy as np

from ._boundary import Boundaries, boundaries
from ._grid import Grid


class UserPDE(eqx.Module):
    """A PDE whose right-hand side is a user function written with `diffsim.pde` operators.

    The function is `rhs(t, u, params, grid, bcs) -> du/dt` (semi-discrete in space).

    It has the interface `diffsim.pde.solve` needs (`rhs`, `check`, `rates`), but its
    stiffness is unknown, so fixed steps are not checked for stability: use an adaptive solver
    or choose `dt` yourself.

    **Fields:**
    - `function`: the right-hand side.
    - `grid`, `bcs`: the grid and boundary conditions handed to it.
    - `parameter_names`: the parameters it reads (scalars or fields).
    - `state_names`: one name per state array (several form a tuple).

    **Example:** a reaction–diffusion equation written with `diffsim.pde.laplacian`.

    ```python
    import jax.numpy as jnp
    from diffsim import pde


    def decay_diffusion(t, u, params, grid, bcs):
        return pde.laplacian(u, grid, bcs, params["D"]) - params["k"] * u


    grid = pde.uniform_grid(32)
    model = pde.UserPDE(decay_diffusion, grid, pde.Neumann(0.0), ["D", "k"])
    u = jnp.ones(32)
    assert jnp.allclose(model(0.0, u, {"D": 0.1, "k": 2.0}), -2.0)  # flat: only the decay
    ```
    """

    function: Callable = eqx.field(static=True)
    grid: Grid
    bcs: Boundaries
    parameter_names: tuple[str, ...] = eqx.field(static=True)
    state_names: tuple[str, ...] = eqx.field(static=True, default=("u",))

    def __init__(self, function, grid: Grid, bc, parameter_names, state_names=("u",)):
        self.function = function
        self.grid = grid
        self.bcs = boundaries(grid, bc)
        self.parameter_names = tuple(parameter_names)
        self.state_names = tuple(state_names)

    def rhs(self, t, u, params):
        return self.function(t, u, params, self.grid, self.bcs)

    def __call__(self, t, u, params):
        return self.rhs(t, u, params)

    def rates(self, u, params):
        """Unknown: `(None, None)`, so no explicit step limit is computed."""
        return None, None

    def check(self, u, params) -> None:
        """Raise `ValueError` for a state that does not fit the grid or a parameter name the
        function was not declared with."""
        parts = (u,) if len(self.state_names) == 1 else tuple(u)
        for part, name in zip(parts, self.state_names, strict=True):
            if tuple(np.shape(part)) != self.grid.shape:
                raise ValueError(
                    f"state {name!r} has shape {tuple(np.shape(part))}, but the grid has shape "
                    f"{self.grid.shape}"
                )
        for key in set(params) ^ set(self.parameter_names):
            raise ValueError(f"{self.function.__name__}: parameter {key!r} is not declared")
