"""`Ansatz`: the field `u(t, x)` a PINN trains, from a network, with optional hard constraints."""

from collections.abc import Callable

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..nn import AbstractNetwork, Jet
from ..pde._boundary import Dirichlet, Periodic

HARD_CONSTRAINTS = ("initial", "boundary")
"""The conditions a PINN can impose exactly through its ansatz (see `Ansatz`).

```python
from diffsim import pinn

assert pinn.HARD_CONSTRAINTS == ("initial", "boundary")
```
"""


class Ansatz(eqx.Module):
    """`u(t, x) = A(t, x) + B(t, x) · N(z)` with `z` the point scaled to `[-1, 1]` per axis.

    Without hard constraints `A = 0, B = 1`. With `"initial"`, `A = u0(x)` and `B` vanishes at
    `t0`, so the initial condition holds exactly; with `"boundary"` (Dirichlet ends with
    constant values), `B` vanishes on those ends and `A` takes the boundary values there.
    Both together need `u0` to agree with the boundary values (checked).

    **Fields:** `lower`, `upper` (the box `(t0, x...)`, `(t1, x...)`), `initial` (`u0(x)` or
    `None`), `hard` (a subset of `HARD_CONSTRAINTS`), `dirichlet` (per spatial axis:
    `None` or the `(lower, upper)` end values).

    **Example:** `u0(x) = sin πx` and zero ends on `[-1, 1]` hold for any network.

    ```python
    import jax
    import jax.numpy as jnp
    from diffsim import nn, pinn

    u0 = lambda x: jnp.sin(jnp.pi * x[0])
    ansatz = pinn.Ansatz((0.0, -1.0), (1.0, 1.0), u0, ("initial", "boundary"), ((0.0, 0.0),))
    net = nn.MLP(2, "scalar", 8, 1, dtype="float64", key=jax.random.key(0))
    assert ansatz(net, 0.0, jnp.array([0.3])) == u0(jnp.array([0.3]))
    assert abs(ansatz(net, 0.7, jnp.array([1.0]))) < 1e-15  # u0(1) = sin π
    ```
    """

    lower: tuple[float, ...] = eqx.field(static=True)
    upper: tuple[float, ...] = eqx.field(static=True)
    initial: Callable | None
    hard: tuple[str, ...] = eqx.field(static=True)
    dirichlet: tuple

    def _scaling(self, dtype):
        """`(s, c)` with `s z + c` mapping the box onto `[-1, 1]` per axis."""
        lo, hi = np.asarray(self.lower), np.asarray(self.upper)
        return (2 / (hi - lo)).astype(dtype), (-1 - 2 * lo / (hi - lo)).astype(dtype)

    def scaled(self, t, x):
        """The network's input: `(t, x)` mapped onto `[-1, 1]` per axis."""
        z = jnp.concatenate([jnp.reshape(t, (1,)), x])
        scale, shift = self._scaling(z.dtype)
        return z * scale + shift

    def _distance(self, x):
        """Product over Dirichlet axes of `(x - lo)(hi - x) / (L/2)²`: 0 on those ends, 1 mid."""
        d = jnp.ones((), x.dtype)
        for axis, ends in enumerate(self.dirichlet):
            if ends is not None:
                lo, hi = self.lower[axis + 1], self.upper[axis + 1]
                d = d * (x[axis] - lo) * (hi - x[axis]) / ((hi - lo) / 2) ** 2
        return d

    def _boundary_values(self, x):
        """Linear interpolation of the end values along the (first) Dirichlet axis."""
        for axis, ends in enumerate(self.dirichlet):
            if ends is not None:
                lo, hi = self.lower[axis + 1], self.upper[axis + 1]
                s = (x[axis] - lo) / (hi - lo)
                return (1 - s) * ends[0] + s * ends[1]
        return 0.0

    def _offset(self, t, x):
        """`A(t, x)`: the initial condition, else the boundary values, else 0."""
        if "initial" in self.hard:
            return self.initial(x)
        if "boundary" in self.hard:
            return self._boundary_values(x)
        return jnp.zeros((), x.dtype)

    def _factor(self, t, x):
        """`B(t, x)`: zero where a hard condition holds, a smooth positive factor elsewhere."""
        b = self._distance(x) if "boundary" in self.hard else jnp.ones((), x.dtype)
        if "initial" in self.hard:
            b = b * (t - self.lower[0]) / (self.upper[0] - self.lower[0])
        return b

    def __call__(self, network, t, x):
        raw = network(self.scaled(t, x))
        if not self.hard:
            return raw
        return self._offset(t, x) + self._factor(t, x) * raw

    def jet(self, network: AbstractNetwork, points: Array, second: int) -> Jet:
        """The `Jet` of `u` at `points` `(n, 1 + ndim)` along the point's axes
        `(x_1, …, x_ndim, t)`, with second derivatives along the first `second` of them:
        the network's jet (Taylor mode, one pass over the batch), those of `A` and `B`
        point by point (forward mode: no network inside them)."""
        ndim = points.shape[1] - 1
        axes = [*range(1, ndim + 1), 0]
        p = Jet.of_points(points, np.eye(ndim + 1)[axes], second)
        scale, shift = self._scaling(points.dtype)
        raw = network.jet(p * scale + shift)
        if not self.hard:
            return raw
        offset = p.apply(lambda q: self._offset(q[0], q[1:]))
        factor = p.apply(lambda q: self._factor(q[0], q[1:]))
        return offset + (factor if raw.value.ndim == 1 else factor.expand()) * raw


def dirichlet_ends(bcs) -> tuple:
    """Per axis: the constant Dirichlet values `(lower, upper)`, or `None` for a periodic
    axis; `ValueError` for a hard boundary constraint on any other kind of end."""
    ends = []
    for axis, (lower, upper) in enumerate(bcs.sides):
        if isinstance(lower, Periodic):
            ends.append(None)
        elif isinstance(lower, Dirichlet) and isinstance(upper, Dirichlet):
            ends.append((float(lower.value), float(upper.value)))
        else:
            raise ValueError(
                f"hard: 'boundary' needs Dirichlet or periodic ends; axis {axis} has "
                f"{type(lower).__name__}/{type(upper).__name__}"
            )
    if sum(e is not None for e in ends) > 1 and len({e for e in ends if e is not None}) > 1:
        raise ValueError("hard: 'boundary' on several axes needs the same value on every end")
    return tuple(ends)
