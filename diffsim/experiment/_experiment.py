"""`run_experiment`: fit a configured problem and write everything a run produces."""

import shutil
import time
from pathlib import Path

import jax
import numpy as np

from ..ad import taylor_test
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
    make_method,
    multistart_points,
    unavailable_uncertainty,
)
from ..report import PLOTS, render_html, render_markdown, write_plots
from ._environment import environment_info
from ._progress import Progress
from ._run_folder import RunFolder

_CTRL_C = "Interrupted by the user (Ctrl-C)"


def _fit_settings(config: RunConfig) -> dict:
    """The keyword arguments of `fit` and `make_method` that the config sets."""
    spec = config.fit
    return {
        "gradient_mode": config.gradient.mode,
        "learning_rate": spec.learning_rate,
        "options": dict(spec.options),
        "ftol": spec.ftol,
        "xtol": spec.xtol,
        "gtol": spec.gtol,
    }


def check_fit_settings(config: RunConfig, problem: LeastSquaresProblem) -> None:
    """Build the configured optimizer once, so that a bad `fit.*` or `gradient.*` setting is
    reported before anything is written (what `--validate` and the runner do first).

    **Raises:** `ValueError` with one line naming the key path.
    """
    make_method(config.fit.method, problem, **_fit_settings(config))


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


def _taylor_check(problem: LeastSquaresProblem, result: FitResult) -> dict:
    """Taylor test, at the first start point, of the chi-square gradient the optimizer used."""
    start_loss = result.loss_history[0, 0]
    if not (np.isfinite(start_loss) and np.all(np.isfinite(result.initial_gradient))):
        return {"skipped": "the model cannot be simulated at the start point"}
    z0 = jax.numpy.asarray(problem.space.to_internal(result.starts_x0[0]))
    check = taylor_test(problem.chi_square, z0, grad=result.initial_gradient)
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


def _write_interrupted_before_fit(folder: RunFolder, config: RunConfig, started: float) -> dict:
    """`result.json` and `report.md` for a run stopped before the fit made a first step."""
    message = f"{_CTRL_C} while compiling, before the first fit step; no estimate was made."
    report = {
        "name": config.name,
        "success": False,
        "message": message,
        "interrupted": True,
        "num_steps": 0,
        "timings": {"total_s": time.perf_counter() - started},
    }
    folder.write_json("result.json", report)
    folder.write_text(
        "report.md",
        f"# {config.report.title or config.name}\n\n**Status:** interrupted. {message}\n\n"
        "The config and environment are in `config.yaml` and `env.json`.\n",
    )
    return report


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
    then `result.json`, the plots and `report.md` / `report.html`. Ctrl-C stops the run
    wherever it is and the report is still written from what is available: during the fit,
    from the best point so far; during the Taylor test, error bars or plots, without the
    parts not yet done; during compilation, as a short note.

    **Arguments:**
    - `config`: the validated config; `problem`: built from it (`build_problem`).
    - `folder`: the (empty) run folder.
    - `base_dir`: the config's folder (for relative data paths).
    - `progress`: where to show progress (default: silent).
    - `started`: the `time.perf_counter()` value the total time counts from (default: now;
      the command line passes the process start, see `process_start`).
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
    try:
        result = fit(
            problem,
            spec.method,
            starts=starts,
            max_steps=spec.max_steps,
            callback=on_step,
            **_fit_settings(config),
        )
    except KeyboardInterrupt:
        progress.close()
        return _write_interrupted_before_fit(folder, config, started)
    progress.close()

    message, interrupted = result.message, result.interrupted
    taylor, uncertainty, images = None, None, {}
    phase = "running the Taylor test"
    try:
        if config.report.taylor_test and not interrupted:
            taylor = _taylor_check(problem, result)
        phase = "estimating error bars"
        uncertainty = estimate_uncertainty(
            problem,
            result.z,
            jacobian=result.jacobian,
            residuals=result.residuals,
            scale_covariance=spec.scale_covariance,
        )
        phase = "drawing the plots"
        if config.report.plots:
            images = write_plots(folder.path, problem, result, uncertainty, config.report)
    except KeyboardInterrupt:
        interrupted = True
        message += f" {_CTRL_C} while {phase}; the report lacks what was not done by then."
        images = {n: f"{n}.png" for n in PLOTS if (folder.path / f"{n}.png").is_file()}
    if uncertainty is None:
        uncertainty = unavailable_uncertainty(
            len(names), "Error bars were not estimated: the run was interrupted (Ctrl-C)."
        )
    adjoint, adjoint_reason = problem.adjoint_choice()
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
        "success": result.success and not interrupted,
        "message": message,
        "interrupted": interrupted,
        "num_steps": result.num_steps,
        "parameters": _parameters_table(problem, result, uncertainty),
        "statistics": fit_statistics(result.chi_square, problem.num_points, problem.space.size),
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
            "adjoint": adjoint,
            "adjoint_reason": adjoint_reason,
            "taylor_test": taylor,
        },
        "multistart": {
            "count": len(starts),
            "best": result.best_start,
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
            "total_s": time.perf_counter() - started,
        },
    }
    folder.write_json("result.json", report)
    folder.write_text("report.md", render_markdown(report, images, config.report))
    if config.report.html:
        folder.write_text("report.html", render_html(report, images, config.report, folder.path))
    return report
