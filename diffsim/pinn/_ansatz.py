"""`Ansatz`: the field `u(t, x)` a PINN trains, from a network, with optional hard constraints."""

from collections.abc import Callable

import equinox as eqx
import jax.numpy as jnp
import numpy as np

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

    def scaled(self, t, x):
        """The network's input: `(t, x)` mapped onto `[-1, 1]` per axis."""
        z = jnp.concatenate([jnp.reshape(t, (1,)), x])
        lo, hi = np.asarray(self.lower), np.asarray(self.upper)
        return (2 * (z - lo.astype(z.dtype)) / (hi - lo).astype(z.dtype)) - 1

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

    def __call__(self, network, t, x):
        raw = network(self.scaled(t, x))
        if "boundary" in self.hard:
            raw = self._distance(x) * raw
        if "initial" in self.hard:
            tau = (t - self.lower[0]) / (self.upper[0] - self.lower[0])
            return self.initial(x) + tau * raw
        if "boundary" in self.hard:
            return self._boundary_values(x) + raw
        return raw


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
