"""`python -m diffsim.run PROBLEM.yaml` for a PEtab problem file: validate, evaluate the
log-likelihood and its gradient at the nominal parameters, or fit and report.

The fit goes through the one inverse layer as any other problem does (`fit`,
`estimate_uncertainty`, `make_result`, `write_report`); only the settings come from
`--set fit.*`, `uncertainty.*` and `report.*` instead of a diffsim config.
"""

import sys
import time
from pathlib import Path

import numpy as np
import pydantic

from ..config._load import apply_override, format_validation_error, parse_override
from ..config._schema import FitConfig, ReportConfig
from ..inverse import estimate_uncertainty, fit, make_result
from ..report import write_report
from ..runner import RunFolder, RunFolderError
from ._errors import PetabError
from ._evaluate import evaluate
from ._load import DEFAULT_OPTIONS
from ._plots import draw_panels, draw_waterfall
from ._problem import PetabProblem
from ._read import read_problem
from ._starts import latin_hypercube_starts
from ._write import write_parameters


class PetabRunSettings(pydantic.BaseModel):
    """What `--set` may change for a PEtab run (the same keys as a diffsim config's)."""

    model_config = pydantic.ConfigDict(extra="forbid")
    name: str = pydantic.Field(default="", pattern=r"^[A-Za-z0-9_.-]*$", max_length=100)
    fit: FitConfig = FitConfig(multistart={"count": 1})
    report: ReportConfig = ReportConfig()


def _settings(overrides: list[str]) -> PetabRunSettings:
    data: dict = {}
    for text in overrides:
        parts, value = parse_override(text)
        apply_override(data, parts, value)
    try:
        return PetabRunSettings.model_validate(data)
    except pydantic.ValidationError as error:
        raise ValueError(format_validation_error(error)) from None


def main(path: str, *, out, overrides, evaluate_only: bool, validate: bool, quiet: bool) -> int:
    """Run a PEtab problem from the command line; returns the exit status (0 done or
    converged, 1 not converged or the solve failed, 2 bad input: one line on stderr)."""
    try:
        settings = _settings(overrides)
        problem = read_problem(path, DEFAULT_OPTIONS)
        name = settings.name or Path(path).stem
        if validate:
            print(
                f"PEtab problem OK: model {problem.model.name}, {problem.space.size} estimated "
                f"parameters, {problem.num_points} measurements"
            )
            return 0
        folder = RunFolder(out or RunFolder.default_path(name))
    except (PetabError, RunFolderError, ValueError) as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    if evaluate_only:
        summary = evaluate(problem)
        folder.write_json("result.json", summary)
        if not quiet:
            print(f"log_likelihood: {summary['log_likelihood']}\nresult: {folder.path}")
        return 0 if summary["status"] == 0 else 1
    return _fit(problem, settings, name, folder, quiet)


def _fit(problem: PetabProblem, settings: PetabRunSettings, name, folder, quiet) -> int:
    spec = settings.fit
    starts = latin_hypercube_starts(problem, spec.multistart.count, seed=spec.multistart.seed)
    started = time.perf_counter()
    result = fit(
        problem,
        spec.method,
        starts=starts,
        max_steps=spec.max_steps,
        learning_rate=spec.learning_rate,
        options=dict(spec.options),
        ftol=spec.ftol,
        xtol=spec.xtol,
        gtol=spec.gtol,
    )
    # PEtab's noise levels are part of the model: the covariance is not rescaled by chi-square.
    uncertainty = estimate_uncertainty(
        problem,
        result.z,
        jacobian=result.jacobian,
        residuals=result.residuals,
        scale_covariance=False,
    )
    arrays = problem.report_arrays(result.x, result.starts_x0[result.best_start])
    adjoint, adjoint_reason = problem.adjoint_choice()
    outcome = make_result(
        problem,
        result,
        uncertainty,
        name=name,
        title=settings.report.title or f"{name}: PEtab problem fit",
        description=f"PEtab problem {problem.layout.source}",
        message=result.message,
        interrupted=result.interrupted,
        gradient={
            "mode": result.gradient_mode,
            "reason": result.gradient_reason,
            "adjoint": adjoint,
            "adjoint_reason": adjoint_reason,
            "taylor_test": None,
        },
        timings={
            "compile_s": result.compile_seconds,
            "fit_s": result.fit_seconds,
            "total_s": time.perf_counter() - started,
        },
        arrays=arrays,
    )
    np.savez_compressed(folder.path / "arrays.npz", **outcome.arrays)
    write_report(outcome, folder.path, settings.report)
    summary = dict(outcome.summary)
    summary["log_likelihood"] = float(problem.log_likelihood(result.x))
    # chi-square = -2 log L + constant, so differences of chi-square give those of log L.
    losses = np.asarray(result.starts_loss, float)
    summary["starts_log_likelihood"] = (
        summary["log_likelihood"] - (losses - losses[result.best_start]) / 2
    ).tolist()
    draw_waterfall(summary["starts_log_likelihood"], folder.path / "waterfall.png")
    lay = problem.layout
    names = [
        lay.condition_ids[sim]
        if pre < 0
        else f"{lay.condition_ids[pre]} > {lay.condition_ids[sim]}"
        for pre, sim in lay.experiments
    ]
    draw_panels(arrays, [o.id for o in lay.observables], names, folder.path / "observables.png")
    write_parameters(problem, result.x, folder.path / "fitted_parameters.tsv")
    folder.write_json("result.json", summary)
    if not quiet:
        verdict = "converged" if summary["success"] else "NOT converged"
        print(f"{verdict}: log_likelihood {summary['log_likelihood']:.6g}\nreport: {folder.path}")
    return 0 if summary["success"] else 1
