"""Events: a condition `g(t, y, params)` whose sign change stops a solve or is recorded.

The crossing is located by bisection on the solver's dense output inside the step where the
sign changed. The event time is differentiable by the implicit function theorem: with
`t*` defined by `g(t*, y(t*), p) = 0`,
`dt*/dp = -(∂g/∂p + ∂g/∂y · ∂y/∂p) / (∂g/∂t + ∂g/∂y · f)`, where `∂y/∂p` at `t*` comes from
the gradient strategy like any other output.
"""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp


class Event(eqx.Module):
    """An event for `solve_ode(..., event=Event(condition))`.

    **Arguments:**
    - `condition`: `g(t, y, params) -> scalar`; the event is where `g` changes sign.
    - `terminal`: stop the solve at the first event (default), or record up to `max_events`
      events and carry on.
    - `direction`: `-1` only downward crossings (`g` from positive to `<= 0`), `+1` only upward,
      `0` both. A restart exactly at a root (a bouncing ball) wants a direction.
    - `max_events`: how many events a non-terminal event records.

    **Example:** a ball dropped from 10 m hits the ground at `sqrt(2h/g)`.

    ```python
    import jax
    import jax.numpy as jnp

    import diffsim

    jax.config.update("jax_enable_x64", True)


    def falling(t, y, g):
        return jnp.stack([y[1], -g])  # height, velocity


    ground = diffsim.Event(lambda t, y, g: y[0], direction=-1)
    ts = jnp.array([0.0, 5.0])
    sol = diffsim.solve_ode(falling, jnp.array([10.0, 0.0]), ts, 9.81, event=ground)
    assert abs(sol.event_ts[0] - (2 * 10.0 / 9.81) ** 0.5) < 1e-8
    assert sol.message == diffsim.status_message(diffsim.RESULTS.event_occurred)
    ```
    """

    condition: Callable = eqx.field(static=True)
    terminal: bool = eqx.field(static=True, default=True)
    direction: int = eqx.field(static=True, default=0)
    max_events: int = eqx.field(static=True, default=1)

    def __check_init__(self):
        if self.direction not in (-1, 0, 1):
            raise ValueError("Event: `direction` must be -1, 0 or 1")
        if self.max_events < 1 or (self.terminal and self.max_events != 1):
            raise ValueError("Event: `max_events` must be >= 1 (and 1 for a terminal event)")

    def value(self, fn, t, y, args):
        """`g` at the flat state `y` at solver time `t` (real scalar)."""
        g = self.condition(fn.time(t), fn.state(y), fn.params(args))
        g = jnp.asarray(g)
        if g.shape != ():
            raise ValueError(f"Event: the condition must return a scalar, got shape {g.shape}")
        return jnp.real(g).astype(jnp.real(y).dtype)

    def crossed(self, g0, g1):
        """Whether `g` crossed zero (in the chosen direction) between `g0` and `g1`."""
        down = (g0 > 0) & (g1 <= 0)
        up = (g0 < 0) & (g1 >= 0)
        return {-1: down, 1: up, 0: down | up}[self.direction]

    def locate(self, fn, solver, st, t, h, args, found):
        """θ in `[0, 1]` of the crossing inside the accepted step `st` (bisection on the dense
        output to the resolution of the dtype); 1 when `found` is False."""
        dtype = jnp.real(st.y1).dtype

        def g_at(theta):
            return self.value(fn, t + theta * h, solver.interpolate(st.dense, theta), args)

        def bisect(_):
            g_lo = g_at(jnp.zeros((), dtype))

            def body(_, bounds):
                lo, hi, g_lo = bounds
                mid = 0.5 * (lo + hi)
                g_mid = g_at(mid)
                left = self.crossed(g_lo, g_mid) | (g_mid == 0)
                return (
                    jnp.where(left, lo, mid),
                    jnp.where(left, mid, hi),
                    jnp.where(left, g_lo, g_mid),
                )

            iters = jnp.finfo(dtype).nmant + 2
            init = (jnp.zeros((), dtype), jnp.ones((), dtype), g_lo)
            _, hi, _ = jax.lax.fori_loop(0, iters, body, init)
            return hi

        theta = jax.lax.cond(found, bisect, lambda _: jnp.ones((), dtype), None)
        return jax.lax.stop_gradient(theta)


def event_outputs(event: Event, fn, args, t_events, y_events):
    """Differentiable event times and states from the located times (constants) and the
    states there (differentiable outputs of the solve), by the implicit function theorem."""

    def one(t, y):
        f = fn(t, y, args)
        g, dg = jax.jvp(lambda t, y: event.value(fn, t, y, args), (t, y), (jnp.ones_like(t), f))
        dg, f = jax.lax.stop_gradient((dg, f))
        t_star = t - (g - jax.lax.stop_gradient(g)) / dg
        y_star = y + f * (t_star - t).astype(y.dtype)
        return t_star, y_star

    return jax.vmap(one)(t_events, y_events)
