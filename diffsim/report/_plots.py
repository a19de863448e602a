"""Figures of a fit: data vs model, residuals, loss history, parameter traces, correlations.

Figures are `matplotlib.figure.Figure` objects saved directly, never registered with pyplot,
so drawing a report leaves the user's matplotlib backend and open figures alone.
"""

from pathlib import Path

import jax
import numpy as np

PLOTS = {
    "fit": "Data and fitted model",
    "residuals": "Normalized residuals",
    "loss": "Chi-square during the fit",
    "parameters": "Parameter values during the fit",
    "correlation": "Correlation matrix",
}


def _grid(axes_count: int):
    """A figure with `axes_count` panels, at most three per row."""
    from matplotlib.figure import Figure

    columns = min(axes_count, 3)
    rows = -(-axes_count // columns)
    figure = Figure(figsize=(4.2 * columns, 3.2 * rows))
    axes = figure.subplots(rows, columns, squeeze=False)
    for extra in axes.flat[axes_count:]:
        extra.set_visible(False)
    return figure, axes.flat


def write_plots(folder, problem, result, uncertainty, options) -> dict[str, str]:
    """Draw the fit figures as PNG files in `folder`.

    Curves that cannot be computed are left out: model trajectories where the solve fails,
    residuals and the loss history when chi-square never became finite (a start point that
    cannot be simulated), the correlation matrix when the error bars are not available.

    **Arguments:**
    - `folder`: the run folder.
    - `problem`: the `LeastSquaresProblem`; `result`: its `FitResult`; `uncertainty`: its
      `Uncertainty`.
    - `options`: the config's `report` section (`dpi`, `points`).

    **Returns:** `{plot name: file name}` for the files written (see `PLOTS`).
    """
    from matplotlib.figure import Figure

    folder = Path(folder)
    data = problem.data
    fine = np.linspace(problem.t0, float(data.ts[-1]), options.points)
    predict = jax.jit(lambda x: problem.predict(x, ts=fine))
    fitted_ok = bool(np.isfinite(result.chi_square))
    curves = {"initial guess": (result.starts_x0[result.best_start], "tab:gray", "--")}
    if fitted_ok:
        curves["fit"] = (result.x, "tab:red", "-")
    written = {}

    def save(figure, name):
        """Lay out `figure`, write it as `<name>.png` and record it in `written`."""
        figure.tight_layout()
        figure.savefig(folder / f"{name}.png", dpi=options.dpi)
        written[name] = f"{name}.png"

    figure, axes = _grid(len(data.names))
    trajectories = {}
    for label, (x, color, style) in curves.items():
        values, status = predict(x)
        if int(status) == 0:
            trajectories[label] = (np.asarray(values), color, style)
    for j, (ax, name) in enumerate(zip(axes, data.names, strict=False)):
        ax.errorbar(
            data.ts,
            data.values[:, j],
            yerr=problem.sigma[:, j],
            fmt="o",
            ms=3,
            color="black",
            alpha=0.7,
            label="data",
        )
        for label, (values, color, style) in trajectories.items():
            ax.plot(fine, values[:, j], style, color=color, lw=1.2, label=label)
        ax.set_title(name)
        ax.set_xlabel("t")
    axes[0].legend(fontsize=8)
    save(figure, "fit")

    if fitted_ok:
        if result.residuals is not None:
            normalized = result.residuals.reshape(data.values.shape)
        else:
            at_data, _ = jax.jit(problem.predict)(result.x)
            normalized = (np.asarray(at_data) - data.values) / problem.sigma
        normalized = np.where(np.isnan(data.values), np.nan, normalized)
        figure, axes = _grid(len(data.names))
        for j, (ax, name) in enumerate(zip(axes, data.names, strict=False)):
            ax.axhline(0, color="black", lw=0.8)
            ax.plot(data.ts, normalized[:, j], "o", ms=3)
            ax.set_title(f"{name}: (model - data) / sigma")
            ax.set_xlabel("t")
        save(figure, "residuals")

        figure = Figure(figsize=(5.5, 3.5))
        ax = figure.subplots()
        history = np.where(np.isfinite(result.loss_history), result.loss_history, np.nan)
        ax.semilogy(history, alpha=0.8 if history.shape[1] == 1 else 0.4)
        ax.set_xlabel("step")
        ax.set_ylabel("chi-square")
        save(figure, "loss")

    names = result.names
    figure, axes = _grid(len(names))
    for i, (ax, name) in enumerate(zip(axes, names, strict=False)):
        if result.x_history.shape[1] > 1:
            ax.plot(result.x_history[:, :, i], color="tab:gray", alpha=0.3, lw=0.8)
        ax.plot(result.x_history[:, result.best_start, i], color="tab:blue")
        true = problem.space.parameters[i].true
        if true is not None:
            ax.axhline(true, color="tab:green", ls="--", lw=1, label="true")
            ax.legend(fontsize=8)
        ax.set_title(name)
        ax.set_xlabel("step")
    save(figure, "parameters")

    if not uncertainty.singular and len(names) > 1:
        size = 1.2 + 0.6 * len(names)
        figure = Figure(figsize=(size + 1, size))
        ax = figure.subplots()
        image = ax.imshow(uncertainty.correlation, vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_yticks(range(len(names)), names)
        for (a, b), value in np.ndenumerate(uncertainty.correlation):
            ax.text(b, a, f"{value:.2f}", ha="center", va="center", fontsize=8)
        figure.colorbar(image, ax=ax)
        save(figure, "correlation")
    return written
