"""Explicit Runge–Kutta methods: every tableau shares this one stage loop."""

import jax.numpy as jnp

from ._base import Step, hermite_dense, hermite_interpolate
from ._tableau import AbstractRungeKutta, ButcherTableau


def _combine(y, h, weights, ks):
    """`y + h * sum(w * k)`, skipping zero weights (the loop is unrolled at trace time)."""
    terms = [w * k for w, k in zip(weights, ks, strict=False) if w != 0.0]
    if not terms:
        return y
    return y + h * sum(terms[1:], terms[0])


class ExplicitRK(AbstractRungeKutta):
    """An explicit Runge–Kutta method given by its Butcher tableau.

    The solver state is `f(t, y)`, the first stage of the next step: for first-same-as-last
    tableaux (bosh3, dopri5, tsit5) it is the last stage of the step just taken, so an accepted
    step costs one evaluation less than its stages; for the others it is evaluated at the end of
    the step instead of at the start of the next, and also serves the Hermite dense output.

    **Example:** the built-in `rk4` is `ExplicitRK` of its tableau.

    ```python
    import jax
    import jax.numpy as jnp

    import diffsim

    jax.config.update("jax_enable_x64", True)

    rk4 = diffsim.SOLVERS["rk4"]
    assert isinstance(rk4, diffsim.ExplicitRK) and rk4.tableau.order == 4
    ts = jnp.array([0.0, 1.0])
    sol = diffsim.solve_ode(lambda t, y, p: -y, jnp.array([1.0]), ts, None, solver=rk4, dt=0.01)
    assert abs(sol.ys[-1, 0] - jnp.exp(-1.0)) < 1e-9
    ```
    """

    tableau: ButcherTableau

    def init(self, fn, t0, y0, args):
        return fn(t0, y0, args)

    def step(self, fn, t, y, h, args, state, scale) -> Step:
        del scale
        tab = self.tableau
        ks = [state]
        for c, row in zip(tab.c[1:], tab.a[1:], strict=True):
            ks.append(fn(t + c * h, _combine(y, h, row, ks), args))
        y1 = _combine(y, h, tab.b, ks)
        error = None if tab.e is None else _combine(jnp.zeros_like(y), h, tab.e, ks)
        if tab.fsal:
            f1, nfev = ks[-1], len(ks) - 1
        else:
            f1, nfev = fn(t + h, y1, args), len(ks)
        if tab.dense is None:
            dense = hermite_dense(y, y1, state, f1, h)
        else:
            dense = (y, h, tuple(ks))
        return Step(y1, error, jnp.asarray(nfev, jnp.int32), jnp.asarray(True), dense, f1, state)

    def interpolate(self, dense, theta):
        if self.tableau.dense is None:
            return hermite_interpolate(dense, theta)
        y, h, ks = dense
        theta = jnp.asarray(theta, jnp.real(y).dtype)
        weights = [_polyval(p, theta) for p in self.tableau.dense]
        return y + h * sum(w * k for w, k in zip(weights, ks, strict=True))


def _polyval(coeffs, theta):
    """`Σ_m coeffs[m] θ^(m+1)` by Horner's rule."""
    total = jnp.zeros_like(theta)
    for c in reversed(coeffs):
        total = (total + c) * theta
    return total
