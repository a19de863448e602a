"""`run`: fit a configured problem and write everything a run produces."""

import shutil
import time
from pathlib import Path

import jax
import numpy as np

from .._solution import status_message
from ..config import RunConfig, dump_config, fitted_config
from ..inverse import (
    AbstractProblem,
    FitResult,
    JointProblem,
    OdeProblem,
    PdeProblem,
    Result,
    StepInfo,
    TrainedProblem,
    confidence_intervals,
    estimate_uncertainty,
    fit,
    make_method,
    make_result,
    multistart_points,
    unavailable_uncertainty,
    with_box_bounds,
)
from ..inverse._fit import BOUNDED_METHODS
from ..inverse._methods import FAILED_START
from ..inverse._taylor import taylor_summary
from ..report import write_report
from ._environment import environment_info
from ._progress import Progress
from ._run_folder import RunFolder
from ._signals import CTRL_C, interruption
from ._study import check_study, is_study, run_study


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


def check_fit_settings(config: RunConfig, problem: AbstractProblem) -> None:
    """Build the configured optimizer once, to report bad `fit.*`/`gradient.*` settings early.

    `--validate` and the runner do this before anything is written.

    **Raises:** `ValueError` with one line naming the key path.

    **Example:** an optax optimizer that does not exist, found before anything is written.

    ```python
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
    diffsim.runner.check_fit_settings(config, problem)  # fine
    wrong = diffsim.config.validate_config(config.model_dump(), ["fit.method=optax.nope"])
    try:
        diffsim.runner.check_fit_settings(wrong, problem)
    except ValueError as error:
        assert "fit.method" in str(error)
        print(error)
    else:
        raise AssertionError("an unknown optimizer was accepted")
    ```
    """
    make_method(config.fit.method, problem, **_fit_settings(config))
    check_study(config, problem)


def _copied_file(path: str, base_dir: Path, folder: RunFolder, stem: str) -> str:
    """Copy the file at `path` (relative to `base_dir`) into the run folder as
    `stem.<suffix>`; the copy's name."""
    original = Path(base_dir) / path
    copy = f"{stem}{original.suffix.lower()}"
    shutil.copyfile(original, folder.path / copy)
    return copy


def _copied_data(data, base_dir: Path, folder: RunFolder, stem: str):
    """`data` with its file (if any) copied into the run folder as `stem.<suffix>`."""
    source = data.file
    if source is None:
        return data
    copy = _copied_file(source.path, base_dir, folder, stem)
    return data.model_copy(update={"file": source.model_copy(update={"path": copy})})


def _copied_initial(value, base_dir: Path, folder: RunFolder, stem: str):
    """A PDE initial condition with its files (one, or one per variable) copied into the run
    folder as `stem.<suffix>` or `stem_<variable>.<suffix>`; other values as they are."""
    if isinstance(value, dict):
        return {k: _copied_initial(v, base_dir, folder, f"{stem}_{k}") for k, v in value.items()}
    if isinstance(getattr(value, "file", None), str):
        copy = _copied_file(value.file, base_dir, folder, stem)
        return value.model_copy(update={"file": copy})
    return value


def _resolved_config(config: RunConfig, base_dir: Path, folder: RunFolder) -> RunConfig:
    """The config with its files copied into the run folder (so it reruns as is): data as
    `data.<suffix>`, or one `data_<experiment>.<suffix>` per experiment; a PDE's initial
    condition read from a file as `initial_condition.<suffix>` (`..._<experiment>`)."""
    initial = getattr(config.model, "initial_condition", None)
    if initial is not None:
        initial = _copied_initial(initial, base_dir, folder, "initial_condition")
        config = config.model_copy(
            update={"model": config.model.model_copy(update={"initial_condition": initial})}
        )
    if config.data is not None:
        return config.model_copy(
            update={"data": _copied_data(config.data, base_dir, folder, "data")}
        )
    experiments = [
        e.model_copy(
            update={
                "data": _copied_data(e.data, base_dir, folder, f"data_{e.name}"),
                **_copied_experiment_initial(e, base_dir, folder),
            }
        )
        for e in config.experiments
    ]
    return config.model_copy(update={"experiments": experiments})


def _copied_experiment_initial(experiment, base_dir: Path, folder: RunFolder) -> dict:
    """The update of a PDE experiment whose own initial condition is read from a file."""
    initial = getattr(experiment, "initial_condition", None)
    if initial is None:
        return {}
    stem = f"initial_condition_{experiment.name}"
    return {"initial_condition": _copied_initial(initial, base_dir, folder, stem)}


def _taylor_check(problem: AbstractProblem, result: FitResult) -> dict:
    """Taylor test, at the first start point, of the chi-square gradient the optimizer used."""
    start_loss = result.loss_history[0, 0]
    if not (np.isfinite(start_loss) and np.all(np.isfinite(result.initial_gradient))):
        return {"skipped": "the model cannot be simulated at the start point"}
    z0 = jax.numpy.asarray(problem.space.to_internal(result.starts_x0[0]))
    return taylor_summary(problem.chi_square, z0, result.initial_gradient)


def _write_interrupted_before_fit(folder: RunFolder, config: RunConfig, started: float) -> dict:
    """`result.json` and `report.md` for a run stopped before the fit made a first step."""
    message = f"{interruption()} while compiling, before the first fit step; no estimate was made."
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


def start_failure_cause(problem: OdeProblem | PdeProblem, x) -> str:
    """Why the model cannot be simulated at the unknown values `x`, in one sentence: a
    non-finite initial state, the solver's status (with the time span it had to cover), or
    non-finite predictions."""
    solution = problem.solution(jax.numpy.asarray(x))
    first = [np.asarray(leaf)[0] for leaf in jax.tree.leaves(solution.ys)]
    if not all(np.all(np.isfinite(y)) for y in first):
        return "the initial state is not finite (NaN or inf) at the starting point."
    status = int(solution.status)
    ts = np.asarray(solution.ts)
    if status != 0:
        return f"{status_message(status)} (solving from t = {ts[0]:g} to {ts[-1]:g})"
    prediction, _ = problem.predict(jax.numpy.asarray(x))
    if not np.all(np.isfinite(np.asarray(prediction))):
        return "the model's predictions at the data points are not finite."
    return "the weighted residuals are not finite (check the noise levels sigma)."


def _save_arrays(folder: RunFolder, arrays: dict) -> None:
    """`arrays.npz`: the numbers behind the plots."""
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
    folder.write_bytes("arrays.npz", buffer.getvalue())


def run(
    config: RunConfig,
    problem: AbstractProblem,
    folder: RunFolder,
    *,
    base_dir: str | Path = ".",
    progress: Progress | None = None,
    started: float | None = None,
    argv: list[str] | None = None,
) -> dict:
    """Fit `problem` as `config` says and write the run folder.

    Writes `config.yaml` and `env.json` first, `metrics.jsonl` line by line while fitting,
    then `result.json`, `arrays.npz`, the plots and `report.md` / `report.html`. Ctrl-C stops
    the run wherever it is and the report is still written from what is available: during the
    fit, from the best point so far; during the Taylor test, error bars or plots, without the
    parts not yet done; during compilation, as a short note.

    **Arguments:**
    - `config`: the validated config; `problem`: built from it (`diffsim.config.build_problem`).
    - `folder`: the (empty) run folder.
    - `base_dir`: the config's folder (for relative data paths).
    - `progress`: where to show progress (default: silent).
    - `started`: the `time.perf_counter()` value the total time counts from (default: now;
      the command line passes the process start, see `process_start`).
    - `argv`: the command line, for `env.json`.

    **Returns:** the content of `result.json`.

    **Example:** a whole run, as `python -m diffsim.run` does it, into a new folder.

    ```python
    # slow
    import pathlib
    import tempfile

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
    folder = diffsim.runner.RunFolder(pathlib.Path(tempfile.mkdtemp()) / "decay")
    summary = diffsim.runner.run(config, problem, folder)
    assert summary["success"] and abs(summary["parameters"]["k"]["estimate"] - 0.8) < 0.05
    written = {p.name for p in folder.path.iterdir()}
    assert {"config.yaml", "env.json", "result.json", "report.md"} <= written
    ```
    """
    started = time.perf_counter() if started is None else started
    progress = progress or Progress(enabled=False)
    resolved = _resolved_config(config, base_dir, folder)
    folder.write_text("config.yaml", dump_config(resolved))
    folder.write_json("env.json", environment_info(config.seed, argv))
    if is_study(config):  # a sweep or an ensemble instead of the fit
        return run_study(config, problem, folder, progress=progress, started=started)

    spec = config.fit
    if spec.method in BOUNDED_METHODS:  # the method keeps the bounds: a box, not a transform
        problem = with_box_bounds(problem)
    starts = multistart_points(
        problem.space,
        spec.multistart.count,
        spread=spec.multistart.spread,
        seed=spec.multistart.seed,
    )
    names = problem.space.names
    scalars = [i for i, p in enumerate(problem.space.parameters) if p.group is None]

    def on_step(info: StepInfo) -> None:
        line = {
            "step": info.step,
            "loss": float(info.losses[info.best]),
            "gradient_norm": info.gradient_norm,
            "accepted": info.accepted,
            "params": {names[i]: float(info.x[i]) for i in scalars},
            "time": info.elapsed,
        }
        if info.losses.size > 1:
            line["losses"] = info.losses.tolist()
            line["best_start"] = info.best
        folder.append_jsonl("metrics.jsonl", line)
        progress.update(info, spec.max_steps)

    model = problem.describe()["model"]["name"]
    trained = isinstance(problem, TrainedProblem)  # trains a network instead of a fit

    def on_training(info) -> None:
        folder.append_jsonl("metrics.jsonl", info.record())
        progress.message(info.line())

    how = "training" if trained else f"{spec.method}, {len(starts)} start(s)"
    progress.message(f"fitting {len(names)} unknowns of {model} ({how}); compiling...")
    try:
        if trained:
            problem, result = problem.train(
                callback=on_training, checkpoint=folder.path / "network.eqx"
            )
        else:
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
    if interrupted:
        message = message.replace(CTRL_C, interruption())
    elif result.code == FAILED_START and isinstance(problem, (OdeProblem, PdeProblem)):
        message += " Cause: " + start_failure_cause(problem, result.starts_x0[result.best_start])
    taylor, uncertainty, arrays, intervals = None, None, {}, None
    phase = "running the Taylor test"
    try:
        if config.report.taylor_test and not interrupted:
            taylor = problem.taylor_check() if trained else _taylor_check(problem, result)
        phase = "estimating error bars"
        if trained:
            uncertainty = problem.uncertainty(scale_covariance=spec.scale_covariance)
        else:
            uncertainty = estimate_uncertainty(
                problem,
                result.z,
                jacobian=result.jacobian,
                residuals=result.residuals,
                scale_covariance=spec.scale_covariance,
            )
        phase = "computing confidence intervals"
        if not (trained or interrupted):
            intervals = confidence_intervals(
                problem,
                result,
                uncertainty,
                profile=config.uncertainty.profile,
                bootstrap_samples=config.uncertainty.bootstrap.samples,
                level=config.uncertainty.level,
                seed=config.uncertainty.bootstrap.seed,
            )
        phase = "computing the curves of the report"
        if config.report.plots:
            arrays = problem.report_arrays(result.x, result.starts_x0[result.best_start])
            forecast = config.report.forecast
            if forecast is not None and isinstance(problem, (OdeProblem, PdeProblem, JointProblem)):
                arrays |= problem.forecast_arrays(
                    result.x,
                    uncertainty.covariance,
                    forecast.until,
                    points=config.report.points,
                    level=config.uncertainty.level,
                )
    except KeyboardInterrupt:
        interrupted = True
        message += f" {interruption()} while {phase}; the report lacks what was not done by then."
    if uncertainty is None:
        uncertainty = unavailable_uncertainty(
            len(names), f"Error bars were not estimated: {interruption()}."
        )
    adjoint, adjoint_reason = problem.adjoint_choice()
    outcome = make_result(
        problem,
        result,
        uncertainty,
        name=config.name,
        title=config.report.title or f"{config.name}: {model} fit",
        description=config.description,
        message=message,
        interrupted=interrupted,
        gradient={
            "mode": result.gradient_mode,
            "reason": result.gradient_reason,
            "adjoint": adjoint,
            "adjoint_reason": adjoint_reason,
            "taylor_test": taylor,
        },
        timings={
            "compile_s": result.compile_seconds,
            "fit_s": result.fit_seconds,
            "total_s": time.perf_counter() - started,
        },
        arrays=arrays,
        intervals=intervals,
    )
    _save_arrays(folder, outcome.arrays)
    try:
        write_report(outcome, folder.path, config.report)
    except KeyboardInterrupt:
        summary = dict(outcome.summary)
        summary["success"], summary["interrupted"] = False, True
        summary["message"] = message + f" {interruption()} while drawing the plots."
        outcome = Result(summary=summary, arrays=outcome.arrays)
        write_report(outcome, folder.path, config.report, plots=False)
    folder.write_json("result.json", outcome.summary)
    folder.write_text("fitted.yaml", fitted_config(resolved, outcome.summary))
    return outcome.summary
