"""Dense layers: plain, and with random weight factorization (Wang et al. 2022)."""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

INITIALIZATIONS = {
    "glorot": jax.nn.initializers.glorot_normal,
    "he": jax.nn.initializers.he_normal,
    "normal": jax.nn.initializers.lecun_normal,
}
"""Initialization name → `jax.nn.initializers` factory for weight matrices (biases start at 0).

Glorot: variance `2 / (fan_in + fan_out)` (tanh, sin); He: `2 / fan_in` (relu, gelu);
normal (LeCun): `1 / fan_in`. All are truncated normals rescaled to that variance.
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
    """An affine map `x ↦ W x + b` from `in_size` to `out_size` features."""

    @abc.abstractmethod
    def weight_matrix(self) -> Array:
        """The effective `(out_size, in_size)` matrix `W`."""

    bias: eqx.AbstractVar[Array]

    def __call__(self, x: Array) -> Array:
        return self.weight_matrix() @ x + self.bias


class Linear(AbstractLinear):
    """A dense layer with trainable `weight` and `bias`."""

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
