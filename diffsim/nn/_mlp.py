"""Multilayer perceptrons: the plain MLP and the "modified MLP" of Wang, Teng & Perdikaris."""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from ._activation import activation as get_activation
from ._embedding import AbstractEmbedding
from ._jet import Jet
from ._linear import AbstractLinear, FactorizedLinear, Linear, check_initialization


def _sizes(name, in_size, out_size, width, depth, activation, init, embedding) -> list[int]:
    """Check the arguments; the layer sizes `features, width × depth, out`."""
    for key, value in (("in_size", in_size), ("width", width), ("depth", depth)):
        if int(value) < 1:
            raise ValueError(f"{name}: {key} must be at least 1, got {value}")
    if out_size != "scalar" and int(out_size) < 1:
        raise ValueError(f"{name}: out_size must be at least 1 or 'scalar', got {out_size!r}")
    get_activation(activation)
    check_initialization(init)
    features = in_size if embedding is None else embedding.out_size(in_size)
    return [features] + [width] * depth + [1 if out_size == "scalar" else out_size]


def _layers(sizes, init, factorization, dtype, key) -> tuple[AbstractLinear, ...]:
    """Dense layers between consecutive `sizes` (plain, or with weight factorization)."""
    dtype = jnp.dtype(dtype).name
    keys = jax.random.split(key, len(sizes) - 1)
    layers = []
    for a, b, k in zip(sizes[:-1], sizes[1:], keys, strict=True):
        if factorization is None:
            layers.append(Linear(a, b, init=init, dtype=dtype, key=k))
        else:
            mean, std = factorization
            layers.append(FactorizedLinear(a, b, init=init, mean=mean, std=std, dtype=dtype, key=k))
    return tuple(layers)


class AbstractNetwork(eqx.Module):
    """A network of `diffsim.nn`: one input vector (`__call__`) or a batch's `Jet` (`jet`).

    `jet` pushes the value and derivatives of a batch of inputs through the layers, which
    is how a PINN gets the derivatives of its residual at every collocation point in one
    pass.

    What the networks share: an optional embedding, the output shape, the dtype (that of
    the weights; inputs are cast to it).

    **Example:** the jet of a network equals its value and nested `jax.jvp`s at each point.

    ```python
    import jax
    import jax.numpy as jnp
    from diffsim import nn

    net = nn.MLP(2, "scalar", 8, 2, dtype="float64", key=jax.random.key(0))
    points = jnp.array([[0.1, 0.2], [0.3, -0.5]])
    jet = net.jet(nn.Jet.of_points(points, jnp.eye(2), m=1))  # d/dx0, d²/dx0², d/dx1
    e = jnp.array([1.0, 0.0])
    d1 = lambda p: jax.jvp(net, (p,), (e,))[1]
    second = jax.vmap(lambda p: jax.jvp(d1, (p,), (e,))[1])(points)
    assert isinstance(net, nn.AbstractNetwork) and jnp.allclose(jet.value, jax.vmap(net)(points))
    assert jnp.allclose(jet.second[0], second)
    ```
    """

    layers: eqx.AbstractVar[tuple[AbstractLinear, ...]]
    embedding: eqx.AbstractVar[AbstractEmbedding | None]
    out_size: eqx.AbstractVar[int | str]
    activation: eqx.AbstractVar[str]

    @abc.abstractmethod
    def __call__(self, x: Array) -> Array:
        """The network at one input vector `x`."""

    @abc.abstractmethod
    def jet(self, x: Jet) -> Jet:
        """The network's jet at a batch of inputs given by their jet `x` (`(n, in_size)`)."""

    @property
    def dtype(self):
        """The dtype the network computes in: that of its weights (so casting every leaf,
        e.g. to float64 for L-BFGS, changes it)."""
        return self.layers[-1].bias.dtype

    def features(self, x: Array) -> Array:
        x = jnp.asarray(x, self.dtype)
        return x if self.embedding is None else self.embedding(x)

    def features_jet(self, x: Jet) -> Jet:
        x = jax.tree_util.tree_map(lambda a: jnp.asarray(a, self.dtype), x)
        return x if self.embedding is None else x.apply(self.embedding)

    def output(self, y):
        if self.out_size != "scalar":
            return y
        return y.part(0) if isinstance(y, Jet) else y[0]


class MLP(AbstractNetwork):
    """A fully connected network `in_size → width × depth → out_size`, in `dtype`.

    It maps one input vector (use `jax.vmap` for batches).

    **Arguments:**
    - `in_size`, `out_size`: input and output sizes; `out_size="scalar"` returns a scalar.
    - `width`, `depth`: neurons per hidden layer, number of hidden layers (Raissi's Burgers
      network is `width=20, depth=8`).
    - `activation`: a name in `ACTIVATIONS` (`"tanh"`, `"sin"`, `"gelu"`, `"rbf"`, ...).
    - `init`: weight initialization, `"glorot"`, `"he"` or `"normal"` (LeCun); biases start at 0.
    - `embedding`: an optional `FourierFeatures` or `PeriodicEmbedding` applied to the input.
    - `factorization`: `None`, or `(mean, std)` of the log-scales of random weight
      factorization for every layer (Wang et al. use `(1.0, 0.1)`).
    - `dtype`: `"float32"` or `"float64"` of the weights; inputs are cast to the weights'
      dtype, outputs are in it (cast every leaf to change it).
    - `key`: a `jax.random` key (same key → same weights).

    **Example:** a scalar network of `(x, t)`, its value and its derivatives on a batch.

    ```python
    import jax
    import jax.numpy as jnp
    from diffsim import nn

    net = nn.MLP(2, "scalar", width=16, depth=2, key=jax.random.key(0))
    points = jnp.array([[0.0, 0.0], [0.5, 1.0], [1.0, 0.5]])
    assert jax.vmap(net)(points).shape == (3,) and net(points[0]).dtype == jnp.float32
    grads = jax.vmap(jax.grad(net))(points)  # (du/dx, du/dt) at each point
    assert grads.shape == (3, 2)
    ```
    """

    layers: tuple[AbstractLinear, ...]
    embedding: AbstractEmbedding | None
    out_size: int | str = eqx.field(static=True)
    activation: str = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        out_size: int | str,
        width: int,
        depth: int,
        activation: str = "tanh",
        init: str = "glorot",
        *,
        embedding: AbstractEmbedding | None = None,
        factorization: tuple[float, float] | None = None,
        dtype: str = "float32",
        key: PRNGKeyArray,
    ):
        sizes = _sizes("MLP", in_size, out_size, width, depth, activation, init, embedding)
        self.layers = _layers(sizes, init, factorization, dtype, key)
        self.embedding = embedding
        self.out_size = out_size
        self.activation = activation

    def __call__(self, x: Array) -> Array:
        sigma = get_activation(self.activation)
        y = self.features(x)
        for layer in self.layers[:-1]:
            y = sigma(layer(y))
        return self.output(self.layers[-1](y))

    def jet(self, x: Jet) -> Jet:
        sigma = get_activation(self.activation)
        y = self.features_jet(x)
        for layer in self.layers[:-1]:
            y = layer.jet(y).elementwise(sigma)
        return self.output(self.layers[-1].jet(y))


class ModifiedMLP(AbstractNetwork):
    """The "modified MLP" of Wang, Teng & Perdikaris (2021): an MLP gated by two encoders.

    Two encoders `U = σ(W_u x)`, `V = σ(W_v x)` gate every hidden layer,
    `h ← (1 - z) ⊙ U + z ⊙ V` with `z = σ(W h)`, which carries the input's information to
    every depth and trains PINNs of stiff problems better than a plain MLP ("Understanding
    and mitigating gradient pathologies in PINNs").

    **Arguments:** as `MLP` (all hidden layers have `width`).

    **Example:** a drop-in replacement for `MLP`, with two encoder layers more.

    ```python
    import jax
    import jax.numpy as jnp
    from diffsim import nn

    key = jax.random.key(0)
    net = nn.ModifiedMLP(2, 3, width=16, depth=3, key=key)
    assert net(jnp.array([0.1, 0.2])).shape == (3,)
    count = lambda m: sum(x.size for x in jax.tree.leaves(m))
    assert count(net) == count(nn.MLP(2, 3, width=16, depth=3, key=key)) + 2 * (2 * 16 + 16)
    ```
    """

    encoders: tuple[AbstractLinear, AbstractLinear]
    layers: tuple[AbstractLinear, ...]
    embedding: AbstractEmbedding | None
    out_size: int | str = eqx.field(static=True)
    activation: str = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        out_size: int | str,
        width: int,
        depth: int,
        activation: str = "tanh",
        init: str = "glorot",
        *,
        embedding: AbstractEmbedding | None = None,
        factorization: tuple[float, float] | None = None,
        dtype: str = "float32",
        key: PRNGKeyArray,
    ):
        sizes = _sizes("ModifiedMLP", in_size, out_size, width, depth, activation, init, embedding)
        key_u, key_v, key = jax.random.split(key, 3)
        self.encoders = tuple(
            _layers(sizes[:1] + [width], init, factorization, dtype, k)[0] for k in (key_u, key_v)
        )
        self.layers = _layers(sizes, init, factorization, dtype, key)
        self.embedding = embedding
        self.out_size = out_size
        self.activation = activation

    def __call__(self, x: Array) -> Array:
        sigma = get_activation(self.activation)
        y = self.features(x)
        u, v = (sigma(encoder(y)) for encoder in self.encoders)
        for layer in self.layers[:-1]:
            z = sigma(layer(y))
            y = (1 - z) * u + z * v
        return self.output(self.layers[-1](y))

    def jet(self, x: Jet) -> Jet:
        sigma = get_activation(self.activation)
        y = self.features_jet(x)
        u, v = (encoder.jet(y).elementwise(sigma) for encoder in self.encoders)
        for layer in self.layers[:-1]:
            z = layer.jet(y).elementwise(sigma)
            y = u + z * (v - u)  # (1 - z) u + z v
        return self.output(self.layers[-1].jet(y))
