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


def _padded(rows: np.ndarray) -> np.ndarray:
    """`rows` repeated up to the next power of two (few batch shapes, few compilations)."""
    size = 1 << int(rows.size - 1).bit_length()
    return np.resize(rows, size)


def profile_walk(
    problem: AbstractProblem,
    z: np.ndarray,
    chi_square: np.ndarray,
    steps: np.ndarray,
    threshold: float,
    *,
    scale: np.ndarray | float = 1.0,
    shifts: np.ndarray | None = None,
    points: int = 8,
    span: float = 4.0,
    widen: int = 1,
    max_steps: int = 100,
):
    """Profiles of every scalar parameter of `S` fits of `problem` (one per data set).

    Walks out from each estimate on both sides of every parameter at once (one vmapped batch
    per grid point), each refit starting from the previous point's optimum (continuation: the
    valley of compensating parameters is followed instead of jumped into). The first `points`
    steps are `steps` long, each next `points` steps `span` times longer, for `widen` more
    sections while a side has not risen above `threshold`. A side stops as soon as it rises
    above `threshold` (or a refit fails): only the open sides are refitted, so the walk
    costs what the intervals need, not what the widest profile needs.

    **Arguments:**
    - `problem`: the problem; `z`: `(S, P)` estimates; `chi_square`: `(S,)` their minima.
    - `steps`: `(S, P)` first step lengths (optimizer coordinates); `threshold`: the rise
      that bounds the interval; `scale`: `(S,)` or scalar divisor of the chi-square rise.
    - `shifts`: `(S, R)` residual shifts of the data sets (see `Refit`; default: none).

    **Returns:** `(scalars, offsets, rises, crossings)`: the scalar indices; the offsets
    `(n, S, K)` and rises `(n, S, K)` walked for the `K = 2 len(scalars)` sides (lower then
    upper side of each scalar, NaN rises where a side had stopped); the crossing offsets
    `(S, K)` (NaN: open side).
    """
    space = problem.space
    scalars = [i for i, p in enumerate(space.parameters) if p.group is None]
    z = np.atleast_2d(np.asarray(z, float))
    count = z.shape[0]
    chi_square = np.broadcast_to(np.asarray(chi_square, float), (count,))
    scale = np.broadcast_to(np.asarray(scale, float), (count,))
    key_index = np.repeat(scalars, 2)
    key_sign = np.tile([-1.0, 1.0], len(scalars))
    sides = key_index.size
    indices = np.tile(key_index, count)
    signs = np.tile(key_sign, count)
    seeds = np.repeat(np.arange(count), sides)
    lengths = np.concatenate([np.full(points, span**k) for k in range(widen + 1)])
    first = np.asarray(steps, float).reshape(count, -1)[seeds, indices] * signs
    offsets = np.cumsum(lengths)[:, None] * first[None, :]
    rows = None if shifts is None else np.asarray(shifts)[seeds]
    current = z[seeds]
    rises = np.full(offsets.shape, np.nan)
    active = np.ones(seeds.size, bool)
    for k in range(len(lengths)):
        if not active.any():
            rises, offsets = rises[:k], offsets[:k]
            break
        walk = _padded(np.flatnonzero(active))
        values = z[seeds[walk], indices[walk]] + offsets[k, walk]
        moved, losses, _ = refit_batch(
            problem,
            current[walk],
            shifts=None if rows is None else rows[walk],
            indices=indices[walk],
            values=values,
            max_steps=max_steps,
        )
        current[walk] = moved
        rises[k, walk] = (losses - chi_square[seeds[walk]]) / scale[seeds[walk]]
        # a side is done once it has risen above the threshold (its crossing is bracketed)
        # or its refit failed: walking on costs time and changes nothing
        active &= np.isfinite(rises[k]) & (rises[k] <= threshold)
    crossings = np.asarray(
        [
            _crossing(np.abs(offsets[:, b]), rises[:, b], threshold) or math.nan
            for b in range(seeds.size)
        ]
    )
    crossings = crossings * signs
    shape = (len(offsets), count, sides)
    return scalars, offsets.reshape(shape), rises.reshape(shape), crossings.reshape(count, sides)


def interval_ends(transform, z_i: float, low: float, high: float):
    """`(lower, upper)` parameter values of the optimizer-coordinate interval
    `[z_i + low, z_i + high]` (NaN offsets give `None`); a decreasing transform swaps them."""
    to_value = lambda offset: None if math.isnan(offset) else float(transform.forward(z_i + offset))
    ends = [to_value(low), to_value(high)]
    increasing = float(transform.forward(z_i + 1e-3)) > float(transform.forward(z_i - 1e-3))
    return tuple(ends) if increasing else tuple(ends[::-1])


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
    widen: int = 1,
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
    - `points`, `span`, `widen`, `max_steps`: the walk (see `profile_walk`).

    **Returns:** `{name: {"lower", "upper", "level", "lower_open", "upper_open", "values",
    "rise", "threshold", "better_fit"}}`: the interval in parameter values (`None` on a side
    the profile does not close within the walk, flagged `*_open`), and the profile itself:
    parameter values and the rise `(chi2_p - chi2_min) / scale`, sorted by value.
    `better_fit` is set when a refit found a lower chi-square than the estimate's (it was
    not the minimum).

    **Example:** the 95 % profile interval of a decay rate.

    ```python
    # slow
    import diffsim

    config = diffsim.config.validate_config({
        "name": "decay",
        "model": {"equations": {"y": "-k * y"}},
        "parameters": {"k": {"init": 0.5, "true": 0.8, "transform": "log"}},
        "initial_state": {"y": 1.0},
        "observations": {"y": {"sigma": 0.01}},
        "data": {"synthetic": {"times": {"start": 0.0, "stop": 2.0, "num": 5}, "seed": 0}},
        "solver": {"name": "rk4", "dt": 0.1},
    })
    problem = diffsim.build_problem(config)
    fit = diffsim.fit(problem)
    profiles = diffsim.inverse.profile_intervals(problem, fit.z, fit.chi_square, points=4)
    k = profiles["k"]
    assert k["lower"] < fit.x[0] < k["upper"] and not (k["lower_open"] or k["upper_open"])
    print(f"k in [{k['lower']:.3f}, {k['upper']:.3f}]")
    ```
    """
    space = problem.space
    z = np.asarray(z, float)
    if not any(p.group is None for p in space.parameters):
        return {}
    threshold = profile_threshold(level, scale, problem.num_points - space.size)
    steps = np.full(space.size, 0.5 / points)
    if stderr_z is not None:
        finite = np.isfinite(stderr_z) & (np.asarray(stderr_z) > 0)
        steps = np.where(finite, span * np.nan_to_num(stderr_z) / points, steps)
    scalars, offsets, rises, crossings = profile_walk(
        problem,
        z,
        chi_square,
        steps,
        threshold,
        scale=scale,
        points=points,
        span=span,
        widen=widen,
        max_steps=max_steps,
    )
    out = {}
    for k, i in enumerate(scalars):
        side = slice(2 * k, 2 * k + 2)
        walked = np.concatenate([offsets[:, 0, 2 * k][::-1], [0.0], offsets[:, 0, 2 * k + 1]])
        rise = np.concatenate([rises[:, 0, 2 * k][::-1], [0.0], rises[:, 0, 2 * k + 1]])
        transform = space.transforms[i]
        lower, upper = interval_ends(transform, z[i], *crossings[0, side])
        walked, rise = walked[~np.isnan(rise)], rise[~np.isnan(rise)]  # stopped sides
        values = [float(transform.forward(z[i] + o)) for o in walked]
        order = np.argsort(values)
        finite = rise[np.isfinite(rise)]
        out[space.names[i]] = {
            "lower": lower,
            "upper": upper,
            "level": level,
            "lower_open": lower is None,
            "upper_open": upper is None,
            "values": [values[j] for j in order],
            "rise": rise[order].tolist(),
            "threshold": threshold,
            "better_fit": bool(finite.size and finite.min() < -1e-6 * max(1.0, chi_square)),
        }
    return out
