"""`python -m diffsim.run PROBLEM.yaml` for a PEtab problem file (or a diffsim config whose
`model: {petab: PROBLEM.yaml}` points at one): validate, evaluate the log-likelihood and
its gradient at the nominal parameters, or fit and report.

The fit goes through the one inverse layer as any other problem does (`fit`,
`estimate_uncertainty`, `confidence_intervals`, `make_result`, `write_report`); the settings
are a diffsim config's `name`, `description`, `fit`, `uncertainty` and `report` keys (from
the config, and `--set`). PEtab's noise levels may be estimated, so the goodness-of-fit
verdict is taken on the standardized residuals (their sum of squares, the deviance) and
AIC/BIC on PEtab's `-2 log L`, not on the fit's chi-square (which adds the noise-level terms).
"""

import sys
import time
from pathlib import Path

import numpy as np
import pydantic

from ..config._load import (
    ConfigError,
    apply_override,
    format_validation_error,
    parse_override,
    read_config_data,
)
from ..config._schema import FitConfig, ReportConfig, UncertaintyConfig
from ..inverse import (
    Result,
    assess_fit,
    confidence_intervals,
    estimate_uncertainty,
    fit,
    fit_statistics,
    make_result,
    with_box_bounds,
)
from ..inverse._fit import BOUNDED_METHODS
from ..report import render_html, render_markdown, report_sections, write_report
from ..runner import RunFolder, RunFolderError
from ._errors import PetabError
from ._evaluate import evaluate
from ._load import DEFAULT_OPTIONS
from ._noise import standardized
from ._plots import draw_panels, draw_waterfall
from ._problem import PetabProblem
from ._read import read_problem
from ._starts import latin_hypercube_starts
from ._write import write_parameters


class PetabModelConfig(pydantic.BaseModel):
    """`model: {petab: PROBLEM.yaml}`: the PEtab problem file (relative to the config)."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    petab: str


class PetabRunSettings(pydantic.BaseModel):
    """A PEtab run's settings: the keys a diffsim config shares with other runs.

    `fit.method` defaults to `trust_region_reflective` (PEtab's estimated parameters all have
    bounds, and published optima often lie on one) and `fit.multistart.count` to 1;
    `uncertainty.profile` defaults to off (each profile point is a refit of a stiff model;
    turn it on with `uncertainty: {profile: true}` or `--set uncertainty.profile=true`); the
    bootstrap is refused (it simulates Gaussian noise of known level, PEtab's noise models
    are its own).
    """

    model_config = pydantic.ConfigDict(extra="forbid")
    name: str = pydantic.Field(default="", pattern=r"^[A-Za-z0-9_.-]*$", max_length=100)
    description: str = ""
    model: PetabModelConfig | None = None
    fit: FitConfig = FitConfig(method="trust_region_reflective", multistart={"count": 1})
    uncertainty: UncertaintyConfig = UncertaintyConfig(profile=False)
    report: ReportConfig = ReportConfig()

    @pydantic.field_validator("fit", mode="before")
    @classmethod
    def _fit_defaults(cls, value):
        if isinstance(value, dict):
            value = {"method": "trust_region_reflective", "multistart": {"count": 1}, **value}
        return value

    @pydantic.field_validator("uncertainty")
    @classmethod
    def _no_bootstrap(cls, value):
        if value.bootstrap.samples:
            raise ValueError(
                "the parametric bootstrap is not available for PEtab problems (PEtab's noise "
                "models are not the bootstrap's Gaussian noise); use profile: true"
            )
        return value


def _settings(path: str, overrides: list[str]) -> tuple[PetabRunSettings, Path]:
    """The settings and the PEtab problem file of a PEtab file or of a config naming one."""
    data = read_config_data(path)
    data = {} if "format_version" in data else data
    for text in overrides:
        parts, value = parse_override(text)
        apply_override(data, parts, value)
    try:
        settings = PetabRunSettings.model_validate(data)
    except pydantic.ValidationError as error:
        raise ValueError(f"{path}: {format_validation_error(error)}") from None
    if settings.model is None:
        return settings, Path(path)
    problem_file = Path(path).resolve().parent / settings.model.petab
    if not problem_file.is_file():
        raise ValueError(f"{path}: model.petab: PEtab problem file {problem_file} not found")
    return settings, problem_file


def main(path: str, *, out, overrides, evaluate_only: bool, validate: bool, quiet: bool) -> int:
    """Run a PEtab problem from the command line; returns the exit status (0 done or
    converged, 1 not converged or the solve failed, 2 bad input: one line on stderr)."""
    try:
        settings, problem_file = _settings(path, overrides)
        problem = read_problem(problem_file, DEFAULT_OPTIONS)
        name = settings.name or Path(path).stem
        if validate:
            print(
                f"PEtab problem OK: model {problem.model.name}, {problem.space.size} estimated "
                f"parameters, {problem.num_points} measurements"
            )
            return 0
        folder = RunFolder(out or RunFolder.default_path(name))
    except (PetabError, RunFolderError, ConfigError, ValueError) as error:
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
    if spec.method in BOUNDED_METHODS:  # the method keeps the bounds: a box, not a transform
        problem = with_box_bounds(problem)
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
    intervals = confidence_intervals(
        problem,
        result,
        uncertainty,
        profile=settings.uncertainty.profile,
        level=settings.uncertainty.level,
    )
    arrays = problem.report_arrays(result.x, result.starts_x0[result.best_start])
    adjoint, adjoint_reason = problem.adjoint_choice()
    outcome = make_result(
        problem,
        result,
        uncertainty,
        name=name,
        title=settings.report.title or f"{name}: PEtab problem fit",
        description=settings.description or f"PEtab problem {problem.layout.source}",
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
        intervals=intervals,
    )
    summary = petab_summary(problem, result, uncertainty, outcome.summary)
    outcome = Result(summary=summary, arrays=outcome.arrays)
    np.savez_compressed(folder.path / "arrays.npz", **outcome.arrays)
    images = write_report(outcome, folder.path, settings.report)
    lay = problem.layout
    petab_images = {}
    if settings.report.plots:
        draw_waterfall(summary["starts_log_likelihood"], folder.path / "waterfall.png")
        names = [
            lay.condition_ids[sim]
            if pre < 0
            else f"{lay.condition_ids[pre]} > {lay.condition_ids[sim]}"
            for pre, sim in lay.experiments
        ]
        observables = [o.id for o in lay.observables]
        draw_panels(arrays, observables, names, folder.path / "observables.png")
        petab_images = {"observables": "observables.png", "waterfall": "waterfall.png"}
    sections = report_sections(summary, images, settings.report)
    sections += petab_sections(summary, petab_images)
    (folder.path / "report.md").write_text(
        render_markdown(summary, images, settings.report, sections)
    )
    if settings.report.html:
        html = render_html(summary, images, settings.report, folder.path, sections)
        (folder.path / "report.html").write_text(html)
    write_parameters(problem, result.x, folder.path / "fitted_parameters.tsv")
    folder.write_json("result.json", summary)
    if not quiet:
        verdict = "converged" if summary["success"] else "NOT converged"
        print(f"{verdict}: log_likelihood {summary['log_likelihood']:.6g}\nreport: {folder.path}")
    return 0 if summary["success"] else 1


def petab_summary(problem: PetabProblem, result, uncertainty, summary: dict) -> dict:
    """`summary` with PEtab's log-likelihood, the multistart values, and the statistics and
    verdict from the standardized residuals (the deviance) and PEtab's `-2 log L`.

    The fit's chi-square adds the noise-level rows when noise levels are estimated (`2 log
    sigma` plus an offset per measurement), so a chi-square test on it would reject every
    such fit; the deviance has the chi-square distribution the test assumes.
    """
    summary = dict(summary)
    log_likelihood = float(problem.log_likelihood(result.x))
    summary["log_likelihood"] = log_likelihood
    # chi-square = -2 log L + constant, so differences of chi-square give those of log L.
    losses = np.asarray(result.starts_loss, float)
    summary["starts_log_likelihood"] = (
        log_likelihood - (losses - losses[result.best_start]) / 2
    ).tolist()
    n = problem.observed.size
    residuals = np.asarray(result.residuals)[:n] if result.residuals is not None else None
    if residuals is None:
        d, sigma, _ = problem._differences(problem.theta(result.x))
        residuals = np.asarray(standardized(d, sigma, problem._laplace()))
    deviance = float(np.nansum(residuals**2))
    noises = sorted({"Laplace" if o.laplace else "normal" for o in problem.layout.observables})
    statistics = fit_statistics(
        deviance,
        problem.num_points,
        problem.space.size,
        minus_two_log_likelihood=-2 * log_likelihood,
        likelihood=f"PEtab ({', '.join(noises)})",
    )
    quality = assess_fit(statistics, residuals, problem.space, result.x, uncertainty)
    was_poor = summary["quality"]["verdict"] == "poor"
    summary["statistics"], summary["quality"] = statistics, quality
    if was_poor and quality["verdict"] != "poor" and result.success and not result.interrupted:
        summary["success"], summary["message"] = True, result.message
    elif quality["verdict"] == "poor" and summary["success"]:
        summary["success"] = False
        summary["message"] = f"{summary['message']} {quality['reasons'][0]}"
    return summary


def petab_sections(summary: dict, images: dict[str, str]) -> list[tuple]:
    """The report sections of a PEtab fit: log-likelihood, multistart, observables."""
    starts = np.asarray(summary["starts_log_likelihood"], float)
    best = np.nanmax(starts)
    within = int(np.sum(starts >= best - 0.1))
    lines = [
        f"**PEtab log-likelihood at the estimate:** {summary['log_likelihood']:.6g} "
        "(normalization constants included).",
        f"**Multistart:** {len(starts)} start(s); {within} reach the best log-likelihood "
        "within 0.1 (pyPESTO's measure of optimizer success).",
    ]
    sections = [("PEtab", "lines", lines)]
    if "waterfall" in images:
        sections.append(
            (
                "Multistart waterfall",
                "images",
                [("sorted log-likelihoods of the starts", images["waterfall"])],
            )
        )
    if "observables" in images:
        caption = "data, model at the start and at the estimate, per observable and condition"
        sections.append(("Observables", "images", [(caption, images["observables"])]))
    return sections
