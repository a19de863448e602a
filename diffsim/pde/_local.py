"""`AbstractLocalPDE`: a PDE whose right-hand side is written once, for grids and for PINNs."""

import abc

import jax.numpy as jnp
from jaxtyping import Array

from ._model import AbstractPDE
from ._operators import AbstractOperators, GridOperators
from ._pointwise import PointOperators, time_derivative


class AbstractLocalPDE(AbstractPDE):
    """A PDE `u_t = F(t, u, ∂u, ∂²u, ...; params)` with a local (differential) right-hand side.

    A model implements `equation(t, ops, params)`: `F` in terms of `ops` (an
    `AbstractOperators`: values, gradients, diffusion, advection, conservation laws), and
    `operators(u, params)`: the `GridOperators` of its discretisation. Then

    - `rhs(t, u, params)` (method of lines) is `equation` on the grid, and
    - `residual(fn, t, x, params)` is `∂_t u - equation` at a point for any differentiable
      `fn(t, x)` (a network, or an exact solution): what a PINN minimizes.

    **Example:** the residual of an exact solution of the heat equation is zero.

    ```python
    import jax.numpy as jnp
    from diffsim import pde

    model = pde.Heat(pde.uniform_grid(32), pde.Dirichlet(0.0))


    def exact(t, x):
        return jnp.exp(-(jnp.pi**2) * 0.5 * t) * jnp.sin(jnp.pi * x[0])


    residual = model.residual(exact, 0.3, jnp.array([0.4]), {"diffusivity": 0.5})
    assert isinstance(model, pde.AbstractLocalPDE) and abs(residual) < 1e-12
    ```
    """

    @abc.abstractmethod
    def equation(self, t, ops: AbstractOperators, params):
        """`du/dt` in terms of `ops` (same structure as the state)."""

    @abc.abstractmethod
    def operators(self, u, params) -> GridOperators:
        """The grid operators of this discretisation, bound to the state `u`."""

    def rhs(self, t, u, params):
        return self.equation(t, self.operators(u, params), params)

    def residual(self, fn, t, x, params) -> Array:
        """`∂u/∂t - F` at the point `(t, x)` for `u = fn(t, x)` (exact derivatives).

        **Arguments:**
        - `fn`: `fn(t, x) -> state`, `x` of shape `(ndim,)`; a scalar for a one-field state,
          else one entry per state component (in `state_names` order).
        - `t`, `x`: the point; `params`: the parameter dict (scalars, or functions of `x`
          for field parameters).

        **Returns:** the residual, shaped like `fn(t, x)`.
        """
        forcing = self.equation(t, PointOperators(fn, t, x), params)
        if isinstance(forcing, tuple):
            forcing = jnp.stack(forcing)
        return time_derivative(fn, t, x) - forcing
