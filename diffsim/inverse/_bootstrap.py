"""Parametric bootstrap: refit to data simulated from the estimate, read off percentiles."""

import jax
import numpy as np

from ._problem import AbstractProblem
from ._refit import refit_batch


def bootstrap(
    problem: AbstractProblem,
    z: np.ndarray,
    residuals: np.ndarray,
    *,
    samples: int = 200,
    level: float = 0.95,
    seed: int = 0,
    max_steps: int = 100,
) -> dict:
    """Parametric-bootstrap intervals of every parameter.

    Each sample is drawn from the fitted model's likelihood (missing values stay missing)
    and refitted from the estimate (all samples in one vmapped batch, see `refit_batch`).
    Gaussian noise of known levels `sigma`: in weighted residuals a sample's data are the
    data shifted by `residuals + noise`, so no new problem is built. Other likelihoods
    (Poisson, negative binomial, log-normal, estimated noise levels or dispersions): the
    samples are drawn by `ErrorModel.draw` at the estimate's noise levels and
    dispersions, and refitted as new data.

    **Arguments:**
    - `problem`: the problem; `z`: the estimate (optimizer coordinates); `residuals`: the
      weighted residuals at `z` (data part first, as `problem.residuals`).
    - `samples`: how many data sets; `level`: the interval's level; `seed`: the noise seed.
    - `max_steps`: Levenberg-Marquardt steps per refit.

    **Returns:** `{"samples", "converged", "level", "lower", "upper", "std", "estimates"}`:
    per-parameter lists (percentile interval and standard deviation over the refits that
    converged) and the `(samples, P)` estimates (NaN where a refit failed).

    **Example:** refits to 20 noisy copies of the fitted model's data.

    ```python
    # slow
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
    fit = diffsim.fit(problem)
    boot = diffsim.inverse.bootstrap(problem, fit.z, fit.residuals, samples=20, seed=1)
    assert boot["converged"] == 20 and boot["lower"][0] < fit.x[0] < boot["upper"][0]
    print(f"k = {fit.x[0]:.3f}, bootstrap std {boot['std'][0]:.4f}")
    ```
    """
    if problem.errors is None:
        size = problem.observed.size
        missing = np.isnan(np.asarray(problem.observed, float)).reshape(-1)
        noise = np.array(jax.random.normal(jax.random.key(seed), (samples, size)))
        noise[:, missing] = 0.0
        shifts = np.zeros((samples, problem.num_residuals))
        shifts[:, :size] = np.asarray(residuals)[:size] + noise
        zs, _, codes = refit_batch(problem, z, shifts=shifts, max_steps=max_steps)
    else:
        data = _likelihood_samples(problem, z, samples, seed)
        zs, _, codes = refit_batch(problem, z, data=data, max_steps=max_steps)
    x = np.asarray(problem.space.to_values(zs))
    ok = (codes > 0) & np.all(np.isfinite(x), axis=1)
    x = np.where(ok[:, None], x, np.nan)
    tail = 100 * (1 - level) / 2
    good = x[ok]
    lower, upper = (
        np.percentile(good, [tail, 100 - tail], axis=0)
        if len(good)
        else np.full((2, x.shape[1]), np.nan)
    )
    return {
        "samples": samples,
        "converged": int(ok.sum()),
        "level": level,
        "lower": lower.tolist(),
        "upper": upper.tolist(),
        "std": (
            np.std(good, axis=0, ddof=1) if len(good) > 1 else np.full(x.shape[1], np.nan)
        ).tolist(),
        "estimates": x,
    }


def _likelihood_samples(problem: AbstractProblem, z, samples: int, seed: int) -> np.ndarray:
    """`(samples, *observed.shape)` data sets drawn from the likelihood at the estimate `z`
    (NaN where the data are missing)."""
    x = problem.space.to_values(jax.numpy.asarray(z))
    mean, _ = jax.jit(lambda x: problem.predict(x))(x)
    missing = np.isnan(np.asarray(problem.observed, float))
    draws = [
        problem.errors.draw(np.asarray(mean), problem.sigma, x, seed=seed + i)
        for i in range(samples)
    ]
    return np.where(missing, np.nan, np.stack(draws))
