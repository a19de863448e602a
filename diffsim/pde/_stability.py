"""Explicit time-step limits: where an explicit Runge–Kutta method's stability region ends."""

import functools

import numpy as np

from .._solver import ButcherTableau


def _amplification(tableau: ButcherTableau, z: complex) -> complex:
    """`R(z) = 1 + z bᵀ (I - z A)⁻¹ 1` of an explicit tableau."""
    s = len(tableau.c)
    a = np.zeros((s, s))
    for i, row in enumerate(tableau.a):
        a[i, : len(row)] = row
    stages = np.linalg.solve(np.eye(s) - z * a, np.ones(s))
    return 1 + z * np.dot(tableau.b, stages)


@functools.cache
def stability_limits(tableau: ButcherTableau) -> tuple[float, float]:
    """`(real, imaginary)`: the largest `x` with `|R(-x)| <= 1`, and with `|R(iy)| <= 1` for all
    `0 <= y <= x` (0 for methods unstable on the imaginary axis, such as Euler and Heun)."""
    limits = []
    for direction in (-1.0, 1j):
        xs = np.linspace(0.0, 6.0, 6001)
        ok = np.array([abs(_amplification(tableau, direction * x)) <= 1 + 1e-12 for x in xs])
        last = len(xs) - 1 if ok.all() else int(np.argmin(ok)) - 1
        # A sliver of the imaginary axis (Heun's |R(iy)|² = 1 + y⁴/4) is no usable region.
        limits.append(float(xs[last]) if xs[last] >= 0.05 else 0.0)
    return limits[0], limits[1]


def largest_stable_step(tableau: ButcherTableau, real_rate: float, imaginary_rate: float):
    """The largest step for which `h·real_rate` and `h·imaginary_rate` stay in the stability
    region (their sum weighted by the limits, as a safe combination); `inf` if both are 0 and
    `0` when the method is unstable for any step."""
    real, imaginary = stability_limits(tableau)
    load = 0.0
    for rate, limit in ((real_rate, real), (imaginary_rate, imaginary)):
        if rate > 0:
            if limit == 0:
                return 0.0
            load += rate / limit
    return float("inf") if load == 0 else 1 / load
