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

    Each sample is the fitted model plus Gaussian noise of the stated levels `sigma`
    (missing values stay missing); it is refitted from the estimate (all samples in one
    vmapped batch, see `refit_batch`). In weighted residuals a sample's data are the data
    shifted by `residuals + noise`, so no new problem is built.

    **Arguments:**
    - `problem`: the problem; `z`: the estimate (optimizer coordinates); `residuals`: the
      weighted residuals at `z` (data part first, as `problem.residuals`).
    - `samples`: how many data sets; `level`: the interval's level; `seed`: the noise seed.
    - `max_steps`: Levenberg-Marquardt steps per refit.

    **Returns:** `{"samples", "converged", "level", "lower", "upper", "std", "estimates"}`:
    per-parameter lists (percentile interval and standard deviation over the refits that
    converged) and the `(samples, P)` estimates (NaN where a refit failed).
    """
    size = problem.observed.size
    missing = np.isnan(np.asarray(problem.observed, float)).reshape(-1)
    noise = np.array(jax.random.normal(jax.random.key(seed), (samples, size)))
    noise[:, missing] = 0.0
    shifts = np.zeros((samples, problem.num_residuals))
    shifts[:, :size] = np.asarray(residuals)[:size] + noise
    zs, _, codes = refit_batch(problem, z, shifts=shifts, max_steps=max_steps)
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
