"""`Jet`: values with exact first and second derivatives, pushed through a network layer by
layer (Taylor mode) for a whole batch of points at once."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array


def _along(fn, v, d):
    """`J_fn(v) d` (forward mode)."""
    return jax.jvp(fn, (v,), (d,))[1]


class Jet(eqx.Module):
    """A function's values at `n` points with exact first and second derivatives (Taylor mode).

    `first` holds the derivatives along `k` input directions, `second` the (pure) second
    derivatives along the first `m ≤ k` of them.

    A PINN's residual needs `u`, `∂u/∂t`, `∂u/∂x_i` and `∂²u/∂x_i²`. Nested `jax.jvp` of a
    network at each point computes the network's forward pass again for every derivative it
    asks for, and reverse mode then differentiates every copy. A jet carries each derivative
    once: a dense layer maps every part with one matrix product over the whole batch; an
    elementwise activation `σ` maps `(v, v', v'')` to `(σ(v), σ'(v) v', σ'(v) v'' +
    σ''(v) v'²)`. The derivatives are exact (automatic differentiation, not differences).

    **Fields:** `value` `(n, ...)`, `first` `(k, n, ...)`, `second` `(m, n, ...)`.

    **Example:** the jet of `tanh(2x)` at two points, along `x`, is `(tanh 2x, 2 sech² 2x,
    -8 tanh 2x sech² 2x)`.

    ```python
    import jax.numpy as jnp
    from diffsim import nn

    x = jnp.array([[0.1], [0.4]])
    jet = nn.Jet.of_points(x, jnp.eye(1), m=1).linear(jnp.array([[2.0]])).elementwise(jnp.tanh)
    y = jnp.tanh(2 * x[:, 0])
    assert jnp.allclose(jet.value[:, 0], y)
    assert jnp.allclose(jet.first[0, :, 0], 2 * (1 - y**2))
    assert jnp.allclose(jet.second[0, :, 0], -8 * y * (1 - y**2))
    ```
    """

    value: Array
    first: Array
    second: Array

    @staticmethod
    def of_points(points: Array, directions: Array, m: int) -> "Jet":
        """The jet of the identity at `points` `(n, a)`: first derivatives along the rows of
        `directions` `(k, a)`, second derivatives (zero) along the first `m` of them."""
        n = points.shape[0]
        directions = jnp.asarray(directions, points.dtype)
        first = jnp.broadcast_to(directions[:, None, :], (directions.shape[0], n, points.shape[1]))
        return Jet(points, first, jnp.zeros((m, *points.shape), points.dtype))

    def linear(self, weight: Array, bias: Array | None = None) -> "Jet":
        """`v ↦ W v + b` on the last axis: one matrix product per part, on 2-D operands
        (a 3-D product made XLA's gradient 25 % slower on CPU)."""

        def times(a):
            return (a.reshape(-1, a.shape[-1]) @ weight.T).reshape(*a.shape[:-1], -1)

        value = times(self.value)
        return Jet(value if bias is None else value + bias, times(self.first), times(self.second))

    def elementwise(self, fn) -> "Jet":
        """An elementwise function (an activation); its derivatives by `jax.jvp`."""
        ones = jnp.ones_like(self.value)
        (y, d1), (_, d2) = jax.jvp(lambda v: jax.jvp(fn, (v,), (ones,)), (self.value,), (ones,))
        m = self.second.shape[0]
        return Jet(y, d1 * self.first, d1 * self.second + d2 * self.first[:m] ** 2)

    def apply(self, fn) -> "Jet":
        """Any function `fn` of one point's vector (an embedding, an initial condition):
        the chain rule `(f(v), J v', J v'' + D²f[v', v'])` at each point (forward mode)."""
        m = self.second.shape[0]

        def at(v, first, second):
            curvature = jax.vmap(lambda d: _along(lambda z: _along(fn, z, d), v, d))(first[:m])
            return (
                fn(v),
                jax.vmap(lambda d: _along(fn, v, d))(first),
                curvature + jax.vmap(lambda d: _along(fn, v, d))(second),
            )

        value, first, second = jax.vmap(at, in_axes=(0, 1, 1), out_axes=(0, 1, 1))(
            self.value, self.first, self.second
        )
        return Jet(value, first, second)

    def part(self, index) -> "Jet":
        """The jet of `v[..., index]` (a component of a vector-valued function)."""
        return jax.tree_util.tree_map(lambda a: a[..., index], self)

    def expand(self) -> "Jet":
        """The jet with a trailing axis of size 1 (to scale each component of a vector)."""
        return jax.tree_util.tree_map(lambda a: a[..., None], self)

    def __add__(self, other):
        if isinstance(other, Jet):
            return jax.tree_util.tree_map(jnp.add, self, other)
        return Jet(self.value + other, self.first, self.second)

    __radd__ = __add__

    def __neg__(self):
        return jax.tree_util.tree_map(jnp.negative, self)

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return (-self) + other

    def __mul__(self, other):
        """The product rule; `other` a jet or a constant."""
        if not isinstance(other, Jet):
            return Jet(self.value * other, self.first * other, self.second * other)
        m = self.second.shape[0]
        a, b = self, other
        return Jet(
            a.value * b.value,
            a.first * b.value + a.value * b.first,
            a.second * b.value + 2 * a.first[:m] * b.first[:m] + a.value * b.second,
        )

    __rmul__ = __mul__
