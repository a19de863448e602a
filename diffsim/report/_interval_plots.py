"""The profile-likelihood figure: each scalar's profile with its threshold and interval."""

import numpy as np

from ._plots import _grid

INTERVAL_PLOTS = {"profiles": "Profile likelihoods: rise of chi-square along each parameter"}
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
