"""Reaction–diffusion models: Fisher–KPP fronts and Gray–Scott patterns."""

import equinox as eqx

from ._boundary import Boundaries, Neumann, Periodic, boundaries
from ._diffusion_terms import (
    check_discretisation,
    diffusion,
    diffusion_operator,
    diffusion_rate,
)
from ._etd import AbstractSemilinear
from ._grid import Grid
from ._model import FIELD, SCALAR, AbstractPDE, concrete_max_abs

_INSULATED = Neumann(0.0)
_PERIODIC = Periodic()


class FisherKPP(AbstractPDE, AbstractSemilinear):
    """Fisher–KPP `u_t = ∇·(D ∇u) + r u (1 - u)`: logistic growth that invades as a front.

    **Arguments:** `grid`, `bc` (default zero-flux `Neumann(0.0)`), `spatial` (`"fd"` or
    `"spectral"`).

    **Parameters:** `diffusivity` (scalar or field), `rate` (scalar or field).
    """

    grid: Grid
    bcs: Boundaries
    spatial: str = eqx.field(static=True)
    parameters = {"diffusivity": FIELD, "rate": FIELD}
    optional = ()
    state_names = ("u",)

    def __init__(self, grid: Grid, bc=_INSULATED, spatial: str = "fd"):
        self.grid = grid
        self.bcs = boundaries(grid, bc)
        self.spatial = spatial
        check_discretisation("FisherKPP", spatial, self.bcs)

    def rhs(self, t, u, params):
        du = diffusion(u, self.grid, self.bcs, self.spatial, params["diffusivity"])
        return du + self.nonlinear(t, u, params)

    def linear(self, params):
        return diffusion_operator(
            "FisherKPP", self.grid, self.bcs, self.spatial, params["diffusivity"]
        )

    def nonlinear(self, t, u, params):
        return params["rate"] * u * (1 - u)

    def rates(self, u, params):
        r = concrete_max_abs(params["rate"])
        d = diffusion_rate(self.grid, self.spatial, params["diffusivity"])
        return (None if d is None or r is None else d + r), 0.0


class GrayScott(AbstractPDE, AbstractSemilinear):
    """Gray–Scott `u_t = D_u ∇²u - u v² + F (1 - u)`, `v_t = D_v ∇²v + u v² - (F + k) v`.

    State `(u, v)`.

    **Arguments:** `grid`, `bc` (default periodic), `spatial` (`"fd"` or `"spectral"`).

    **Parameters:** `diffusivity_u`, `diffusivity_v` (scalar or field), `feed`, `kill`
    (scalars).
    """

    grid: Grid
    bcs: Boundaries
    spatial: str = eqx.field(static=True)
    parameters = {
        "diffusivity_u": FIELD,
        "diffusivity_v": FIELD,
        "feed": SCALAR,
        "kill": SCALAR,
    }
    optional = ()
    state_names = ("u", "v")

    def __init__(self, grid: Grid, bc=_PERIODIC, spatial: str = "fd"):
        self.grid = grid
        self.bcs = boundaries(grid, bc)
        self.spatial = spatial
        check_discretisation("GrayScott", spatial, self.bcs)

    def rhs(self, t, u, params):
        a, b = u
        reaction_a, reaction_b = self.nonlinear(t, u, params)
        da = diffusion(a, self.grid, self.bcs, self.spatial, params["diffusivity_u"])
        db = diffusion(b, self.grid, self.bcs, self.spatial, params["diffusivity_v"])
        return da + reaction_a, db + reaction_b

    def linear(self, params):
        return tuple(
            diffusion_operator("GrayScott", self.grid, self.bcs, self.spatial, params[key])
            for key in ("diffusivity_u", "diffusivity_v")
        )

    def nonlinear(self, t, u, params):
        a, b = u
        feed, kill = params["feed"], params["kill"]
        growth = a * b * b
        return -growth + feed * (1 - a), growth - (feed + kill) * b

    def rates(self, u, params):
        rates = [
            diffusion_rate(self.grid, self.spatial, params[k])
            for k in ("diffusivity_u", "diffusivity_v")
        ]
        feed, kill = concrete_max_abs(params["feed"]), concrete_max_abs(params["kill"])
        if None in rates or feed is None or kill is None:
            return None, None
        return max(rates) + feed + kill + 2.0, 0.0
