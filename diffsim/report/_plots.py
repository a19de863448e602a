"""Figures of a fit: data vs model, residuals, loss history, parameter traces, correlations."""

from pathlib import Path

import jax
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

PLOTS = {
    "fit": "Data and fitted model",
    "residuals": "Normalized residuals",
    "loss": "Chi-square during the fit",
    "parameters": "Parameter values during the fit",
    "correlation": "Correlation matrix",
}


def _grid(axes_count: int):
    columns = min(axes_count, 3)
    rows = -(-axes_count // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    for extra in axes.flat[axes_count:]:
        extra.set_visible(False)
    return figure, axes.flat


def write_plots(folder, problem, result, uncertainty, options) -> dict[str, str]:
    """Draw the fit figures as PNG files in `folder`.

    **Arguments:**
    - `folder`: the run folder.
    - `problem`: the `LeastSquaresProblem`; `result`: its `FitResult`; `uncertainty`: its
      `Uncertainty`.
    - `options`: the config's `report` section (`dpi`, `points`).

    **Returns:** `{plot name: file name}` for the files written (see `PLOTS`).
    """
    folder = Path(folder)
    data = problem.data
    t0 = problem.t0
    fine = np.linspace(t0, float(data.ts[-1]), options.points)
    predict = jax.jit(lambda x: problem.predict(x, ts=fine))
    fitted, fitted_status = predict(result.x)
    initial, initial_status = predict(np.asarray(problem.space.initial_values()))
    fitted, initial = np.asarray(fitted), np.asarray(initial)
    if result.residuals is not None:
        normalized = result.residuals.reshape(data.values.shape)
    else:
        at_data, _ = jax.jit(lambda x: problem.predict(x))(result.x)
        normalized = (np.asarray(at_data) - data.values) / problem.sigma
    normalized = np.where(np.isnan(data.values), np.nan, normalized)
    written = {}

    def save(figure, name):
        figure.tight_layout()
        figure.savefig(folder / f"{name}.png", dpi=options.dpi)
        plt.close(figure)
        written[name] = f"{name}.png"

    figure, axes = _grid(len(data.names))
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
        if int(initial_status) == 0:
            ax.plot(fine, initial[:, j], "--", color="tab:gray", lw=1, label="initial guess")
        if int(fitted_status) == 0:
            ax.plot(fine, fitted[:, j], color="tab:red", lw=1.5, label="fit")
        ax.set_title(name)
        ax.set_xlabel("t")
    axes[0].legend(fontsize=8)
    save(figure, "fit")

    figure, axes = _grid(len(data.names))
    for j, (ax, name) in enumerate(zip(axes, data.names, strict=False)):
        ax.axhline(0, color="black", lw=0.8)
        ax.plot(data.ts, normalized[:, j], "o", ms=3)
        ax.set_title(f"{name}: (model - data) / sigma")
        ax.set_xlabel("t")
    save(figure, "residuals")

    figure, ax = plt.subplots(figsize=(5.5, 3.5))
    history = np.where(np.isfinite(result.loss_history), result.loss_history, np.nan)
    ax.semilogy(history, alpha=0.8 if history.shape[1] == 1 else 0.4)
    ax.set_xlabel("step")
    ax.set_ylabel("chi-square")
    save(figure, "loss")

    names = result.names
    figure, axes = _grid(len(names))
    best = int(np.nanargmin(np.where(np.isfinite(result.starts_loss), result.starts_loss, np.nan)))
    for i, (ax, name) in enumerate(zip(axes, names, strict=False)):
        if result.x_history.shape[1] > 1:
            ax.plot(result.x_history[:, :, i], color="tab:gray", alpha=0.3, lw=0.8)
        ax.plot(result.x_history[:, best, i], color="tab:blue")
        true = problem.space.parameters[i].true
        if true is not None:
            ax.axhline(true, color="tab:green", ls="--", lw=1, label="true")
            ax.legend(fontsize=8)
        ax.set_title(name)
        ax.set_xlabel("step")
    save(figure, "parameters")

    if not uncertainty.singular and len(names) > 1:
        size = 1.2 + 0.6 * len(names)
        figure, ax = plt.subplots(figsize=(size + 1, size))
        image = ax.imshow(uncertainty.correlation, vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_yticks(range(len(names)), names)
        for (a, b), value in np.ndenumerate(uncertainty.correlation):
            ax.text(b, a, f"{value:.2f}", ha="center", va="center", fontsize=8)
        figure.colorbar(image, ax=ax)
        save(figure, "correlation")
    return written
