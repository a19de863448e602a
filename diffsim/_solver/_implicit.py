"""ESDIRK methods: explicit first stage, then implicit stages solved by simplified Newton."""

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PyTree

from .._controller import rms_norm
from ._base import Step, hermite_dense, hermite_interpolate
from ._linear import AbstractLinearSolver, DenseLU
from ._tableau import AbstractRungeKutta, ButcherTableau


def _default_predictor(tab: ButcherTableau):
    """Starting values of the stages, `z_i ≈ y + h Σ_j α_ij k_j`: the step's start for stage 2
    and the value of stage `i − 1` for stage `i > 2` (`α_i = (a_{i−1}, γ)`). Extrapolating with
    the stage derivatives (explicit Euler, or diffrax's Kværnø predictors) saves little and
    throws stiff components off the slow manifold at large steps, where Newton with an old
    Jacobian then diverges."""
    rows = [(0.0,)]
    rows += [tuple(tab.a[i - 1]) + (tab.gamma,) for i in range(2, len(tab.c))]
    return tuple(rows)


#: Newton updates below this many ulp of the state are round-off: the iteration has converged.
_ROUNDOFF = 100


class NewtonStage(eqx.Module):
    """Simplified Newton on one implicit stage `z = base + hγ f(t, z)`.

    Hairer & Wanner's stopping rule (Solving ODEs II, IV.8): with the observed contraction
    `θ = ‖Δz_k‖ / ‖Δz_{k-1}‖` and `η = θ / (1 − θ)`, stop when `η ‖Δz‖ ≤ κ` in the error norm
    (RMS of `Δz / (atol + rtol |y|)`), i.e. the iteration error is a fraction κ of the step
    tolerance. The first iterate uses the `η` of the previous stage (at least `eta_floor`).
    Fail when the iteration diverges (`θ ≥ 0.99`) or has not converged after `max_iters`.
    """

    kappa: float = eqx.field(static=True, default=1e-2)
    max_iters: int = eqx.field(static=True, default=10)
    eta_floor: float = eqx.field(static=True, default=0.1)

    def tolerance(self, y, scale):
        """The stopping tolerance for error scale `scale` at `y`: κ, but at most `√rtol` as in
        Hairer's RADAU5 (the Newton errors of the stages add up in the error estimate), with
        `rtol` read off `scale` as its smallest ratio to `|y|`; at least 10 ulp of `y`."""
        eps = jnp.finfo(scale.dtype).eps
        rel = jnp.min(jnp.where(y != 0, scale / jnp.abs(y), jnp.inf))
        rel = jnp.clip(rel, eps, 1.0)
        return jnp.maximum(10 * eps / rel, jnp.minimum(self.kappa, jnp.sqrt(rel)))

    def __call__(self, residual, z0, solve, scale, eta0, kappa, floor):
        """`(z, iterations, η, θ, converged)` (θ: the last observed contraction, 0 if none);
        an update below `floor` (round-off of the state, in the error norm) has converged."""
        max_iters = self.max_iters

        def cond(c):
            return c[5] == 0

        def body(c):
            z, it, prev, eta, _, _ = c
            dz = -solve(residual(z), scale, kappa)
            size = rms_norm(dz / scale)
            size = jnp.where(jnp.isfinite(size), size, jnp.inf)
            theta = size / prev
            diverged = ~jnp.isfinite(size) | ((it > 0) & (theta >= 0.99))
            eta = jnp.where(it > 0, theta / (1 - jnp.minimum(theta, 0.99)), eta)
            z = z + dz
            it = it + 1
            converged = ~diverged & ((eta * size <= kappa) | (size <= floor))
            failed = diverged | (it >= max_iters)
            status = jnp.where(converged, 1, jnp.where(failed, 2, 0)).astype(jnp.int32)
            theta = jnp.where(it > 1, theta, jnp.zeros_like(theta))
            return z, it, size, eta, theta, status

        one = jnp.ones((), scale.dtype)
        eta0 = jnp.maximum(eta0, self.eta_floor)
        int0 = jnp.asarray(0, jnp.int32)
        init = (z0, int0, jnp.inf * one, eta0 * one, 0 * one, int0)
        z, it, _, eta, theta, status = jax.lax.while_loop(cond, body, init)
        return z, it, eta, theta, status == 1


def _continuous_extension(tab: ButcherTableau):
    """Weights `β` (stages × 4) of a fourth-order dense output `y(t + θh) = y + h Σ_i b_i(θ) k_i`,
    `b_i(θ) = Σ_m β_im θ^m`, with `b_i(1) = b_i`: the minimum-norm solution of the order
    conditions of the eight trees up to order four (Hairer, Nørsett & Wanner I, II.6), which a
    stiffly accurate ESDIRK of stage order two satisfies with room to spare. `None` if the
    tableau admits none (the Hermite interpolant is used instead)."""
    s = len(tab.c)
    a = np.zeros((s, s))
    for i, row in enumerate(tab.a):
        a[i, : len(row)] = row
        a[i, i] = tab.gamma if i > 0 else 0.0
    c, one = np.asarray(tab.c), np.ones(s)
    trees = [  # (elementary weight Φ, order, density γ)
        (one, 1, 1), (c, 2, 2), (c**2, 3, 3), (a @ c, 3, 6),
        (c**3, 4, 4), (c * (a @ c), 4, 8), (a @ c**2, 4, 12), (a @ a @ c, 4, 24),
    ]  # fmt: skip
    rows, rhs = [], []
    for phi, order, density in trees:
        for m in range(1, 5):
            rows.append(np.kron(phi, np.eye(4)[m - 1]))
            rhs.append(float(m == order) / density)
    for i in range(s):
        rows.append(np.kron(np.eye(s)[i], np.ones(4)))
        rhs.append(tab.b[i])
    system, rhs = np.array(rows), np.array(rhs)
    beta = np.linalg.lstsq(system, rhs, rcond=None)[0]
    if np.max(np.abs(system @ beta - rhs)) > 1e-12:
        return None
    return beta.reshape(s, 4)


class ESDIRKState(NamedTuple):
    """What an ESDIRK solve carries from step to step (all but `f0` under `stop_gradient`).

    `f0`: the first stage derivative of the step, `f(t, y)` at the start or, after an accepted
    step, that step's last stage derivative (stiffly accurate: first same as last, and
    consistent with the Newton values, where `f(t, y)` would amplify their error by `hJ`);
    `jac`, `factors`: the Jacobian and the factorisation of `I − hγ J` made with `hgamma`
    (NaN: none yet); `jac_fresh`: `jac` was evaluated at this step's start; `need_jac`: evaluate
    it there before the step; `jac_counted`: `jac` is in the work counters (False for the one
    `init` evaluates, counted by the first step); `eta`: Newton's last contraction `θ/(1−θ)`;
    `previous`: the last accepted step's dense output `(y, h, ks)`, whose extrapolation starts
    the stages when `extrapolate` (not at the first step, nor when retrying a failed Newton).
    """

    f0: Array
    jac: PyTree[Array]
    factors: PyTree[Array]
    hgamma: Array
    jac_fresh: Array
    need_jac: Array
    jac_counted: Array
    eta: Array
    previous: tuple
    extrapolate: Array


class ESDIRK(AbstractRungeKutta):
    """An explicit-first-stage, singly diagonally implicit Runge–Kutta method.

    Each implicit stage solves `z = base + hγ f(t_i, z)` by simplified Newton iterations
    (`newton`) with the matrix `I − hγ J` from `linear_solver`, each starting from the value
    of the stage before. The stage derivative is taken from the Newton values,
    `k_i = (z_i − base_i)/(hγ)`, not as `f(t_i, z_i)`, which would amplify the Newton error of
    stiff components by `hγ‖J‖`. The error estimate is filtered by `(I − hγJ)⁻¹` (Shampine).

    The Jacobian and factorisation are reused across stages and steps (as Hairer's RADAU5
    does): `J` is evaluated again only after Newton converged slowly (contraction above
    `jac_theta`) or failed with an old `J`, and `I − hγ J` is factorised again when `hγ`
    changed by more than the ratio `refactor_ratio` or `J` was renewed. `Solution.stats`
    counts `num_jacobians` and `num_factorizations`.

    Each stage is wrapped in `jax.lax.custom_root`, so derivatives come from the implicit
    function theorem at the stage value; its linear solve reuses the factorisation.

    **Arguments:**
    - `tableau`: the ESDIRK tableau (with `gamma > 0`).
    - `linear_solver`: `DenseLU()` (default) or matrix-free `GMRES()` for large states.
    - `newton`: the stage iteration's stopping rule (`NewtonStage(kappa, max_iters)`).
    - `jac_theta`, `refactor_ratio`: when to renew the Jacobian and the factorisation.

    **Example:** a stiff linear system in a few dozen steps, against the matrix exponential.

    ```python
    import jax
    import jax.numpy as jnp

    import diffsim

    jax.config.update("jax_enable_x64", True)

    import jax.scipy.linalg

    A = jnp.array([[-1.0, 0.0], [999.0, -1000.0]])  # eigenvalues -1 and -1000: stiff


    def rhs(t, y, params):
        return A @ y


    y0 = jnp.array([1.0, 0.0])
    ts = jnp.array([0.0, 1.0])
    exact = jax.scipy.linalg.expm(A) @ y0

    kvaerno5 = diffsim.ESDIRK(diffsim.SOLVERS["stiff"].tableau)
    sol = diffsim.solve_ode(rhs, y0, ts, None, solver=kvaerno5, rtol=1e-8, atol=1e-10)
    assert jnp.max(jnp.abs(sol.ys[-1] - exact)) < 1e-6
    assert sol.stats["num_accepted"] < 200  # an explicit solver needs thousands of steps here
    ```
    """

    tableau: ButcherTableau
    linear_solver: AbstractLinearSolver = DenseLU()
    newton: NewtonStage = NewtonStage()
    jac_theta: float = eqx.field(static=True, default=0.01)
    refactor_ratio: float = eqx.field(static=True, default=0.2)

    @property
    def predictor(self):
        return _default_predictor(self.tableau)

    def init(self, fn, t0, y0, args) -> ESDIRKState:
        """A fresh Jacobian at `(t0, y0)`; the factorisation waits for the first step size."""
        frozen_y, frozen_args = jax.lax.stop_gradient((y0, args))
        jac = self.linear_solver.jacobian(fn, t0, frozen_y, frozen_args)
        real = jnp.finfo(frozen_y.dtype).dtype
        return ESDIRKState(
            f0=fn(t0, y0, args),
            jac=jac,
            factors=self.linear_solver.factor(jac, jnp.zeros((), real)),
            hgamma=jnp.asarray(jnp.nan, real),
            jac_fresh=jnp.asarray(True),
            need_jac=jnp.asarray(False),
            jac_counted=jnp.asarray(False),
            eta=jnp.asarray(1.0, real),
            previous=(
                y0,
                jnp.zeros((), real),
                jnp.zeros((len(self.tableau.c),) + y0.shape, y0.dtype),
            ),
            extrapolate=jnp.asarray(False),
        )

    def step(self, fn, t, y, h, args, state: ESDIRKState, scale) -> Step:
        ls = self.linear_solver
        frozen_y, frozen_args = jax.lax.stop_gradient((y, args))
        hgamma = jax.lax.stop_gradient(h * self.tableau.gamma)
        renew = state.need_jac
        jac = jax.lax.cond(
            renew, lambda: ls.jacobian(fn, t, frozen_y, frozen_args), lambda: state.jac
        )
        fresh = renew | state.jac_fresh
        ratio = hgamma / state.hgamma
        refactor = renew | ~(jnp.abs(ratio - 1) <= self.refactor_ratio)
        factors = jax.lax.cond(refactor, lambda: ls.factor(jac, hgamma), lambda: state.factors)
        hgamma_f = jnp.where(refactor, hgamma, state.hgamma)
        # Hairer's inflation of the first iterate's contraction estimate at each new step.
        eta0 = jnp.maximum(state.eta, jnp.finfo(hgamma.dtype).eps) ** 0.8
        f0 = state.f0
        y1, error, ks, nfev, ok, eta, theta = self.stages(
            fn, t, y, h, args, f0, scale, jac, factors, hgamma_f, eta0, state
        )
        common = dict(
            jac=jac, factors=factors, hgamma=hgamma_f, eta=eta, jac_counted=jnp.asarray(True)
        )
        next_state = ESDIRKState(
            f0=ks[-1],
            jac_fresh=jnp.asarray(False),
            need_jac=(theta > self.jac_theta) | ~ok,
            previous=jax.lax.stop_gradient((y, h, ks)),
            extrapolate=jnp.asarray(True),
            **common,
        )
        # A rejected step is retried from the same point: a failed Newton iteration with an
        # old Jacobian first gets a fresh one.
        retry_state = ESDIRKState(
            f0=f0,
            jac_fresh=fresh,
            need_jac=~ok & ~fresh,
            previous=state.previous,
            extrapolate=state.extrapolate & ok,
            **common,
        )
        if _continuous_extension(self.tableau) is None:
            dense = hermite_dense(y, y1, f0, ks[-1], h)
        else:
            dense = (y, h, ks)
        stats = dict(
            num_jacobians=(renew | ~state.jac_counted).astype(jnp.int32),
            num_factorizations=refactor.astype(jnp.int32),
        )
        return Step(y1, error, nfev, ok, dense, next_state, retry_state, stats)

    def interpolate(self, dense, theta):
        beta = _continuous_extension(self.tableau)
        if beta is None:
            return hermite_interpolate(dense, theta)
        y, h, ks = dense
        theta = jnp.asarray(theta, jnp.real(y).dtype)
        powers = theta ** jnp.arange(1, 5, dtype=theta.dtype)
        weights = jnp.asarray(beta, theta.dtype) @ powers
        return y + h * (weights.astype(ks.dtype) @ ks)

    def stages(self, fn, t, y, h, args, f0, scale, jac, factors, hgamma_factored, eta, state):
        """The stages of one step from `f0 = f(t, y)` with the given Jacobian and factorisation
        (made with `hgamma_factored`).

        **Returns:** `(y1, error, ks, num_fevals, converged, eta, theta)`, with `eta` the
        contraction factor of the last Newton iteration and `theta` the largest contraction.
        """
        tab = self.tableau
        hgamma = h * tab.gamma
        # h = 0 (padding steps of a fixed grid): every stage is `base`, every k is 0.
        safe_hgamma = jnp.where(hgamma == 0, jnp.ones_like(hgamma), hgamma)
        frozen_args = jax.lax.stop_gradient(args)
        solve = self.linear_solver.newton_solve(fn, frozen_args, jac, factors, hgamma_factored)
        tangent_solve = self.linear_solver.tangent_solve(
            fn, frozen_args, jac, factors, hgamma_factored
        )
        scale = jax.lax.stop_gradient(scale)
        real = scale.dtype
        kappa = self.newton.tolerance(jax.lax.stop_gradient(y), scale)
        floor = _ROUNDOFF * jnp.finfo(real).eps * rms_norm(jax.lax.stop_gradient(y) / scale)
        # One traced stage body, scanned over the implicit stages (tracing each stage separately
        # multiplied the compile time by the number of stages).
        num = len(tab.c)
        rows = np.zeros((num, num))
        alphas = np.zeros((num, num))
        for i in range(1, num):
            rows[i, :i] = tab.a[i]
            alphas[i, :i] = self.predictor[i - 1]
        xs = (
            jnp.arange(1, num),
            jnp.asarray(tab.c[1:], real),
            jnp.asarray(rows[1:], y.dtype),
            jnp.asarray(alphas[1:], y.dtype),
        )

        def stage(carry, x):
            ks, eta, nfev, ok, theta_max = carry
            i, c, row, alpha = x
            ti = t + c * h
            base = y + h * (row @ ks)
            guess = y + h * (alpha @ ks)
            if extension:
                extrapolated = self.interpolate(state.previous, 1 + c * h / safe_previous_h)
                guess = jnp.where(state.extrapolate, extrapolated, guess)
            guess = jax.lax.stop_gradient(guess)

            def residual(z):
                return z - base - hgamma * fn(ti, z, args)

            def newton(residual, z0):
                z, it, eta_, theta, converged = self.newton(
                    residual, z0, solve, scale, eta, kappa, floor
                )
                # Auxiliary outputs must be floating point for custom_root's JVP rule.
                return z, (it.astype(real), eta_, theta, converged.astype(real))

            z, aux = jax.lax.custom_root(residual, guess, newton, tangent_solve, has_aux=True)
            iters, eta, theta, converged = jax.lax.stop_gradient(aux)
            ks = ks.at[i].set((z - base) / safe_hgamma)
            carry = (
                ks,
                eta,
                nfev + iters.astype(jnp.int32),
                ok & (converged > 0),
                jnp.maximum(theta_max, theta),
            )
            return carry, None

        extension = _continuous_extension(tab) is not None
        previous_h = state.previous[1]
        safe_previous_h = jnp.where(previous_h == 0, jnp.ones_like(previous_h), previous_h)
        ks = jnp.zeros((num,) + y.shape, y.dtype).at[0].set(f0)
        init = (ks, eta, jnp.asarray(0, jnp.int32), jnp.asarray(True), jnp.zeros((), real))
        (ks, eta, nfev, ok, theta_max), _ = jax.lax.scan(stage, init, xs)
        y1 = y + h * (jnp.asarray(tab.b, y.dtype) @ ks)
        # Shampine's filtered estimate (Hairer & Wanner IV.8): (I − hγJ)⁻¹ damps the stiff
        # components, whose raw estimate is dominated by Newton and round-off errors.
        error = solve(h * (jnp.asarray(tab.e, y.dtype) @ ks), scale, kappa)
        return y1, error, ks, nfev, ok, eta, theta_max
