"""Figures of a fit, drawn from a `Result` alone: data and model, residuals, loss history,
parameter traces, correlations; for PDEs also space-time maps and estimated fields.

Figures are `matplotlib.figure.Figure` objects saved directly, never registered with pyplot,
so drawing a report leaves the user's matplotlib backend and open figures alone.
"""

from pathlib import Path

import numpy as np

from ._pinn import PINN_PLOTS, draw_pinn
from ._ude import UDE_PLOTS, draw_ude

PLOTS = {
    "fit": "Data and fitted model",
    "space_time": "Data and fitted model in space and time",
    "residuals": "Normalized residuals",
    "fields": "Estimated fields with ±2 standard deviations",
    "loss": "Chi-square during the fit",
    "parameters": "Parameter values during the fit",
    "correlation": "Correlation matrix",
    **PINN_PLOTS,
    **UDE_PLOTS,
}
"""The figures a report may have: file stem -> caption.

**Example:**

```python
from diffsim import report

for stem, caption in report.PLOTS.items():
    print(f"{stem}.png: {caption}")
assert {"fit", "residuals", "correlation"} <= set(report.PLOTS)
```
"""


def _figure(width: float, height: float):
    """A figure with fixed margins in inches (no `tight_layout`: it draws every figure twice,
    which doubled the time of a report)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    figure.subplots_adjust(
        left=0.75 / width,
        right=1 - 0.25 / width,
        bottom=0.55 / height,
        top=1 - 0.4 / height,
        wspace=0.45,
        hspace=0.6,
    )
    return figure


def _grid(axes_count: int, width: float = 4.2, height: float = 3.2):
    """A figure with `axes_count` panels, at most three per row."""
    columns = min(max(axes_count, 1), 3)
    rows = -(-max(axes_count, 1) // columns)
    figure = _figure(width * columns, height * rows)
    axes = figure.subplots(rows, columns, squeeze=False)
    for extra in axes.flat[axes_count:]:
        extra.set_visible(False)
    return figure, axes.flat


def _time_series(summary, arrays, save):
    names = summary["data"]["observations"]
    data, sigma = arrays["data"], arrays["sigma"]
    figure, axes = _grid(len(names))
    curves = {
        "initial guess": ("curve_start", "tab:gray", "--"),
        "fit": ("curve_fit", "tab:red", "-"),
    }
    for j, (ax, name) in enumerate(zip(axes, names, strict=False)):
        ax.errorbar(
            arrays["ts"],
            data[:, j],
            yerr=sigma[:, j],
            fmt="o",
            ms=3,
            color="black",
            alpha=0.7,
            label="data",
        )
        for label, (key, color, style) in curves.items():
            if np.all(np.isfinite(arrays[key])):
                ax.plot(
                    arrays["fine_ts"], arrays[key][:, j], style, color=color, lw=1.2, label=label
                )
        ax.set_title(name)
        ax.set_xlabel("t")
    axes[0].legend(fontsize=8)
    save(figure, "fit")
    if np.all(np.isfinite(arrays["normalized_residuals"][np.isfinite(data)])):
        figure, axes = _grid(len(names))
        normalized = np.where(np.isnan(data), np.nan, arrays["normalized_residuals"])
        for j, (ax, name) in enumerate(zip(axes, names, strict=False)):
            ax.axhline(0, color="black", lw=0.8)
            ax.plot(arrays["ts"], normalized[:, j], "o", ms=3)
            ax.set_title(f"{name}: (model - data) / sigma")
            ax.set_xlabel("t")
        save(figure, "residuals")


def _experiment_series(summary, arrays, save):
    """A joint fit: one panel per experiment and observation, data against the fit; the
    normalized residuals likewise."""
    names = summary["data"]["observations"]
    experiments = [e["name"] for e in summary["data"]["experiments"]]
    rows = arrays["experiment_rows"]
    panels = [(k, j) for k in range(len(experiments)) for j in range(len(names))]
    residuals = arrays.get("normalized_residuals")
    for kind in ("fit", "residuals"):
        if kind == "residuals" and (residuals is None or not np.any(np.isfinite(residuals))):
            return
        figure, axes = _grid(len(panels))
        for ax, (k, j) in zip(axes, panels, strict=False):
            ts, part = arrays[f"e{k}_ts"], slice(rows[k], rows[k + 1])
            if kind == "fit":
                ax.errorbar(
                    ts,
                    arrays["data"][part, j],
                    yerr=arrays["sigma"][part, j],
                    fmt="o",
                    ms=3,
                    color="black",
                    alpha=0.7,
                    label="data",
                )
                for key, color, style, label in (
                    ("curve_start", "tab:gray", "--", "initial guess"),
                    ("curve_fit", "tab:red", "-", "fit"),
                ):
                    curve = arrays[f"e{k}_{key}"][:, j]
                    if np.all(np.isfinite(curve)):
                        ax.plot(arrays[f"e{k}_fine_ts"], curve, style, color=color, label=label)
            else:
                ax.axhline(0, color="black", lw=0.8)
                ax.plot(ts, residuals[part, j], "o", ms=3)
            ax.set_title(f"{experiments[k]}: {names[j]}")
            ax.set_xlabel("t")
        if kind == "fit":
            axes[0].legend(fontsize=8)
        save(figure, kind)


def _experiment_arrays(arrays: dict, k: int) -> dict:
    """Experiment `k`'s arrays of a joint fit (keys `e{k}_...`, without the prefix), with
    its rows of the normalized residuals."""
    prefix, rows = f"e{k}_", arrays["experiment_rows"]
    own = {key.removeprefix(prefix): v for key, v in arrays.items() if key.startswith(prefix)}
    own["normalized_residuals"] = arrays["normalized_residuals"][rows[k] : rows[k + 1]]
    return own


def _space_time(summary, arrays, save):
    """One row per data set (each experiment of a joint fit): 1D: the fitted solution as a
    map over (x, t) with the sensors on it, and data against fit; 2D: data against fit
    only. Residuals at the sensors over (x, t)."""
    experiments = summary["data"].get("experiments")
    runs = (
        [("", arrays)]
        if experiments is None
        else [(f"{e['name']}: ", _experiment_arrays(arrays, k)) for k, e in enumerate(experiments)]
    )
    figure = _figure(13.5, 3.8 * len(runs))
    rows = figure.subplots(len(runs), 3, squeeze=False)
    for axes, (label, own) in zip(rows, runs, strict=True):
        _space_time_row(figure, axes, summary, own, label)
    save(figure, "space_time")


def _space_time_row(figure, axes, summary, arrays, label):
    times, coords = arrays["times"], arrays["coordinates"]
    data, fit = arrays["data"], arrays["prediction_fit"]
    residuals = arrays["normalized_residuals"]
    one_d = coords.shape[1] == 1
    if one_d and "solution_fit" in arrays and np.all(np.isfinite(arrays["solution_fit"])):
        image = axes[0].pcolormesh(
            arrays["output_ts"],
            arrays["grid_axis0"],
            arrays["solution_fit"].T,
            shading="nearest",
            cmap="RdBu_r",
        )
        first = arrays["variables"] == 0
        axes[0].scatter(
            times[first],
            coords[first, 0],
            c=data[first],
            s=7,
            cmap="RdBu_r",
            norm=image.norm,
            edgecolors="black",
            linewidths=0.2,
        )
        figure.colorbar(image, ax=axes[0])
        axes[0].set_xlabel("t")
        axes[0].set_ylabel("x")
        axes[0].set_title(
            f"{label}fit {summary['model']['states'][0]}(x, t); data at the sensors (dots)"
        )
    else:
        scatter = axes[0].scatter(times, coords[:, 0], c=data, s=6, cmap="RdBu_r")
        figure.colorbar(scatter, ax=axes[0])
        axes[0].set_xlabel("t")
        axes[0].set_ylabel("x")
        axes[0].set_title(f"{label}data at the sensors")
    axes[1].plot(data, fit, ".", ms=2)
    low, high = np.nanmin(data), np.nanmax(data)
    axes[1].plot([low, high], [low, high], "k-", lw=0.8)
    axes[1].set_xlabel("data")
    axes[1].set_ylabel("fit")
    axes[1].set_title(f"{label}fit against data at the sensors")
    spread = 3 * float(np.sqrt(np.nanmean(residuals**2))) or 1.0
    scatter = axes[2].scatter(
        times, coords[:, 0], c=residuals, s=6, cmap="RdBu_r", vmin=-spread, vmax=spread
    )
    figure.colorbar(scatter, ax=axes[2])
    axes[2].set_xlabel("t")
    axes[2].set_ylabel("x")
    axes[2].set_title(f"{label}(fit - data) / sigma at the sensors")


def _fields(summary, arrays, save):
    fields = summary["fields"]
    figure, axes = _grid(len(fields), 5.0, 3.6)
    for ax, (name, field) in zip(axes, fields.items(), strict=False):
        x = arrays[f"field_{name}_coordinates"][:, 0]
        estimate = np.asarray(field["estimate"], float)
        stderr = np.asarray(field["stderr"], float)
        if field["true"] is not None:
            ax.plot(x, np.asarray(field["true"], float), "k-", label="truth")
        ax.plot(x, estimate, "C1o-", ms=3, label="estimate")
        if np.all(np.isfinite(stderr)):
            ax.fill_between(x, estimate - 2 * stderr, estimate + 2 * stderr, color="C1", alpha=0.25)
        ax.set_xlabel("x")
        ax.set_title(name)
        ax.legend(fontsize=8)
    save(figure, "fields")


def write_plots(folder, summary: dict, arrays: dict, options) -> dict[str, str]:
    """Draw the figures of a result as PNG files in `folder`.

    Curves that cannot be computed are left out (a model that cannot be simulated at the
    start, residuals when chi-square never became finite, the correlation matrix when the
    error bars are not available).

    **Arguments:**
    - `folder`: the run folder; `summary`, `arrays`: the `Result`'s fields.
    - `options`: the config's `report` section (`dpi`).

    **Returns:** `{plot name: file name}` for the files written (see `PLOTS`).

    **Example:** the figures of an ODE fit, drawn again into another folder.

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
    folder = pathlib.Path(tempfile.mkdtemp())
    images = diffsim.report.write_plots(folder, summary, arrays, config.report)
    assert {"fit", "residuals"} <= set(images) and (folder / images["fit"]).is_file()
    ```
    """
    folder = Path(folder)
    written = {}

    def save(figure, name):
        figure.savefig(folder / f"{name}.png", dpi=options.dpi)
        written[name] = f"{name}.png"

    if "data" in arrays:
        if summary["kind"] in ("pde", "pinn"):
            _space_time(summary, arrays, save)
        elif "experiment_rows" in arrays:
            _experiment_series(summary, arrays, save)
        else:
            _time_series(summary, arrays, save)
    if summary["fields"]:
        _fields(summary, arrays, save)
    draw_ude(summary, arrays, save, _figure)
    history = np.asarray(arrays["loss_history"], float)
    if summary["kind"] == "pinn":  # its loss terms over the steps replace the loss plot
        draw_pinn(summary, arrays, save, _figure)
    elif np.any(np.isfinite(history)):
        figure = _figure(5.5, 3.5)
        ax = figure.subplots()
        history = np.where(np.isfinite(history), history, np.nan)
        ax.semilogy(history, alpha=0.8 if history.shape[1] == 1 else 0.4)
        ax.set_xlabel("step")
        ax.set_ylabel("chi-square")
        save(figure, "loss")

    names = summary["correlation"]["names"]
    scalars = [i for i, n in enumerate(names) if n in summary["parameters"]]
    best = int(arrays["best_start"])
    x_history = np.asarray(arrays["x_history"], float)
    if scalars:
        figure, axes = _grid(len(scalars))
        for ax, i in zip(axes, scalars, strict=False):
            if x_history.shape[1] > 1:
                ax.plot(x_history[:, :, i], color="tab:gray", alpha=0.3, lw=0.8)
            ax.plot(x_history[:, best, i], color="tab:blue")
            true = summary["parameters"][names[i]]["true"]
            if true is not None:
                ax.axhline(true, color="tab:green", ls="--", lw=1, label="true")
                ax.legend(fontsize=8)
            ax.set_title(names[i])
            ax.set_xlabel("step")
        save(figure, "parameters")

    if not summary["uncertainty"]["singular"] and len(scalars) > 1:
        matrix = np.asarray(summary["correlation"]["matrix"], float)[np.ix_(scalars, scalars)]
        labels = [names[i] for i in scalars]
        size = 1.2 + 0.6 * len(labels)
        figure = _figure(size + 1.4, size + 0.5)
        ax = figure.subplots()
        image = ax.imshow(matrix, vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        for (a, b), value in np.ndenumerate(matrix):
            ax.text(b, a, f"{value:.2f}", ha="center", va="center", fontsize=8)
        figure.colorbar(image, ax=ax)
        save(figure, "correlation")
    return written
