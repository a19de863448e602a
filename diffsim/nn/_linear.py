"""Dense layers: plain, and with random weight factorization (Wang et al. 2022)."""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from ._jet import Jet

INITIALIZATIONS = {
    "glorot": jax.nn.initializers.glorot_normal,
    "he": jax.nn.initializers.he_normal,
    "normal": jax.nn.initializers.lecun_normal,
}
"""Initialization name → `jax.nn.initializers` factory for weight matrices (biases start at 0).

Glorot: variance `2 / (fan_in + fan_out)` (tanh, sin); He: `2 / fan_in` (relu, gelu);
normal (LeCun): `1 / fan_in`. All are truncated normals rescaled to that variance.

**Example:** He initialization has twice LeCun's (`"normal"`) variance.

```python
import jax
import jax.numpy as jnp
from diffsim import nn

key = jax.random.key(0)
he = nn.Linear(400, 400, init="he", key=key).weight
lecun = nn.Linear(400, 400, init="normal", key=key).weight
assert abs(jnp.var(he) / jnp.var(lecun) - 2.0) < 0.05 and set(nn.INITIALIZATIONS) >= {"he"}
```
"""


def check_initialization(name: str) -> None:
    """Raise `ValueError` naming the choices for an unknown initialization."""
    if name not in INITIALIZATIONS:
        raise ValueError(
            f"initialization: unknown initialization {name!r} "
            f"(use one of {', '.join(INITIALIZATIONS)})"
        )


def initial_weight(key: PRNGKeyArray, in_size: int, out_size: int, init: str, dtype) -> Array:
    """An `(out_size, in_size)` weight matrix drawn by the named initialization."""
    check_initialization(init)
    # jax initializers take (fan_in, fan_out) shapes; transpose to act as W @ x.
    return INITIALIZATIONS[init]()(key, (in_size, out_size), dtype).T


class AbstractLinear(eqx.Module):
    """An affine map `x ↦ W x + b` from `in_size` to `out_size` features.

    Each layer gives its `weight_matrix()`; the call is `weight_matrix() @ x + bias`.

    **Example:**

    ```python
    import jax
    import jax.numpy as jnp
    from diffsim import nn

    x = jnp.array([1.0, 2.0, 3.0])
    for layer in (nn.Linear(3, 2, key=jax.random.key(0)),
                  nn.FactorizedLinear(3, 2, key=jax.random.key(0))):  # fmt: skip
        assert isinstance(layer, nn.AbstractLinear)
        assert jnp.allclose(layer(x), layer.weight_matrix() @ x + layer.bias)
    ```
    """

    @abc.abstractmethod
    def weight_matrix(self) -> Array:
        """The effective `(out_size, in_size)` matrix `W`."""

    bias: eqx.AbstractVar[Array]

    def __call__(self, x: Array) -> Array:
        return self.weight_matrix() @ x + self.bias

    def jet(self, x: Jet) -> Jet:
        """The layer on a batch's `Jet` (one matrix product per part)."""
        return x.linear(self.weight_matrix(), self.bias)


class Linear(AbstractLinear):
    """A dense layer with trainable `weight` and `bias`.

    **Example:**

    ```python
    import jax
    import jax.numpy as jnp
    from diffsim import nn

    layer = nn.Linear(3, 2, dtype="float64", key=jax.random.key(0))
    assert layer.weight.shape == (2, 3) and layer.weight.dtype == jnp.float64
    assert jnp.all(layer.bias == 0)  # biases start at zero
    assert layer(jnp.ones(3)).shape == (2,)
    ```
    """

    weight: Array
    bias: Array

    def __init__(self, in_size, out_size, *, init="glorot", dtype="float32", key):
        self.weight = initial_weight(key, in_size, out_size, init, dtype)
        self.bias = jnp.zeros((out_size,), dtype)

    def weight_matrix(self):
        return self.weight


class FactorizedLinear(AbstractLinear):
    """A dense layer with random weight factorization: `W = diag(exp(s)) V`.

    Each output neuron gets a trainable log-scale `s ~ N(mean, std)`; `V = W₀ / exp(s)` for
    the plainly initialized `W₀`, so at initialization the layer computes exactly what
    `Linear` with the same key does, while training moves scales and directions separately
    (Wang, Wang, Perdikaris 2022, "Random weight factorization improves the training of
    continuous neural representations").

    **Example:** at initialization it computes what `Linear` with the same key computes.

    ```python
    import jax
    import jax.numpy as jnp
    from diffsim import nn

    key = jax.random.key(1)
    x = jnp.array([0.5, -1.0, 2.0])
    plain = nn.Linear(3, 4, key=key)
    factorized = nn.FactorizedLinear(3, 4, mean=1.0, std=0.1, key=key)
    assert jnp.allclose(factorized(x), plain(x), atol=1e-5)
    ```
    """

    log_scale: Array
    direction: Array
    bias: Array

    def __init__(
        self, in_size, out_size, *, init="glorot", mean=1.0, std=0.1, dtype="float32", key
    ):
        # Same draw of W₀ as `Linear(key=key)`: the factorized layer starts as the plain one.
        weight = initial_weight(key, in_size, out_size, init, dtype)
        key_s = jax.random.fold_in(key, 1)
        self.log_scale = mean + std * jax.random.normal(key_s, (out_size,), dtype)
        self.direction = weight / jnp.exp(self.log_scale)[:, None]
        self.bias = jnp.zeros((out_size,), dtype)

    def weight_matrix(self):
        return jnp.exp(self.log_scale)[:, None] * self.direction
