"""`PointOperators`: a PDE's operators as exact derivatives of a function `u(t, x)` at a point.

Derivatives are forward-mode (`jax.jvp`; a second derivative is a jvp of a jvp along the same
axis), exact to round-off, never finite differences. This is what a physics-informed network's
residual is made of; it works for any differentiable `u`, e.g. an exact solution in a test.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array

from ._operators import AbstractOperators


def _at(coefficient, x):
    """A coefficient at `x`: a constant, or a function of the coordinates `x`."""
    return coefficient(x) if callable(coefficient) else coefficient


class PointOperators(AbstractOperators):
    """The operators at one point `(t, x)` of a function `fn(t, x) -> state`.

    **Fields:**
    - `fn`: `fn(t, x)` with `x` of shape `(ndim,)`; returns a scalar for a one-field state, or
      an array with one entry per state component.
    - `t`, `x`: the point.

    Coefficients may be constants or functions of `x` (`k(x)`), e.g. a spatially varying
    diffusivity.

    **Example:** exact derivatives of a function at one point (by automatic differentiation).

    ```python
    import jax.numpy as jnp
    from diffsim import pde

    ops = pde.PointOperators(lambda t, x: jnp.exp(-t) * jnp.sin(x[0]), 0.0, jnp.array([0.3]))
    assert jnp.isclose(ops.gradient(0), jnp.cos(0.3))
    assert jnp.isclose(ops.diffusion(1.0), -jnp.sin(0.3))
    ```
    """

    fn: Callable
    t: Array
    x: Array

    def _component(self, i: int) -> Callable:
        def u(x):
            out = self.fn(self.t, x)
            return out if jnp.ndim(out) == 0 else out[i]

        return u

    def _along(self, g: Callable, axis: int) -> Callable:
        """`x ↦ ∂g/∂x_axis` (forward mode)."""
        e = jnp.zeros_like(self.x).at[axis].set(1)
        return lambda x: jax.jvp(g, (x,), (e,))[1]

    def value(self, i=0):
        return self._component(i)(self.x)

    def coordinates(self):
        return tuple(self.x)

    def gradient(self, axis, i=0):
        return self._along(self._component(i), axis)(self.x)

    def diffusion(self, coefficient, i=0):
        u = self._component(i)
        total = 0.0
        for axis in range(self.x.shape[0]):
            du = self._along(u, axis)

            def flux(x, du=du):
                return _at(coefficient, x) * du(x)

            total = total + self._along(flux, axis)(self.x)
        return total

    def advection(self, velocity, i=0):
        u = self._component(i)
        total = 0.0
        for axis in range(self.x.shape[0]):

            def flux(x, axis=axis):
                return _at(velocity[axis], x) * u(x)

            total = total - self._along(flux, axis)(self.x)
        return total

    def conservation(self, flux, speed, i=0):
        del speed
        u = self._component(i)
        total = 0.0
        for axis in range(self.x.shape[0]):
            total = total - self._along(lambda x, axis=axis: flux(u(x), axis), axis)(self.x)
        return total


def time_derivative(fn: Callable, t, x) -> Array:
    """`∂fn/∂t` at `(t, x)` (forward mode; one entry per state component)."""
    return jax.jvp(lambda s: fn(s, x), (t,), (jnp.ones_like(t),))[1]
