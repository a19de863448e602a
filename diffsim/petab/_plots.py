"""Figures of a PEtab fit that the generic report does not draw: one panel per observable and
condition, and the waterfall plot of the multistart results."""

import numpy as np
from matplotlib.figure import Figure

#: At most this many observable-condition panels are drawn (the first ones, in table order).
MAX_PANELS = 24


def draw_panels(arrays: dict, observable_ids, experiment_names, path) -> None:
    """Data (points) and the fitted model (line) at the measurement times, one panel per
    observable and experiment, from `PetabProblem.report_arrays`."""
    keys = zip(arrays["observable"].tolist(), arrays["experiment"].tolist(), strict=True)
    pairs = sorted(set(keys))
    pairs = pairs[:MAX_PANELS]
    columns = min(4, len(pairs))
    rows = -(-len(pairs) // columns)
    figure = Figure(figsize=(3.2 * columns, 2.6 * rows), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    for ax, (o, e) in zip(axes, pairs, strict=False):
        rows_of = (arrays["observable"] == o) & (arrays["experiment"] == e)
        order = np.argsort(arrays["time"][rows_of], kind="stable")
        t = arrays["time"][rows_of][order]
        ax.plot(t, arrays["measurement"][rows_of][order], "o", ms=3, label="data")
        ax.plot(t, arrays["prediction_fit"][rows_of][order], "-", lw=1.2, label="fit")
        ax.set_title(f"{observable_ids[o]}\n{experiment_names[e]}", fontsize=8)
        ax.set_xlabel("time", fontsize=8)
    for ax in axes[len(pairs) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7)
    figure.savefig(path, dpi=100)


def draw_waterfall(log_likelihoods, path) -> None:
    """`-log L` of each start, sorted, best first (pyPESTO's waterfall plot)."""
    values = np.sort(-np.asarray(log_likelihoods, float))
    figure = Figure(figsize=(5.5, 3.5), layout="constrained")
    ax = figure.subplots()
    ax.plot(np.arange(1, values.size + 1), values, "o-", ms=3)
    ax.set_xlabel("start (sorted)")
    ax.set_ylabel("-log L")
    figure.savefig(path, dpi=110)
