"""What a report adds for a universal ODE: the learned term along the fitted trajectory
against the true term (when the config gives it), every state extrapolated beyond the data
against the truth (the trained UDE and the recovered equation with its band), and the
recovered equation with its coefficients. Drawn from `UdeProblem.report_arrays` and the
`model.ude` entry of the summary alone."""

import numpy as np

UDE_PLOTS = {
    "ude_learned": "Learned term along the fitted trajectory (dashed: the true term)",
    "ude_extrapolation": "Universal ODE (solid) and recovered equation (dotted, with its band) "
    "beyond the data (dashed: the true model)",
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
        recovered = arrays.get("extrapolation_recovered")
        band = arrays.get("extrapolation_recovered_sd")
        for i in range(fit.shape[1]):
            ax.plot(ts, fit[:, i], color=f"C{i}", lw=1.4, label=str(names[i]))
            if truth is not None:
                ax.plot(ts, truth[:, i], "--", color=f"C{i}", lw=1.2)
            if recovered is not None:
                ax.plot(ts, recovered[:, i], ":", color=f"C{i}", lw=1.6)
                if band is not None:
                    low, high = (
                        recovered[:, i] - 1.96 * band[:, i],
                        recovered[:, i] + 1.96 * band[:, i],
                    )
                    ax.fill_between(ts, low, high, color=f"C{i}", alpha=0.15, lw=0)
        ax.axvline(float(arrays["ts"][-1]), color="gray", lw=0.8)
        reference = truth if truth is not None else arrays.get("data")
        if reference is not None and np.any(np.isfinite(reference)):
            # A diverging extrapolation must not squash the truth to a flat line.
            low, high = np.nanmin(reference), np.nanmax(reference)
            margin = 0.25 * (high - low)
            ax.set_ylim(low - margin, high + margin)
        title = "data end at the gray line"
        if truth is not None and np.all(np.isfinite(fit)) and np.all(np.isfinite(truth)):
            beyond = ts > float(arrays["ts"][-1])
            error = _relative_l2(fit[beyond], truth[beyond])
            title += f"; rel. L2 error beyond: {error:.3g} (UDE)"
            if recovered is not None and np.all(np.isfinite(recovered)):
                title += f", {_relative_l2(recovered[beyond], truth[beyond]):.3g} (recovered)"
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("t")
        ax.legend(fontsize=8)
        save(fig, "ude_extrapolation")


def _value(entry: dict) -> str:
    text = f"{entry['estimate']:.5g} ± {entry['stderr']:.2g}"
    return text + (f" (true {entry['true']:.5g})" if "true" in entry else "")


def ude_sections(report: dict) -> list[tuple]:
    """The report's universal-ODE sections: training, and the recovered equation (its terms
    and coefficients with error bars, true terms when known, extrapolation scores)."""
    ude = report["model"].get("ude")
    if ude is None or ude.get("training") is None:
        return []
    t = ude["training"]
    lines = [
        f"**Training:** {ude['weights']} network weights; Adam {t['adam']['steps']} steps "
        f"(learning rate {t['adam']['learning_rate']:g}), then {t['lbfgs']['steps']} L-BFGS "
        f"iterations on the {t['loss']}"
        + (f" (stop at {t['stop_below']:g} per value)" if t.get("stop_below") else "")
        + f"; RMS residual {t['misfit_rms_sigma']:.3g} sigma.",
        f"**Time:** compilation {t['compile_s']:.1f} s, training {t['train_s']:.1f} s, "
        f"recovering equations {t['recover_s']:.1f} s (wall clock); the network is saved in "
        "`network.eqx`.",
    ]
    sections = [("Universal ODE", "lines", lines)]
    recovered = ude.get("recovered")
    if recovered is None:
        return sections
    if "terms" not in recovered:
        return sections + [("Recovered equation", "lines", [recovered["message"]])]
    lines = [
        f"**Library:** {recovered['library']}; {recovered['how']}.",
        "**Sparse regression on the learned term alone:** "
        + "; ".join(
            f"{target} = " + (" ".join(f"{c:+.4g}*{term}" for term, c in terms.items()) or "0")
            for target, terms in recovered["sparse_terms"].items()
        ),
    ]
    if "exact_terms" in recovered:
        lines.append(
            f"**True terms found exactly:** {'yes' if recovered['exact_terms'] else 'no'}."
        )
    lines.append(
        f"**Refit as a plain ODE:** chi-square {recovered['chi_square']:.4g} for "
        f"{recovered['num_points']} data values ({recovered['fit_message']}); error bars scaled "
        f"by {recovered['covariance_scale']:.3g}."
    )
    sections.append(("Recovered equation", "lines", lines))
    rows = [
        [target, term, entry["parameter"], _value(entry)]
        for target, terms in recovered["terms"].items()
        for term, entry in terms.items()
    ]
    rows += [[name, "", name, _value(entry)] for name, entry in recovered["physical"].items()]
    sections.append(
        ("Recovered terms", "table", (["network output", "term", "parameter", "value"], rows))
    )
    extrapolation = recovered.get("extrapolation")
    if extrapolation is not None and "rel_l2" in extrapolation:
        e = extrapolation
        lines = [
            f"Relative L2 error of the recovered equation against the truth from t0 to "
            f"{e['until']:g}: {e['rel_l2']:.3g} ({e.get('rel_l2_beyond_data', float('nan')):.3g} "
            "beyond the data)."
        ]
        if "expected_rel_l2" in e:
            lines.append(
                f"What the coefficients' error bars alone account for (delta method): "
                f"{e['expected_rel_l2']:.3g}; the truth lies inside the {100 * e['level']:g}% "
                f"band at {100 * e['truth_inside_band']:.0f}% of the times beyond the data."
            )
        sections.append(("Recovered equation beyond the data", "lines", lines))
    return sections
