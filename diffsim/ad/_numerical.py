"""Numerical differentiation: forward, central and complex-step differences.

Forward differences have truncation error O(h) and central ones O(h^2), but both subtract
nearly equal numbers, so round-off grows like eps/h: the best step balances the two (about
sqrt(eps) and eps^(1/3) relative to |x|). The complex step `Im f(x + ih) / h` subtracts
nothing, so h can be tiny and the result is exact to machine precision, provided `f` is built
from complex-analytic operations (no `abs`, comparisons or `jnp.real`).
"""

import jax
import jax.numpy as jnp

SCHEMES = ("central", "forward", "complex")


def default_step(scheme: str, x: jax.Array) -> jax.Array:
    """The step that roughly balances truncation and round-off, per component of `x`."""
    eps = jnp.finfo(x.dtype).eps
    base = {"forward": jnp.sqrt(eps), "central": jnp.cbrt(eps), "complex": eps}[scheme]
    return base * jnp.maximum(1.0, jnp.abs(x))


def directional_difference(g, x: jax.Array, v: jax.Array, scheme: str, h) -> jax.Array:
    """Approximate the directional derivative `J(x) v` of `g: R^n -> R^m` with step `h`.

    For the real schemes the step actually taken, `(x + h v) - x`, is what the difference is
    divided by (the lesson's round-off, not an avoidable representation error).
    """
    if scheme == "complex":
        value = g(x + 1j * h * v)
        if not jnp.issubdtype(value.dtype, jnp.complexfloating):
            raise TypeError(
                "complex-step differences need `f` to accept and propagate complex inputs "
                f"(it returned {value.dtype} for a complex input); use scheme='central'"
            )
        return jnp.imag(value) / h
    forward = g(x + h * v)
    if scheme == "forward":
        return (forward - g(x)) / _taken(x, h, v)
    return (forward - g(x - h * v)) / (2 * _taken(x, h, v))


def _taken(x, h, v):
    """The step length that was really taken along `v` (equal to `h` in exact arithmetic).

    A zero `v` takes no step; `h` is returned so that the difference is `0 / h = 0`.
    """
    i = jnp.argmax(jnp.abs(v))
    nonzero = v[i] != 0
    return jnp.where(nonzero, ((x[i] + h * v[i]) - x[i]) / jnp.where(nonzero, v[i], 1.0), h)


def difference_matrix(g, x: jax.Array, scheme: str, step) -> jax.Array:
    """The (m, n) Jacobian of `g: R^n -> R^m` by differences, one column per input.

    **Arguments:**

    - `g`: the flat function.
    - `x`: the point, shape `(n,)`.
    - `scheme`: `"forward"`, `"central"` or `"complex"`.
    - `step`: a scalar or `(n,)` array of steps, or `None` for `default_step`.

    **Returns:** the Jacobian approximation; costs `n` (complex, forward: `n + 1`) or `2n`
    evaluations of `g`.
    """
    steps = default_step(scheme, x) if step is None else jnp.broadcast_to(step, x.shape)
    basis = jnp.eye(x.shape[0], dtype=x.dtype)
    columns = jax.vmap(lambda e, h: directional_difference(g, x, e, scheme, h))(basis, steps)
    return columns.T
