"""Input embeddings: random Fourier features and exactly periodic coordinates."""

import abc
import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray


class AbstractEmbedding(eqx.Module):
    """A fixed map of the network's input coordinates to features.

    An embedding says how many features it makes (`out_size(in_size)`) and maps one input
    vector to them (`__call__`); `MLP(..., embedding=...)` puts it before the first layer.

    **Example:**

    ```python
    import jax
    import jax.numpy as jnp
    from diffsim import nn

    for embedding in (
        nn.FourierFeatures(2, 8, key=jax.random.key(0)),
        nn.PeriodicEmbedding({0: 1.0}, harmonics=3),
    ):
        assert isinstance(embedding, nn.AbstractEmbedding)
        assert embedding(jnp.array([0.1, 0.2])).shape == (embedding.out_size(2),)
    ```
    """

    @abc.abstractmethod
    def out_size(self, in_size: int) -> int:
        """How many features `in_size` input coordinates become."""

    @abc.abstractmethod
    def __call__(self, x: Array) -> Array: ...


class FourierFeatures(AbstractEmbedding):
    """`x ↦ [cos(B x), sin(B x)]` with a fixed Gaussian matrix `B ~ N(0, scale²)`.

    Lets a small network represent high frequencies (Tancik et al. 2020, "Fourier features
    let networks learn high frequency functions"); `scale` sets the frequencies it favours.
    `B` is an ordinary leaf: it is trained with the rest unless the optimizer is given a
    filter that leaves it out (its gradient is exact either way, never silently zero).

    **Arguments:** `in_size` (input coordinates), `features` (rows of `B`; the output has
    twice as many), `scale`, `dtype`, `key`.

    **Example:** eight random frequencies of a 2-D input give 16 features on `[-1, 1]`.

    ```python
    import jax
    import jax.numpy as jnp
    from diffsim import nn

    features = nn.FourierFeatures(2, 8, scale=10.0, key=jax.random.key(0))
    z = features(jnp.array([0.5, -0.25]))
    assert z.shape == (16,) and features.out_size(2) == 16
    assert jnp.allclose(z[:8] ** 2 + z[8:] ** 2, 1.0, atol=1e-6)  # cos² + sin²
    ```
    """

    matrix: Array

    def __init__(self, in_size, features, scale=1.0, *, dtype="float32", key: PRNGKeyArray):
        self.matrix = scale * jax.random.normal(key, (features, in_size), dtype)

    def out_size(self, in_size):
        del in_size
        return 2 * self.matrix.shape[0]

    def __call__(self, x):
        projected = self.matrix @ x
        return jnp.concatenate([jnp.cos(projected), jnp.sin(projected)])


class PeriodicEmbedding(AbstractEmbedding):
    """Periodic input axes as `cos(2πk x/P), sin(2πk x/P)`, `k = 1..harmonics`.

    Other axes pass through unchanged. A network on these features is periodic in those axes
    for any weights, so periodic boundary conditions hold exactly (Dong & Ni 2021).

    **Arguments:** `periods`: a dict input axis → period `P`; `harmonics` (default 1).

    **Example:** a network on `(x, t)` with `x` of period 2 is periodic for any weights.

    ```python
    import jax
    import jax.numpy as jnp
    from diffsim import nn

    embedding = nn.PeriodicEmbedding({0: 2.0}, harmonics=2)
    net = nn.MLP(2, "scalar", 16, 2, embedding=embedding, key=jax.random.key(0))
    x, t = 0.3, 0.7
    assert jnp.allclose(net(jnp.array([x, t])), net(jnp.array([x + 2.0, t])), atol=1e-6)
    ```
    """

    axes: tuple[int, ...] = eqx.field(static=True)
    periods: tuple[float, ...] = eqx.field(static=True)
    harmonics: int = eqx.field(static=True)

    def __init__(self, periods: dict[int, float], harmonics: int = 1):
        if not periods or any(not float(p) > 0 for p in periods.values()):
            raise ValueError("PeriodicEmbedding: periods must be a non-empty {axis: period > 0}")
        if harmonics < 1:
            raise ValueError("PeriodicEmbedding: harmonics must be at least 1")
        self.axes = tuple(int(a) for a in periods)
        self.periods = tuple(float(p) for p in periods.values())
        self.harmonics = int(harmonics)

    def out_size(self, in_size):
        return in_size + (2 * self.harmonics - 1) * len(self.axes)

    def __call__(self, x):
        parts = []
        k = jnp.arange(1, self.harmonics + 1, dtype=x.dtype)
        for axis in range(x.shape[0]):
            if axis in self.axes:
                period = self.periods[self.axes.index(axis)]
                angle = (2 * math.pi / period) * k * x[axis]
                parts += [jnp.cos(angle), jnp.sin(angle)]
            else:
                parts.append(x[axis : axis + 1])
        return jnp.concatenate(parts)
