"""`LeastSquaresProblem`: an ODE model, data and unknowns turned into weighted residuals."""

from collections.abc import Callable, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from .. import Solution, solve_ode
from ..models import ODEModel
from ._data import Dataset
from ._expressions import Expression
from ._parameters import ParameterSpace


class LeastSquaresProblem(eqx.Module):
    """Weighted least squares for ODE parameters: `r = weight * (observable(z) - data)`.

    Build it with `diffsim.inverse.build_problem` (from a config) or directly.

    **Fields:**
    - `model`: the `ODEModel`.
    - `space`: the free parameters and their transforms.
    - `fixed`: values of every quantity that is not estimated (`{name: float}`).
    - `initial_state`: `f(values) -> y0`, where `values` maps every parameter name to a scalar.
    - `observables`: one `Expression` per data column, over states, parameters and `t`.
    - `data`: the `Dataset` (NaN marks missing values).
    - `sigma`: the noise standard deviation of every data value, shape `(T, M)`.
    - `t0`: the initial time (at or before the first data time).
    - `solver_options`: keyword arguments for `diffsim.solve_ode` (solver, rtol, atol, ...).
    """

    model: ODEModel
    space: ParameterSpace
    fixed: dict[str, float] = eqx.field(static=True)
    initial_state: Callable = eqx.field(static=True)
    observables: tuple[Expression, ...] = eqx.field(static=True)
    data: Dataset
    sigma: np.ndarray
    t0: float = eqx.field(static=True)
    solver_options: dict = eqx.field(static=True)

    @property
    def num_residuals(self) -> int:
        """The length of the residual vector (`T * M`, missing values included as zeros)."""
        return int(self.data.values.size)

    @property
    def num_points(self) -> int:
        """The number of finite data values (the `N` of the statistics)."""
        return self.data.num_points

    def values(self, x: ArrayLike) -> dict[str, Array]:
        """All parameter values by name, from the free values `x` and the fixed ones."""
        values = {name: jnp.asarray(v, dtype=float) for name, v in self.fixed.items()}
        for i, name in enumerate(self.space.names):
            values[name] = jnp.asarray(x)[i]
        return values

    def solve(self, values: Mapping[str, ArrayLike], ts: ArrayLike, **options) -> Solution:
        """The `diffsim.Solution` from `t0` with parameter `values`, output at `t0` and `ts`.

        **Arguments:**
        - `values`: every parameter value by name (see `values`).
        - `ts`: increasing output times at or after `t0` (concrete: a NumPy array or list).
        - `options`: overrides of `solver_options` (e.g. tighter `rtol` for synthetic data).

        **Returns:** the solution (never raises on solver failure: read its `status`); its
        first output time is `t0`, followed by those of `ts` after `t0`.
        """
        ts = np.asarray(ts, dtype=float)
        # NumPy, not jnp: concrete output times give fixed-step solves the fast fixed grid.
        grid = np.concatenate([[self.t0], ts]) if self.t0 < ts[0] else ts
        params = {name: values[name] for name in self.model.parameters}
        y0 = self.initial_state(values)
        kwargs = {**self.solver_options, **options, "throw": False}
        return solve_ode(self.model.vector_field, y0, grid, params, **kwargs)

    def simulate(self, values: Mapping[str, ArrayLike], ts: ArrayLike, **options):
        """Solve the model from `t0` with parameter `values` and return states at `ts`.

        **Arguments:** as for `solve`.

        **Returns:** `(ys, status)`: states of shape `(len(ts), num_states)` and the solver's
        status code (0 on success).
        """
        solution = self.solve(values, ts, **options)
        prepend = self.t0 < float(np.asarray(ts)[0])
        return (solution.ys[1:] if prepend else solution.ys), solution.status

    def adjoint_choice(self) -> tuple[str, str]:
        """The gradient strategy `solve_ode` uses for this problem, and why (traced, not run)."""
        x = self.space.initial_values()
        solution = jax.eval_shape(lambda x: self.solve(self.values(x), self.data.ts), x)
        return solution.adjoint, solution.adjoint_reason

    def observe(self, values: Mapping[str, ArrayLike], ts: Array, ys: Array) -> Array:
        """Observables at times `ts` for states `ys` (shape `(T, num_states)`): shape `(T, M)`."""
        env = {name: ys[:, i] for i, name in enumerate(self.model.states)}
        env.update(values)
        env["t"] = ts
        return jnp.stack([jnp.broadcast_to(e(env), ts.shape) for e in self.observables], axis=-1)

    def predict(self, x: ArrayLike, ts: ArrayLike | None = None, **options) -> tuple[Array, Array]:
        """Model observables for free values `x` at `ts` (default: the data times).

        **Returns:** `(observables, status)` with observables of shape `(T, M)`.
        """
        ts = np.asarray(self.data.ts if ts is None else ts, dtype=float)
        values = self.values(x)
        ys, status = self.simulate(values, ts, **options)
        return self.observe(values, jnp.asarray(ts), ys), status

    def residuals(self, z: ArrayLike) -> Array:
        """Weighted residuals `(prediction - data) / sigma`, flattened, for optimizer vector `z`.

        Missing data contribute zeros. When the solve fails or gives non-finite values, every
        residual is `inf`, so optimizers see an infinite loss and reject the step.
        """
        x = self.space.to_values(z)
        prediction, status = self.predict(x)
        data = jnp.asarray(self.data.values)
        missing = jnp.isnan(data)
        r = jnp.where(missing, 0.0, (prediction - jnp.where(missing, 0.0, data)) / self.sigma)
        ok = (status == 0) & jnp.all(jnp.isfinite(r))
        return jnp.where(ok, r, jnp.inf).reshape(-1)

    def chi_square(self, z: ArrayLike) -> Array:
        """`sum(residuals(z)**2)`: the loss the optimizers minimize."""
        r = self.residuals(z)
        return jnp.sum(r * r)


def observation_sigma(data: Dataset, sigma: ArrayLike, sigma_relative: ArrayLike) -> np.ndarray:
    """Per-value noise level `sqrt(sigma^2 + (sigma_relative * |data|)^2)`, shape `(T, M)`.

    **Arguments:**
    - `data`: the observations.
    - `sigma`: absolute noise standard deviation per observable, shape `(M,)`.
    - `sigma_relative`: relative noise per observable, shape `(M,)`.
    """
    magnitude = np.nan_to_num(np.abs(data.values))
    sigma = np.sqrt(np.asarray(sigma) ** 2 + (np.asarray(sigma_relative) * magnitude) ** 2)
    return np.where(sigma > 0, sigma, 1.0)


def add_noise(clean: np.ndarray, sigma: np.ndarray, sigma_relative: np.ndarray, *, seed: int):
    """Add Gaussian noise `N(0, sigma^2 + (sigma_relative * clean)^2)` to `clean` values."""
    std = np.sqrt(np.asarray(sigma) ** 2 + (np.asarray(sigma_relative) * np.abs(clean)) ** 2)
    noise = np.asarray(jax.random.normal(jax.random.key(seed), clean.shape))
    return clean + std * noise
