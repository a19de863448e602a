"""Activation functions by name, so that configs and checkpoints can say which one is used."""

import jax
import jax.numpy as jnp


def _rbf(x):
    """A Gaussian bump `exp(-x²)`: a radial-basis activation (smooth, local)."""
    return jnp.exp(-jnp.square(x))


ACTIVATIONS = {
    "tanh": jnp.tanh,
    "sin": jnp.sin,
    "gelu": jax.nn.gelu,
    "rbf": _rbf,
    "swish": jax.nn.swish,
    "softplus": jax.nn.softplus,
    "relu": jax.nn.relu,
}
"""Name → elementwise activation.

All are smooth except `relu`, whose second derivative is zero almost everywhere (unsuitable
for PINNs of second-order PDEs).

**Example:** `relu` has no curvature, so a PINN of a second-order PDE could not learn with it.

```python
import jax
from diffsim import nn

second = {name: jax.grad(jax.grad(nn.ACTIVATIONS[name]))(0.3) for name in ("relu", "tanh")}
assert second["relu"] == 0.0 and second["tanh"] != 0.0
print(sorted(nn.ACTIVATIONS))
```
"""


def activation(name: str):
    """The activation called `name`; `ValueError` naming the choices for an unknown name."""
    if name not in ACTIVATIONS:
        raise ValueError(
            f"activation: unknown activation {name!r} (use one of {', '.join(ACTIVATIONS)})"
        )
    return ACTIVATIONS[name]
