"""Dense output: the solution at any time of the span, from every step's interpolant."""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PyTree

from ._solver import AbstractSolver


class SaveAt(eqx.Module):
    """What a solve keeps besides the states at `ts` (`solve_ode(..., saveat=SaveAt(...))`).

    **Arguments:**
    - `dense`: keep every step's dense-output data (memory: `max_steps` steps, or the number of
      fixed steps, times the solver's stages), so that `sol.evaluate(t)` gives the solution at
      any `t` of the span.

    **Example:** the solution between output times, from the solver's own interpolant.

    ```python
    import jax
    import jax.numpy as jnp

    import diffsim

    jax.config.update("jax_enable_x64", True)


    def rhs(t, y, params):
        return jnp.stack([y[1], -y[0]])  # a harmonic oscillator: y = (cos t, -sin t)


    ts = jnp.array([0.0, 2.0])
    saveat = diffsim.SaveAt(dense=True)
    sol = diffsim.solve_ode(rhs, jnp.array([1.0, 0.0]), ts, None, rtol=1e-9, saveat=saveat)
    t = jnp.linspace(0.0, 2.0, 7)
    assert jnp.max(jnp.abs(sol.evaluate(t)[:, 0] - jnp.cos(t))) < 1e-6
    ```
    """

    dense: bool = eqx.field(static=True, default=False)


class DenseInterpolation(eqx.Module):
    """Piecewise interpolant over the accepted steps: step `k` covers `[t_k, t_k + h_k]`.

    Times are in the solver's direction (`sign = -1` for a solve backwards in time).
    """

    solver: AbstractSolver
    t_grid: Array
    h_grid: Array
    dense: PyTree[Array]
    num_steps: Array
    unravel: Callable = eqx.field(static=True)
    sign: int = eqx.field(static=True, default=1)

    def evaluate(self, t) -> PyTree[Array]:
        """The solution at `t` (a scalar or an array of times; a leading axis for arrays)."""
        t = jnp.asarray(t, self.t_grid.dtype)

        used = jnp.arange(self.t_grid.shape[0], dtype=jnp.int32) < self.num_steps
        starts = jnp.where(used, self.t_grid, jnp.inf)  # unused slots sort last

        def one(t):
            tau = self.sign * t
            last = jnp.maximum(self.num_steps - 1, 0)
            k = jnp.clip(jnp.searchsorted(starts, tau, side="right") - 1, 0, last)
            theta = jnp.clip((tau - self.t_grid[k]) / self.h_grid[k], 0, 1)
            dense = jax.tree.map(lambda x: x[k], self.dense)
            return self.solver.interpolate(dense, theta)

        flat = jax.vmap(one)(jnp.ravel(t))
        out = jax.vmap(self.unravel)(flat)
        return jax.tree.map(lambda x: x.reshape(t.shape + x.shape[1:]), out)
