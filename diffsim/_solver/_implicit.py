"""ESDIRK methods: explicit first stage, then implicit stages solved by Newton's method."""

import equinox as eqx
import jax
import jax.numpy as jnp

from .._controller import rms_norm
from ._base import AbstractSolver, Step
from ._explicit import _combine
from ._linear import AbstractLinearSolver, DenseLU
from ._tableau import ButcherTableau


class ESDIRK(AbstractSolver):
    """An explicit-first-stage, singly diagonally implicit Runge–Kutta method.

    Each implicit stage solves `z = base + hγ f(t_i, z)` by simplified Newton iterations with the
    matrix `I - hγ J` from `linear_solver`. The stage is wrapped in `jax.lax.custom_root`, so
    derivatives (forward and reverse) come from the implicit function theorem at the converged
    stage value: the Newton iterations themselves are never differentiated.

    **Arguments:**
    - `tableau`: the ESDIRK tableau (with `gamma > 0`).
    - `linear_solver`: `DenseLU()` (default) or matrix-free `GMRES()` for large states.
    - `newton_tol`: Newton stops when the RMS of the update, scaled by `atol + rtol|y|`, falls
      below this.
    - `newton_max_iters`: a stage that has not converged by then fails the step.
    """

    tableau: ButcherTableau
    linear_solver: AbstractLinearSolver = DenseLU()
    newton_tol: float = eqx.field(static=True, default=1e-5)
    newton_max_iters: int = eqx.field(static=True, default=20)

    def _stage(self, fn, ti, base, guess, args, hgamma, solve_newton, scale):
        def residual(z):
            return z - base - hgamma * fn(ti, z, args)

        def newton(residual, z0):
            def cond(carry):
                _, it, err = carry
                return (it < self.newton_max_iters) & (err > self.newton_tol)

            def body(carry):
                z, it, _ = carry
                dz = -solve_newton(residual(z))
                # The floor keeps the test reachable at tolerances near round-off: it stops
                # once the update is ~10 ulp of z.
                floor = 1e6 * jnp.finfo(z.dtype).eps * jnp.abs(z)
                err = rms_norm(dz / (scale + floor))
                err = jnp.where(jnp.isfinite(err), err, jnp.inf)
                return z + dz, it + 1, err

            init = (z0, jnp.asarray(0, jnp.int32), jnp.asarray(jnp.inf, z0.dtype))
            z, it, err = jax.lax.while_loop(cond, body, init)
            # Auxiliary outputs must be floating point for custom_root's JVP rule.
            return z, (it.astype(z.dtype), err)

        z, aux = jax.lax.custom_root(
            residual, guess, newton, self.linear_solver.tangent_solve, has_aux=True
        )
        iters, err = jax.lax.stop_gradient(aux)
        return z, iters.astype(jnp.int32), err <= self.newton_tol

    def step(self, fn, t, y, h, args, scale) -> Step:
        tab = self.tableau
        hgamma = h * tab.gamma
        frozen = jax.lax.stop_gradient((y, args, hgamma))
        solve_newton = self.linear_solver.prepare(fn, t, frozen[0], frozen[1], frozen[2])
        ks = [fn(t, y, args)]
        nfev = jnp.asarray(1, jnp.int32)
        ok = jnp.asarray(True)
        z = y
        for c, row in zip(tab.c[1:], tab.a[1:], strict=True):
            base = _combine(y, h, row, ks)
            z, iters, converged = self._stage(
                fn, t + c * h, base, z, args, hgamma, solve_newton, scale
            )
            ks.append(fn(t + c * h, z, args))
            nfev = nfev + iters + 1
            ok = ok & converged
        y1 = _combine(y, h, tab.b, ks)
        error = _combine(jnp.zeros_like(y), h, tab.e, ks)
        return Step(y1, error, nfev, ok)
