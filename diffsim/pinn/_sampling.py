"""Collocation points: uniform, Latin hypercube and Sobol samplers, resampling, and
residual-based adaptive refinement."""

import abc
import warnings

import equinox as eqx
import numpy as np


class AbstractSampler(eqx.Module):
    """Draws `n` points in the box `[lower, upper]` (one entry per coordinate).

    **Example:** a sampler of one's own, points on a regular grid in time and space.

    ```python
    import numpy as np
    from diffsim import pinn

    class Lattice(pinn.AbstractSampler):
        def sample(self, n, lower, upper, seed):
            side = int(round(n ** 0.5))
            axes = [np.linspace(lo, hi, side) for lo, hi in zip(lower, upper)]
            return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(axes))

    assert Lattice().sample(16, (0.0, -1.0), (1.0, 1.0), seed=0).shape == (16, 2)
    collocation = pinn.Collocation(16, Lattice())
    ```
    """

    @abc.abstractmethod
    def sample(self, n: int, lower, upper, seed: int) -> np.ndarray:
        """`(n, dim)` float64 points in the box; the same `seed` gives the same points."""


def _scaled(unit: np.ndarray, lower, upper) -> np.ndarray:
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    return lower + (upper - lower) * unit


class Uniform(AbstractSampler):
    """Independent uniform points (pseudo-random).

    ```python
    from diffsim import pinn

    points = pinn.Uniform().sample(100, (0.0, -1.0), (1.0, 1.0), seed=0)
    assert points.shape == (100, 2) and points[:, 1].min() >= -1.0
    ```
    """

    def sample(self, n, lower, upper, seed):
        unit = np.random.default_rng(seed).random((n, np.size(lower)))
        return _scaled(unit, lower, upper)


class LatinHypercube(AbstractSampler):
    """Latin hypercube points (`scipy.stats.qmc`), as in Raissi et al.

    Every coordinate's `n` strata are hit once.

    ```python
    import numpy as np
    from diffsim import pinn

    points = pinn.LatinHypercube().sample(10, (0.0, -1.0), (1.0, 1.0), seed=0)
    strata = np.floor((points[:, 1] + 1) / 2 * 10)  # which tenth of [-1, 1] each x is in
    assert sorted(strata) == list(range(10))
    ```
    """

    def sample(self, n, lower, upper, seed):
        from scipy.stats import qmc  # here: scipy.stats takes ~2 s to import

        return _scaled(qmc.LatinHypercube(d=np.size(lower), seed=seed).random(n), lower, upper)


class Sobol(AbstractSampler):
    """Scrambled Sobol points (`scipy.stats.qmc`): low discrepancy.

    Best balanced when `n` is a power of two.

    ```python
    from diffsim import pinn

    points = pinn.Sobol().sample(64, (0.0, 0.0), (1.0, 2.0), seed=0)
    assert points.shape == (64, 2) and abs(points[:, 1].mean() - 1.0) < 0.05
    ```
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

    ```python
    import numpy as np
    from diffsim import pinn

    data_points = np.array([[0.1, -0.5], [0.9, 0.5]])  # (t, x) of the measurements
    collocation = pinn.Collocation(2, pinn.Given(data_points))
    assert (collocation.sampler.sample(2, (0.0, -1.0), (1.0, 1.0), seed=3) == data_points).all()
    ```
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
"""Sampler name → class (for configs).

```python
from diffsim import pinn

assert pinn.SAMPLERS["sobol"] is pinn.Sobol
assert sorted(pinn.SAMPLERS) == ["latin_hypercube", "sobol", "uniform"]
```
"""


class ResidualAdaptive(eqx.Module):
    """Residual-based adaptive distribution of collocation points (RAR-D, Wu et al. 2023).

    Every `every` steps, draw `candidates × n` points and keep `n` of them with probability
    `∝ |r|^power / mean(|r|^power) + floor`, so points gather where the residual is large
    while some stay spread out.

    ```python
    import numpy as np
    from diffsim import pinn

    rule = pinn.ResidualAdaptive(every=500, candidates=10, floor=0.0)
    candidates = np.linspace(-1.0, 1.0, 1000)[:, None]
    residual = np.exp(-((candidates[:, 0] / 0.1) ** 2))  # large near x = 0
    kept = rule.choose(candidates, residual, 100, seed=0)
    assert kept.shape == (100, 1) and np.mean(np.abs(kept) < 0.2) > 0.8
    collocation = pinn.Collocation(2000, adaptive=rule)
    ```
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

    ```python
    import pytest
    from diffsim import pinn

    collocation = pinn.Collocation(4096, pinn.Sobol(), resample_every=100)
    with pytest.raises(ValueError, match="collocation.n: needs at least 1 point"):
        pinn.Collocation(0)
    ```
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
