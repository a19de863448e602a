"""Slope limiters for MUSCL reconstruction (total-variation-diminishing)."""

import jax.numpy as jnp


def _minmod(a, b):
    return 0.5 * (jnp.sign(a) + jnp.sign(b)) * jnp.minimum(jnp.abs(a), jnp.abs(b))


def _van_leer(a, b):
    ab = a * b
    positive = ab > 0
    denominator = jnp.where(positive, a + b, 1.0)
    return jnp.where(positive, 2 * ab / denominator, 0.0)


def _superbee(a, b):
    first = _minmod(a, 2 * b)
    second = _minmod(2 * a, b)
    return jnp.where(jnp.abs(first) >= jnp.abs(second), first, second)


def _monotonized_central(a, b):
    return _minmod(0.5 * (a + b), 2 * _minmod(a, b))


def _unlimited(a, b):
    return 0.5 * (a + b)


LIMITERS = {
    "minmod": _minmod,
    "van_leer": _van_leer,
    "superbee": _superbee,
    "mc": _monotonized_central,
    "central": _unlimited,
}
"""Slope limiters by name, for `advection(..., limiter=NAME)` and the models' `limiter`.

Each maps the two one-sided slopes `(a, b)` of a cell to its limited slope: `minmod` (most
diffusive), `van_leer`, `superbee` (most compressive), `mc` (monotonized central), and
`central` (no limiting; second order but oscillates at jumps). `None` in place of a name means
first-order upwind.

**Example:** limited slopes vanish at an extremum and keep the central slope where smooth.

```python
import jax.numpy as jnp
from diffsim import pde

a, b = jnp.array([1.0, 1.0]), jnp.array([-1.0, 1.0])  # an extremum, a straight line
for name in ("minmod", "van_leer", "superbee", "mc"):
    assert pde.LIMITERS[name](a, b).tolist() == [0.0, 1.0]
assert pde.LIMITERS["central"](a, b).tolist() == [0.0, 1.0]
assert pde.LIMITERS["central"](a, 3 * b)[0] == -1.0  # unlimited: a new extremum
```
"""


def check_limiter(limiter) -> None:
    """Raise `ValueError` unless `limiter` is `None` or a name in `LIMITERS`."""
    if limiter is not None and limiter not in LIMITERS:
        names = ", ".join(LIMITERS)
        raise ValueError(f"limiter: unknown {limiter!r}; choose None or one of {names}")


def limited_slope(backward, forward, limiter: str):
    """The limited cell slope (times dx) from the backward and forward differences."""
    return LIMITERS[limiter](backward, forward)
