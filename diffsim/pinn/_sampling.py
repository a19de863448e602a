"""Collocation points: uniform, Latin hypercube and Sobol samplers, resampling, and
residual-based adaptive refinement."""

import abc
import warnings

import equinox as eqx
import numpy as np


class AbstractSampler(eqx.Module):
    """Draws `n` points in the box `[lower, upper]` (one entry per coordinate)."""

    @abc.abstractmethod
    def sample(self, n: int, lower, upper, seed: int) -> np.ndarray:
        """`(n, dim)` float64 points in the box; the same `seed` gives the same points."""


def _scaled(unit: np.ndarray, lower, upper) -> np.ndarray:
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    return lower + (upper - lower) * unit


class Uniform(AbstractSampler):
    """Independent uniform points (pseudo-random)."""

    def sample(self, n, lower, upper, seed):
        unit = np.random.default_rng(seed).random((n, np.size(lower)))
        return _scaled(unit, lower, upper)


class LatinHypercube(AbstractSampler):
    """Latin hypercube points (`scipy.stats.qmc`), as in Raissi et al.

    Every coordinate's `n` strata are hit once.
    """

    def sample(self, n, lower, upper, seed):
        from scipy.stats import qmc  # here: scipy.stats takes ~2 s to import

        return _scaled(qmc.LatinHypercube(d=np.size(lower), seed=seed).random(n), lower, upper)


class Sobol(AbstractSampler):
    """Scrambled Sobol points (`scipy.stats.qmc`): low discrepancy.

    Best balanced when `n` is a power of two.
    """

    def sample(self, n, lower, upper, seed):
        from scipy.stats import qmc  # here: scipy.stats takes ~2 s to import

        with warnings.catch_warnings():  # scipy warns when n is not a power of 2
            warnings.simplefilter("ignore", UserWarning)
            unit = qmc.Sobol(d=np.size(lower), scramble=True, seed=seed).random(n)
        return _scaled(unit, lower, upper)


class Given(AbstractSampler):
    """The same given points every time, e.g. the data points (Raissi et al.'s identification).

    `n` must be their number.
    """

    points: np.ndarray

    def __init__(self, points):
        self.points = np.asarray(points, float)

    def sample(self, n, lower, upper, seed):
        del seed
        if n != len(self.points) or self.points.shape[1] != np.size(lower):
            raise ValueError(
                f"collocation: {len(self.points)} given points of dimension "
                f"{self.points.shape[1]}, but {n} points of dimension {np.size(lower)} requested"
            )
        return self.points


SAMPLERS = {"uniform": Uniform, "latin_hypercube": LatinHypercube, "sobol": Sobol}
"""Sampler name → class (for configs)."""


class ResidualAdaptive(eqx.Module):
    """Residual-based adaptive distribution of collocation points (RAR-D, Wu et al. 2023).

    Every `every` steps, draw `candidates × n` points and keep `n` of them with probability
    `∝ |r|^power / mean(|r|^power) + floor`, so points gather where the residual is large
    while some stay spread out.
    """

    every: int = 1000
    candidates: int = 10
    power: float = 2.0
    floor: float = 1.0

    def __check_init__(self):
        if self.every < 1 or self.candidates < 1:
            raise ValueError("ResidualAdaptive: every and candidates must be at least 1")

    def choose(self, candidates: np.ndarray, residual: np.ndarray, n: int, seed: int):
        """`n` of the candidate points, drawn without replacement by the density above."""
        weight = np.abs(residual) ** self.power
        density = weight / max(float(np.mean(weight)), np.finfo(float).tiny) + self.floor
        rng = np.random.default_rng(seed)
        pick = rng.choice(len(candidates), size=n, replace=False, p=density / density.sum())
        return candidates[pick]


class Collocation(eqx.Module):
    """Where the PDE residual is enforced.

    **Fields:**
    - `n`: number of points in the box `[t0, t1] × domain`.
    - `sampler`: an `AbstractSampler` (default Latin hypercube).
    - `resample_every`: draw a fresh set every so many Adam steps (0: keep the first set).
    - `adaptive`: an optional `ResidualAdaptive` refinement (instead of plain resampling).
    """

    n: int
    sampler: AbstractSampler = LatinHypercube()
    resample_every: int = 0
    adaptive: ResidualAdaptive | None = None

    def __check_init__(self):
        if int(self.n) < 1:
            raise ValueError(f"collocation.n: needs at least 1 point, got {self.n}")
        if self.resample_every < 0:
            raise ValueError("collocation.resample_every: must be 0 (never) or positive")
