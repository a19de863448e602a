"""`run_experiment`: fit a configured problem and write everything a run produces."""

import shutil
import time
from pathlib import Path

import jax
import numpy as np

from ..inverse import (
    FitResult,
    LeastSquaresProblem,
    RunConfig,
    StepInfo,
    Uncertainty,
    dump_config,
    estimate_uncertainty,
    fit,
    fit_statistics,
    multistart_points,
)
from ..report import render_html, render_markdown, write_plots
from ._environment import environment_info
from ._progress import Progress
from ._run_folder import RunFolder


def _resolved_config(config: RunConfig, base_dir: Path, folder: RunFolder) -> RunConfig:
    """The config with its data file copied into the run folder (so it reruns as is)."""
    source = config.data.file
    if source is None:
        return config
    original = Path(base_dir) / source.path
    copy = f"data{original.suffix.lower()}"
    shutil.copyfile(original, folder.path / copy)
    data = config.data.model_copy(update={"file": source.model_copy(update={"path": copy})})
    return config.model_copy(update={"data": data})


def _taylor_check(problem: LeastSquaresProblem, z0: np.ndarray, gradient: np.ndarray):
    """Taylor test, at the start point, of the chi-square gradient the optimizer used."""
    try:
        from ..ad import taylor_test
    except ImportError:
        return None
    if not np.all(np.isfinite(gradient)):
        return None
    check = taylor_test(problem.chi_square, jax.numpy.asarray(z0), grad=gradient)
    return {
        "rate0": float(check.rate0),
        "rate1": float(check.rate1),
        "passed": bool(check.passed),
        "reason": check.reason,
        "table": check.table(),
    }


def _parameters_table(problem, result: FitResult, uncertainty: Uncertainty) -> dict:
    table = {}
    for i, p in enumerate(problem.space.parameters):
        estimate, stderr = float(result.x[i]), float(uncertainty.stderr[i])
        table[p.name] = {
            "estimate": estimate,
            "stderr": stderr,
            "stderr_percent": abs(100 * stderr / estimate) if estimate else float("nan"),
            "init": p.init,
            "true": p.true,
            "bounds": [p.lower, p.upper],
            "transform": p.transform,
            "fixed": False,
        }
    for name, value in problem.fixed.items():
        table[name] = {"estimate": value, "init": value, "fixed": True}
    return table


def run_experiment(
    config: RunConfig,
    problem: LeastSquaresProblem,
    folder: RunFolder,
    *,
    base_dir: str | Path = ".",
    progress: Progress | None = None,
    started: float | None = None,
    argv: list[str] | None = None,
) -> dict:
    """Fit `problem` as `config` says and write the run folder.

    Writes `config.yaml` and `env.json` first, `metrics.jsonl` line by line while fitting,
    then `result.json`, the plots and `report.md` / `report.html`. Ctrl-C during the fit stops
    it; everything is still written from the best point so far.

    **Arguments:**
    - `config`: the validated config; `problem`: built from it (`build_problem`).
    - `folder`: the (empty) run folder.
    - `base_dir`: the config's folder (for relative data paths).
    - `progress`: where to show progress (default: silent).
    - `started`: `time.perf_counter()` at process start, for the total time.
    - `argv`: the command line, for `env.json`.

    **Returns:** the content of `result.json`.
    """
    started = time.perf_counter() if started is None else started
    progress = progress or Progress(enabled=False)
    folder.write_text("config.yaml", dump_config(_resolved_config(config, base_dir, folder)))
    folder.write_json("env.json", environment_info(config.seed, argv))

    spec = config.fit
    starts = multistart_points(
        problem.space,
        spec.multistart.count,
        spread=spec.multistart.spread,
        seed=spec.multistart.seed,
    )
    names = problem.space.names

    def on_step(info: StepInfo) -> None:
        line = {
            "step": info.step,
            "loss": float(info.losses[info.best]),
            "gradient_norm": info.gradient_norm,
            "accepted": info.accepted,
            "params": dict(zip(names, info.x.tolist(), strict=False)),
            "time": info.elapsed,
        }
        if info.losses.size > 1:
            line["losses"] = info.losses.tolist()
            line["best_start"] = info.best
        folder.append_jsonl("metrics.jsonl", line)
        progress.update(info, spec.max_steps)

    progress.message(
        f"fitting {len(names)} parameters of {problem.model.name} "
        f"({spec.method}, {len(starts)} start(s)); compiling..."
    )
    result = fit(
        problem,
        spec.method,
        starts=starts,
        max_steps=spec.max_steps,
        gradient_mode=config.gradient.mode,
        learning_rate=spec.learning_rate,
        options=dict(spec.options),
        ftol=spec.ftol,
        xtol=spec.xtol,
        gtol=spec.gtol,
        callback=on_step,
    )
    progress.close()
    progress.message(result.message)

    taylor = None
    if config.report.taylor_test and not result.interrupted:
        z0 = np.asarray(problem.space.to_internal(starts[0]))
        taylor = _taylor_check(problem, z0, result.initial_gradient)
    uncertainty = estimate_uncertainty(
        problem,
        result.z,
        jacobian=result.jacobian,
        residuals=result.residuals,
        scale_covariance=spec.scale_covariance,
    )
    statistics = fit_statistics(result.chi_square, problem.num_points, problem.space.size)
    report = {
        "name": config.name,
        "title": config.report.title or f"{config.name}: {problem.model.name} fit",
        "description": config.description,
        "model": {
            "name": problem.model.name,
            "states": list(problem.model.states),
            "description": problem.model.description,
        },
        "method": spec.method,
        "success": result.success,
        "message": result.message,
        "interrupted": result.interrupted,
        "num_steps": result.num_steps,
        "parameters": _parameters_table(problem, result, uncertainty),
        "statistics": statistics,
        "correlation": {"names": list(names), "matrix": uncertainty.correlation},
        "uncertainty": {
            "singular": uncertainty.singular,
            "message": uncertainty.message,
            "condition_number": uncertainty.condition_number,
            "covariance_scale": uncertainty.scale,
        },
        "gradient": {
            "mode": result.gradient_mode,
            "reason": result.gradient_reason,
            "adjoint": config.gradient.adjoint,
            "taylor_test": taylor,
        },
        "multistart": {
            "count": len(starts),
            "best": int(
                np.argmin(np.where(np.isfinite(result.starts_loss), result.starts_loss, np.inf))
            ),
            "chi_square": result.starts_loss,
            "codes": result.starts_code,
            "estimates": result.starts_x,
        },
        "data": {
            "source": problem.data.source,
            "observations": list(problem.data.names),
            "num_points": problem.num_points,
        },
        "timings": {
            "compile_s": result.compile_seconds,
            "fit_s": result.fit_seconds,
        },
    }
    images = {}
    if config.report.plots:
        images = write_plots(folder.path, problem, result, uncertainty, config.report)
    report["timings"]["total_s"] = time.perf_counter() - started
    folder.write_json("result.json", report)
    folder.write_text("report.md", render_markdown(report, images, config.report))
    if config.report.html:
        folder.write_text("report.html", render_html(report, images, config.report, folder.path))
    return report
