"""`Result`: what a fit produced, in one schema for every model kind (result.json + arrays)."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats

from ._fit import FitResult
from ._problem import AbstractProblem
from ._quality import assess_fit
from ._statistics import fit_statistics
from ._uncertainty import Uncertainty


class Result(eqx.Module):
    """A finished (or interrupted) fit, everything a report needs.

    **Fields:**
    - `summary`: the content of `result.json`: `name`, `title`, `description`, `kind`
      (`"ode"`/`"pde"`), `model`, `method`, `success`, `message`, `interrupted`, `num_steps`,
      `parameters` (scalars: estimate, stderr, init, true, ...), `fields` (per cell: estimate,
      stderr, true), `statistics`, `quality` (the verdict of `assess_fit`: a converged fit
      judged poor has `success` false and the reason in `message`), `correlation` and
      `covariance` (`names`, `matrix`), `profiles` (per scalar: the profile curve),
      `bootstrap` (samples, intervals, std), `uncertainty`, `gradient`, `multistart`,
      `data`, `timings`. Each scalar parameter's `intervals` holds its `level` confidence
      intervals: `linearized` (estimate +/- t stderr), `profile`, `bootstrap`.
    - `arrays`: what the plots draw (data, predictions, fitted fields; see the problems'
      `report_arrays`), saved as `arrays.npz`.

    **Example:** the summary that `result.json` holds.

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
    result = diffsim.inverse.make_result(
        problem, fit, errors, name="decay", title="Decay", description="", message=fit.message,
        interrupted=False, gradient={}, timings={}, arrays={},
    )  # fmt: skip
    k = result.summary["parameters"]["k"]
    assert abs(k["estimate"] - 0.8) < 0.05 and k["true"] == 0.8 and k["stderr"] > 0
    ```
    """

    summary: dict
    arrays: dict


def _normalized_residuals(problem: AbstractProblem, fit: FitResult) -> np.ndarray:
    """`(model - data) / sigma` at the estimate, shaped like the data (NaN where missing or
    where the model cannot be simulated); from the fit's own residuals when it kept them."""
    residuals = fit.residuals
    if residuals is None:
        residuals = jax.jit(lambda x: problem.misfit(x))(jnp.asarray(fit.x))
    size = problem.observed.size
    misfit = np.asarray(residuals)[:size].reshape(problem.observed.shape)
    return np.where(np.isfinite(misfit) & ~np.isnan(problem.observed), misfit, np.nan)


def _statistics(problem: AbstractProblem, fit: FitResult, residuals: np.ndarray) -> dict:
    """`fit_statistics` from the likelihood the problem uses. With a likelihood other than
    Gaussian with known sigma, chi-square is the data's deviance (standardized residuals
    squared) and `-2 log L` adds the estimated noise levels' rows and the constant."""
    if problem.errors is None:
        return fit_statistics(fit.chi_square, problem.num_points, problem.space.size)
    deviance = float(np.nansum(residuals**2))
    x = jnp.asarray(fit.x)
    noise = (
        problem.errors.noise_rows(x, problem.observed)
        if problem.errors.estimates_noise
        else jnp.zeros(0)
    )
    return fit_statistics(
        deviance,
        problem.num_points,
        problem.space.size,
        minus_two_log_likelihood=deviance
        + float(jnp.sum(noise**2))
        + problem.errors.constant(problem.observed, problem.sigma),
        likelihood=", ".join(problem.errors.names()),
    )


def _number(value) -> float | None:
    return None if value is None else float(value)


def linearized_quantile(level: float, scale: float, dof: int) -> float:
    """The multiple of the standard error of a `level` interval: Student's t with `dof`
    degrees of freedom when the covariance is scaled by the reduced chi-square, else normal."""
    if scale != 1.0 and dof > 0:
        return float(scipy.stats.t.ppf(0.5 + level / 2, dof))
    return float(scipy.stats.norm.ppf(0.5 + level / 2))


def _add_intervals(parameters, names, x, uncertainty, problem, intervals) -> None:
    """Each scalar's `intervals`: linearized, profile and bootstrap `[lower, upper]`."""
    intervals = intervals or {"level": 0.95, "profile": None, "bootstrap": None}
    level = intervals["level"]
    dof = problem.num_points - len(names)
    multiple = linearized_quantile(level, uncertainty.scale, dof)
    for i, name in enumerate(names):
        if name not in parameters:
            continue
        stderr = float(uncertainty.stderr[i])
        entry = {"level": level}
        if math.isfinite(stderr):
            entry["linearized"] = [float(x[i]) - multiple * stderr, float(x[i]) + multiple * stderr]
        profile = (intervals["profile"] or {}).get(name)
        if profile is not None:
            entry["profile"] = [profile["lower"], profile["upper"]]
        boot = intervals["bootstrap"]
        if boot is not None:
            entry["bootstrap"] = [boot["lower"][i], boot["upper"][i]]
            entry["bootstrap_std"] = boot["std"][i]
        parameters[name]["intervals"] = entry


def make_result(
    problem: AbstractProblem,
    fit: FitResult,
    uncertainty: Uncertainty,
    *,
    name: str,
    title: str,
    description: str,
    message: str,
    interrupted: bool,
    gradient: dict,
    timings: dict,
    arrays: dict,
    intervals: dict | None = None,
) -> Result:
    """Assemble the `Result` of `fit` on `problem` (see `Result` for the schema).

    **Arguments:** the problem, its `FitResult` and `Uncertainty`; `name`, `title` and
    `description` for the report; the final
    `message` and whether the run was `interrupted`; `gradient` (mode, adjoint, Taylor test);
    `timings` in seconds; `arrays` from the problem's `report_arrays`; `intervals` from
    `confidence_intervals` (profile and bootstrap), if computed.

    **Example:** a fit and its error bars, as a `Result`.

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
    result = diffsim.inverse.make_result(
        problem, fit, errors, name="decay", title="Decay", description="five points",
        message=fit.message, interrupted=False, gradient={"mode": fit.gradient_mode},
        timings={"fit": fit.fit_seconds}, arrays=problem.report_arrays(fit.x, fit.starts_x0[0]),
    )  # fmt: skip
    assert result.summary["success"] and result.summary["name"] == "decay"
    assert "data" in str(sorted(result.arrays))
    ```
    """
    space = problem.space
    parameters, fields = {}, {}
    for i, p in enumerate(space.parameters):
        estimate, stderr = float(fit.x[i]), float(uncertainty.stderr[i])
        if p.group is not None:
            entry = fields.setdefault(
                p.group, {"estimate": [], "stderr": [], "init": [], "true": [], "transform": ""}
            )
            entry["estimate"].append(estimate)
            entry["stderr"].append(stderr)
            entry["init"].append(p.init)
            entry["true"].append(_number(p.true))
            entry["transform"] = p.transform
            continue
        parameters[p.name] = {
            "estimate": estimate,
            "stderr": stderr,
            "stderr_percent": abs(100 * stderr / estimate) if estimate else math.nan,
            "init": p.init,
            "true": _number(p.true),
            "bounds": [p.lower, p.upper],
            "transform": p.transform,
            "fixed": False,
        }
    _add_intervals(parameters, space.names, fit.x, uncertainty, problem, intervals)
    for key, value in problem.fixed.items():
        parameters[key] = {"estimate": value, "init": value, "fixed": True}
    for entry in fields.values():
        if all(t is None for t in entry["true"]):
            entry["true"] = None
        entry["stderr_note"] = (
            uncertainty.message
            or "Per-cell standard deviations from the Gauss-Newton posterior (the smoothness "
            "penalty acts as a Gaussian prior), scaled like the scalars'."
        )
    names = list(space.names)
    described = problem.describe()
    residuals = _normalized_residuals(problem, fit)
    statistics = _statistics(problem, fit, residuals)
    quality = assess_fit(statistics, residuals, space, fit.x, uncertainty)
    success = fit.success and not interrupted
    if success and quality["verdict"] == "poor":
        success = False
        message = f"{message} {quality['reasons'][0]}"
    summary = {
        "name": name,
        "title": title,
        "description": description,
        "kind": described["kind"],
        "model": described["model"],
        "method": fit.method,
        "success": success,
        "message": message,
        "interrupted": interrupted,
        "num_steps": fit.num_steps,
        "parameters": parameters,
        "fields": fields,
        "statistics": statistics,
        "quality": quality,
        "correlation": {"names": names, "matrix": uncertainty.correlation},
        "profiles": {
            name: {k: v for k, v in curve.items() if k not in ("lower", "upper", "level")}
            for name, curve in ((intervals or {}).get("profile") or {}).items()
        },
        "bootstrap": None
        if not (intervals or {}).get("bootstrap")
        else {k: v for k, v in intervals["bootstrap"].items() if k not in ("estimates",)},
        "covariance": {"names": names, "matrix": uncertainty.covariance},
        "uncertainty": {
            "singular": uncertainty.singular,
            "message": uncertainty.message,
            "condition_number": uncertainty.condition_number,
            "covariance_scale": uncertainty.scale,
        },
        "gradient": gradient,
        "multistart": {
            "count": len(fit.starts_x0),
            "best": fit.best_start,
            "chi_square": fit.starts_loss,
            "codes": fit.starts_code,
            "estimates": fit.starts_x,
        },
        "data": {**described["data"], "num_points": problem.num_points},
        "timings": timings,
    }
    arrays = dict(arrays)
    if arrays:
        arrays["normalized_residuals"] = residuals
    arrays["loss_history"] = fit.loss_history
    arrays["x_history"] = fit.x_history
    arrays["best_start"] = np.asarray(fit.best_start)
    if (intervals or {}).get("bootstrap"):
        arrays["bootstrap_estimates"] = intervals["bootstrap"]["estimates"]
    return Result(summary=summary, arrays=arrays)
