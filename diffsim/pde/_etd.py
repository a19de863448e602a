"""ETDRK4: a fourth-order exponential integrator for semilinear PDEs, as a core solver.

For `du/dt = L u + N(t, u)` with `L` diagonal in Fourier space, the linear part is integrated
exactly (no step-size limit from stiff diffusion) and `N` by Cox and Matthews' fourth-order
scheme. It plugs into `diffsim.solve_ode` as `solver=ETDRK4(model)`: the core's fixed-step
loop, checkpointing and gradients are used unchanged.
"""

import abc
import math
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from .._solver import AbstractSolver, ButcherTableau, Step
from .._solver._base import hermite_dense, hermite_interpolate
from .._solver._tableau import RK4

_SERIES_TERMS = 20


def phi_functions(z):
    """`(e^z, φ₁(z), φ₂(z), φ₃(z))` with `φ_k(z) = Σ_j z^j / (j + k)!`, elementwise.

    Near zero, the closed forms `φ₁ = (e^z - 1)/z`, ... cancel catastrophically, so `|z| < 1`
    uses the Taylor series (20 terms: round-off level in float64) instead. Works for real and
    complex `z` and is safe to differentiate (no `0/0` on the branch not taken).

    **Example:** no cancellation at `z = 0`, and the closed forms elsewhere.

    ```python
    import jax.numpy as jnp
    from diffsim import pde

    ez, phi1, phi2, phi3 = pde.phi_functions(jnp.array([0.0, 1e-9, -3.0]))
    assert jnp.allclose(phi1[:2], 1.0) and jnp.allclose(phi2[:2], 0.5)
    assert jnp.allclose(phi3[:2], 1 / 6)
    assert jnp.isclose(phi1[2], (jnp.exp(-3.0) - 1) / -3.0)
    ```
    """
    small = jnp.abs(z) < 1
    zs = jnp.where(small, jnp.ones_like(z), z)  # the closed forms, evaluated away from 0
    phi1 = jnp.expm1(zs) / zs
    phi2 = (phi1 - 1) / zs
    phi3 = (phi2 - 0.5) / zs
    zt = jnp.where(small, z, jnp.zeros_like(z))
    series = []
    for k in (1, 2, 3):
        total = jnp.zeros_like(zt)
        for j in reversed(range(_SERIES_TERMS)):
            total = total * zt + 1 / math.factorial(j + k)
        series.append(total)
    return (
        jnp.exp(z),
        jnp.where(small, series[0], phi1),
        jnp.where(small, series[1], phi2),
        jnp.where(small, series[2], phi3),
    )


class AbstractSemilinear(eqx.Module):
    """A PDE written as `du/dt = L u + N(t, u)`, with `L` diagonal in Fourier space.

    `linear(params)` returns the `FourierMultiplier` of `L` (a pytree of them, one per leaf
    of a pytree state); `nonlinear(t, u, params)` returns `N` (same structure as `u`).

    **Example:** Fisher–KPP split into its diffusion `L` and its reaction `N`.

    ```python
    import jax.numpy as jnp
    from diffsim import pde

    grid = pde.uniform_grid(32, 0.0, 2 * jnp.pi)
    model = pde.FisherKPP(grid, pde.Periodic(), spatial="spectral")
    params = {"diffusivity": 0.1, "rate": 1.0}
    u = 0.5 + 0.2 * jnp.cos(grid.x)
    L = model.linear(params)  # a FourierMultiplier
    split = L(u) + model.nonlinear(0.0, u, params)
    assert isinstance(model, pde.AbstractSemilinear) and jnp.allclose(split, model(0.0, u, params))
    ```
    """

    @abc.abstractmethod
    def linear(self, params): ...

    @abc.abstractmethod
    def nonlinear(self, t, u, params): ...


def _is_operator(x) -> bool:
    return hasattr(x, "symbol") and hasattr(x, "forward")


class ETDRK4(AbstractSolver):
    """Cox–Matthews ETDRK4 for a semilinear model (fixed steps, order 4).

    The `φ`-function coefficients are recomputed each step from `h L`, so `L` may depend on
    fitted parameters and `h` may vary; derivatives of the step are JAX's own.

    **Arguments:**
    - `model`: an `AbstractSemilinear` (its `linear` and `nonlinear` are what is stepped; the
      `rhs` given to `solve_ode` then only fixes the state layout and the parameters).

    **Example:** a linear problem is stepped exactly, whatever the step.

    ```python
    import jax.numpy as jnp

    import diffsim
    from diffsim import pde

    grid = pde.uniform_grid(16, 0.0, 2 * jnp.pi)
    model = pde.Heat(grid, pde.Periodic(), spatial="spectral")
    u0 = jnp.sin(3 * grid.x)
    ts = jnp.array([0.0, 1.0])
    sol = diffsim.solve_ode(model, u0, ts, {"diffusivity": 1.0}, solver=pde.ETDRK4(model), dt=0.5)
    assert jnp.allclose(sol.ys[-1], jnp.exp(-9.0) * u0, atol=1e-12)  # two steps of hλ = -4.5
    ```
    """

    model: AbstractSemilinear
    # With L = 0 the scheme is the classical Runge–Kutta method: its stability region.
    tableau: ButcherTableau = eqx.field(static=True, default=RK4)
    steps_any_rhs: ClassVar[bool] = False

    @property
    def order(self) -> int:
        return 4

    @property
    def error_order(self) -> None:
        return None

    def init(self, fn, t0, y0, args):
        return ()

    def interpolate(self, dense, theta):
        return hermite_interpolate(dense, theta)

    def step(self, fn, t, y, h, args, state, scale) -> Step:
        del scale
        params = fn.params(args)
        u = fn.state(y)
        ops = self.model.linear(params)

        def over(f, *trees):
            return jax.tree.map(f, ops, *trees, is_leaf=_is_operator)

        def nonlinear_hat(t, u):
            return over(lambda op, n: op.forward(n), self.model.nonlinear(t, u, params))

        coeffs = over(lambda op: phi_functions(h * op.symbol))
        halves = over(lambda op: phi_functions(0.5 * h * op.symbol))
        u_hat = over(lambda op, v: op.forward(v), u)

        def stage(base_hat, n_hat):
            # e^{hL/2} base + (h/2) φ₁(hL/2) n
            def one(op, c, b, n):
                return op.inverse(c[0] * b + 0.5 * h * c[1] * n)

            return over(one, halves, base_hat, n_hat)

        nu = nonlinear_hat(t, u)
        a = stage(u_hat, nu)
        na = nonlinear_hat(t + h / 2, a)
        b = stage(u_hat, na)
        nb = nonlinear_hat(t + h / 2, b)
        a_hat = over(lambda op, v: op.forward(v), a)
        c = stage(a_hat, over(lambda op, x, y0: 2 * x - y0, nb, nu))
        nc = nonlinear_hat(t + h, c)

        def combine(op, co, v, n0, n1, n2, n3):
            e, p1, p2, p3 = co
            f1 = p1 - 3 * p2 + 4 * p3
            f2 = p2 - 2 * p3
            f3 = 4 * p3 - p2
            return op.inverse(e * v + h * (f1 * n0 + 2 * f2 * (n1 + n2) + f3 * n3))

        u1 = over(combine, coeffs, u_hat, nu, na, nb, nc)
        y1 = ravel_pytree(u1)[0].astype(y.dtype)
        # Dense output (only computed when asked for): cubic Hermite from the full rhs.
        dense = hermite_dense(y, y1, fn(t, y, args), fn(t + h, y1, args), h)
        return Step(y1, None, jnp.asarray(4, jnp.int32), jnp.asarray(True), dense, state, state)
