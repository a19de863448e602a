"""Is the fit statistically plausible? Chi-square test, runs test, bounds, identifiability.

A converged optimizer only says that a local minimum was found. These checks say whether the
model at that minimum describes the data as well as the stated noise allows:

- the chi-square goodness-of-fit test (`P(chi2_dof >= chi2)`),
- the Wald-Wolfowitz runs test on the signs of the residuals in time order (too few runs:
  the model misses a systematic trend) and their lag-1 autocorrelation,
- parameters that ended on a bound, and parameter combinations the data barely determine
  (small singular values of the column-normalized Jacobian).

A fit is **poor** when both tests reject (`p < POOR_PVALUE`): a misfit far beyond the noise
that is also systematic, the signature of a local minimum or a wrong model. A misfit that
is large but random (noise levels set too small) only gets a warning.
"""

import math

import numpy as np
import scipy.stats

from ._parameters import ParameterSpace
from ._uncertainty import Uncertainty

POOR_PVALUE = 1e-6
"""Both the chi-square test and the runs test must reject at this level for a poor fit."""
WARN_PVALUE = 1e-3
"""A single test rejecting at this level gives a warning."""
WEAK_DIRECTION = 1e-3
"""Directions with relative singular value below this are named as poorly identified."""
BOUND_TOLERANCE = 1e-6
"""An estimate this close to a bound (relative to the bound interval or value) is on it."""


def runs_test(residuals: np.ndarray) -> dict:
    """Wald-Wolfowitz runs test of the residual signs, series by series (columns), pooled.

    **Arguments:**
    - `residuals`: `(T,)` or `(T, M)` residuals in time order (NaN: missing, skipped).

    **Returns:** `{"runs", "expected", "z", "pvalue"}`: the observed and expected number of
    runs over all series and the one-sided p-value for too few runs (positive
    autocorrelation); NaN when no series has both signs.
    """
    series = residuals.reshape(residuals.shape[0], -1).T
    runs = expected = variance = 0.0
    for values in series:
        values = values[np.isfinite(values) & (values != 0)]
        positive, negative = int(np.sum(values > 0)), int(np.sum(values < 0))
        n = positive + negative
        if positive == 0 or negative == 0:
            continue
        runs += 1 + int(np.sum(np.diff(np.sign(values)) != 0))
        mean = 1 + 2 * positive * negative / n
        expected += mean
        variance += (mean - 1) * (mean - 2) / (n - 1)
    if variance <= 0:
        return {"runs": runs, "expected": expected, "z": math.nan, "pvalue": math.nan}
    z = (runs - expected) / math.sqrt(variance)
    return {"runs": runs, "expected": expected, "z": z, "pvalue": float(scipy.stats.norm.cdf(z))}


def lag_one_autocorrelation(residuals: np.ndarray) -> list[float]:
    """The lag-1 autocorrelation of each series (column) of residuals (NaN-free pairs)."""
    out = []
    for values in residuals.reshape(residuals.shape[0], -1).T:
        keep = np.isfinite(values[:-1]) & np.isfinite(values[1:])
        if keep.sum() < 2:
            out.append(math.nan)
            continue
        a, b = values[:-1][keep], values[1:][keep]
        a, b = a - np.mean(a), b - np.mean(b)
        denominator = math.sqrt(float(np.sum(a * a) * np.sum(b * b)))
        out.append(float(np.sum(a * b) / denominator) if denominator > 0 else math.nan)
    return out


def at_bounds(space: ParameterSpace, x: np.ndarray) -> list[str]:
    """Names of the scalar estimates that sit on (within `BOUND_TOLERANCE` of) a bound."""
    names = []
    for p, value in zip(space.parameters, np.asarray(x), strict=True):
        if p.group is not None:
            continue
        width = (p.upper - p.lower) if p.lower is not None and p.upper is not None else None
        for bound in (p.lower, p.upper):
            if bound is None:
                continue
            scale = width if width is not None else max(abs(bound), abs(value), 1e-300)
            if abs(value - bound) <= BOUND_TOLERANCE * scale:
                names.append(f"{p.name} = {value:.6g} (bound {bound:g})")
    return names


def weak_directions(names, uncertainty: Uncertainty) -> list[dict]:
    """Parameter combinations with relative singular value below `WEAK_DIRECTION`.

    Each is `{"relative_singular_value", "combination": {name: loading}}` with the loadings
    above 0.1 in magnitude (of the column-normalized Jacobian's right singular vector).
    """
    s = np.asarray(uncertainty.singular_values)
    if s.size == 0 or not s[0] > 0 or len(names) != s.size:
        return []
    out = []
    for value, direction in zip(s, np.asarray(uncertainty.directions), strict=True):
        if value / s[0] < WEAK_DIRECTION:
            combination = {
                n: round(float(v), 3) for n, v in zip(names, direction, strict=True) if abs(v) > 0.1
            }
            out.append({"relative_singular_value": float(value / s[0]), "combination": combination})
    return out


def assess_fit(
    statistics: dict,
    residuals: np.ndarray,
    space: ParameterSpace,
    x: np.ndarray,
    uncertainty: Uncertainty,
) -> dict:
    """The verdict on a fit: `"good"`, `"doubtful"` (warnings) or `"poor"`, and why.

    **Arguments:**
    - `statistics`: `fit_statistics` of the fit (chi-square and degrees of freedom).
    - `residuals`: normalized residuals `(model - data) / sigma` shaped like the data, in
      time order along the first axis (NaN where missing).
    - `space`, `x`: the free parameters and the estimate.
    - `uncertainty`: the linearized uncertainty (for singular values).

    **Returns:** `{"verdict", "reasons", "chi_square_pvalue", "runs_test",
    "autocorrelation", "at_bounds", "weak_directions"}`; `reasons` are sentences for the
    report.

    **Example:** white residuals pass; a trend in the residuals (a wrong model) does not.

    ```python
    import numpy as np
    from diffsim import inverse

    space = inverse.parameter_space((inverse.Parameter("k", 1.0),))
    errors = inverse.unavailable_uncertainty(1, "not computed")
    white = np.random.default_rng(0).normal(size=(40, 1))
    trend = white + np.linspace(-3, 3, 40)[:, None]
    for residuals, verdict in ((white, "good"), (trend, "poor")):
        stats = inverse.fit_statistics(float(np.sum(residuals**2)), 40, 1)
        quality = inverse.assess_fit(stats, residuals, space, np.array([1.0]), errors)
        assert quality["verdict"] == verdict, quality["reasons"]
    print(quality["reasons"])
    ```
    """
    chi_square, dof = statistics["chi_square"], statistics["degrees_of_freedom"]
    finite = math.isfinite(chi_square) and dof > 0
    pvalue = float(scipy.stats.chi2.sf(chi_square, dof)) if finite else math.nan
    runs = runs_test(residuals)
    bounds = at_bounds(space, x)
    scalars_only = all(p.group is None for p in space.parameters)
    weak = weak_directions(space.names, uncertainty) if scalars_only else []
    reasons = []
    chi_rejects = pvalue < POOR_PVALUE
    runs_rejects = runs["pvalue"] < POOR_PVALUE
    verdict = "good"
    if chi_rejects and runs_rejects:
        verdict = "poor"
        reasons.append(
            f"Converged to a poor fit: reduced chi-square {chi_square / dof:.3g} (chi-square "
            f"test p = {pvalue:.1e}) with systematic residuals ({runs['runs']:.0f} runs of "
            f"signs where {runs['expected']:.0f} are expected, runs test p = "
            f"{runs['pvalue']:.1e}). The optimizer probably stopped in a local minimum, or the "
            "model cannot describe the data: try several starts (fit.multistart.count: 16), "
            "other initial values, or check the model and noise levels."
        )
    elif pvalue < WARN_PVALUE:
        verdict = "doubtful"
        counts = any(k in statistics.get("likelihood", "") for k in ("poisson", "negative"))
        remedy = (
            "the counts are over-dispersed for this likelihood (try likelihood "
            "negative_binomial, or a smaller dispersion)"
            if counts
            else "the noise levels (sigma) may be too small (or estimate them: sigma: estimate)"
        )
        reasons.append(
            f"Reduced chi-square {chi_square / dof:.3g} (chi-square test p = {pvalue:.1e}) is "
            f"larger than the noise allows, but the residuals look random: {remedy}; the error "
            "bars are scaled by the reduced chi-square when fit.scale_covariance is true."
        )
    elif runs["pvalue"] < WARN_PVALUE:
        verdict = "doubtful"
        reasons.append(
            f"The residuals have systematic runs ({runs['runs']:.0f} where "
            f"{runs['expected']:.0f} are expected, p = {runs['pvalue']:.1e}): the model may "
            "miss a trend in the data."
        )
    if bounds:
        verdict = "doubtful" if verdict == "good" else verdict
        reasons.append(
            f"Estimates on a bound: {', '.join(bounds)}; the optimum may lie beyond it "
            "(widen the bounds or check the model)."
        )
    for direction in weak:
        verdict = "doubtful" if verdict == "good" else verdict
        combination = " ".join(f"{v:+.2f}*{n}" for n, v in direction["combination"].items())
        reasons.append(
            f"Poorly identifiable: the data barely determine the combination {combination} "
            f"(relative singular value {direction['relative_singular_value']:.1e} of the "
            "scaled Jacobian); fix one of these parameters or add data that separate them."
        )
    return {
        "verdict": verdict,
        "reasons": reasons,
        "chi_square_pvalue": pvalue,
        "runs_test": runs,
        "autocorrelation": lag_one_autocorrelation(residuals),
        "at_bounds": bounds,
        "weak_directions": weak,
    }
