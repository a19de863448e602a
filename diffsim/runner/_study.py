"""Sweeps and ensembles of a config (`sweep:`, `ensemble:`): many simulations or fits of the
configured model, run as batches over every device, written as tables, figures and a report.

A config with either section runs them instead of the single fit, for an ODE model and a
PDE on a grid alike: the batch predicts the model's series (`diffsim.inverse._sweep.Series`:
an ODE's observations, a PDE's sensors) and only the tables and figures differ in names.
"""

import io
import time

import jax
import numpy as np

from .._solution import status_message
from ..inverse import JointProblem, OdeProblem, PdeProblem, make_method
from ..inverse._methods import MESSAGES
from ..inverse._sweep import fit_members, series_of, simulate_members, with_unknowns
from ..report import write_study_report
from ._run_folder import RunFolder


def is_study(config) -> bool:
    """Whether `config` asks for a sweep or an ensemble."""
    return (
        getattr(config, "sweep", None) is not None or getattr(config, "ensemble", None) is not None
    )


def check_study(config, problem) -> None:
    """Check the `sweep:` and `ensemble:` sections against the built problem.

    **Raises:** `ValueError` with one line naming the key: a model other than an ODE
    without a network or a PDE on a grid (or a joint fit of experiments), a name that is
    not a parameter of the model, a fit sweep outside an unknown's bounds or with nothing
    left to fit, or an end time `until` not after the initial time.
    """
    if not is_study(config):
        return
    if type(problem) not in (OdeProblem, PdeProblem):
        section = "sweep" if config.sweep is not None else "ensemble"
        why = (
            "experiments: are fitted jointly, as one problem; sweep one experiment's config"
            if isinstance(problem, JointProblem)
            else "a network is trained, not swept"
        )
        raise ValueError(
            f"{section}: sweeps and ensembles are for ODE models without a network and "
            f"PDEs on a grid, one data set each ({why})"
        )
    known = (*problem.space.names, *problem.fixed)
    t0 = series_of(problem).t0
    for key in ("sweep", "ensemble"):
        spec = getattr(config, key, None)
        if spec is None:
            continue
        for name in spec.parameters:
            if name not in known:
                raise ValueError(
                    f"{key}.parameters.{name}: not a parameter of the model "
                    f"(parameters: {', '.join(known)})"
                )
        if spec.until is not None and not spec.until > t0:
            raise ValueError(f"{key}.until: must be after the initial time {t0:g}")
    if config.sweep is not None and config.sweep.run == "fit":
        _check_fit(config.sweep, problem)


def _check_fit(sweep, problem) -> None:
    """A fit sweep keeps an unknown to fit, and its swept unknowns inside their bounds (a
    swept fixed parameter has none)."""
    if set(problem.space.names) <= set(sweep.parameters):
        raise ValueError("sweep.run: fit needs an unknown that is not swept (use run: simulate)")
    names, points = sweep.points()
    problem = with_unknowns(problem, names)
    z = np.asarray(_starts(problem, names, points))
    for i, name in enumerate(names):
        bad = ~np.isfinite(z[:, problem.space.names.index(name)])
        if bad.any():
            raise ValueError(
                f"sweep.parameters.{name}: the value {points[bad, i][0]:g} is outside the "
                "bounds (or transform) of the unknown"
            )


def _starts(problem, names, points) -> np.ndarray:
    """Optimizer coordinates of the config's start with the swept unknowns at each point."""
    x = np.tile(np.asarray(problem.space.initial_values()), (len(points), 1))
    for i, name in enumerate(names):
        x[:, problem.space.names.index(name)] = points[:, i]
    return np.asarray(problem.space.to_internal(x))


def _times(config, problem, until: float | None) -> np.ndarray:
    """The report's `points` times from the initial time to `until` (default: the last data
    time)."""
    layout = series_of(problem)
    end = float(layout.data_ts[-1]) if until is None else until
    return np.linspace(layout.t0, end, config.report.points)


def _csv(columns: list[str], table: np.ndarray) -> str:
    out = io.StringIO()
    np.savetxt(out, table, delimiter=",", header=",".join(columns), comments="", fmt="%.10g")
    return out.getvalue()


def _run_sweep(config, problem) -> tuple[dict, np.ndarray]:
    """The sweep's summary and table (one row per point)."""
    spec = config.sweep
    names, points = spec.points()
    if spec.run == "simulate":
        out = simulate_members(problem, names, points, _times(config, problem, spec.until))
        observations, kinds = series_of(problem).groups, ("peak", "peak_time", "final")
        codes, ok = out["status"], out["status"] == 0
        summaries = np.stack([out[k] for k in kinds], axis=-1).reshape(len(points), -1)
        summaries = np.where(ok[:, None], summaries, np.nan)  # a failed solve has no curve
        columns = [*names, "chi_square", *(f"{m}_{k}" for m in observations for k in kinds)]
        columns.append("status")
        parts = [points, out["chi_square"][:, None], summaries, out["status"][:, None]]
        messages = {int(c): status_message(int(c)) for c in np.unique(codes[~ok])}
    else:
        problem = with_unknowns(problem, names)  # a swept fixed parameter: held as well
        method, _, _ = make_method(config.fit.method, problem, **_fit_settings(config))
        free = problem.space.names
        mask = np.isin(free, names)
        starts = _starts(problem, names, points)
        out = fit_members(problem, method, starts, mask, max_steps=config.fit.max_steps)
        x = np.asarray(problem.space.to_values(out["z"]))[:, ~mask]
        columns = [*names, *(n for n, held in zip(free, mask, strict=True) if not held)]
        columns += ["chi_square", "code", "steps"]
        parts = [points, x, *(out[k][:, None] for k in ("chi_square", "code", "steps"))]
        codes, ok = out["code"], out["code"] > 0
        messages = {int(c): MESSAGES.get(int(c), f"code {c}") for c in np.unique(codes[~ok])}
    table = np.concatenate([np.asarray(p, float) for p in parts], axis=1)
    chi = np.where(ok, table[:, columns.index("chi_square")], np.inf)
    best = None
    if np.isfinite(chi).any():
        row = table[int(np.argmin(chi))]
        best = {c: float(row[i]) for i, c in enumerate(columns) if c not in ("status", "code")}
    summary = {
        "run": spec.run,
        "mode": spec.mode,
        "parameters": list(names),
        "points": len(points),
        "succeeded": int(ok.sum()),
        "failures": {str(c): m for c, m in messages.items()},
        "columns": columns,
        "table": "sweep.csv",
        "best": best,
    }
    return summary, table


def _fit_settings(config) -> dict:
    from ._run import _fit_settings as settings  # _run imports this module

    return settings(config)


def _run_ensemble(config, problem) -> tuple[dict, dict, str]:
    """The ensemble's summary, arrays (times, bands, the data on the series) and CSV of the
    bands of every series (an ODE's observations, a PDE's sensors)."""
    spec = config.ensemble
    names, draws = spec.draws()
    ts = _times(config, problem, spec.until)
    out = simulate_members(problem, names, draws, ts, curves=True)
    ok = (out["status"] == 0) & np.all(np.isfinite(out["curves"]), axis=(1, 2))
    curves = out["curves"][ok]
    shape = (3, len(ts), curves.shape[-1])
    bands = np.quantile(curves, spec.quantiles, axis=0) if len(curves) else np.full(shape, np.nan)
    layout = series_of(problem)
    columns = ["t"] + [f"{m}_q{level:g}" for m in layout.names for level in spec.quantiles]
    flat = np.moveaxis(bands, 0, -1).reshape(len(ts), -1)  # (T, K * 3), levels fastest
    summary = {
        "members": spec.members,
        "seed": spec.seed,
        "succeeded": int(ok.sum()),
        "quantiles": list(spec.quantiles),
        "distributions": {
            name: spec.parameters[name].model_dump(exclude_none=True) for name in names
        },
        "series": list(layout.names),
        "table": "ensemble.csv",
    }
    arrays = {
        "ensemble_ts": ts,
        "ensemble_bands": bands,
        "ensemble_draws": draws,
        "ensemble_data_ts": layout.data_ts[layout.time],
        "ensemble_data": np.asarray(problem.observed).reshape(-1),
        "ensemble_data_series": layout.series,
    }
    return summary, arrays, _csv(columns, np.concatenate([ts[:, None], flat], axis=1))


def run_study(config, problem, folder: RunFolder, *, progress, started: float) -> dict:
    """Run the config's sweep and/or ensemble and write `sweep.csv`, `ensemble.csv`,
    `arrays.npz`, the figures, `report.md`/`report.html` and `result.json`.

    **Returns:** the content of `result.json` (`success`: every point and member solved, and
    with `run: fit` every fit converged).
    """
    described = problem.describe()
    summary = {
        "name": config.name,
        "title": config.report.title or f"{config.name}: {described['model']['name']}",
        "description": config.description,
        **described,
        "devices": jax.device_count(),
        "processes": jax.process_count(),
    }
    arrays = {"data": np.asarray(problem.observed)}
    if type(problem) is OdeProblem:
        arrays["ts"] = np.asarray(problem.data.ts)
    timings, messages, success = {}, [], True
    if config.sweep is not None:
        progress.message(f"sweep: {config.sweep.run} at {config.sweep.size} points; compiling...")
        clock = time.perf_counter()
        summary["sweep"], arrays["sweep_table"] = _run_sweep(config, problem)
        timings["sweep_s"] = time.perf_counter() - clock
        folder.write_text("sweep.csv", _csv(summary["sweep"]["columns"], arrays["sweep_table"]))
        done, size = summary["sweep"]["succeeded"], summary["sweep"]["points"]
        verb = "converged" if config.sweep.run == "fit" else "simulated"
        messages.append(f"Sweep: {done} of {size} points {verb}.")
        success &= done == size
    if config.ensemble is not None:
        progress.message(f"ensemble: {config.ensemble.members} members; compiling...")
        clock = time.perf_counter()
        summary["ensemble"], bands, csv = _run_ensemble(config, problem)
        arrays |= bands
        timings["ensemble_s"] = time.perf_counter() - clock
        folder.write_text("ensemble.csv", csv)
        done, size = summary["ensemble"]["succeeded"], summary["ensemble"]["members"]
        messages.append(f"Ensemble: {done} of {size} members simulated.")
        success &= done == size
    timings["total_s"] = time.perf_counter() - started
    summary |= {"success": bool(success), "message": " ".join(messages), "timings": timings}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    folder.write_bytes("arrays.npz", buffer.getvalue())
    write_study_report(summary, arrays, folder.path, config.report)
    folder.write_json("result.json", summary)
    return summary
