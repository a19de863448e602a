"""What a report adds for a physics-informed network (`kind: "pinn"`): the loss terms during
training, the field against its reference, the PDE residual map, and how the error bars were
obtained. Drawn from a `Result` alone (`summary["model"]["pinn"]` and the `pinn_*` arrays)."""

import numpy as np

PINN_PLOTS = {
    "pinn_losses": "PINN loss terms during training",
    "pinn_field": "PINN field against the reference solution",
    "pinn_residual": "PDE residual of the trained network",
}
"""The figures of a PINN run: file stem -> caption."""

TERMS = ("loss", "residual", "initial", "boundary", "data")


def draw_pinn(summary: dict, arrays: dict, save, figure) -> None:
    """Draw the PINN figures that the arrays allow (`save(fig, name)`, `figure(w, h)`)."""
    if "pinn_step" in arrays and arrays["pinn_step"].size:
        fig = figure(6.0, 3.8)
        ax = fig.subplots()
        for term in TERMS:
            values = arrays.get(f"pinn_{term}")
            if values is not None and np.any(np.isfinite(values) & (values > 0)):
                style = "k-" if term == "loss" else "-"
                label = "total (weighted)" if term == "loss" else term
                ax.semilogy(arrays["pinn_step"], values, style, lw=1.2, label=label)
        ax.set_xlabel("step (Adam, then L-BFGS)")
        ax.set_ylabel("mean square")
        ax.legend(fontsize=8)
        save(fig, "pinn_losses")
    if "solution_fit" not in arrays or "grid_axis0" not in arrays:
        return
    ts, xs = arrays["output_ts"], arrays["grid_axis0"]

    def panel(ax, values, title, cmap="RdBu_r", symmetric=False):
        limit = float(np.nanmax(np.abs(values))) or 1.0
        image = ax.pcolormesh(
            ts,
            xs,
            values.T,
            shading="nearest",
            cmap=cmap,
            **({"vmin": -limit, "vmax": limit} if symmetric else {}),
        )
        fig.colorbar(image, ax=ax)
        ax.set_xlabel("t")
        ax.set_ylabel("x")
        ax.set_title(title, fontsize=9)

    if "pinn_reference" in arrays:
        field, reference = arrays["solution_fit"], arrays["pinn_reference"]
        fig = figure(13.5, 3.8)
        axes = fig.subplots(1, 3)
        panel(axes[0], field, "network u(t, x)")
        panel(axes[1], reference, f"grid solver at {arrays['pinn_reference_label']}")
        panel(axes[2], field - reference, "network - reference", symmetric=True)
        save(fig, "pinn_field")
    fig = figure(6.0, 3.8)
    ax = fig.subplots()
    residual = np.log10(np.abs(arrays["pinn_residual_map"]) + 1e-300)
    panel(ax, np.clip(residual, np.nanmax(residual) - 8, None), "log10 |PDE residual|", "viridis")
    save(fig, "pinn_residual")


def _number(value, digits=4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def pinn_sections(report: dict) -> list[tuple]:
    """The report's PINN sections: set-up and outcome of training, and the error bars' method."""
    pinn = report["model"].get("pinn")
    if pinn is None:
        return []
    adam, lbfgs = pinn["adam"], pinn["lbfgs"]
    lines = [
        f"**Network:** {pinn['network']}; inputs (t, x) scaled to [-1, 1] on the box "
        f"t in {pinn['time']}, x in {pinn['box']['lower']}..{pinn['box']['upper']}.",
        f"**Collocation:** {pinn['collocation']['points']} points "
        f"({pinn['collocation']['sampler']}"
        + (
            f", redrawn every {pinn['collocation']['resample_every']} steps"
            if pinn["collocation"]["resample_every"]
            else ""
        )
        + (", residual-based refinement" if pinn["collocation"]["adaptive"] else "")
        + f"); hard constraints: {', '.join(pinn['hard']) or 'none'}; weighting: "
        f"{pinn['weighting']}{' with causal weighting in time' if pinn['causal'] else ''}.",
        f"**Training:** Adam {adam['steps']} steps (learning rate {adam['learning_rate']:g}), "
        f"then at most {lbfgs['steps']} L-BFGS iterations"
        f"{' in float64' if lbfgs['float64'] else ''}; seed {pinn['seed']}.",
    ]
    if "status" in pinn:
        seconds = pinn["seconds"]
        lines.append(
            f"**Outcome:** {pinn['status']}; Adam {seconds['adam']:.1f} s, L-BFGS "
            f"{seconds['lbfgs']:.1f} s (compilation included); the network is saved in "
            "`network.eqx` (`diffsim.pinn.load`)."
        )
    sections = [("PINN", "lines", lines)]
    rows = [[k, _number(v)] for k, v in pinn.get("final_loss", {}).items()]
    if "residual_on_grid" in pinn:
        r = pinn["residual_on_grid"]
        rows.append(
            ["PDE residual on the grid (RMS / max)", f"{r['rms']:.3g} / {r['max_abs']:.3g}"]
        )
    if "reference" in pinn:
        ref = pinn["reference"]
        rows.append([f"relative L2 error against {ref['what']}", f"{ref['relative_l2_error']:.3g}"])
    if rows:
        sections.append(("PINN losses and errors", "table", (["quantity", "value"], rows)))
    sections.append(("How the error bars were obtained", "lines", [pinn["uncertainty_method"]]))
    return sections
