"""Goodness-of-fit statistics (the definitions lmfit uses)."""

import math


def fit_statistics(chi_square: float, num_points: int, num_free: int) -> dict[str, float]:
    """Chi-square, reduced chi-square, AIC and BIC of a least-squares fit.

    `AIC = N log(chi2 / N) + 2 k` and `BIC = N log(chi2 / N) + k log N` (Gaussian likelihood
    with the variance profiled out, as in lmfit), reduced `chi2 / (N - k)`.

    **Arguments:**
    - `chi_square`: the weighted sum of squared residuals.
    - `num_points`: the number of data values `N`.
    - `num_free`: the number of estimated parameters `k`.

    **Returns:** a dict with `chi_square`, `reduced_chi_square` (NaN when `N <= k`), `aic`,
    `bic`, `num_points`, `num_free`, `degrees_of_freedom`.
    """
    dof = num_points - num_free
    per_point = max(chi_square, 1e-300) / num_points
    return {
        "chi_square": chi_square,
        "reduced_chi_square": chi_square / dof if dof > 0 else math.nan,
        "aic": num_points * math.log(per_point) + 2 * num_free,
        "bic": num_points * math.log(per_point) + num_free * math.log(num_points),
        "num_points": num_points,
        "num_free": num_free,
        "degrees_of_freedom": dof,
    }
