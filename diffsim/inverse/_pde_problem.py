"""`PdeProblem`: a PDE on a grid, its unknowns (scalars, fields) and sensor data."""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from .._solution import Solution
from ..pde import Grid
from ._likelihood import LOGNORMAL
from ._options import SolverOptions
from ._parameters import ParameterSpace
from ._problem import AbstractProblem
from ._sensors import SensorOperator, _linear_weights
from ._uncertainty import curve_sd

MAX_FORECAST_TIMES = 101
"""The most output times of a PDE forecast (its memory grows with times x grid x unknowns)."""


class FieldLayout(eqx.Module):
    """Where a spatial unknown sits in the unknowns' vector, and how it reaches the solver grid.

    **Fields:**
    - `name`: the field's name (its entries are the parameters `name[0]`, `name[1]`, ...).
    - `start`: the index of its first entry among the free unknowns.
    - `grid`: the coarse inversion grid it is given on.
    - `to_solver`: `(solver cells, coarse cells)` matrix: interpolation onto the solver grid.
    - `smoothness`: weight `w` of the penalty `w ∫|∇f|²` on the optimizer variable (0: none).

    **Example:** a field of 4 coarse cells, interpolated onto 16 solver cells.

    ```python
    import numpy as np
    from diffsim import inverse, pde

    coarse, fine = pde.uniform_grid(4), pde.uniform_grid(16)
    layout = inverse.FieldLayout(
        name="diffusivity", start=0, grid=coarse,
        to_solver=inverse.interpolation_matrix(coarse, fine, (False,), "constant"),
    )  # fmt: skip
    values = np.array([1.0, 2.0, 3.0, 4.0])  # the free unknowns diffusivity[0..3]
    assert (layout.to_solver @ values).tolist() == [1.0] * 4 + [2.0] * 4 + [3.0] * 4 + [4.0] * 4
    ```
    """

    name: str = eqx.field(static=True)
    start: int = eqx.field(static=True)
    grid: Grid
    to_solver: np.ndarray
    smoothness: float = eqx.field(static=True, default=0.0)

    @property
    def size(self) -> int:
        return self.grid.size

    def penalty(self, z: Array) -> Array:
        """Residuals whose squares sum to `w ∫|∇f|²` (differences between neighbour cells)."""
        if self.smoothness == 0:
            return jnp.zeros(0, z.dtype)
        f = z[self.start : self.start + self.size].reshape(self.grid.shape)
        volume = self.grid.cell_volume
        parts = [
            (self.smoothness * volume) ** 0.5 / h * jnp.diff(f, axis=axis).reshape(-1)
            for axis, h in enumerate(self.grid.spacing)
        ]
        return jnp.concatenate(parts)


def interpolation_matrix(coarse: Grid, fine: Grid, periodic, kind: str) -> np.ndarray:
    """The `(fine cells, coarse cells)` matrix taking cell values on `coarse` to `fine`.

    `kind`: `"constant"` (each fine cell takes the coarse cell it lies in) or `"linear"`.

    **Example:** linear interpolation reproduces a linear profile away from the ends.

    ```python
    import numpy as np
    from diffsim import inverse, pde

    coarse, fine = pde.uniform_grid(4), pde.uniform_grid(8)
    m = inverse.interpolation_matrix(coarse, fine, (False,), "linear")
    assert m.shape == (8, 4) and np.allclose(m.sum(axis=1), 1.0)
    assert np.allclose((m @ coarse.x)[1:-1], fine.x[1:-1])
    ```
    """
    factors = []
    for axis in range(fine.ndim):
        x = fine.axis(axis)
        n = coarse.shape[axis]
        matrix = np.zeros((x.size, n))
        if kind == "constant":
            cell = np.floor((x - coarse.lower[axis]) / coarse.spacing[axis]).astype(int)
            matrix[np.arange(x.size), np.clip(cell, 0, n - 1)] = 1.0
        else:
            index, weight = _linear_weights(x, coarse, axis, periodic[axis])
            for k in range(2):
                np.add.at(matrix, (np.arange(x.size), index[:, k]), weight[:, k])
        factors.append(matrix)
    return factors[0] if len(factors) == 1 else np.kron(factors[0], factors[1])


class PdeProblem(AbstractProblem):
    """Weighted least squares for the unknowns of a PDE on a grid.

    `r = [(sensors(u(x)) - data) / σ, smoothness penalties]`.

    Build it from a config with `diffsim.config.build_problem`.

    **Fields:**
    - `space`: the free unknowns (a field contributes one entry per coarse cell).
    - `options`: the typed solver settings.
    - `observed`, `sigma`: the sensor values and their noise levels, shape `(N,)`.
    - `fixed`: values of the scalars that are not estimated.
    - `fields`: the `FieldLayout` of each spatial unknown.
    - `assemble`: `(scalars, fields on the solver grid) -> (model, u0, params)`.
    - `ts`: the output times (initial time first).
    - `sensors`: the observation operator.
    - `coordinates`, `times`, `variables`: each value's position `(N, ndim)`, time and state
      index; `state_names`: the states (for reports).
    - `name`, `description`: the model, for reports; `source`: the data file or "synthetic".

    **Example:** a heat equation's diffusivity from sensors (a config built in code).

    ```python
    # slow
    import diffsim

    config = diffsim.config.validate_config({
        "name": "heat",
        "model": {
            "equation": "heat",
            "grid": {"cells": 16},
            "boundary": {"left": {"dirichlet": 0.0}, "right": {"dirichlet": 0.0}},
            "initial_condition": "sin(pi*x)",
        },
        "parameters": {"diffusivity": {"init": 0.5, "true": 0.2, "transform": "log"}},
        "data": {"synthetic": {"times": [0.05, 0.1], "sensors": {"x": [0.25, 0.5, 0.75]},
                               "noise": 0.01}},
    })
    problem = diffsim.build_problem(config)
    assert isinstance(problem, diffsim.PdeProblem) and problem.observed.shape == (6,)
    result = diffsim.fit(problem)
    assert result.success and abs(result.x[0] - 0.2) < 0.02
    ```
    """

    space: ParameterSpace
    options: SolverOptions
    observed: np.ndarray
    sigma: np.ndarray
    fixed: dict[str, float] = eqx.field(static=True)
    fields: tuple[FieldLayout, ...]
    assemble: Callable = eqx.field(static=True)
    ts: np.ndarray
    sensors: SensorOperator
    coordinates: np.ndarray
    times: np.ndarray
    variables: np.ndarray
    state_names: tuple[str, ...] = eqx.field(static=True)
    name: str = eqx.field(static=True)
    description: str = eqx.field(static=True, default="")
    source: str = eqx.field(static=True, default="")

    def values(self, x: ArrayLike) -> tuple[dict[str, Array], dict[str, Array]]:
        """`(scalars, fields on the solver grid)` by name, from the free values `x`."""
        x = jnp.asarray(x)
        scalars = {name: jnp.asarray(v, dtype=float) for name, v in self.fixed.items()}
        in_field = set()
        fields = {}
        for layout in self.fields:
            coarse = x[layout.start : layout.start + layout.size]
            fields[layout.name] = jnp.asarray(layout.to_solver, coarse.dtype) @ coarse
            in_field.update(range(layout.start, layout.start + layout.size))
        for i, p in enumerate(self.space.parameters):
            if i not in in_field:
                scalars[p.name] = x[i]
        return scalars, fields

    def solution(self, x: ArrayLike) -> Solution:
        scalars, fields = self.values(x)
        model, u0, params = self.assemble(scalars, fields)
        return self.options.solve_pde(model, u0, self.ts, params)

    def states(self, solution: Solution) -> tuple[Array, ...]:
        """The solution's states as a tuple of `(T, *grid)` arrays."""
        ys = solution.ys
        return tuple(ys) if isinstance(ys, (tuple, list)) else (ys,)

    def predict(self, x: ArrayLike) -> tuple[Array, Array]:
        solution = self.solution(x)
        return self.sensors(self.states(solution)), solution.status

    def prior(self, z: ArrayLike) -> Array:
        z = jnp.asarray(z)
        parts = [layout.penalty(z) for layout in self.fields]
        return jnp.concatenate(parts) if parts else jnp.zeros(0, z.dtype)

    def describe(self) -> dict:
        observed = sorted({self.state_names[i] for i in np.unique(self.variables)})
        return {
            "kind": "pde",
            "model": {
                "name": self.name,
                "states": list(self.state_names),
                "description": self.description,
            },
            "data": {"source": self.source, "observations": observed},
        }

    def report_arrays(self, x_fit, x_start) -> dict[str, np.ndarray]:
        """Sensor data and predictions, the fitted solution on the grid, and each field's
        coarse-cell coordinates."""
        arrays = {
            "times": np.asarray(self.times),
            "coordinates": np.asarray(self.coordinates),
            "variables": np.asarray(self.variables),
            "data": np.asarray(self.observed),
            "sigma": np.asarray(self.sigma),
            "output_ts": np.asarray(self.ts),
        }

        def run(x):
            solution = self.solution(x)
            states = self.states(solution)
            return self.sensors(states), solution.status, states[0]

        run = jax.jit(run)
        for key, x in (("start", x_start), ("fit", x_fit)):
            prediction, status, first_state = run(jnp.asarray(x))
            ok = int(status) == 0
            arrays[f"prediction_{key}"] = np.where(ok, np.asarray(prediction), np.nan)
            if key == "fit":
                arrays["solution_fit"] = np.where(ok, np.asarray(first_state), np.nan)
        model, _, _ = self.assemble(*self.values(jnp.asarray(x_fit)))
        for i in range(model.grid.ndim):
            arrays[f"grid_axis{i}"] = model.grid.axis(i)
        for layout in self.fields:
            coarse = layout.grid.coordinates()
            arrays[f"field_{layout.name}_coordinates"] = np.stack(
                [c.reshape(-1) for c in coarse], axis=1
            )
        return arrays

    def sensor_series(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The sensors: each distinct observed state and position of the data.

        **Returns:** `keys` `(K, 1 + ndim)` (state index, coordinates; sorted), `first`
        `(K,)` (a data value of each sensor) and `sensor` `(N,)` (the sensor of each value).
        """
        keys = np.column_stack([self.variables, self.coordinates])
        unique, first, sensor = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        return unique, first, sensor.reshape(-1)

    def _series_operator(self, first: np.ndarray, points: int) -> SensorOperator:
        """The operator taking the sensors of the data values `first` at each of `points`
        output times (time-major: `(points * K,)` values)."""
        return SensorOperator(
            time_index=np.repeat(np.arange(points), len(first)),
            state_index=np.tile(np.asarray(self.sensors.state_index)[first], points),
            indices=tuple(np.tile(np.asarray(i)[first], (points, 1)) for i in self.sensors.indices),
            weights=tuple(np.tile(np.asarray(w)[first], (points, 1)) for w in self.sensors.weights),
        )

    def predict_at(self, x: ArrayLike, ts: ArrayLike) -> tuple[Array, Array]:
        """`(values, status)`: every sensor (`sensor_series`) at the times `ts` (at or after
        the initial time, concrete), shape `(T, K)`; one solve."""
        ts = np.asarray(ts, dtype=float)
        prepend = self.ts[0] < ts[0]
        grid = np.concatenate([self.ts[:1], ts]) if prepend else ts
        _, first, _ = self.sensor_series()
        model, u0, params = self.assemble(*self.values(x))
        solution = self.options.solve_pde(model, u0, grid, params)
        values = self._series_operator(first, len(grid))(self.states(solution))
        values = values.reshape(len(grid), len(first))
        return (values[1:] if prepend else values), solution.status

    def forecast_arrays(
        self, x_fit, covariance, until: float, *, points: int = 100, level: float = 0.95
    ) -> dict[str, np.ndarray]:
        """The fitted model from the initial time to `until` at every sensor, with a `level`
        band, and every state's field at `until`.

        A sensor is one position and observed state of the data. Its curve's confidence
        band comes from the parameters' `covariance` (the delta method, as
        `OdeProblem.forecast_arrays`); new observations scatter by the sensor's noise level
        as well (its likelihood's at the curve's value; Gaussian: the median `sigma` of its
        data, or the estimated level). The fields at `until` (observed states or
        not) get the same confidence band. At most `MAX_FORECAST_TIMES` times are drawn: the
        band's derivatives hold the whole solution once per unknown.

        **Returns:** `forecast_ts` `(F,)`; `forecast_fit`, `forecast_sd`, `forecast_noise_sd`
        `(F, K)` for the `K` sensors; `forecast_log_noise` `(K,)` (log-normal sensors:
        their noise is of `log y`);
        `forecast_sensor` `(N,)`, the sensor of each data value; `forecast_sensor_state`
        `(K,)` and `forecast_sensor_coordinates` `(K, ndim)`; `forecast_field`,
        `forecast_field_sd` `(num_states, *grid)` at `until`; `forecast_level`, `data_end`.
        """
        unique, first, sensor = self.sensor_series()
        points = min(points, MAX_FORECAST_TIMES)
        fine = np.linspace(self.ts[0], max(float(until), float(self.ts[-1])), points)
        count = len(first)
        operator = self._series_operator(first, points)

        def curves(x):
            scalars, fields = self.values(x)
            model, u0, params = self.assemble(scalars, fields)
            solution = self.options.solve_pde(model, u0, fine, params)
            states = self.states(solution)
            values = operator(states).reshape(points, count)
            final = jnp.stack([s[-1] for s in states])
            return jnp.concatenate([values.reshape(-1), final.reshape(-1)]), solution.status

        x = jnp.asarray(x_fit)
        both, status = jax.jit(curves)(x)
        both_sd = curve_sd(lambda x: curves(x)[0], x, covariance, self.options.adjoint)
        failed = int(status) != 0
        nan = lambda a: np.full(np.shape(a), np.nan) if failed else np.asarray(a)
        model, _, _ = self.assemble(*self.values(x))
        grid_shape = (len(self.state_names), *model.grid.shape)
        split = points * count
        forecast_fit = nan(both[:split].reshape(points, count))
        noise_sd, log_noise = self._sensor_noise(x, forecast_fit, first, sensor)
        return {
            "forecast_ts": fine,
            "forecast_fit": forecast_fit,
            "forecast_sd": nan(both_sd[:split].reshape(points, count)),
            "forecast_noise_sd": noise_sd,
            "forecast_log_noise": log_noise,
            "forecast_sensor": sensor,
            "forecast_sensor_state": unique[:, 0].astype(int),
            "forecast_sensor_coordinates": unique[:, 1:],
            "forecast_field": nan(both[split:].reshape(grid_shape)),
            "forecast_field_sd": nan(both_sd[split:].reshape(grid_shape)),
            "forecast_level": np.asarray(level),
            "data_end": np.asarray(float(self.ts[-1])),
        }

    def _sensor_noise(self, x, mean: np.ndarray, first, sensor) -> tuple[np.ndarray, np.ndarray]:
        """The noise standard deviation of new observations at the model values `mean`
        `(F, K)` of the `K` sensors (`first`: a data value of each, `sensor`: the sensor
        of each value), and which sensors are log-normal (their noise is of `log y`)."""
        count = len(first)
        sigma = np.array([np.median(self.sigma[sensor == k]) for k in range(count)])
        sigma = np.broadcast_to(sigma, mean.shape)
        if self.errors is None:
            return sigma.copy(), np.zeros(count, bool)
        errors = self.errors.repeated(first, mean.shape)
        noise_sd = np.asarray(errors.observation_sd(mean, sigma, x))
        return noise_sd, np.asarray(self.errors.kinds)[first] == LOGNORMAL
