"""`AbstractProblem`: unknowns in, weighted residuals at the data points out.

Every model kind (ODE, PDE) is a small adapter that says how to predict the data from the
unknowns; `fit`, the uncertainty estimate, the result and the report only see this interface.
"""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from .._solution import Solution
from ._likelihood import ErrorModel
from ._options import SolverOptions
from ._parameters import ParameterSpace
from ._priors import Priors


class AbstractProblem(eqx.Module):
    """Weighted least squares `r = [(predict(x(z)) - data) / sigma, prior(z)]`.

    `z` is the optimizer's vector, `x = space.to_values(z)` the unknowns' values.

    **Fields (declared by each adapter):**
    - `space`: the free unknowns and their transforms.
    - `options`: the typed solver settings.
    - `observed`: the data (any shape; NaN marks a missing value).
    - `sigma`: the noise standard deviation of every data value (shape of `observed`).
    - `fixed`: the parameters held at known values, `{name: value}` (reported beside the
      estimates).

    **Keyword-only fields (every adapter has them):**
    - `errors`: the likelihood of each data value (`None`: Gaussian with `sigma`); its
      residuals are signed deviance residuals, see `ErrorModel`.
    - `priors`: normal / log-normal priors on free parameters (`None`: none); a fit is then
      a MAP estimate.

    **Example:** chi-square is the sum of squared weighted residuals.

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
    assert isinstance(problem, diffsim.AbstractProblem)
    z = problem.space.to_internal(jnp.array([0.7]))
    assert jnp.isclose(problem.chi_square(z), jnp.sum(problem.residuals(z) ** 2))
    assert problem.num_points == 5 and problem.fixed == {}
    ```
    """

    space: eqx.AbstractVar[ParameterSpace]
    options: eqx.AbstractVar[SolverOptions]
    observed: eqx.AbstractVar[np.ndarray]
    sigma: eqx.AbstractVar[np.ndarray]
    fixed: eqx.AbstractVar[dict[str, float]]
    errors: ErrorModel | None = eqx.field(default=None, kw_only=True)
    priors: Priors | None = eqx.field(default=None, kw_only=True)

    @abc.abstractmethod
    def predict(self, x: ArrayLike) -> tuple[Array, Array]:
        """`(prediction, status)`: the model at the data points (shape of `observed`) for
        unknown values `x`, and the solver's status code (0 on success)."""

    @abc.abstractmethod
    def prior(self, z: ArrayLike) -> Array:
        """Extra residuals from regularization (a smoothness prior); empty when there is none."""

    @abc.abstractmethod
    def report_arrays(self, x_fit: ArrayLike, x_start: ArrayLike) -> dict[str, np.ndarray]:
        """What the report draws (data, fitted and starting predictions, fields): host
        arrays, so that the report needs the `Result` alone."""

    @abc.abstractmethod
    def describe(self) -> dict:
        """`{"kind": ..., "model": {name, description, states}, "data": {source,
        observations}}` for results and reports."""

    @property
    def num_points(self) -> int:
        """The number of finite data values (the `N` of the statistics)."""
        return int(np.isfinite(self.observed).sum())

    @property
    def num_residuals(self) -> int:
        """The length of the residual vector (missing values counted as zeros)."""
        z = jnp.asarray(self.space.to_internal(self.space.initial_values()))
        extra = 0 if self.priors is None else len(self.priors.indices)
        extra += 0 if self.errors is None else len(self.errors.noise_parameters)
        return int(self.observed.size) + int(jax.eval_shape(self.prior, z).size) + extra

    def misfit(self, x: ArrayLike, data: ArrayLike | None = None) -> Array:
        """`(prediction - data) / sigma`, or the deviance residuals of `errors` (zeros where
        data are missing; `inf` everywhere when the solve fails), flattened. `data`: other
        data of the shape of `observed` (a bootstrap sample; default: `observed`)."""
        prediction, status = self.predict(x)
        data = jnp.asarray(self.observed if data is None else data)
        missing = jnp.isnan(data)
        filled = jnp.where(missing, 1.0, data)
        if self.errors is None:
            standardized = (prediction - filled) / self.sigma
        else:
            standardized = self.errors.residuals(prediction, filled, self.sigma, x)
        r = jnp.where(missing, 0.0, standardized)
        ok = (status == 0) & jnp.all(jnp.isfinite(r))
        return jnp.where(ok, r, jnp.inf).reshape(-1)

    def residuals(self, z: ArrayLike, data: ArrayLike | None = None) -> Array:
        """Weighted residuals for optimizer vector `z`: the misfit, then the prior terms
        (for other `data` of the shape of `observed`, when given).

        When the solve fails or gives non-finite values, every residual is `inf`, so optimizers
        see an infinite loss and reject the step.
        """
        x = self.space.to_values(z)
        data = self.observed if data is None else data
        parts = [self.misfit(x, data), self.prior(z)]
        if self.priors is not None:
            parts.append(self.priors.residuals(x))
        if self.errors is not None and self.errors.estimates_noise:
            parts.append(self.errors.noise_rows(x, data))
        r = jnp.concatenate(parts)
        return jnp.where(jnp.all(jnp.isfinite(r)), r, jnp.inf)

    def chi_square(self, z: ArrayLike) -> Array:
        """`sum(residuals(z)**2)`: the loss the optimizers minimize (`-2 log` likelihood
        times prior, up to a constant)."""
        r = self.residuals(z)
        return jnp.sum(r * r)

    def adjoint_choice(self) -> tuple[str, str]:
        """The gradient strategy the solver uses for this problem, and why (traced, not run)."""
        solution = jax.eval_shape(self.solution, self.space.initial_values())
        return solution.adjoint, solution.adjoint_reason

    @abc.abstractmethod
    def solution(self, x: ArrayLike) -> Solution:
        """The solver's `Solution` up to the data times for unknown values `x`."""


def observation_sigma(values: np.ndarray, sigma: ArrayLike, sigma_relative: ArrayLike):
    """Per-value noise level `sqrt(sigma^2 + (sigma_relative * |value|)^2)` (1 where both are 0).

    **Arguments:**
    - `values`: the observations, shape `(..., M)`.
    - `sigma`, `sigma_relative`: absolute and relative noise per observable, shape `(M,)`.

    **Example:** an absolute and a relative level combine in quadrature.

    ```python
    import numpy as np
    from diffsim import inverse

    values = np.array([[10.0, 4.0]])
    sigma = inverse.observation_sigma(values, np.array([0.3, 0.0]), np.array([0.04, 0.0]))
    assert np.allclose(sigma, [[0.5, 1.0]])  # sqrt(0.3² + (0.04·10)²); 1 when neither is given
    ```
    """
    magnitude = np.nan_to_num(np.abs(values))
    sigma = np.sqrt(np.asarray(sigma) ** 2 + (np.asarray(sigma_relative) * magnitude) ** 2)
    return np.where(sigma > 0, sigma, 1.0)


def add_noise(clean: np.ndarray, std: np.ndarray, *, seed: int) -> np.ndarray:
    """`clean` plus Gaussian noise of standard deviation `std` (seeded, reproducible).

    **Example:** the same seed gives the same data.

    ```python
    import numpy as np
    from diffsim import inverse

    clean = np.zeros((1000, 2))
    noisy = inverse.add_noise(clean, np.array([0.1, 1.0]), seed=3)
    assert np.array_equal(noisy, inverse.add_noise(clean, np.array([0.1, 1.0]), seed=3))
    assert abs(noisy[:, 0].std() - 0.1) < 0.01 and abs(noisy[:, 1].std() - 1.0) < 0.1
    ```
    """
    noise = np.asarray(jax.random.normal(jax.random.key(seed), np.shape(clean)))
    return np.asarray(clean) + np.asarray(std) * noise
