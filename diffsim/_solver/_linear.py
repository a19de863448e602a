"""Linear solves for the Newton iterations of implicit stages: dense or matrix-free.

A complex state is solved in its real view (real and imaginary parts stacked), so `fn` need
not be holomorphic: its derivative is the real-linear map JAX differentiates.
"""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import jax.scipy.sparse.linalg as jssl


def _to_real(x):
    return jnp.concatenate([x.real, x.imag]) if jnp.iscomplexobj(x) else x


def _from_real(u, like):
    if not jnp.iscomplexobj(like):
        return u
    n = like.size
    return jax.lax.complex(u[:n], u[n:]).astype(like.dtype)


def _real_map(g, like):
    """`g` (a map of vectors like `like`) as a map of their real views."""
    return lambda u: _to_real(g(_from_real(u, like)))


def _gmres(matvec, b, tol, restart, maxiter, atol=0.0, method="incremental"):
    """GMRES to residual `max(tol |b|, atol)` (or as far as `maxiter` restarts get).

    JAX's "incremental" GMRES, when it stops inside a restart, adds to `x` the last Arnoldi
    vector times the residual estimate (its triangular solve reads the unused rows as identity):
    harmless at a tolerance near round-off, but at a loose one the residual can end larger than
    `|b|`. "batched" completes each restart and solves the least-squares problem correctly (the
    Newton updates use it; the gradient's solves, at 1e-10, keep the early stop)."""
    norm = jnp.linalg.norm(b)
    unit = norm > 0  # GMRES divides by |b|: solve for b/|b|, and x = 0 for b = 0
    scale = jnp.where(unit, norm, jnp.ones_like(norm))
    x, _ = jssl.gmres(
        matvec,
        b / scale,
        tol=tol,
        atol=atol / scale,
        restart=restart,
        maxiter=maxiter,
        solve_method=method,
    )
    return jnp.where(unit, x * scale, jnp.zeros_like(x))


def _matrix(linear, like):
    """The dense matrix of a linear map (by columns; works for transposed maps too)."""
    return jax.vmap(linear)(jnp.eye(like.size, dtype=like.dtype)).T


class AbstractLinearSolver(eqx.Module):
    """Solves with the Newton matrix `I - hγ J`, where `J = ∂f/∂y`.

    The Jacobian and its factorisation are values, so a solver can keep them across stages and
    steps (simplified Newton with a frozen matrix):
    - `jacobian(fn, t, y, args)`: `J` at `(t, y)` (a dense matrix, or the point for a matrix-free
      solver);
    - `factor(jac, hgamma)`: what solving with `I - hγ J` needs (an LU factorisation);
    - `newton_solve(fn, args, jac, factors, hgamma)`: `solve(b, scale, tol)`, an approximate
      solve for the Newton updates and the error filter, whose error the caller needs below
      `tol` in the error norm `RMS(x / scale)` (a direct solver ignores both);
    - `tangent_solve(fn, args, jac, factors, hgamma)`: `solve(g, b)` solving `g(x) = b` for the
      linear map `g` (the Newton matrix at the converged stage) to round-off, reusing the
      factorisation; the implicit-function-theorem derivative of each stage uses it.
    """

    @abc.abstractmethod
    def jacobian(self, fn, t, y, args): ...

    @abc.abstractmethod
    def factor(self, jac, hgamma): ...

    @abc.abstractmethod
    def newton_solve(self, fn, args, jac, factors, hgamma): ...

    @abc.abstractmethod
    def tangent_solve(self, fn, args, jac, factors, hgamma): ...


class DenseLU(AbstractLinearSolver):
    """Dense Jacobian from `jax.jacfwd` and an LU factorisation: for states up to ~10³.

    The tangent solve of the gradient reuses the LU of the (possibly older) Newton matrix as a
    preconditioner of iterative refinement, `x ← x + P⁻¹(b − g(x))`, until the update stalls at
    round-off; only if that does not converge (the old matrix is too far off) is `g` built
    densely by `jacfwd` and solved directly.

    **Example:** Robertson's reaction to `t = 1e5` (rates over nine orders of magnitude), with the
    work counters of the Jacobians and factorisations; mass is conserved.

    ```python
    import jax
    import jax.numpy as jnp

    import diffsim

    jax.config.update("jax_enable_x64", True)

    model = diffsim.models.robertson()
    solver = diffsim.ESDIRK(diffsim.SOLVERS["stiff"].tableau, linear_solver=diffsim.DenseLU())
    ts = jnp.array([0.0, 1e5])
    y0 = jnp.array(model.default_initial_state)
    sol = diffsim.solve_ode(model, y0, ts, model.default_parameters, solver=solver, rtol=1e-6)
    assert abs(jnp.sum(sol.ys[-1]) - 1.0) < 1e-9
    assert 1 <= sol.stats["num_jacobians"] <= sol.stats["num_factorizations"]
    ```
    """

    refine_iters: int = eqx.field(static=True, default=40)

    def jacobian(self, fn, t, y, args):
        return jax.jacfwd(_real_map(lambda z: fn(t, z, args), y))(_to_real(y))

    def factor(self, jac, hgamma):
        return jsl.lu_factor(jnp.eye(jac.shape[0], dtype=jac.dtype) - hgamma * jac)

    def newton_solve(self, fn, args, jac, factors, hgamma):
        def solve(b, scale, tol):
            return _from_real(jsl.lu_solve(factors, _to_real(b)), b)

        return solve

    def tangent_solve(self, fn, args, jac, factors, hgamma):
        def solve(g, b):
            g_real = _real_map(g, b)
            x = jax.lax.custom_linear_solve(
                g_real,
                _to_real(b),
                lambda matvec, r: self._refine(matvec, r, factors, 0),
                lambda vecmat, r: self._refine(vecmat, r, factors, 1),
            )
            return _from_real(x, b)

        return solve

    def _refine(self, matvec, b, factors, trans):
        """Solve `matvec(x) = b` by refinement preconditioned with `factors` (`trans`: of Pᵀ);
        with `refine_iters=0`, directly (the exact matrix: cheaper for small states with many
        tangent columns sharing it)."""
        if self.refine_iters == 0:
            return jnp.linalg.solve(_matrix(matvec, b), b)
        eps = jnp.finfo(b.dtype).eps

        def precondition(r):
            return jsl.lu_solve(factors, r, trans=trans)

        def cond(c):
            _, dx_norm, prev_norm, it = c
            x_norm = jnp.linalg.norm(c[0])
            return (
                (it < self.refine_iters)
                & (dx_norm > 4 * eps * x_norm)
                & ((it < 2) | (dx_norm < 0.5 * prev_norm))
            )

        def body(c):
            x, dx_norm, _, it = c
            dx = precondition(b - matvec(x))
            return x + dx, jnp.linalg.norm(dx), dx_norm, it + 1

        x0 = precondition(b)
        inf = jnp.asarray(jnp.inf, b.dtype)
        x, dx_norm, _, _ = jax.lax.while_loop(cond, body, (x0, inf, inf, 0))
        converged = dx_norm <= 1e3 * eps * jnp.linalg.norm(x)
        return jax.lax.cond(
            converged,
            lambda: x,
            lambda: jnp.linalg.solve(_matrix(matvec, b), b),
        )


class GMRES(AbstractLinearSolver):
    """Matrix-free GMRES on Jacobian–vector products: memory linear in the state size.

    For method-of-lines PDE states of 10⁴–10⁵ unknowns, where a dense Jacobian cannot be stored.
    Newton updates are solved inexactly, as in SUNDIALS: to a residual of `newton_rtol` times the
    Newton tolerance in the error norm (GMRES on the system scaled by the error weights), so a
    residual already at round-off needs no iteration, where a relative residual would chase
    round-off noise (and did: thousands of rejected steps on the heat equation). The tangent
    solve of the gradient uses `rtol`, by default `max(1e-10, 64 eps)` of the state's dtype (so
    float32 does not iterate to `maxiter` after a tolerance it cannot reach).

    **Example:** the heat equation on 100 cells by the method of lines, matrix-free; the
    Fourier mode decays at its exact rate.

    ```python
    import jax
    import jax.numpy as jnp

    import diffsim
    from diffsim import pde

    jax.config.update("jax_enable_x64", True)

    model = pde.Heat(pde.uniform_grid(100, 0.0, 1.0), pde.Dirichlet(0.0))
    x = jnp.asarray(model.grid.x)
    solver = diffsim.ESDIRK(diffsim.SOLVERS["stiff"].tableau, linear_solver=diffsim.GMRES())
    ts = jnp.array([0.0, 0.1])
    sol = pde.solve(model, jnp.sin(jnp.pi * x), ts, {"diffusivity": 1.0}, solver=solver)
    decay = jnp.exp(-(jnp.pi**2) * 0.1)
    assert jnp.max(jnp.abs(sol.ys[-1] - decay * jnp.sin(jnp.pi * x))) < 1e-4
    ```
    """

    rtol: float | None = eqx.field(static=True, default=None)
    newton_rtol: float = eqx.field(static=True, default=0.05)
    restart: int = eqx.field(static=True, default=30)
    maxiter: int = eqx.field(static=True, default=20)

    def jacobian(self, fn, t, y, args):
        return t, y

    def factor(self, jac, hgamma):
        return ()

    def _tol(self, dtype):
        if self.rtol is not None:
            return self.rtol
        return max(1e-10, 64 * float(jnp.finfo(dtype).eps))

    def newton_solve(self, fn, args, jac, factors, hgamma):
        t, y = jac
        _, jvp = jax.linearize(_real_map(lambda z: fn(t, z, args), y), _to_real(y))
        rtol = self._tol(jnp.real(y).dtype)

        def solve(b, scale, tol):
            # GMRES on W⁻¹(I − hγJ)W u = W⁻¹b, x = Wu, with W the error scale (as CVODE scales
            # it), so that its residual is measured in the error norm: RMS ≤ newton_rtol · tol.
            w = jnp.concatenate([scale, scale]) if jnp.iscomplexobj(b) else scale
            r = _to_real(b) / w
            atol = self.newton_rtol * tol * jnp.sqrt(r.size)

            def matvec(v):
                return v - hgamma * jvp(v * w) / w

            # A right-hand side already below the target needs no iteration (batched GMRES
            # would run a whole restart before testing its residual).
            u = jax.lax.cond(
                jnp.linalg.norm(r) <= atol,
                jnp.zeros_like,
                lambda r: _gmres(matvec, r, rtol, self.restart, self.maxiter, atol, "batched"),
                r,
            )
            residual = jnp.linalg.norm(r - matvec(u))
            # Short of its target but within half the Newton tolerance, or halved: an inexact
            # update whose error the Newton contraction shows (unpreconditioned GMRES reduces
            # the high-frequency part of a residual slowly). Otherwise the solve failed.
            bound = jnp.maximum(0.5 * tol * jnp.sqrt(r.size), 0.5 * jnp.linalg.norm(r))
            x = jnp.where(residual <= bound, u * w, jnp.nan)
            return _from_real(x, b)

        return solve

    def tangent_solve(self, fn, args, jac, factors, hgamma):
        tol = self._tol(jnp.real(jac[1]).dtype)

        def gmres(matvec, r):
            return _gmres(matvec, r, tol, self.restart, self.maxiter)

        def solve(g, b):
            x = jax.lax.custom_linear_solve(_real_map(g, b), _to_real(b), gmres, gmres)
            return _from_real(x, b)

        return solve
