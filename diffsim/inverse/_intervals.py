"""Confidence intervals beyond the linearization: profile likelihood and bootstrap."""

import jax
import numpy as np

from ._bootstrap import bootstrap
from ._fit import FitResult
from ._problem import AbstractProblem
from ._profile import profile_intervals
from ._uncertainty import Uncertainty

#: `profile: auto` profiles problems with at most this many unknowns and no fields.
AUTO_PROFILE_MAX = 20


def confidence_intervals(
    problem: AbstractProblem,
    fit: FitResult,
    uncertainty: Uncertainty,
    *,
    profile: bool | str = "auto",
    bootstrap_samples: int = 0,
    level: float = 0.95,
    seed: int = 0,
) -> dict:
    """Profile-likelihood intervals and (optionally) parametric-bootstrap intervals.

    **Arguments:**
    - `problem`, `fit`, `uncertainty`: the fit and its linearized uncertainty (whose standard
      errors set the profile grid, and whose scale sets the threshold).
    - `profile`: `True`, `False` or `"auto"` (on for at most `AUTO_PROFILE_MAX` scalar
      unknowns, off with fields or network weights).
    - `bootstrap_samples`: parametric-bootstrap samples (0: none).
    - `level`, `seed`: the confidence level, the bootstrap's noise seed.

    **Returns:** `{"level", "profile": {name: ...} or None, "bootstrap": {...} or None}`
    (see `profile_intervals` and `bootstrap`); nothing is computed when the estimate
    cannot be simulated.

    **Example:** profile-likelihood and bootstrap intervals after a fit.

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
    errors = diffsim.inverse.estimate_uncertainty(problem, fit.z, jacobian=fit.jacobian,
                                                  residuals=fit.residuals)  # fmt: skip
    intervals = diffsim.inverse.confidence_intervals(problem, fit, errors, bootstrap_samples=10)
    profile = intervals["profile"]["k"]
    assert intervals["level"] == 0.95 and profile["lower"] < fit.x[0] < profile["upper"]
    assert intervals["bootstrap"]["samples"] == 10
    ```
    """
    space = problem.space
    out = {"level": level, "profile": None, "bootstrap": None}
    if not np.isfinite(fit.chi_square):
        return out
    if profile == "auto":
        profile = space.size <= AUTO_PROFILE_MAX and all(p.group is None for p in space.parameters)
    z = np.asarray(fit.z)
    if profile:
        slope = np.abs(np.asarray(space.derivative(z)))
        scale = uncertainty.scale if np.isfinite(uncertainty.scale) else 1.0
        out["profile"] = profile_intervals(
            problem,
            z,
            fit.chi_square,
            scale=scale,
            stderr_z=np.asarray(uncertainty.stderr) / slope,
            level=level,
        )
    if bootstrap_samples:
        residuals = fit.residuals
        if residuals is None:
            residuals = jax.jit(lambda z: problem.residuals(z))(z)
        out["bootstrap"] = bootstrap(
            problem, z, np.asarray(residuals), samples=bootstrap_samples, level=level, seed=seed
        )
    return out
