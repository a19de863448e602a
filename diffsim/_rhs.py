"""The right-hand side as the loops see it: flat state vector in, flat derivative out."""

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
from jax.flatten_util import ravel_pytree


class FlatRHS(eqx.Module):
    """`rhs(t, y, params)` on a flat state vector, with its traced inputs split out.

    The loops and adjoints pass around `args`, the differentiable (inexact array) leaves of
    `(params, closed-over constants)`; `params(args)` rebuilds the user's `params` from them,
    for solvers that need more than `fn` (an exponential integrator's linear operator, say).
    With `sign = -1` the loops integrate forward in `τ = -t`: `dy/dτ = -rhs(-τ, y)`, which is
    how a solve backwards in time runs; `time(τ)` is the user's time.
    """

    rhs: Callable = eqx.field(static=True)
    unravel: Callable = eqx.field(static=True)
    static: Any = eqx.field(static=True)
    dtype: Any = eqx.field(static=True)
    sign: int = eqx.field(static=True, default=1)

    def time(self, tau):
        return tau if self.sign == 1 else -tau

    def params(self, args):
        return eqx.combine(args, self.static)[0]

    def state(self, y):
        """The user's state pytree from the flat vector."""
        return self.unravel(y)

    def __call__(self, t, y, args):
        params, consts = eqx.combine(args, self.static)
        dy = ravel_pytree(self.rhs(self.time(t), self.unravel(y), params, *consts))[0]
        dy = dy.astype(self.dtype)
        return dy if self.sign == 1 else -dy


def flatten_rhs(rhs, t0, y0, params, sign: int = 1):
    """`(fn, args, y0_flat)`: the flat right-hand side, its traced inputs and the flat state.

    Arrays that `rhs` closes over become inputs too (closure conversion), so derivatives with
    respect to them are computed like those with respect to `params`.
    """
    y0_flat, unravel = ravel_pytree(y0)
    # A fresh lambda: closure_convert caches on its argument, which must be hashable; a user's
    # callable object need not be.
    converted, consts = jax.closure_convert(lambda t, y, p: rhs(t, y, p), t0, y0, params)
    args, static = eqx.partition((params, consts), eqx.is_inexact_array)
    return FlatRHS(converted, unravel, static, y0_flat.dtype, sign), args, y0_flat
