"""What a report adds for a universal ODE: the learned term along the fitted trajectory
against the true term (when the config gives it), and every state extrapolated beyond the data
against the truth. Drawn from the arrays of `UdeProblem.report_arrays` alone."""

import numpy as np

UDE_PLOTS = {
    "ude_learned": "Learned term along the fitted trajectory (dashed: the true term)",
    "ude_extrapolation": "Fitted universal ODE beyond the data (dashed: the true model)",
}
"""The figures of a universal-ODE run: file stem -> caption."""


def _relative_l2(a, b) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def draw_ude(summary: dict, arrays: dict, save, figure) -> None:
    """Draw the universal-ODE figures that the arrays allow (`save(fig, name)`,
    `figure(w, h)`)."""
    if "learned_fit" in arrays:
        learned, ts = arrays["learned_fit"], arrays["fine_ts"]
        truth = arrays.get("truth_fit")
        fig = figure(6.0, 3.8)
        ax = fig.subplots()
        for i in range(learned.shape[1]):
            ax.plot(ts, learned[:, i], color=f"C{i}", lw=1.4, label=f"nn output {i}")
            if truth is not None:
                ax.plot(ts, truth[:, i], "--", color=f"C{i}", lw=1.2)
        title = "learned term"
        if truth is not None and np.all(np.isfinite(learned)):
            title += f": rel. L2 error {_relative_l2(learned, truth):.3g} against the truth"
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("t")
        ax.legend(fontsize=8)
        save(fig, "ude_learned")
    if "extrapolation_fit" in arrays:
        ts, fit = arrays["extrapolation_ts"], arrays["extrapolation_fit"]
        truth = arrays.get("extrapolation_truth")
        fig = figure(7.5, 3.8)
        ax = fig.subplots()
        names = summary["model"].get("states") or [f"state {i}" for i in range(fit.shape[1])]
        for i in range(fit.shape[1]):
            ax.plot(ts, fit[:, i], color=f"C{i}", lw=1.4, label=str(names[i]))
            if truth is not None:
                ax.plot(ts, truth[:, i], "--", color=f"C{i}", lw=1.2)
        ax.axvline(float(arrays["ts"][-1]), color="gray", lw=0.8)
        reference = truth if truth is not None else arrays.get("data")
        if reference is not None and np.any(np.isfinite(reference)):
            # A diverging extrapolation must not squash the truth to a flat line.
            low, high = np.nanmin(reference), np.nanmax(reference)
            margin = 0.25 * (high - low)
            ax.set_ylim(low - margin, high + margin)
        title = "extrapolation (data end at the gray line)"
        if truth is not None and np.all(np.isfinite(fit)) and np.all(np.isfinite(truth)):
            beyond = ts > float(arrays["ts"][-1])
            error = _relative_l2(fit[beyond], truth[beyond])
            title += f": rel. L2 error {error:.3g} beyond the data"
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("t")
        ax.legend(fontsize=8)
        save(fig, "ude_extrapolation")
