"""Goodness-of-fit statistics (the definitions lmfit uses)."""

import math


def fit_statistics(
    chi_square: float,
    num_points: int,
    num_free: int,
    *,
    minus_two_log_likelihood: float | None = None,
    likelihood: str = "gaussian",
) -> dict[str, float]:
    """Chi-square, reduced chi-square, AIC and BIC of a fit.

    Gaussian data (the default): `AIC = N log(chi2 / N) + 2 k` and
    `BIC = N log(chi2 / N) + k log N` (the variance profiled out, as in lmfit). Other
    likelihoods: `AIC = -2 log L + 2 k`, `BIC = -2 log L + k log N` from the likelihood
    actually used (chi-square is then the deviance). Reduced `chi2 / (N - k)`.

    **Arguments:**
    - `chi_square`: the weighted sum of squared residuals.
    - `num_points`: the number of data values `N`.
    - `num_free`: the number of estimated parameters `k`.
    - `minus_two_log_likelihood`: `-2 log L` at the estimate when the likelihood is not
      Gaussian; `likelihood`: its name(s), for reports.

    **Returns:** a dict with `chi_square`, `reduced_chi_square` (NaN when `N <= k`), `aic`,
    `bic`, `num_points`, `num_free`, `degrees_of_freedom`.

    **Example:**

    ```python
    from diffsim import inverse

    stats = inverse.fit_statistics(chi_square=10.0, num_points=12, num_free=2)
    assert stats["degrees_of_freedom"] == 10 and stats["reduced_chi_square"] == 1.0
    print(f"AIC {stats['aic']:.2f}, BIC {stats['bic']:.2f}")
    ```
    """
    dof = num_points - num_free
    if minus_two_log_likelihood is None:
        base = num_points * math.log(max(chi_square, 1e-300) / num_points)
    else:
        base = minus_two_log_likelihood
    out = {
        "chi_square": chi_square,
        "reduced_chi_square": chi_square / dof if dof > 0 else math.nan,
        "aic": base + 2 * num_free,
        "bic": base + num_free * math.log(num_points),
        "num_points": num_points,
        "num_free": num_free,
        "degrees_of_freedom": dof,
        "likelihood": likelihood,
    }
    if minus_two_log_likelihood is not None:
        out["minus_two_log_likelihood"] = minus_two_log_likelihood
    return out
