"""The report of a sweep or an ensemble: its figures and sections, from `result.json`'s
content and the arrays of `arrays.npz` alone."""

from pathlib import Path

import numpy as np

from ._html import render_html
from ._markdown import render_markdown
from ._plots import _grid

STUDY_PLOTS = {
    "sweep": "Sweep: each summary value against the first swept parameter",
    "ensemble": "Ensemble: median and quantile band of every observation, with the data",
}
"""The figures of a sweep or ensemble run: file stem -> caption."""
SHOWN_ROWS = 40
"""Rows of the sweep table shown in the report (all of them are in `sweep.csv`)."""
SHOWN_SERIES = 12
"""Series of an ensemble drawn and tabulated in the report (all of them are in
`ensemble.csv`)."""


def draw_sweep(summary: dict, arrays: dict, save) -> None:
    """`sweep.png`: every column of the table after the swept ones against the first swept
    parameter; one line per value of the second on a small grid, else points coloured by it.
    """
    sweep = summary["sweep"]
    names, columns, table = sweep["parameters"], sweep["columns"], arrays["sweep_table"]
    shown = [c for c in columns[len(names) :] if c not in ("status", "code", "steps")]
    shown.sort(key=lambda column: column != "chi_square")  # chi-square first
    x = table[:, 0]
    figure, axes = _grid(len(shown))
    groups = np.unique(table[:, 1]) if len(names) > 1 else np.zeros(1)
    lines = sweep["mode"] == "grid" and groups.size <= 8
    for ax, column in zip(axes, shown, strict=False):
        y = table[:, columns.index(column)]
        if lines:
            for value in groups:
                rows = table[:, 1] == value if len(names) > 1 else slice(None)
                label = f"{names[1]} = {value:.4g}" if len(names) > 1 else None
                ax.plot(x[rows], y[rows], "o-", ms=3, label=label)
        else:
            color = table[:, 1] if len(names) > 1 else None
            points = ax.scatter(x, y, c=color, s=8)
            if color is not None:
                figure.colorbar(points, ax=ax, label=names[1])
        if column == "chi_square":
            ax.set_yscale("log")
        ax.set_xlabel(names[0])
        ax.set_title(column)
    if lines and len(names) > 1:
        axes[0].legend(fontsize=7)
    save(figure, "sweep")


def draw_ensemble(summary: dict, arrays: dict, save) -> None:
    """`ensemble.png`: per series (an observation, a PDE's sensor; the first
    `SHOWN_SERIES`) the median and the band between the outer quantiles over the members,
    and the data."""
    levels = summary["ensemble"]["quantiles"]
    names = summary["ensemble"]["series"][:SHOWN_SERIES]
    ts, bands = arrays["ensemble_ts"], arrays["ensemble_bands"]
    figure, axes = _grid(len(names))
    for k, (ax, name) in enumerate(zip(axes, names, strict=False)):
        ax.fill_between(
            ts, bands[0, :, k], bands[2, :, k], alpha=0.3, color="tab:blue",
            label=f"{levels[0]:.0%} to {levels[2]:.0%}",
        )  # fmt: skip
        ax.plot(ts, bands[1, :, k], color="tab:blue", label=f"{levels[1]:.0%}")
        on = arrays["ensemble_data_series"] == k
        ax.plot(
            arrays["ensemble_data_ts"][on], arrays["ensemble_data"][on], "k.", ms=3, label="data"
        )
        ax.set_title(name)
        ax.set_xlabel("t")
    axes[0].legend(fontsize=8)
    save(figure, "ensemble")


def _number(value: float) -> str:
    return f"{value:.4g}"


def study_sections(summary: dict, arrays: dict, images: dict[str, str]) -> list[tuple]:
    """The report's sections `(heading, kind, content)` (as `report_sections` gives them)."""
    sections = [("Outcome", "lines", [f"**{summary['message']}**", summary["description"]])]
    sweep = summary.get("sweep")
    if sweep is not None:
        table = arrays["sweep_table"]
        others = {
            "simulate": "the other parameters at their `init` values",
            "fit": "the other unknowns fitted from their `init` values",
        }[sweep["run"]]
        lines = [
            f"`{sweep['run']}` at {sweep['points']} points ({sweep['mode']}) of "
            f"{', '.join(sweep['parameters'])}; {others}. "
            f"{sweep['succeeded']} of {sweep['points']} succeeded. The whole table "
            f"is `sweep.csv`"
            + (f"; the first {SHOWN_ROWS} rows:" if len(table) > SHOWN_ROWS else ":"),
        ]
        codes = table[:, sweep["columns"].index("status" if sweep["run"] == "simulate" else "code")]
        for code, message in sweep["failures"].items():
            count = int((codes == int(code)).sum())
            lines.append(f"{count} point(s) with status {code}: {message}")
        if sweep.get("best") is not None:
            best = ", ".join(f"{k} = {_number(v)}" for k, v in sweep["best"].items())
            lines.append(f"Smallest chi-square: {best}.")
        rows = [[_number(v) for v in row] for row in table[:SHOWN_ROWS]]
        sections += [("Sweep", "lines", lines), ("Sweep table", "table", (sweep["columns"], rows))]
    ensemble = summary.get("ensemble")
    if ensemble is not None:
        levels = ensemble["quantiles"]
        lines = [
            f"{ensemble['succeeded']} of {ensemble['members']} members simulated (seed "
            f"{ensemble['seed']}); parameters drawn as "
            + "; ".join(f"{k}: {v}" for k, v in ensemble["distributions"].items())
            + ". Quantiles over the members at a few times (all times and series: "
            "`ensemble.csv`):",
        ]
        ts, bands = arrays["ensemble_ts"], arrays["ensemble_bands"]
        picks = np.unique(np.linspace(0, len(ts) - 1, 6).round().astype(int))
        names = ensemble["series"][:SHOWN_SERIES]
        header = ["t"] + [f"{name} {level:.0%}" for name in names for level in levels]
        rows = [
            [_number(ts[i])]
            + [_number(bands[q, i, k]) for k in range(len(names)) for q in range(3)]
            for i in picks
        ]
        sections += [("Ensemble", "lines", lines), ("Ensemble quantiles", "table", (header, rows))]
    figures = [(caption, images[name]) for name, caption in STUDY_PLOTS.items() if name in images]
    if figures:
        sections.append(("Figures", "images", figures))
    timings = summary["timings"]
    sections.append(
        (
            "Run",
            "lines",
            [
                f"{summary['devices']} device(s), {summary['processes']} process(es); "
                + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()),
                "The config and environment are in `config.yaml` and `env.json`.",
            ],
        )
    )
    return sections


def draw_study(summary: dict, arrays: dict, save) -> None:
    """Draw the figures the summary has data for."""
    if "sweep" in summary:
        draw_sweep(summary, arrays, save)
    if "ensemble" in summary:
        draw_ensemble(summary, arrays, save)


def write_study_report(summary: dict, arrays: dict, folder, options) -> dict[str, str]:
    """Write the report of a sweep or ensemble run into `folder`.

    The figures are drawn when `options.plots`; `report.md` is written, and `report.html`
    when `options.html`.

    **Returns:** `{plot name: file name}` of the figures drawn.

    **Example:** a sweep of a decay rate over three values, its report written again.

    ```python
    # slow
    import pathlib
    import tempfile

    import numpy as np

    import diffsim

    config = diffsim.config.validate_config({
        "name": "decay_sweep",
        "model": {"equations": {"y": "-k * y"}},
        "parameters": {"k": {"init": 0.5, "true": 0.8, "transform": "log"}},
        "initial_state": {"y": 1.0},
        "observations": {"y": {"sigma": 0.01}},
        "data": {"synthetic": {"times": {"start": 0.0, "stop": 2.0, "num": 5}, "seed": 0}},
        "solver": {"name": "rk4", "dt": 0.1},
        "sweep": {"run": "simulate", "parameters": {"k": {"low": 0.5, "high": 1.0, "num": 3}}},
    })
    problem = diffsim.build_problem(config)
    run = diffsim.runner.RunFolder(pathlib.Path(tempfile.mkdtemp()) / "sweep")
    summary = diffsim.runner.run(config, problem, run)  # a study: sweep.csv, report, ...
    arrays = dict(np.load(run.path / "arrays.npz"))
    folder = pathlib.Path(tempfile.mkdtemp())
    images = diffsim.report.write_study_report(summary, arrays, folder, config.report)
    assert images == {"sweep": "sweep.png"} and (folder / "report.md").is_file()
    ```
    """
    folder, images = Path(folder), {}

    def save(figure, name):
        figure.savefig(folder / f"{name}.png", dpi=options.dpi)
        images[name] = f"{name}.png"

    if options.plots:
        draw_study(summary, arrays, save)
    sections = study_sections(summary, arrays, images)
    (folder / "report.md").write_text(render_markdown(summary, images, options, sections))
    if options.html:
        html = render_html(summary, images, options, folder, sections)
        (folder / "report.html").write_text(html)
    return images
