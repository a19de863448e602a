"""Starting points for multi-start fits."""

import numpy as np

from ._parameters import ParameterSpace


def multistart_points(space: ParameterSpace, count: int, *, spread: float = 0.5, seed: int = 0):
    """`count` starting points: the configured `init` first, then random ones around it.

    The random points are drawn in optimizer coordinates `z` (so log parameters spread by
    factors, bounded ones stay inside their bounds): `z = z_init + spread * N(0, 1)` for
    transformed parameters, and `x = init + spread * max(|init|, 1) * N(0, 1)` for plain ones.

    **Arguments:**
    - `space`: the free parameters.
    - `count`: the number of points (at least 1).
    - `spread`: the standard deviation of the perturbation.
    - `seed`: the random seed.

    **Returns:** values of shape `(count, P)`.

    **Example:** log parameters spread by factors and stay positive.

    ```python
    from diffsim import inverse

    space = inverse.parameter_space(
        (inverse.Parameter("k", 2.0, transform="log"), inverse.Parameter("c", 0.0))
    )
    points = inverse.multistart_points(space, 50, spread=0.5, seed=0)
    assert points.shape == (50, 2) and points[0].tolist() == [2.0, 0.0]  # `init` first
    assert (points[:, 0] > 0).all() and points[:, 1].std() > 0.2
    ```
    """
    x0 = np.asarray(space.initial_values())
    z0 = np.asarray(space.to_internal(x0))
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((count - 1, space.size))
    plain = np.asarray(
        [p.transform == "none" and p.lower is None and p.upper is None for p in space.parameters]
    )
    z = z0 + spread * noise * np.where(plain, np.maximum(np.abs(x0), 1.0), 1.0)
    return np.concatenate([x0[None], np.asarray(space.to_values(z))], axis=0)
