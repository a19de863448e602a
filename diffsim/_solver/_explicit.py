"""Explicit Runge–Kutta methods: every tableau shares this one stage loop."""

import jax.numpy as jnp

from ._base import AbstractSolver, Step
from ._tableau import ButcherTableau


def _combine(y, h, weights, ks):
    """`y + h * sum(w * k)`, skipping zero weights (the loop is unrolled at trace time)."""
    terms = [w * k for w, k in zip(weights, ks, strict=False) if w != 0.0]
    if not terms:
        return y
    return y + h * sum(terms[1:], terms[0])


class ExplicitRK(AbstractSolver):
    """An explicit Runge–Kutta method given by its Butcher tableau."""

    tableau: ButcherTableau

    def step(self, fn, t, y, h, args, scale) -> Step:
        del scale
        tab = self.tableau
        ks = []
        for c, row in zip(tab.c, tab.a, strict=True):
            ks.append(fn(t + c * h, _combine(y, h, row, ks), args))
        y1 = _combine(y, h, tab.b, ks)
        error = None if tab.e is None else _combine(jnp.zeros_like(y), h, tab.e, ks)
        return Step(y1, error, jnp.asarray(len(ks), jnp.int32), jnp.asarray(True))
