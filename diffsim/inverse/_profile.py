"""Profile-likelihood confidence intervals: refit the others along a grid of each parameter.

For a scalar parameter `theta_i`, the profile is `chi2_p(v) = min chi2` over the other
parameters with `theta_i = v`. The `level` interval is `{v : chi2_p(v) - chi2_min <= q}`,
`q` the `level` quantile of chi-square with one degree of freedom (of `F(1, dof)` times the
covariance scale when the noise level is estimated from the residuals). Unlike
`estimate +/- 1.96 stderr` it follows the curvature of the model: asymmetric, in the
parameter's own units, and the same whatever transform the optimizer uses (the grid is laid
out in optimizer coordinates, the interval reported in values).

Each grid point of all parameters is refitted at once (`refit_batch`, vmapped), from the
previous point's optimum.
"""

import math

import numpy as np
import scipy.stats

from ._problem import AbstractProblem
from ._refit import refit_batch

LEVEL = 0.95


def profile_threshold(level: float, scale: float, dof: int) -> float:
    """The rise of `chi2 / scale` that bounds the interval: `chi2_1(level)`, or `F(1, dof)`
    when the covariance is scaled by the reduced chi-square (`scale != 1`)."""
    if scale != 1.0 and dof > 0:
        return float(scipy.stats.f.ppf(level, 1, dof))
    return float(scipy.stats.chi2.ppf(level, 1))


def _crossing(offsets: np.ndarray, rise: np.ndarray, threshold: float) -> float | None:
    """The offset where the rise first exceeds `threshold` walking out from 0 (linear in the
    signed root `sqrt(rise)`, which is linear in the offset for a quadratic profile), or
    `None` when it never does (or a refit failed first)."""
    previous_offset, previous_root = 0.0, 0.0
    target = math.sqrt(threshold)
    for offset, value in zip(offsets, rise, strict=True):
        if not math.isfinite(value):
            return None
        root = math.sqrt(max(value, 0.0))
        if root >= target:
            weight = (target - previous_root) / (root - previous_root)
            return previous_offset + weight * (offset - previous_offset)
        previous_offset, previous_root = offset, root
    return None


def profile_intervals(
    problem: AbstractProblem,
    z: np.ndarray,
    chi_square: float,
    *,
    scale: float = 1.0,
    stderr_z: np.ndarray | None = None,
    level: float = LEVEL,
    points: int = 8,
    span: float = 4.0,
    widen: int = 2,
    max_steps: int = 100,
) -> dict[str, dict]:
    """Profile-likelihood intervals of every scalar parameter of `problem`.

    **Arguments:**
    - `problem`: the problem; `z`, `chi_square`: the estimate (optimizer coordinates) and its
      chi-square.
    - `scale`: the covariance scale `s^2` (1 for known noise levels).
    - `stderr_z`: linearized standard errors in optimizer coordinates, which set the grid
      step (`span * stderr / points`); NaN or missing: a step of `0.5 / points`.
    - `level`: the confidence level.
    - `points`: grid points on each side of the estimate.
    - `span`: how many linearized standard errors the grid first covers on each side.
    - `widen`: how many more sections of `points` steps, each `span` times longer than the
      last, are walked while a side has not crossed the threshold.
    - `max_steps`: Levenberg-Marquardt steps per refit.

    **Returns:** `{name: {"lower", "upper", "level", "lower_open", "upper_open", "values",
    "rise"}}`: the interval in parameter values (`None` on a side the profile does not close
    within the grid, flagged `*_open`), and the profile itself: parameter values and the rise
    `(chi2_p - chi2_min) / scale`, sorted by value. `"better_fit"` is set when a refit found
    a chi-square lower than the estimate's (it was not the minimum).
    """
    space = problem.space
    z = np.asarray(z, float)
    scalars = [i for i, p in enumerate(space.parameters) if p.group is None]
    if not scalars:
        return {}
    dof = problem.num_points - space.size
    threshold = profile_threshold(level, scale, dof)
    steps = np.full(space.size, 0.5 / points)
    if stderr_z is not None:
        finite = np.isfinite(stderr_z) & (np.asarray(stderr_z) > 0)
        steps = np.where(finite, span * np.nan_to_num(stderr_z) / points, steps)

    # Walk out from the estimate on both sides of every parameter at once (one vmapped batch
    # per grid point), each refit starting from the previous point's optimum (continuation:
    # the valley of compensating parameters is followed instead of jumped into). The first
    # `points` steps are `steps[i]` long, each next `points` steps `span` times longer.
    keys = [(i, sign) for i in scalars for sign in (-1.0, 1.0)]
    indices = np.asarray([i for i, _ in keys])
    signs = np.asarray([sign for _, sign in keys])
    lengths = np.concatenate([np.full(points, span**k) for k in range(widen + 1)])
    offsets = np.cumsum(lengths)[:, None] * steps[indices][None, :] * signs[None, :]
    current = np.broadcast_to(z, (len(keys), z.size)).copy()
    rises = np.full(offsets.shape, np.nan)
    crossed = np.zeros(len(keys), bool)
    for k in range(len(lengths)):
        values = z[indices] + offsets[k]
        current, losses, _ = refit_batch(
            problem, current, indices=indices, values=values, max_steps=max_steps
        )
        rises[k] = (losses - chi_square) / scale
        crossed |= rises[k] > threshold
        # one point beyond the crossing shows the rise; a whole grid section is walked
        if crossed.all() and (k + 1) % points == 0:
            rises, offsets = rises[: k + 1], offsets[: k + 1]
            break
    found = {}
    for column, key in enumerate(keys):
        cross = _crossing(np.abs(offsets[:, column]), rises[:, column], threshold)
        found[key] = (
            offsets[:, column],
            rises[:, column],
            None if cross is None else key[1] * cross,
        )

    out = {}
    for i in scalars:
        transform = space.transforms[i]
        offsets = np.concatenate([found[(i, -1.0)][0], [0.0], found[(i, 1.0)][0]])
        rises = np.concatenate([found[(i, -1.0)][1], [0.0], found[(i, 1.0)][1]])
        order = np.argsort(offsets)
        to_value = lambda offset, t=transform, z_i=z[i]: float(t.forward(z_i + offset))
        ends = [found[(i, s)][2] for s in (-1.0, 1.0)]
        ends = [None if e is None else to_value(e) for e in ends]
        # a decreasing transform (an upper bound) swaps the ends
        increasing = to_value(1e-3) > to_value(-1e-3)
        lower, upper = ends if increasing else ends[::-1]
        finite_rises = rises[np.isfinite(rises)]
        out[space.names[i]] = {
            "lower": lower,
            "upper": upper,
            "level": level,
            "lower_open": lower is None,
            "upper_open": upper is None,
            "values": [to_value(o) for o in offsets[order]],
            "rise": rises[order].tolist(),
            "threshold": threshold,
            "better_fit": bool(
                finite_rises.size and finite_rises.min() < -1e-6 * max(1, chi_square)
            ),
        }
    return out
