"""Figures of intervals: profile likelihoods, and the forecast with its band and all states."""

import numpy as np
import scipy.stats

from ._plots import _grid

INTERVAL_PLOTS = {
    "profiles": "Profile likelihoods: rise of chi-square along each parameter",
    "forecast": "Fitted model beyond the data: confidence band of the curve (dark), "
    "prediction band of new observations, noise included (light)",
    "states": "Every state of the fitted model, observed or not",
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


def draw_forecast(summary: dict, arrays: dict, save) -> None:
    """Draw `forecast.png` and `states.png` when the arrays hold a forecast: the fit with
    its confidence band (where the curve is) and its prediction band (where new
    observations fall: the curve's uncertainty and the observation noise)."""
    if "forecast_ts" not in arrays:
        return
    ts, fit, sd = arrays["forecast_ts"], arrays["forecast_fit"], arrays["forecast_sd"]
    level = float(arrays["forecast_level"])
    multiple = scipy.stats.norm.ppf(0.5 + level / 2)
    end = float(arrays["data_end"])
    names = summary["data"]["observations"]
    lower, upper = prediction_band(
        fit, sd, arrays["forecast_noise_sd"], arrays["forecast_log_noise"], multiple
    )
    figure, axes = _grid(len(names))
    for j, (ax, name) in enumerate(zip(axes, names, strict=False)):
        ax.plot(arrays["ts"], arrays["data"][:, j], "o", ms=3, color="black", label="data")
        ax.plot(ts, fit[:, j], color="tab:red", lw=1.2, label="fit")
        if np.all(np.isfinite(lower[:, j]) & np.isfinite(upper[:, j])):
            ax.fill_between(
                ts,
                lower[:, j],
                upper[:, j],
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
        ax.axvline(end, color="gray", ls=":", lw=1)
        ax.set_title(name)
        ax.set_xlabel("t")
    axes[0].legend(fontsize=8)
    save(figure, "forecast")
    states = summary["model"]["states"]
    figure, axes = _grid(len(states))
    for j, (ax, name) in enumerate(zip(axes, states, strict=False)):
        ax.plot(ts, arrays["states_fit"][:, j], color="tab:blue", lw=1.2)
        ax.axvline(end, color="gray", ls=":", lw=1)
        ax.set_title(name)
        ax.set_xlabel("t")
    save(figure, "states")
