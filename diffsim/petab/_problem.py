"""`PetabProblem`: a PEtab problem as an adapter of the inverse layer's `AbstractProblem`.

Every experiment (a simulation condition, optionally after pre-equilibration in another)
is one solve of the same SBML right-hand side with its own parameter vector, vmapped over
experiments on the union of the measurement times. PEtab's noise levels may depend on the
unknowns, and Laplace noise is not a square, so the residuals the optimizers see are
standardized inside `predict` (the data are the transformed measurements, sigma is 1), and
`prior` adds the noise-level terms: then `chi_square = -2 log L + constant`.
"""

import dataclasses
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from .._solution import RESULTS, Solution
from .._solver import ESDIRK, SOLVERS, DenseLU
from ..inverse import AbstractProblem, ParameterSpace, SolverOptions
from ._layout import Layout, from_scale, resolve, to_scale
from ._model import SbmlModel
from ._noise import jacobian_term, log_likelihood_terms, normalization, standardized, transform
from ._steady import STEADY_TIME, STEADY_TOL, SteadyState

#: Up to this many states, an implicit solver's stage tangents (forward-mode columns, reverse
#: cotangents) are solved directly with the exact stage matrix (`DenseLU(refine_iters=0)`): one
#: small LU shared by all columns, where refinement with the step's older LU iterates per column
#: (and, `vmap`ped over columns, also pays the direct fallback every stage). Boehm's 9-column
#: Jacobian: 5x cheaper.
DIRECT_TANGENT_MAX_STATES = 100


@dataclasses.dataclass(frozen=True)
class _TimeHeldAfter:
    """A right-hand side whose time argument is held at `t_end` past it.

    Kvaerno5 evaluates a stage at `t + 1.23 h`, so on the last step past the last output
    time. A piecewise input that switches there (Fujita's stimulus is on while
    `time <= EGF_end`, the last measurement time) made that stage see the switched model:
    the last step came out wrong (4 % at a Latin-hypercube start) or, for strong inputs, was
    rejected down to `step_size_too_small`. Nothing past `t_end` is part of the solution.
    """

    rhs: Callable
    t_end: float

    def __call__(self, t, y, p):
        return self.rhs(jnp.minimum(t, self.t_end), y, p)


class PetabProblem(AbstractProblem):
    """A PEtab problem: SBML model, conditions, measurements, observables, parameters.

    Build it with `diffsim.petab.load`. The unknowns `x` are the estimated parameters
    (linear values; log-scaled ones are optimized in `log x`, inside their bounds).

    **Fields:**
    - `model`: the `SbmlModel`.
    - `layout`: the tables as index arrays (`Layout`).
    - `space`: the estimated parameters.
    - `options`: solver settings (a stiff solver, tight tolerances by default).
    - `steady`: how pre-equilibration steady states are differentiated (`SteadyState`).

    **Example:** the estimated parameters on their PEtab scales, and back.

    ```python
    import numpy as np

    from diffsim import petab

    problem = petab.load("tests/data/petab/Boehm_JProteomeRes2014/Boehm_JProteomeRes2014.yaml")
    scaled = problem.nominal_scaled()  # log10 of the nominal values here
    x = problem.x_from_scaled(scaled)
    np.testing.assert_allclose(np.log10(x), scaled, rtol=1e-12)
    print(dict(zip(problem.space.names, np.round(np.asarray(scaled), 3))))
    ```
    """

    model: SbmlModel = eqx.field(static=True)
    layout: Layout = eqx.field(static=True)
    space: ParameterSpace
    options: SolverOptions
    steady: SteadyState

    @property
    def observed(self) -> np.ndarray:
        """The measurements on their observables' scales (`lin`, `log`, `log10`)."""
        return transform(self.layout.measurement, self._scales(), np)

    @property
    def sigma(self) -> np.ndarray:
        """Ones: `predict` returns standardized residuals plus the data (see the module)."""
        return np.ones_like(self.layout.measurement)

    def _scales(self) -> np.ndarray:
        return np.asarray([self.layout.observables[o].scale for o in self.layout.observable])

    def _laplace(self) -> np.ndarray:
        return np.asarray([self.layout.observables[o].laplace for o in self.layout.observable])

    def with_options(self, **changes) -> "PetabProblem":
        """A copy with some solver settings changed (e.g. `adjoint="direct"`: reverse mode,
        the cheap gradient of the scalar log-likelihood)."""
        return eqx.tree_at(lambda p: p.options, self, self.options.replace(**changes))

    def with_steady_gradient(self, gradient: str) -> "PetabProblem":
        """A copy whose pre-equilibration gradients are `"implicit"` (the implicit function
        theorem, the default where it applies) or `"through_solve"`."""
        if gradient not in ("implicit", "through_solve"):
            raise ValueError(f"steady-state gradient {gradient!r}: use implicit or through_solve")
        steady = SteadyState(self.steady.laws, gradient, f"{gradient} (set by the caller)")
        return eqx.tree_at(lambda p: p.steady, self, steady)

    # -- parameters ---------------------------------------------------------------------

    @property
    def fixed(self) -> dict[str, float]:
        """The parameters that are not estimated, at their nominal (linear) values."""
        lay = self.layout
        held = np.setdiff1d(np.arange(len(lay.parameter_ids)), lay.estimated)
        return {lay.parameter_ids[i]: float(lay.nominal[i]) for i in held}

    def theta(self, x: ArrayLike) -> Array:
        """All PEtab parameters (linear values) for the estimated ones' values `x`."""
        nominal = jnp.asarray(self.layout.nominal)
        return nominal.at[self.layout.estimated].set(jnp.asarray(x, nominal.dtype))

    def nominal_scaled(self) -> Array:
        """The estimated parameters' nominal values on their PEtab scales."""
        i = self.layout.estimated
        return to_scale(self.layout.nominal[i], [self.layout.scales[k] for k in i])

    def x_from_scaled(self, scaled: ArrayLike) -> Array:
        """Linear values `x` for estimated parameters given on their PEtab scales."""
        return from_scale(scaled, [self.layout.scales[k] for k in self.layout.estimated])

    # -- simulation ---------------------------------------------------------------------

    def _solve(self, y0, p, ts) -> Solution:
        options = self.options
        solver = SOLVERS.get(options.solver) if isinstance(options.solver, str) else None
        small = len(self.model.states) <= DIRECT_TANGENT_MAX_STATES
        if isinstance(solver, ESDIRK) and isinstance(solver.linear_solver, DenseLU) and small:
            direct = dataclasses.replace(solver, linear_solver=DenseLU(refine_iters=0))
            options = options.replace(solver=direct)
        rhs = _TimeHeldAfter(self.model.rhs, float(np.max(ts)))
        return options.solve_ode(rhs, y0, ts, p)

    def initial_states(self, theta: ArrayLike) -> tuple[Array, Array]:
        """`(y0, p)`: initial states `(C, X)` (the conditions' set species included, before
        any pre-equilibration) and model parameters `(C, P)` of every condition."""
        lay = self.layout
        p = resolve(theta, lay.parameter_index, lay.parameter_const)
        y0 = jax.vmap(self.model.initial_state)(p)
        set_values = resolve(theta, lay.species_index, lay.species_const)
        return jnp.where(lay.species_set, set_values, y0), p

    def experiment_starts(self, theta: ArrayLike) -> tuple[Array, Array, Array]:
        """`(start, p, status)`: every experiment's state at time 0 `(E, X)` (its condition's
        set species, else the pre-equilibration steady state or the initial state), the model
        parameters `(C, P)` of every condition, and the pre-equilibration status."""
        lay = self.layout
        y0, p = self.initial_states(theta)
        pre, sim = lay.experiments[:, 0], lay.experiments[:, 1]
        start = y0[sim]
        status = jnp.asarray(0, jnp.int32)
        if lay.preequilibrated:
            used = np.unique(pre[pre >= 0])
            y_ss, steady_status = jax.vmap(
                lambda y, q: self.steady(self._solve, self.model.rhs, y, q)
            )(y0[used], p[used])
            drift = jax.vmap(lambda y, q: self.model.rhs(STEADY_TIME, y, q))(y_ss, p[used])
            steady_ok = jnp.all(jnp.abs(drift) <= STEADY_TOL * (1 + jnp.abs(y_ss)))
            status = jnp.maximum(jnp.max(steady_status), status)
            status = jnp.where(steady_ok | (status != 0), status, RESULTS.max_steps_reached)
            from_pre = y_ss[np.searchsorted(used, np.maximum(pre, 0))]
            keep = (pre >= 0)[:, None] & ~lay.species_set[sim]
            start = jnp.where(keep, from_pre, start)
        return start, p, status

    def simulate(self, theta: ArrayLike) -> tuple[Array, Array, Array]:
        """`(ys, p, status)`: states `(E, G, X)` of every experiment on the time grid, the
        model parameters `(C, P)` of every condition, and one status code."""
        lay = self.layout
        start, p, status = self.experiment_starts(theta)
        solution = jax.vmap(lambda y, q: self._solve(y, q, lay.times))(
            start, p[lay.experiments[:, 1]]
        )
        return solution.ys, p, jnp.maximum(status, jnp.max(solution.status))

    def observables(self, theta: ArrayLike) -> tuple[Array, Array, Array]:
        """`(y, sigma, status)`: model value and noise level (linear) of every measurement."""
        lay = self.layout
        theta = jnp.asarray(theta)
        ys, p, status = self.simulate(theta)
        states = ys[lay.experiment, lay.time_index]
        params = p[lay.experiments[lay.experiment, 1]]
        t = jnp.asarray(lay.times[lay.time_index])
        obs_values = resolve(theta, lay.observable_index, lay.observable_const)
        noise_values = resolve(theta, lay.noise_index, lay.noise_const)
        model_names = set(self.model.parameters)
        table = {pid: theta[i] for i, pid in enumerate(lay.parameter_ids) if pid not in model_names}
        y = jnp.zeros(len(lay.measurement))
        sigma = jnp.ones(len(lay.measurement))
        for o, observable in enumerate(lay.observables):
            rows = np.flatnonzero(lay.observable == o)
            if rows.size == 0:
                continue
            extra = dict(table)
            for k in range(obs_values.shape[1]):
                extra[f"observableParameter{k + 1}_{observable.id}"] = obs_values[rows, k]
            for k in range(noise_values.shape[1]):
                extra[f"noiseParameter{k + 1}_{observable.id}"] = noise_values[rows, k]
            evaluate = self.model.evaluator(t[rows], states[rows], params[rows], extra)
            value = jnp.broadcast_to(evaluate(observable.formula), rows.shape)
            evaluate.values[observable.id] = value
            noise = jnp.broadcast_to(evaluate(observable.noise), rows.shape)
            y = y.at[rows].set(value)
            sigma = sigma.at[rows].set(noise)
        return y, sigma, status

    # -- likelihood ---------------------------------------------------------------------

    def _differences(self, theta):
        y, sigma, status = self.observables(theta)
        h = transform(y, self._scales())
        return h - jnp.asarray(self.observed), sigma, status

    def log_likelihood(self, x: ArrayLike) -> Array:
        """PEtab's log-likelihood (normalization constants included) at estimated
        parameter values `x` (linear); NaN when a solve fails (see `status`)."""
        return self.log_likelihood_and_status(x)[0]

    def log_likelihood_and_status(self, x: ArrayLike) -> tuple[Array, Array]:
        """`(log_likelihood(x), status(x))` from one simulation (one compilation)."""
        d, sigma, status = self._differences(self.theta(x))
        terms = log_likelihood_terms(d, sigma, self._laplace())
        total = jnp.sum(terms) - float(
            np.sum(jacobian_term(self.layout.measurement, self._scales()))
        )
        return jnp.where(status == 0, total, jnp.nan), status

    def log_likelihood_scaled(self, scaled: ArrayLike) -> Array:
        """`log_likelihood` of the estimated parameters on their PEtab scales (the gradient
        of this is the one PEtab tools report)."""
        return self.log_likelihood(self.x_from_scaled(scaled))

    def status(self, x: ArrayLike) -> Array:
        """The solver status at `x` (0 on success)."""
        return self.simulate(self.theta(x))[2]

    # -- AbstractProblem ----------------------------------------------------------------

    def predict(self, x: ArrayLike) -> tuple[Array, Array]:
        d, sigma, status = self._differences(self.theta(x))
        r = standardized(d, sigma, self._laplace())
        return jnp.asarray(self.observed) + r, status

    def prior(self, z: ArrayLike) -> Array:
        if not self._noise_estimated():
            return jnp.zeros(0, jnp.result_type(float))
        _, sigma, _ = self.observables(self.theta(self.space.to_values(z)))
        return normalization(sigma, self._laplace())

    def _noise_estimated(self) -> bool:
        """Whether a noise level can depend on the unknowns (then it is part of the fit)."""
        lay = self.layout
        estimated = {lay.parameter_ids[i] for i in lay.estimated}
        in_tables = np.isin(lay.noise_index, lay.estimated).any()
        in_formulas = any(
            {s.name for s in o.noise.free_symbols} & (estimated | set(self.model.names()))
            for o in lay.observables
        )
        return bool(in_tables or in_formulas)

    def solution(self, x: ArrayLike) -> Solution:
        """The first experiment's solve, from the same start as in `simulate` (a failed
        pre-equilibration is its status)."""
        start, p, status = self.experiment_starts(self.theta(x))
        solution = self._solve(start[0], p[self.layout.experiments[0, 1]], self.layout.times)
        return eqx.tree_at(lambda s: s.status, solution, jnp.maximum(status, solution.status))

    def describe(self) -> dict:
        return {
            "kind": "petab",
            "model": {
                "name": self.model.name,
                "states": list(self.model.states),
                "description": f"PEtab problem {self.layout.source}",
            },
            "data": {
                "source": self.layout.source,
                "observations": [o.id for o in self.layout.observables],
            },
        }

    def report_arrays(self, x_fit, x_start) -> dict[str, np.ndarray]:
        """Per measurement: data, model at the start and at the fit, noise level, and which
        experiment, observable and time it is."""
        run = jax.jit(jax.vmap(lambda x: self.observables(self.theta(x))))
        y, sigma, status = run(jnp.stack([jnp.asarray(x_start), jnp.asarray(x_fit)]))
        y = np.where(np.asarray(status)[:, None] == 0, np.asarray(y), np.nan)
        lay = self.layout
        return {
            "measurement": lay.measurement,
            "time": lay.times[lay.time_index],
            "experiment": lay.experiment,
            "observable": lay.observable,
            "prediction_start": y[0],
            "prediction_fit": y[1],
            "sigma_fit": np.asarray(sigma[1]),
        }
