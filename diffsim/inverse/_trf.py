"""`TrustRegionReflective`: bound-constrained least squares by scipy's `least_squares`
(`method="trf"`), driven by the problem's JAX residuals and compiled Jacobian.

scipy's trust-region reflective method (Branch, Coleman and Li 1999) keeps every iterate
strictly feasible and can end exactly on a bound, where a sigmoid-transformed parameter only
approaches it. The problem's bounds must be a box in optimizer coordinates
(`with_box_bounds`). The starts run one after the other on the host (scipy is not
`vmap`ped), each with the same compiled residual and Jacobian functions, so no start waits
for another's stiff solves.
"""

import time
import weakref
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
from jaxtyping import Array

from ._box import box_bounds
from ._methods import (
    CONVERGED_FTOL,
    CONVERGED_GTOL,
    CONVERGED_XTOL,
    CONVERGED_ZERO,
    FAILED_START,
    FitRun,
)

#: scipy's `status` of `least_squares` -> the codes of `diffsim.inverse` methods.
_CODES = {1: CONVERGED_GTOL, 2: CONVERGED_FTOL, 3: CONVERGED_XTOL, 4: CONVERGED_FTOL}
#: The `fit.options` this method passes on to `scipy.optimize.least_squares`.
OPTIONS = ("x_scale",)


class TrustRegionReflective(eqx.Module):
    """Trust-region reflective least squares inside the box of the optimizer coordinates.

    **Fields:**
    - `mode`: `"forward"` (`jax.jacfwd`) or `"reverse"` (`jax.jacrev`) for the Jacobian.
    - `ftol`, `xtol`, `gtol`: scipy's tolerances (relative reduction of chi-square, relative
      step, scaled gradient).
    - `x_scale`: scipy's `x_scale` (`1.0`, or `"jac"` for scaling by the Jacobian's columns).

    **Example:** an offset `c >= 0` whose unconstrained best value is negative (noise) stops
    exactly ON its bound.

    ```python
    import diffsim

    config = diffsim.config.validate_config({
        "name": "decay",
        "model": {"equations": {"y": "-k * y + c"}},
        "parameters": {"k": {"init": 0.5, "true": 0.8, "transform": "log"},
                       "c": {"init": 0.1, "true": 0.0, "bounds": [0.0, 1.0]}},  # fmt: skip
        "initial_state": {"y": 1.0},
        "observations": {"y": {"sigma": 0.01}},
        "data": {"synthetic": {"times": {"start": 0.0, "stop": 2.0, "num": 5}, "seed": 0}},
        "solver": {"name": "rk4", "dt": 0.1},
    })
    problem = diffsim.inverse.with_box_bounds(diffsim.build_problem(config))
    result = diffsim.fit(problem, "trust_region_reflective")
    assert result.success and result.x[1] == 0.0  # exactly the bound
    print(result.x, result.message)
    ```
    """

    mode: str = eqx.field(static=True, default="forward")
    ftol: float = eqx.field(static=True, default=1e-8)
    xtol: float = eqx.field(static=True, default=1e-8)
    gtol: float = eqx.field(static=True, default=1e-8)
    x_scale: float | str = eqx.field(static=True, default=1.0)

    def minimize(
        self,
        problem,
        z0: np.ndarray,
        *,
        max_steps: int,
        on_step: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], None] | None = None,
    ) -> FitRun:
        """Fit every start `z0[s]` (optimizer coordinates), one after the other.

        `on_step(losses, z, codes, gradients)` is called after every accepted point of a
        start with the current chi-square, point, code and chi-square gradient of every
        start (a start not yet fitted shows its starting values); it may raise
        `KeyboardInterrupt`, which ends the fit with the best points so far.
        """
        lower, upper = box_bounds(problem.space)
        z0 = np.clip(np.asarray(z0, float), lower, upper)
        clock = time.perf_counter()
        residuals, both = _compiled(problem, self.mode, jnp.asarray(z0[0]))
        compile_seconds = time.perf_counter() - clock

        clock = time.perf_counter()
        count, size = z0.shape
        first = [both(jnp.asarray(z)) for z in z0]
        r_all = np.stack([np.asarray(r) for r, _ in first])
        jac_all = np.stack([np.asarray(j) for _, j in first])
        loss = np.sum(r_all * r_all, axis=1)
        good = np.isfinite(loss) & np.all(np.isfinite(jac_all), axis=(1, 2))
        loss = np.where(good, loss, np.inf)
        code = np.where(good, 0, FAILED_START)
        z = z0.copy()
        initial_gradient = 2 * jac_all[0].T @ r_all[0]
        gradients = 2 * np.einsum("sij,si->sj", jac_all, np.where(good[:, None], r_all, 0.0))
        histories = [[(loss[s], z0[s])] for s in range(count)]
        interrupted = False
        for s in np.flatnonzero(good):
            cache = {"point": z0[s], "r": r_all[s], "jac": jac_all[s]}

            def evaluate(w, cache=cache):
                if not np.array_equal(w, cache["point"]):
                    r, j = both(jnp.asarray(w))
                    cache.update(point=np.array(w), r=np.asarray(r), jac=np.asarray(j))
                return cache["r"] @ cache["r"]

            def jac(w, s=s, cache=cache):
                # scipy evaluates the Jacobian at every accepted point, the last one included.
                value = evaluate(w)
                if not np.array_equal(w, histories[s][-1][1]):
                    histories[s].append((float(value), np.array(w)))
                loss[s], z[s] = histories[s][-1]
                gradients[s] = 2 * cache["jac"].T @ cache["r"]
                if on_step is not None:
                    on_step(loss, z, code, gradients)
                return cache["jac"]

            try:
                solution = scipy.optimize.least_squares(
                    lambda w: np.asarray(residuals(jnp.asarray(w)), float),
                    z0[s],
                    jac=jac,
                    bounds=(lower, upper),
                    method="trf",
                    ftol=self.ftol,
                    xtol=self.xtol,
                    gtol=self.gtol,
                    x_scale=self.x_scale,
                    max_nfev=max_steps,
                )
            except KeyboardInterrupt:
                interrupted = True
            else:
                zero = solution.cost == 0
                code[s] = CONVERGED_ZERO if zero else _CODES.get(solution.status, 0)
            best = min(range(len(histories[s])), key=lambda k: histories[s][k][0])
            loss[s], z[s] = histories[s][best]
            # trf's iterates stay strictly inside the box: an estimate within `xtol` of a
            # bound is put on it, unless that raises chi-square by more than `ftol`.
            snapped = _snap(z[s], lower, upper, self.xtol)
            snapped_loss = evaluate(snapped)
            if np.isfinite(snapped_loss) and snapped_loss <= loss[s] * (1 + self.ftol):
                loss[s], z[s] = snapped_loss, snapped
                if not np.array_equal(snapped, histories[s][-1][1]):
                    histories[s].append((float(snapped_loss), snapped))
            evaluate(z[s])
            r_all[s], jac_all[s] = cache["r"], cache["jac"]
            if interrupted:
                break
        fit_seconds = time.perf_counter() - clock
        steps = max(len(h) for h in histories)
        pad = lambda h: h + [h[-1]] * (steps - len(h))
        padded = [pad(h) for h in histories]
        return FitRun(
            z=z,
            loss=loss,
            code=code,
            residuals=r_all,
            jacobian=jac_all,
            loss_history=np.asarray([[p[t][0] for p in padded] for t in range(steps)]),
            z_history=np.asarray([[p[t][1] for p in padded] for t in range(steps)]),
            initial_gradient=initial_gradient,
            num_steps=steps - 1,
            interrupted=interrupted,
            compile_seconds=compile_seconds,
            fit_seconds=fit_seconds,
        )


def _snap(z: np.ndarray, lower: np.ndarray, upper: np.ndarray, xtol: float) -> np.ndarray:
    """`z` with every coordinate within `xtol (1 + |bound|)` of a finite bound set on it."""
    near = lambda bound: (
        np.isfinite(bound)
        & (np.abs(z - bound) <= xtol * (1 + np.abs(np.where(np.isfinite(bound), bound, 0.0))))
    )
    return np.where(near(lower), lower, np.where(near(upper), upper, z))


_COMPILED: dict[tuple, tuple] = {}


def _compiled(problem, mode: str, example: Array) -> tuple[Callable, Callable]:
    """The compiled residuals and residuals-and-Jacobian of `problem`, kept while the problem
    lives (a fit in chunks of starts compiles once)."""
    key = (id(problem), mode, example.shape, str(example.dtype))
    cached = _COMPILED.get(key)
    if cached is not None and cached[0]() is problem:
        return cached[1]
    residuals = jax.jit(lambda w: problem.residuals(w)).trace(example).lower().compile()
    both = jax.jit(_residuals_and_jacobian(problem, mode)).trace(example).lower().compile()
    _COMPILED[key] = (weakref.ref(problem, lambda _: _COMPILED.pop(key, None)), (residuals, both))
    return residuals, both


def _residuals_and_jacobian(problem, mode: str) -> Callable[[Array], tuple[Array, Array]]:
    def twice(z):
        r = problem.residuals(z)
        return r, r

    jacobian = jax.jacfwd if mode == "forward" else jax.jacrev

    def both(z):
        jac, r = jacobian(twice, has_aux=True)(z)
        return r, jac

    return both
