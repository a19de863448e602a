"""Figures of intervals: profile likelihoods, and the forecast with its band and all states."""

import numpy as np
import scipy.stats

from ._plots import _grid

INTERVAL_PLOTS = {
    "profiles": "Profile likelihoods: rise of chi-square along each parameter",
    "forecast": "Fitted model beyond the data: confidence band of the curve (dark), "
    "prediction band of new observations, noise included (light)",
    "states": "Every state of the fitted model, observed or not (PDE: its field at the end "
    "of the forecast)",
}
"""The figures of this module: file stem -> caption."""


def draw_profiles(summary: dict, save) -> None:
    """Draw `profiles.png` when the result has profiles (`save(figure, name)` writes it)."""
    profiles = summary.get("profiles") or {}
    if not profiles:
        return
    figure, axes = _grid(len(profiles))
    for ax, (name, curve) in zip(axes, profiles.items(), strict=False):
        values, rise = np.asarray(curve["values"]), np.asarray(curve["rise"], float)
        ax.plot(values, rise, "o-", ms=3, color="tab:blue", label="profile")
        ax.axhline(curve["threshold"], color="tab:red", ls="--", lw=1, label="threshold")
        parameter = summary["parameters"][name]
        ax.axvline(parameter["estimate"], color="black", lw=0.8)
        linearized = parameter.get("intervals", {}).get("linearized")
        if linearized is not None:
            stderr = parameter["stderr"]
            grid = np.linspace(min(values), max(values), 200)
            quadratic = ((grid - parameter["estimate"]) / stderr) ** 2
            ax.plot(grid, quadratic, color="tab:gray", lw=1, label="linearized")
        top = 3 * curve["threshold"]
        ax.set_ylim(-0.05 * top, top)
        ax.set_title(name)
        ax.set_ylabel("rise of chi-square")
    axes[0].legend(fontsize=8)
    save(figure, "profiles")


def prediction_band(fit, curve_sd, noise_sd, log_noise, multiple):
    """`(lower, upper)` of the band where new observations fall: `fit +/- q sqrt(sd^2 +
    noise^2)` (normal approximation), or for log-normal columns `fit exp(+/- q s)` with
    `s^2 = (sd / fit)^2 + noise^2` (in `log y`).

    **Arguments:** arrays `(F, M)` from `forecast_arrays`; `log_noise` `(M,)`; `multiple`:
    the normal quantile `q` of the band's level.
    """
    additive = multiple * np.sqrt(curve_sd**2 + noise_sd**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = multiple * np.sqrt((curve_sd / fit) ** 2 + noise_sd**2)
    lower = np.where(log_noise, fit * np.exp(-spread), fit - additive)
    upper = np.where(log_noise, fit * np.exp(spread), fit + additive)
    return lower, upper


MAX_PANELS = 12
"""The most panels of `forecast.png` (sensors of a PDE run beyond it are thinned evenly)."""


def _forecast_panels(summary: dict, arrays: dict) -> list[tuple]:
    """`(title, key prefix, column, data times, data values)` of each panel of the forecast:
    one per observation (ODE), per experiment and observation (joint fit) or per sensor
    (PDE: a position and an observed state)."""
    names = summary["data"]["observations"]
    if "forecast_sensor" in arrays:
        return _sensor_panels(summary, arrays, "", "")
    if "forecast_ts" in arrays:
        return [(n, "", j, arrays["ts"], arrays["data"][:, j]) for j, n in enumerate(names)]
    if "e0_forecast_sensor" in arrays:  # a joint PDE fit
        return [
            panel
            for k, e in enumerate(summary["data"]["experiments"])
            for panel in _sensor_panels(summary, arrays, f"e{k}_", f"{e['name']}: ")
        ]
    rows = arrays["experiment_rows"]
    return [
        (
            f"{e['name']}: {n}",
            f"e{k}_",
            j,
            arrays[f"e{k}_ts"],
            arrays["data"][rows[k] : rows[k + 1], j],
        )
        for k, e in enumerate(summary["data"]["experiments"])
        for j, n in enumerate(names)
    ]


def _sensor_panels(summary: dict, arrays: dict, prefix: str, label: str) -> list[tuple]:
    """The forecast panels of a PDE data set's sensors (keys `prefix...`, titles `label...`)."""
    states = summary["model"]["states"]
    panels = []
    for k, (state, point) in enumerate(
        zip(
            arrays[prefix + "forecast_sensor_state"],
            arrays[prefix + "forecast_sensor_coordinates"],
            strict=True,
        )
    ):
        mask = arrays[prefix + "forecast_sensor"] == k
        where = ", ".join(f"{v:.3g}" for v in point)
        place = f"x = {where}" if len(point) == 1 else f"(x, y) = ({where})"
        title = f"{label}{states[int(state)]} at {place}"
        panels.append(
            (title, prefix, k, arrays[prefix + "times"][mask], arrays[prefix + "data"][mask])
        )
    return panels


def _runs(summary: dict) -> list[tuple[str, str]]:
    """`(title prefix, key prefix)` of each data set: one, or each experiment of a joint fit."""
    experiments = summary["data"].get("experiments")
    if experiments is None:
        return [("", "")]
    return [(f"{e['name']}: ", f"e{k}_") for k, e in enumerate(experiments)]


def draw_forecast(summary: dict, arrays: dict, save) -> None:
    """Draw `forecast.png` and `states.png` when the arrays hold a forecast: the fit with
    its confidence band (where the curve is) and its prediction band (where new
    observations fall: the curve's uncertainty and the observation noise); every state
    (ODE: over time, per experiment in a joint fit; PDE: its field at the forecast's end)."""
    if "forecast_level" not in arrays:
        return
    level = float(arrays["forecast_level"])
    multiple = scipy.stats.norm.ppf(0.5 + level / 2)
    panels = _forecast_panels(summary, arrays)
    shown = np.unique(np.linspace(0, len(panels) - 1, min(len(panels), MAX_PANELS)).astype(int))
    figure, axes = _grid(len(shown))
    for ax, (title, prefix, j, data_ts, data) in zip(
        axes, [panels[i] for i in shown], strict=False
    ):
        ts, fit, sd = (
            arrays[prefix + key] for key in ("forecast_ts", "forecast_fit", "forecast_sd")
        )
        lower, upper = prediction_band(
            fit[:, j],
            sd[:, j],
            arrays[prefix + "forecast_noise_sd"][:, j],
            arrays[prefix + "forecast_log_noise"][j],
            multiple,
        )
        ax.plot(data_ts, data, "o", ms=3, color="black", label="data")
        ax.plot(ts, fit[:, j], color="tab:red", lw=1.2, label="fit")
        if np.all(np.isfinite(lower) & np.isfinite(upper)):
            ax.fill_between(
                ts,
                lower,
                upper,
                color="tab:orange",
                alpha=0.2,
                label=f"{100 * level:g}% prediction band (new data)",
            )
        if np.all(np.isfinite(sd[:, j])):
            ax.fill_between(
                ts,
                fit[:, j] - multiple * sd[:, j],
                fit[:, j] + multiple * sd[:, j],
                color="tab:red",
                alpha=0.35,
                label=f"{100 * level:g}% confidence band (fitted curve)",
            )
        ax.axvline(float(arrays[prefix + "data_end"]), color="gray", ls=":", lw=1)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("t")
    if len(shown) < len(panels):
        figure.suptitle(f"{len(shown)} of {len(panels)} sensors")
    axes[0].legend(fontsize=8)
    save(figure, "forecast")
    if "forecast_field" in arrays or "e0_forecast_field" in arrays:
        _draw_fields(summary, arrays, multiple, save)
    else:
        _draw_states(summary, arrays, save)


def _draw_states(summary: dict, arrays: dict, save) -> None:
    """Every state over time, per experiment in a joint fit."""
    states = summary["model"]["states"]
    runs = _runs(summary)
    figure, axes = _grid(len(runs) * len(states))
    panels = [(title, prefix, j) for title, prefix in runs for j in range(len(states))]
    for ax, (title, prefix, j) in zip(axes, panels, strict=False):
        ax.plot(arrays[prefix + "forecast_ts"], arrays[prefix + "states_fit"][:, j], lw=1.2)
        ax.axvline(float(arrays[prefix + "data_end"]), color="gray", ls=":", lw=1)
        ax.set_title(title + states[j], fontsize=9)
        ax.set_xlabel("t")
    save(figure, "states")


def _draw_fields(summary: dict, arrays: dict, multiple: float, save) -> None:
    """Every state's field at the forecast's end (1D: with its confidence band), per
    experiment in a joint fit."""
    states = summary["model"]["states"]
    panels = [(title, prefix, j) for title, prefix in _runs(summary) for j in range(len(states))]
    figure, axes = _grid(len(panels))
    for ax, (title, prefix, j) in zip(axes, panels, strict=False):
        field, sd = arrays[prefix + "forecast_field"][j], arrays[prefix + "forecast_field_sd"][j]
        until = float(arrays[prefix + "forecast_ts"][-1])
        x = arrays[prefix + "grid_axis0"]
        if field.ndim == 1:
            ax.plot(x, field, color="tab:blue", lw=1.2)
            if np.all(np.isfinite(sd)):
                ax.fill_between(x, field - multiple * sd, field + multiple * sd, alpha=0.3)
        else:
            image = ax.pcolormesh(x, arrays[prefix + "grid_axis1"], field.T, shading="nearest")
            ax.figure.colorbar(image, ax=ax)
            ax.set_ylabel("y")
        ax.set_xlabel("x")
        ax.set_title(f"{title}{states[j]} at t = {until:.4g}", fontsize=9)
    save(figure, "states")
