"""Multistart points for PEtab problems: a Latin hypercube inside the bounds, on each
parameter's PEtab scale (as pyPESTO samples them)."""

import numpy as np
from scipy.stats import qmc

from ._problem import PetabProblem


def latin_hypercube_starts(problem: PetabProblem, count: int, *, seed: int = 0) -> np.ndarray:
    """Starting values for a multistart fit: nominal, then a Latin hypercube in the bounds.

    `count` points `x` (linear values) of the estimated parameters; the hypercube is drawn
    on the parameters' PEtab scales, strictly inside the bounds.

    **Returns:** shape `(count, P)`.

    **Example:**

    ```python
    import numpy as np

    from diffsim import petab

    problem = petab.load("tests/data/petab/Boehm_JProteomeRes2014/Boehm_JProteomeRes2014.yaml")
    starts = petab.latin_hypercube_starts(problem, 5, seed=0)
    lower, upper = problem.layout.lower, problem.layout.upper
    i = problem.layout.estimated
    assert starts.shape == (5, 9) and np.all((starts > lower[i]) & (starts < upper[i]))
    ```
    """
    lay = problem.layout
    i = lay.estimated
    scales = [lay.scales[k] for k in i]
    low = np.asarray([_scaled(v, s) for v, s in zip(lay.lower[i], scales, strict=True)])
    high = np.asarray([_scaled(v, s) for v, s in zip(lay.upper[i], scales, strict=True)])
    nominal = np.asarray(problem.space.initial_values())[None]
    if count <= 1:
        return nominal[:count]
    unit = qmc.LatinHypercube(d=len(i), seed=seed).random(count - 1)
    unit = np.clip(unit, 1e-6, 1 - 1e-6)  # bounds are open for the optimizer's transforms
    scaled = low + unit * (high - low)
    return np.concatenate([nominal, np.asarray(problem.x_from_scaled(scaled.T).T)], axis=0)


def _scaled(value: float, scale: str) -> float:
    return float(
        np.log(value) if scale == "log" else np.log10(value) if scale == "log10" else value
    )
