"""The content of a fit report as sections, shared by the Markdown and HTML renderers."""

import math

from ._interval_plots import INTERVAL_PLOTS
from ._pinn import pinn_sections
from ._plots import PLOTS
from ._ude import ude_sections


def _number(value, digits: int = 6) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}g}"


def _lmfit_text(report: dict, threshold: float) -> str:
    """The fit summary laid out like lmfit's `fit_report`."""
    stats = report["statistics"]
    lines = [
        "[[Fit Statistics]]",
        f"    # fitting method   = {report['method']}",
        f"    # steps            = {report['num_steps']}",
        f"    # data points      = {stats['num_points']}",
        f"    # variables        = {stats['num_free']}",
        f"    chi-square         = {_number(stats['chi_square'], 8)}",
        f"    reduced chi-square = {_number(stats['reduced_chi_square'], 8)}",
        f"    Akaike info crit   = {_number(stats['aic'], 8)}",
        f"    Bayesian info crit = {_number(stats['bic'], 8)}",
        "[[Variables]]",
    ]
    width = max((len(n) for n in report["parameters"]), default=0)
    for name, p in report["parameters"].items():
        if p["fixed"]:
            lines.append(f"    {name + ':':<{width + 1}}  {_number(p['estimate'], 8)} (fixed)")
            continue
        if p["stderr"] is not None and math.isfinite(p["stderr"]):
            spread = f" +/- {_number(p['stderr'], 8)} ({p['stderr_percent']:.2f}%)"
        else:
            spread = " +/- (not estimated)"
        true = "" if p["true"] is None else f", true = {_number(p['true'], 8)}"
        lines.append(
            f"    {name + ':':<{width + 1}}  {_number(p['estimate'], 8)}{spread} "
            f"(init = {_number(p['init'], 8)}{true})"
        )
    pairs = correlated_pairs(report, threshold)
    if pairs:
        lines.append(f"[[Correlations]] (unreported correlations are < {threshold:.3f})")
        for a, b, value in pairs:
            lines.append(f"    C({a}, {b}) = {value:+.4f}")
    return "\n".join(lines)


def correlated_pairs(report: dict, threshold: float) -> list[tuple[str, str, float]]:
    """Parameter pairs whose |correlation| exceeds `threshold`, strongest first."""
    names = report["correlation"]["names"]
    matrix = report["correlation"]["matrix"]
    scalars = [i for i, n in enumerate(names) if n in report["parameters"]]
    pairs = []
    for i in scalars:
        for j in (j for j in scalars if j > i):
            value = float(matrix[i][j])
            if math.isfinite(value) and abs(value) > threshold:
                pairs.append((names[i], names[j], value))
    return sorted(pairs, key=lambda pair: -abs(pair[2]))


def _field_rows(fields: dict) -> tuple[list[str], list[list[str]]]:
    """One row per field: cells, range of the estimate, median std, error against the truth."""
    rows = []
    for name, field in fields.items():
        estimate = [v for v in field["estimate"]]
        stderr = sorted(v for v in field["stderr"] if v is not None and math.isfinite(v))
        median = _number(stderr[len(stderr) // 2], 3) if stderr else "not estimated"
        error, covered = "", ""
        if field["true"] is not None:
            diff = [e - t for e, t in zip(estimate, field["true"], strict=True)]
            norm = math.sqrt(sum(t * t for t in field["true"])) or 1.0
            error = _number(math.sqrt(sum(d * d for d in diff)) / norm, 3)
            if stderr and len(stderr) == len(diff):
                inside = sum(abs(d) <= 2 * s for d, s in zip(diff, field["stderr"], strict=True))
                covered = f"{inside}/{len(diff)}"
        rows.append(
            [
                name,
                str(len(estimate)),
                f"{_number(min(estimate), 4)} .. {_number(max(estimate), 4)}",
                median,
                error,
                covered,
            ]
        )
    header = [
        "field",
        "cells",
        "estimate range",
        "median std",
        "rel. L2 error",
        "truth within 2 std",
    ]
    return header, rows


def _interval(bounds) -> str:
    """`[lower, upper]` with an open side (the profile never rose enough) shown as `...`."""
    if bounds is None:
        return ""
    low, high = (("..." if b is None else _number(b, 4)) for b in bounds)
    return f"[{low}, {high}]"


def _interval_notes(report: dict, level: float) -> list[str]:
    """How the intervals were computed, and the profiles that did not close."""
    lines = [
        f"{100 * level:g}% intervals. **linearized**: estimate ± t·stderr from the covariance "
        "(exact only for a model linear in its parameters); **profile**: the values whose "
        "best fit, re-optimizing all other parameters, raises chi-square by less than the "
        "chi-square (or F) quantile: asymmetric, in the parameter's units, independent of "
        "transforms; **bootstrap**: percentiles of refits to data simulated from the estimate."
    ]
    for name, curve in report.get("profiles", {}).items():
        if curve["lower_open"] or curve["upper_open"]:
            side = " and ".join(
                s for s, o in (("below", curve["lower_open"]), ("above", curve["upper_open"])) if o
            )
            lines.append(
                f"The profile of {name} stays under the threshold {side} the estimate as far as "
                "it was followed: the data do not bound it on that side (shown as ...)."
            )
        if curve["better_fit"]:
            lines.append(
                f"**Re-optimizing along {name} found a lower chi-square than the estimate: the "
                "fit did not reach the minimum; refit (more steps or starts).**"
            )
    boot = report.get("bootstrap")
    if boot:
        lines.append(f"Bootstrap: {boot['converged']} of {boot['samples']} refits converged.")
    return lines


def _quality_lines(quality: dict) -> list[str]:
    """The verdict, its reasons, and the numbers of the tests behind it."""
    runs = quality["runs_test"]
    autocorrelation = ", ".join(_number(v, 2) for v in quality["autocorrelation"])
    lines = [f"**Verdict:** {quality['verdict']}."]
    lines += [
        f"**{reason}**" if quality["verdict"] == "poor" else reason for reason in quality["reasons"]
    ]
    lines.append(
        f"Chi-square test p = {_number(quality['chi_square_pvalue'], 3)}; runs test: "
        f"{_number(runs['runs'], 4)} runs of residual signs, {_number(runs['expected'], 4)} "
        f"expected, p = {_number(runs['pvalue'], 3)}; lag-1 autocorrelation of the residuals: "
        f"{autocorrelation or 'n/a'}."
    )
    return lines


def report_sections(report: dict, images: dict[str, str], options) -> list[tuple]:
    """The report as `(heading, kind, content)` sections.

    `kind` is `"lines"` (paragraphs), `"table"` (`(header, rows)`), `"pre"` (preformatted
    text) or `"images"` (`[(caption, file name)]`).

    **Example:** the headings of a run's report.

    ```python
    # slow
    import pathlib
    import tempfile

    import numpy as np

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
    run = diffsim.runner.RunFolder(pathlib.Path(tempfile.mkdtemp()) / "decay")
    summary = diffsim.runner.run(config, problem, run)  # writes a whole run folder
    arrays = dict(np.load(run.path / "arrays.npz"))
    sections = diffsim.report.report_sections(summary, {}, config.report)
    headings = [heading for heading, kind, content in sections]
    assert "Summary" in headings and "Parameters" in headings
    assert {kind for _, kind, _ in sections} <= {"lines", "table", "pre", "images"}
    ```
    """
    quality = report.get("quality")
    poor = quality is not None and quality["verdict"] == "poor"
    status = (
        "converged"
        if report["success"]
        else (
            "interrupted"
            if report["interrupted"]
            else ("converged to a poor fit" if poor else "did not converge")
        )
    )
    stats = report["statistics"]
    summary = [
        f"**Status:** {status}. {report['message']}",
        f"**Model:** {report['model']['description'] or report['model']['name']}",
        f"**Data:** {report['data']['num_points']} values of "
        f"{', '.join(report['data']['observations'])} ({_sources(report['data'])})",
        f"**Method:** {report['method']}, {report['num_steps']} steps, "
        f"{report['multistart']['count']} start(s)",
    ]
    if report["description"]:
        summary.insert(0, report["description"])
    sections = [("Summary", "lines", summary)]

    rows = []
    free = [p for p in report["parameters"].values() if not p["fixed"]]
    level = next((p["intervals"]["level"] for p in free if "intervals" in p), 0.95)
    kinds = [
        kind
        for kind in ("linearized", "profile", "bootstrap")
        if any(kind in p.get("intervals", {}) for p in free)
    ]
    for name, p in report["parameters"].items():
        if p["fixed"]:
            blank = [""] * len(kinds)
            rows.append(
                [name, _number(p["estimate"]), "fixed", "", *blank, _number(p["init"]), "", ""]
            )
            continue
        stderr_ok = p["stderr"] is not None and math.isfinite(p["stderr"])
        deviation = ""
        if p["true"] is not None and stderr_ok and p["stderr"] > 0:
            deviation = f"{(p['estimate'] - p['true']) / p['stderr']:+.2f}"
        rows.append(
            [
                name,
                _number(p["estimate"]),
                _number(p["stderr"], 3) if stderr_ok else "not estimated",
                f"{p['stderr_percent']:.2f}%" if stderr_ok else "",
                *[_interval(p.get("intervals", {}).get(kind)) for kind in kinds],
                _number(p["init"]),
                _number(p["true"]),
                deviation,
            ]
        )
    header = [
        "parameter",
        "value",
        "stderr",
        "stderr %",
        *[f"{100 * level:g}% {kind}" for kind in kinds],
        "init",
        "true",
        "(value-true)/stderr",
    ]
    sections.append(("Parameters", "table", (header, rows)))
    if kinds:
        sections.append(("Confidence intervals", "lines", _interval_notes(report, level)))
    sections += pinn_sections(report)
    sections += ude_sections(report)
    if report["fields"]:
        sections.append(("Fields", "table", _field_rows(report["fields"])))
        notes = {field["stderr_note"] for field in report["fields"].values()}
        sections.append(("Field uncertainty", "lines", sorted(notes)))
    if report["uncertainty"]["singular"]:
        sections.append(("Error bars", "lines", [f"**{report['uncertainty']['message']}**"]))

    stat_rows = [
        ["chi-square", _number(stats["chi_square"])],
        ["reduced chi-square", _number(stats["reduced_chi_square"])],
        ["AIC", _number(stats["aic"])],
        ["BIC", _number(stats["bic"])],
        ["data points", str(stats["num_points"])],
        ["free parameters", str(stats["num_free"])],
        ["covariance scaled by", _number(report["uncertainty"]["covariance_scale"])],
        [
            "condition number (scaled Jacobian)",
            _number(report["uncertainty"]["condition_number"], 3),
        ],
    ]
    sections.append(("Fit statistics", "table", (["statistic", "value"], stat_rows)))
    if quality is not None:
        sections.append(("Fit quality", "lines", _quality_lines(quality)))

    threshold = options.correlation_threshold
    pairs = correlated_pairs(report, threshold)
    lines = [f"C({a}, {b}) = {v:+.4f}" for a, b, v in pairs] or [
        f"No correlation above {threshold:g} in magnitude."
    ]
    sections.append((f"Correlations above {threshold:g}", "lines", lines))

    gradient = report["gradient"]
    lines = [
        f"**Gradient mode:** {gradient['reason']}",
        f"**ODE adjoint:** {gradient['adjoint']} ({gradient['adjoint_reason']})",
    ]
    taylor = gradient["taylor_test"]
    if taylor is not None and "skipped" in taylor:
        lines.append(f"**Taylor test at the start point:** not run: {taylor['skipped']}.")
    elif taylor is not None:
        verdict = "passed" if taylor["passed"] else "FAILED"
        lines.append(
            f"**Taylor test at the start point:** {verdict} (rate0 = {_number(taylor['rate0'], 3)}"
            f", rate1 = {_number(taylor['rate1'], 3)}; {taylor['reason']})"
        )
    sections.append(("Gradient", "lines", lines))

    if report["multistart"]["count"] > 1:
        rows = [
            [str(i), _number(loss), str(code)]
            for i, (loss, code) in enumerate(
                zip(report["multistart"]["chi_square"], report["multistart"]["codes"], strict=False)
            )
        ]
        sections.append(("Multi-start", "table", (["start", "chi-square", "code"], rows)))

    timings = report["timings"]
    rows = [[key.removesuffix("_s"), f"{value:.3f} s"] for key, value in timings.items()]
    sections.append(("Timings", "table", (["phase", "time"], rows)))
    sections.append(("lmfit-style summary", "pre", _lmfit_text(report, threshold)))
    if images:
        captions = {**PLOTS, **INTERVAL_PLOTS}
        sections.append(
            ("Plots", "images", [(captions[name], file) for name, file in images.items()])
        )
    return sections


def _sources(data: dict) -> str:
    """Where the data came from; for a joint fit, each experiment's name, size and source."""
    experiments = data.get("experiments")
    if not experiments:
        return data["source"]
    parts = [f"{e['name']}: {e['num_points']} from {e['source']}" for e in experiments]
    return f"{len(experiments)} experiments fitted jointly: " + "; ".join(parts)
