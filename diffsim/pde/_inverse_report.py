"""Run a PDE inverse problem into a run folder: result.json, metrics, plots and report.md."""

import time
from pathlib import Path

import numpy as np
import yaml

from ..experiment import RunFolder, environment_info
from ._inverse_config import PDEInverseConfig
from ._inverse_library import build_inverse_problem
from ._inverse_problem import FieldFit, FieldInverseProblem, fit_fields, relative_error


def _plots(folder: Path, problem: FieldInverseProblem, fit: FieldFit, dpi: int) -> list[str]:
    from matplotlib.figure import Figure  # no pyplot: leaves the user's backend alone

    names = []
    fields = [k for k, v in fit.fields.items() if np.ndim(v) == 1]
    if fields:
        fig = Figure(figsize=(5 * len(fields), 3.5))
        axes = fig.subplots(1, len(fields), squeeze=False)
        for ax, key in zip(axes[0], fields, strict=True):
            ax.plot(problem.coordinates, problem.truth[key], "k-", label="truth")
            ax.plot(problem.coordinates, fit.fields[key], "C1o-", ms=3, label="recovered")
            ax.set_xlabel("x")
            ax.set_title(
                f"{key}: rel. L2 error {relative_error(fit.fields[key], problem.truth[key]):.3g}"
            )
            ax.legend()
        fig.tight_layout()
        fig.savefig(folder / "field.png", dpi=dpi)
        names.append("field.png")
    import jax.numpy as jnp

    predicted = np.asarray(problem.predict(jnp.asarray(fit.z)))
    fig = Figure(figsize=(10, 3.5))
    axes = fig.subplots(1, 2)
    if predicted.shape[0] == 1:
        axes[0].plot(problem.sensors, problem.data[0], "k.", label="data")
        axes[0].plot(problem.sensors, predicted[0], "C1-", label="fit")
        axes[0].set_xlabel("sensor position")
    else:
        for j in range(0, predicted.shape[1], max(1, predicted.shape[1] // 4)):
            axes[0].plot(problem.times, problem.data[:, j], f"C{j % 10}.", ms=3)
            axes[0].plot(
                problem.times, predicted[:, j], f"C{j % 10}-", label=f"x={problem.sensors[j]:.2f}"
            )
        axes[0].set_xlabel("t")
    axes[0].set_title("data (dots) and fit (lines)")
    axes[0].legend(fontsize=7)
    misfit = (predicted - problem.data) / problem.sigma
    image = axes[1].imshow(misfit, aspect="auto", cmap="RdBu_r", vmin=-3, vmax=3, origin="lower")
    axes[1].set_xlabel("sensor")
    axes[1].set_ylabel("time index")
    axes[1].set_title("misfit / σ")
    fig.colorbar(image, ax=axes[1])
    fig.tight_layout()
    fig.savefig(folder / "misfit.png", dpi=dpi)
    fig = Figure(figsize=(5, 3.5))
    ax = fig.subplots()
    ax.semilogy(fit.loss_history, "o-", ms=3)
    ax.set_xlabel("step")
    ax.set_ylabel("chi-square")
    fig.tight_layout()
    fig.savefig(folder / "loss.png", dpi=dpi)
    return [*names, "misfit.png", "loss.png"]


def _markdown(result: dict, images: list[str]) -> str:
    lines = [f"# {result['name']}: {result['problem']}", ""]
    if result["description"]:
        lines += [result["description"], ""]
    verdict = "converged" if result["success"] else "did NOT converge"
    lines += [
        f"Fit {verdict} after {result['num_steps']} steps ({result['method']}): "
        + result["message"],
        "",
        "| unknown | recovered | truth | relative error |",
        "|---|---|---|---|",
    ]
    for key, entry in result["unknowns"].items():
        shown = entry["estimate"] if np.ndim(entry["estimate"]) == 0 else "field (see plot)"
        truth = entry["truth"] if np.ndim(entry["truth"]) == 0 else "field"
        value = f"{shown:.6g}" if isinstance(shown, float) else shown
        truth = f"{truth:.6g}" if isinstance(truth, float) else truth
        lines.append(f"| {key} | {value} | {truth} | {entry['relative_error']:.3g} |")
    s = result["statistics"]
    lines += [
        "",
        f"χ² = {s['chi_square']:.4g} (data part {s['misfit']:.4g}) for {s['num_data']} data values "
        f"and {s['num_unknowns']} unknowns; noise {result['data']['noise']:g} of the largest "
        f"value; data simulated on a grid {result['data']['refine']}x finer than the fit's "
        f"{result['grid_cells']} cells.",
        "",
        f"Timings: compile {result['timings']['compile_s']:.2f} s, fit "
        f"{result['timings']['fit_s']:.2f} s, total {result['timings']['total_s']:.2f} s.",
        "",
    ]
    lines += [f"![{name}]({name})" for name in images]
    return "\n".join(lines) + "\n"


def run_inverse(config: PDEInverseConfig, folder: RunFolder, *, quiet: bool = True, argv=None):
    """Build, fit and report a PDE inverse problem into `folder`.

    Writes `config.yaml`, `env.json`, `metrics.jsonl` (per step), `result.json` (each unknown's
    estimate, truth and relative L2 error; chi-square; timings), the plots `field.png`,
    `misfit.png`, `loss.png` and `report.md`.

    **Returns:** the content of `result.json`.
    """
    started = time.perf_counter()
    folder.write_text(
        "config.yaml", yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
    )
    folder.write_json("env.json", environment_info(config.data.seed, argv))
    problem = build_inverse_problem(config)

    def on_step(step, loss):
        folder.append_jsonl("metrics.jsonl", {"step": step, "loss": loss})
        if not quiet:
            print(f"step {step:4d}  chi-square {loss:.6g}", flush=True)

    fit = fit_fields(
        problem,
        config.fit.method,
        max_steps=config.fit.max_steps,
        learning_rate=config.fit.learning_rate,
        tolerance=config.fit.tolerance,
        callback=on_step,
    )
    unknowns = {
        key: {
            "estimate": np.asarray(fit.fields[key]).tolist(),
            "truth": np.asarray(problem.truth[key]).tolist(),
            "relative_error": relative_error(fit.fields[key], problem.truth[key]),
        }
        for key in problem.truth
        if key in fit.fields
    }
    result = {
        "name": config.name,
        "problem": config.problem,
        "description": config.description,
        "method": config.fit.method,
        "success": fit.success,
        "message": fit.message,
        "num_steps": fit.num_steps,
        "grid_cells": config.grid.cells,
        "data": config.data.model_dump(),
        "regularization": config.regularization.model_dump(),
        "unknowns": unknowns,
        "statistics": {
            "chi_square": fit.chi_square,
            "misfit": fit.misfit,
            "num_data": problem.num_data,
            "num_unknowns": int(np.size(problem.z0)),
        },
        "timings": {"compile_s": fit.compile_seconds, "fit_s": fit.fit_seconds},
    }
    images = _plots(folder.path, problem, fit, config.report.dpi) if config.report.plots else []
    result["timings"]["total_s"] = time.perf_counter() - started
    folder.write_json("result.json", result)
    folder.write_text("report.md", _markdown(result, images))
    return result
