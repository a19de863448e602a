"""Linear solves for the Newton iterations of implicit stages: dense or matrix-free."""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import jax.scipy.sparse.linalg as jssl


class AbstractLinearSolver(eqx.Module):
    """Solves with the Newton matrix `I - hγ J`, where `J = ∂f/∂y`.

    `prepare` builds, once per step, a solve with `I - hγ J(t, y)` (simplified Newton: the
    matrix is frozen at the start of the step). `tangent_solve(g, b)` solves `g(x) = b` for the
    linear map `g` exactly; the implicit-function-theorem gradient of each stage uses it.
    """

    @abc.abstractmethod
    def prepare(self, fn, t, y, args, hgamma): ...

    @abc.abstractmethod
    def tangent_solve(self, g, b): ...


class DenseLU(AbstractLinearSolver):
    """Dense Jacobian from `jax.jacfwd` and an LU factorisation: for states up to ~10³."""

    def prepare(self, fn, t, y, args, hgamma):
        jac = jax.jacfwd(fn, argnums=1)(t, y, args)
        lu = jsl.lu_factor(jnp.eye(y.size, dtype=y.dtype) - hgamma * jac)
        return lambda b: jsl.lu_solve(lu, b)

    def tangent_solve(self, g, b):
        return jnp.linalg.solve(jax.jacfwd(g)(b), b)


class GMRES(AbstractLinearSolver):
    """Matrix-free GMRES on Jacobian–vector products: memory linear in the state size.

    For method-of-lines PDE states of 10⁴–10⁵ unknowns, where a dense Jacobian cannot be stored.
    """

    rtol: float = eqx.field(static=True, default=1e-10)
    restart: int = eqx.field(static=True, default=30)
    maxiter: int = eqx.field(static=True, default=20)

    def _solve(self, matvec, b):
        x, _ = jssl.gmres(
            matvec,
            b,
            tol=self.rtol,
            restart=self.restart,
            maxiter=self.maxiter,
            solve_method="batched",
        )
        return x

    def prepare(self, fn, t, y, args, hgamma):
        _, jvp = jax.linearize(lambda z: fn(t, z, args), y)
        return lambda b: self._solve(lambda v: v - hgamma * jvp(v), b)

    def tangent_solve(self, g, b):
        return self._solve(g, b)
