"""Bounds kept by the optimizer instead of by a transform: a box in optimizer coordinates.

A bounded parameter normally reaches the optimizer through a sigmoid (`Interval`) or an
exponential (`LowerBound`), so an optimum ON a bound lies at infinity and is only approached.
A bound-constrained method (`trust_region_reflective`) instead moves `z` on the parameter's
own scale (`x`, or `log x` for a `"log"` parameter) inside the box `[lower, upper]`, and can
stop exactly on a bound. `with_box_bounds` gives a problem that coordinate system.
"""

import math

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ._parameters import ParameterSpace
from ._transforms import (
    AbstractTransform,
    Exp,
    Identity,
    Interval,
    LowerBound,
    UpperBound,
)


class Box(AbstractTransform):
    """`x = scale(z)` for `z` in `[lower, upper]`: the bounds are the optimizer's to keep.

    Outside the box `z` is clamped (so every `z` gives an allowed value); on the box and
    inside it the derivative is the scale's own, bounds included.

    **Fields:**
    - `scale`: `Identity()` (optimize `x`) or `Exp(Identity())` (optimize `log x`).
    - `lower`, `upper`: the bounds of `z` (`-inf`/`inf` for none).

    **Example:** a log parameter in `[0.1, 10]` is optimized as `log x` in `[log 0.1, log 10]`.

    ```python
    import jax
    import jax.numpy as jnp
    from diffsim import inverse

    box = inverse.box_transform(inverse.make_transform("log", 0.1, 10.0))
    assert jnp.isclose(box.lower, jnp.log(0.1)) and jnp.isclose(box.upper, jnp.log(10.0))
    assert jnp.isclose(box.forward(box.lower), 0.1)  # exactly on the bound
    assert jnp.isclose(jax.grad(box.forward)(box.lower), 0.1)  # d exp(z)/dz, not zero
    assert jnp.isclose(box.forward(5.0), 10.0)  # clamped outside the box
    ```
    """

    scale: AbstractTransform
    lower: float = eqx.field(static=True)
    upper: float = eqx.field(static=True)

    def forward(self, z):
        z = jnp.asarray(z)
        # `where`, not `clip`: the derivative on the bound itself is 1, not 1/2.
        inside = jnp.where(z < self.lower, self.lower, jnp.where(z > self.upper, self.upper, z))
        return self.scale.forward(inside)

    def inverse(self, x):
        return self.scale.inverse(x)


def box_transform(transform: AbstractTransform) -> AbstractTransform:
    """The `Box` that replaces a bounding transform; other transforms are returned unchanged.

    The bounding transforms are `Interval`, `LowerBound` and `UpperBound`, also inside `Exp`.

    **Example:** an unbounded parameter keeps its transform.

    ```python
    from diffsim import inverse

    assert isinstance(inverse.box_transform(inverse.make_transform("none", 0.0)), inverse.Box)
    plain = inverse.make_transform("log")
    assert inverse.box_transform(plain) is plain
    ```
    """
    if isinstance(transform, Interval):
        return Box(Identity(), transform.lower, transform.upper)
    if isinstance(transform, LowerBound):
        return Box(Identity(), transform.lower, math.inf)
    if isinstance(transform, UpperBound):
        return Box(Identity(), -math.inf, transform.upper)
    if isinstance(transform, Exp):
        inner = box_transform(transform.inner)
        if isinstance(inner, Box):
            return Box(Exp(Identity()), inner.lower, inner.upper)
    return transform


def box_space(space: ParameterSpace) -> ParameterSpace:
    """`space` with every bounding transform replaced by its `Box` (see `box_transform`).

    **Example:**

    ```python
    from diffsim import inverse

    space = inverse.parameter_space((inverse.Parameter("k", 1.0, lower=0.0, upper=2.0),))
    assert isinstance(inverse.box_space(space).transforms[0], inverse.Box)
    ```
    """
    transforms = tuple(box_transform(t) for t in space.transforms)
    return ParameterSpace(parameters=space.parameters, transforms=transforms)


def box_bounds(space: ParameterSpace) -> tuple[np.ndarray, np.ndarray]:
    """`(lower, upper)`: the box of the optimizer coordinates.

    `-inf`/`inf` where a coordinate is not a `Box`.

    **Example:**

    ```python
    import numpy as np
    from diffsim import inverse

    space = inverse.box_space(inverse.parameter_space((
        inverse.Parameter("k", 1.0, lower=0.5, transform="log"), inverse.Parameter("c", 0.0),
    )))
    lower, upper = inverse.box_bounds(space)
    assert np.allclose(lower, [np.log(0.5), -np.inf]) and np.all(upper == np.inf)
    ```
    """
    boxes = [t if isinstance(t, Box) else None for t in space.transforms]
    lower = np.asarray([-math.inf if b is None else b.lower for b in boxes], float)
    upper = np.asarray([math.inf if b is None else b.upper for b in boxes], float)
    return lower, upper


def has_bounding_transforms(space: ParameterSpace) -> bool:
    """Whether some parameter's bounds are kept by a transform (not yet a `Box`)."""
    return any(box_transform(t) is not t for t in space.transforms)


def with_box_bounds(problem):
    """`problem` with its bounds as a box in optimizer coordinates, for a bounded method.

    `fit(..., "trust_region_reflective")` needs it (see the module); the results of that fit
    (`z`, the Jacobian, error bars, profiles) are in these coordinates.

    **Example:** the same residuals at the same values, in other coordinates.

    ```python
    import jax.numpy as jnp

    import diffsim

    config = diffsim.config.validate_config({
        "name": "decay",
        "model": {"equations": {"y": "-k * y"}},
        "parameters": {"k": {"init": 0.5, "true": 0.8, "bounds": [0.1, 2.0]}},
        "initial_state": {"y": 1.0},
        "observations": {"y": {"sigma": 0.01}},
        "data": {"synthetic": {"times": {"start": 0.0, "stop": 2.0, "num": 5}, "seed": 0}},
        "solver": {"name": "rk4", "dt": 0.1},
    })
    problem = diffsim.build_problem(config)
    boxed = diffsim.inverse.with_box_bounds(problem)
    x = jnp.array([0.7])
    r = problem.residuals(problem.space.to_internal(x))
    assert jnp.allclose(boxed.residuals(boxed.space.to_internal(x)), r)
    assert jnp.allclose(boxed.space.to_internal(x), x)  # z = k itself, kept in [0.1, 2]
    ```
    """
    return eqx.tree_at(lambda p: p.space, problem, box_space(problem.space))
