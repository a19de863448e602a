"""Reaction–diffusion models: Fisher–KPP fronts, Allen–Cahn phases and Gray–Scott patterns."""

import abc

import equinox as eqx

from ._boundary import Boundaries, Neumann, Periodic, boundaries
from ._diffusion_terms import check_discretisation, diffusion_operator, diffusion_rate
from ._etd import AbstractSemilinear
from ._grid import Grid
from ._local import AbstractLocalPDE
from ._model import FIELD, SCALAR, concrete_max_abs
from ._operators import GridOperators

_INSULATED = Neumann(0.0)
_PERIODIC = Periodic()


class _ScalarReactionDiffusion(AbstractLocalPDE, AbstractSemilinear):
    """`u_t = ∇·(D ∇u) + R(u)` for one field: what Fisher–KPP and Allen–Cahn share.

    Subclasses give the reaction `R` as `nonlinear` and its largest slope as `slope(rate)`.
    """

    grid: eqx.AbstractVar[Grid]
    bcs: eqx.AbstractVar[Boundaries]
    spatial: eqx.AbstractVar[str]
    parameters = {"diffusivity": FIELD, "rate": FIELD}
    optional = ()
    state_names = ("u",)

    @abc.abstractmethod
    def slope(self, rate: float) -> float:
        """A bound on `|dR/du|` for the rate's largest magnitude (explicit step limits)."""

    def equation(self, t, ops, params):
        return ops.diffusion(params["diffusivity"]) + self.nonlinear(t, ops.value(), params)

    def operators(self, u, params):
        return GridOperators(u, self.grid, self.bcs, self.spatial)

    def linear(self, params):
        name = type(self).__name__
        return diffusion_operator(name, self.grid, self.bcs, self.spatial, params["diffusivity"])

    def rates(self, u, params):
        r = concrete_max_abs(params["rate"])
        d = diffusion_rate(self.grid, self.spatial, params["diffusivity"])
        return (None if d is None or r is None else d + self.slope(r)), 0.0


class FisherKPP(_ScalarReactionDiffusion):
    """Fisher–KPP `u_t = ∇·(D ∇u) + r u (1 - u)`: logistic growth that invades as a front.

    **Arguments:** `grid`, `bc` (default zero-flux `Neumann(0.0)`), `spatial` (`"fd"` or
    `"spectral"`).

    **Parameters:** `diffusivity` (scalar or field), `rate` (scalar or field).

    **Example:** a uniform population grows logistically.

    ```python
    import jax.numpy as jnp
    from diffsim import pde

    model = pde.FisherKPP(pde.uniform_grid(16))
    rate = model(0.0, jnp.full(16, 0.25), {"diffusivity": 0.1, "rate": 2.0})
    assert jnp.allclose(rate, 2.0 * 0.25 * 0.75)
    ```
    """

    grid: Grid
    bcs: Boundaries
    spatial: str = eqx.field(static=True)

    def __init__(self, grid: Grid, bc=_INSULATED, spatial: str = "fd"):
        self.grid = grid
        self.bcs = boundaries(grid, bc)
        self.spatial = spatial
        check_discretisation("FisherKPP", spatial, self.bcs)

    def nonlinear(self, t, u, params):
        return params["rate"] * u * (1 - u)

    def slope(self, rate):
        return rate


class AllenCahn(_ScalarReactionDiffusion):
    """Allen–Cahn `u_t = ∇·(D ∇u) + r (u - u³)`: phase separation into `u = ±1`.

    Interfaces are thin (width ~ `sqrt(D / r)`): a stiff benchmark for PINNs.

    **Arguments:** `grid`, `bc` (default periodic), `spatial` (`"fd"` or `"spectral"`).

    **Parameters:** `diffusivity` (scalar or field), `rate` (scalar or field).

    **Example:** the pure phases `u = ±1` and the mixed state `u = 0` are steady.

    ```python
    import jax.numpy as jnp
    from diffsim import pde

    model = pde.AllenCahn(pde.uniform_grid(16))
    params = {"diffusivity": 1e-3, "rate": 1.0}
    for value in (-1.0, 0.0, 1.0):
        assert jnp.allclose(model(0.0, jnp.full(16, value), params), 0.0)
    assert model(0.0, jnp.full(16, 0.5), params)[0] > 0  # 0 is unstable: u moves to 1
    ```
    """

    grid: Grid
    bcs: Boundaries
    spatial: str = eqx.field(static=True)

    def __init__(self, grid: Grid, bc=_PERIODIC, spatial: str = "fd"):
        self.grid = grid
        self.bcs = boundaries(grid, bc)
        self.spatial = spatial
        check_discretisation("AllenCahn", spatial, self.bcs)

    def nonlinear(self, t, u, params):
        return params["rate"] * (u - u * u * u)

    def slope(self, rate):
        # d/du of r (u - u³) is r (1 - 3u²): at most r in value for |u| <= 1, 2r beyond.
        return 2 * rate


class GrayScott(AbstractLocalPDE, AbstractSemilinear):
    """Gray–Scott `u_t = D_u ∇²u - u v² + F (1 - u)`, `v_t = D_v ∇²v + u v² - (F + k) v`.

    State `(u, v)`.

    **Arguments:** `grid`, `bc` (default periodic), `spatial` (`"fd"` or `"spectral"`).

    **Parameters:** `diffusivity_u`, `diffusivity_v` (scalar or field), `feed`, `kill`
    (scalars).

    **Example:** the state is a pair of fields; `(u, v) = (1, 0)` is the trivial steady state.

    ```python
    import jax.numpy as jnp
    from diffsim import pde

    model = pde.GrayScott(pde.uniform_grid((8, 8)))
    params = {"diffusivity_u": 2e-5, "diffusivity_v": 1e-5, "feed": 0.04, "kill": 0.06}
    du, dv = model(0.0, (jnp.ones((8, 8)), jnp.zeros((8, 8))), params)
    assert model.state_names == ("u", "v") and jnp.allclose(du, 0.0) and jnp.allclose(dv, 0.0)
    ```
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

    def equation(self, t, ops, params):
        reaction_a, reaction_b = self.nonlinear(t, (ops.value(0), ops.value(1)), params)
        da = ops.diffusion(params["diffusivity_u"], 0)
        db = ops.diffusion(params["diffusivity_v"], 1)
        return da + reaction_a, db + reaction_b

    def operators(self, u, params):
        return GridOperators(tuple(u), self.grid, self.bcs, self.spatial)

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
