"""`OdeProblem`: an ODE model, its unknowns and time-series data as a least-squares problem."""

from collections.abc import Callable, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from .._solution import Solution
from ..models import ODEModel
from ._data import Dataset
from ._expressions import Expression
from ._likelihood import LOGNORMAL, ErrorModel
from ._options import SolverOptions
from ._parameters import ParameterSpace
from ._problem import AbstractProblem
from ._uncertainty import curve_sd


class OdeProblem(AbstractProblem):
    """Weighted least squares for ODE parameters: `r = (observable(x) - data) / sigma`.

    Build it from a config with `diffsim.config.build_problem`, or directly.

    **Fields:**
    - `model`: the `ODEModel`.
    - `space`: the free parameters and their transforms.
    - `fixed`: values of every quantity that is not estimated (`{name: float}`).
    - `initial_state`: `f(values) -> y0`, where `values` maps every parameter name to a scalar.
    - `observables`: one `Expression` per data column, over states, parameters and `t`.
    - `data`: the `Dataset` (NaN marks missing values).
    - `sigma`: the noise standard deviation of every data value, shape `(T, M)`.
    - `t0`: the initial time (at or before the first data time).
    - `options`: the typed solver settings.
    - `noise`: (keyword) the absolute and relative noise level of each observable, shape
      `(2, M)`, for the noise of new observations in forecasts (`None`: the median of
      `sigma` per observable, absolute).

    **Example:** weighted residuals at the true value are the data's noise, about 1 each.

    ```python
    import jax.numpy as jnp

    import diffsim

    config = diffsim.config.validate_config({
        "name": "decay",
        "model": {"equations": {"y": "-k * y"}},
        "parameters": {"k": {"init": 0.5, "true": 0.8, "transform": "log"}},
        "initial_state": {"y": 1.0},
        "observations": {"y": {"sigma": 0.01}},
        "data": {"synthetic": {"times": {"start": 0.0, "stop": 2.0, "num": 5}, "seed": 0}},
        "solver": {"name": "rk4", "dt": 0.1},
    })
    problem = diffsim.build_problem(config)
    assert isinstance(problem, diffsim.OdeProblem) and problem.space.names == ("k",)
    z_true = problem.space.to_internal(jnp.array([0.8]))  # the optimizer's coordinates: log k
    r = problem.residuals(z_true)
    assert r.shape == (5,) and float(jnp.sqrt(jnp.mean(r**2))) < 3
    ```
    """

    model: ODEModel
    space: ParameterSpace
    fixed: dict[str, float] = eqx.field(static=True)
    initial_state: Callable = eqx.field(static=True)
    observables: tuple[Expression, ...] = eqx.field(static=True)
    data: Dataset
    sigma: np.ndarray
    t0: float = eqx.field(static=True)
    options: SolverOptions
    noise: np.ndarray | None = eqx.field(default=None, kw_only=True)

    @property
    def observed(self) -> np.ndarray:
        return self.data.values

    def values(self, x: ArrayLike) -> dict[str, Array]:
        """All parameter values by name, from the free values `x` and the fixed ones."""
        values = {name: jnp.asarray(v, dtype=float) for name, v in self.fixed.items()}
        for i, name in enumerate(self.space.names):
            values[name] = jnp.asarray(x)[i]
        return values

    def solve(
        self, values: Mapping[str, ArrayLike], ts: ArrayLike, options: SolverOptions | None = None
    ) -> Solution:
        """The `Solution` from `t0` with parameter `values`, output at `t0` and `ts`.

        **Arguments:**
        - `values`: every parameter value by name (see `values`).
        - `ts`: increasing output times at or after `t0` (concrete: a NumPy array or list).
        - `options`: other solver settings (e.g. tighter tolerances for synthetic data).

        **Returns:** the solution (never raises on solver failure: read its `status`); its
        first output time is `t0`, followed by those of `ts` after `t0`.
        """
        ts = np.asarray(ts, dtype=float)
        # NumPy, not jnp: concrete output times give fixed-step solves the fast fixed grid.
        grid = np.concatenate([[self.t0], ts]) if self.t0 < ts[0] else ts
        params = {name: values[name] for name in self.model.parameters}
        y0 = self.initial_state(values)
        return (options or self.options).solve_ode(self.model.vector_field, y0, grid, params)

    def solution(self, x: ArrayLike) -> Solution:
        return self.solve(self.values(x), self.data.ts)

    def simulate(self, values, ts, options: SolverOptions | None = None):
        """`(ys, status)`: states at `ts` (shape `(len(ts), num_states)`) and the status code."""
        solution = self.solve(values, ts, options)
        prepend = self.t0 < float(np.asarray(ts)[0])
        return (solution.ys[1:] if prepend else solution.ys), solution.status

    def observe(self, values: Mapping[str, ArrayLike], ts: Array, ys: Array) -> Array:
        """Observables at times `ts` for states `ys` (shape `(T, num_states)`): shape `(T, M)`."""
        env = {name: ys[:, i] for i, name in enumerate(self.model.states)}
        env.update(values)
        env["t"] = ts
        return jnp.stack([jnp.broadcast_to(e(env), ts.shape) for e in self.observables], axis=-1)

    def predict_at(self, x: ArrayLike, ts: ArrayLike, options: SolverOptions | None = None):
        """`(observables, status)` at times `ts` (shape `(T, M)`)."""
        ts = np.asarray(ts, dtype=float)
        values = self.values(x)
        ys, status = self.simulate(values, ts, options)
        return self.observe(values, jnp.asarray(ts), ys), status

    def predict(self, x: ArrayLike) -> tuple[Array, Array]:
        return self.predict_at(x, self.data.ts)

    def prior(self, z: ArrayLike) -> Array:
        return jnp.zeros(0, jnp.result_type(float))

    def describe(self) -> dict:
        return {
            "kind": "ode",
            "model": {
                "name": self.model.name,
                "states": list(self.model.states),
                "description": self.model.description,
            },
            "data": {"source": self.data.source, "observations": list(self.data.names)},
        }

    def report_arrays(self, x_fit, x_start, *, points: int = 400) -> dict[str, np.ndarray]:
        """Data, noise levels and model curves on `points` times (NaN where a solve fails)."""
        fine = np.linspace(self.t0, float(self.data.ts[-1]), points)
        curves = jax.jit(jax.vmap(lambda x: self.predict_at(x, fine)))
        values, status = curves(jnp.stack([jnp.asarray(x_start), jnp.asarray(x_fit)]))
        values = np.where(np.asarray(status)[:, None, None] == 0, np.asarray(values), np.nan)
        return {
            "ts": np.asarray(self.data.ts),
            "data": np.asarray(self.data.values),
            "sigma": np.asarray(self.sigma),
            "fine_ts": fine,
            "curve_start": values[0],
            "curve_fit": values[1],
        }

    def forecast_arrays(
        self, x_fit, covariance, until: float, *, points: int = 400, level: float = 0.95
    ) -> dict[str, np.ndarray]:
        """The fitted model from `t0` to `until` (beyond the data) with a `level` band.

        The confidence band of the fitted curve is `prediction +/- q sd`, `sd^2 = g^T C g`
        with `g` the gradient of the prediction with respect to the parameters and `C`
        their covariance (the delta method); NaN when the covariance is not available. New
        observations scatter around the curve by their likelihood's noise as well:
        `noise_sd` is that noise's standard deviation (of `log y` for log-normal data), and
        the prediction band adds both (drawn by the report). Every state of the model is
        returned too, observed or not.

        **Returns:** `forecast_ts` `(F,)`, `forecast_fit`, `forecast_sd`, `forecast_noise_sd`
        `(F, M)`, `forecast_log_noise` `(M,)` (log-normal columns), `states_fit`
        `(F, num_states)`, `forecast_level`, `data_end` (the last data time).
        """
        fine = np.linspace(self.t0, max(float(until), float(self.data.ts[-1])), points)

        def curves(x):
            values = self.values(x)
            ys, status = self.simulate(values, fine)
            return self.observe(values, jnp.asarray(fine), ys), ys, status

        x = jnp.asarray(x_fit)
        observed, states, status = jax.jit(curves)(x)
        sd = curve_sd(lambda x: curves(x)[0], x, covariance, self.options.adjoint)
        failed = int(status) != 0
        nan = lambda a: np.full(np.shape(a), np.nan) if failed else np.asarray(a)
        noise_sd, log_noise = self._observation_noise(x, np.asarray(observed))
        return {
            "forecast_ts": fine,
            "forecast_fit": nan(observed),
            "forecast_sd": nan(sd),
            "forecast_noise_sd": nan(noise_sd),
            "forecast_log_noise": log_noise,
            "states_fit": nan(states),
            "forecast_level": np.asarray(level),
            "data_end": np.asarray(float(self.data.ts[-1])),
        }

    def _observation_noise(self, x, mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The noise standard deviation of new observations at the model values `mean`
        `(F, M)`, and which columns are log-normal (their noise is of `log y`)."""
        if self.noise is None:
            absolute = np.nanmedian(np.asarray(self.sigma), axis=0)
            relative = np.zeros_like(absolute)
        else:
            absolute, relative = np.asarray(self.noise, float)
        sigma = np.sqrt(absolute**2 + (relative * np.abs(mean)) ** 2)
        if self.errors is None:
            return sigma, np.zeros(mean.shape[1], bool)
        row = lambda a: None if a is None else np.broadcast_to(np.asarray(a)[:1], mean.shape)
        errors = ErrorModel(
            kinds=row(self.errors.kinds),
            dispersion=row(self.errors.dispersion),
            sigma_index=row(self.errors.sigma_index),
            dispersion_index=row(self.errors.dispersion_index),
        )
        noise_sd = np.asarray(errors.observation_sd(mean, sigma, x))
        return noise_sd, np.asarray(self.errors.kinds)[0] == LOGNORMAL
