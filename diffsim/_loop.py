"""The forward time-stepping loops: a fixed step grid (lax.scan) or steps chosen at run time.

Both loops report, for every output, where it lies: `out_k` the index of the step that
contains it (-1: the initial state, -2: never reached) and `out_theta` its position in that
step (`t_k + θ h_k`; θ = 1 is the step's end state itself, other θ the solver's dense output).
That, with the step grid, is all the reverse passes need to replay the outputs exactly.
"""

from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ._controller import PIController
from ._events import Event
from ._progress import progress_meter
from ._solution import RESULTS
from ._solver import AbstractSolver, Step

MAX_STEPS = 2**31 - 1
"""Most steps one solve can take: step counters and indices are int32.

**Example:** a config that asks for more steps is refused before anything is built.

```python
import diffsim

config = diffsim.config.validate_config({
    "model": "lotka_volterra",
    "observations": {"x": {"sigma": 0.1}},
    "data": {"file": "measured.csv"},
    "solver": {"max_steps": diffsim.runner.MAX_STEPS + 1},
})
try:
    diffsim.runner.check_before_build(config)
except diffsim.runner.LimitError as error:
    assert "solver.max_steps" in str(error)
else:
    raise AssertionError("too many steps were accepted")
```
"""


def steps_in(width, dt, xp=jnp):
    """Equal steps no longer than `dt` covering `width`, in the dtype of `width`: a width that
    is a multiple of `dt` up to a few ulp of that dtype takes exactly that many steps."""
    ratio = width / xp.asarray(dt, dtype=width.dtype)
    eps = xp.finfo(width.dtype).eps
    return xp.maximum(1, xp.ceil(ratio * (1 - 16 * eps)))


class Trajectory(NamedTuple):
    """What a forward loop returns (flat states)."""

    ys: Array  # (T + E, d): outputs, then event states
    status: Array
    stats: dict
    out_k: Array  # (T + E,) int32
    out_theta: Array  # (T + E,)
    grid: tuple | None  # (t_grid, h_grid, num_steps) of the steps, when recorded
    event_ts: Array  # (E,) event times (not differentiated)
    num_events: Array
    dense: object  # per-step dense data `(t_grid, h_grid, dense)` when asked, else None


class Problem(eqx.Module):
    """A flat ODE problem and how it is stepped: everything a loop or an adjoint needs.

    `fn(t, y, args)` is the right-hand side on the flat state vector; `ts` the increasing output
    times, `ts[0]` the initial time. With `counts` (one step count per output interval, known at
    trace time) the steps lie on a fixed grid whose times are derived from integers: flat step
    `k` is step `j` of interval `i` and starts at `ts[i] + j * h_i`. Otherwise steps are chosen
    at run time (adaptive, or a fixed `dt` with traced `ts`).
    """

    fn: Callable = eqx.field(static=True)
    solver: AbstractSolver
    controller: PIController
    ts: Array
    dt: float | None = eqx.field(static=True)
    max_steps: int = eqx.field(static=True)
    counts: tuple[int, ...] | None = eqx.field(static=True)
    event: Event | None = None
    dense: bool = eqx.field(static=True, default=False)
    progress: bool = eqx.field(static=True, default=False)

    @property
    def fixed_grid(self) -> bool:
        return self.counts is not None

    @property
    def num_events(self) -> int:
        return 0 if self.event is None else self.event.max_events

    @property
    def num_grid_steps(self) -> int:
        return int(np.sum(self.counts))

    @property
    def step_capacity(self) -> int:
        """Most steps a forward pass can take (size of recorded grids)."""
        return self.num_grid_steps if self.fixed_grid else self.max_steps

    def step(self, t, y, h, args, state) -> Step:
        return self.solver.step(self.fn, t, y, h, args, state, self.controller.scale(y, y))

    def _zero_work(self, t, y, h, args, state, num_fevals):
        """The work counters of `_add_work`, starting at `num_fevals` evaluations."""
        keys = jax.eval_shape(lambda: self.step(t, y, h, args, state).stats)
        return dict(
            {key: jnp.asarray(0, jnp.int32) for key in keys},
            num_fevals=jnp.asarray(num_fevals, jnp.int32),
        )

    def fresh_step(self, t, y, h, args) -> Step:
        """A step from a fresh solver state: how the reverse passes replay a step."""
        return self.step(t, y, h, args, self.solver.init(self.fn, t, y, args))

    def emit(self, y1, dense, theta):
        """The output at position `theta` of a step (its end state `y1` at θ = 1)."""
        return jnp.where(theta == 1, y1, self.solver.interpolate(dense, theta))

    # -- fixed grid -------------------------------------------------------------------------
    def grid_arrays(self):
        """Per flat step: its interval, its index in the interval and whether it ends one."""
        counts = np.asarray(self.counts, np.int64)
        interval = np.repeat(np.arange(len(counts)), counts)
        j = np.arange(len(interval)) - np.repeat(np.cumsum(counts) - counts, counts)
        return interval, j

    def grid_times(self):
        """`(t_k, h_k)` of every flat step of the fixed grid, from integers."""
        interval, j = self.grid_arrays()
        counts = np.asarray(self.counts, np.int64)
        widths = (self.ts[1:] - self.ts[:-1]) / jnp.asarray(counts, self.ts.dtype)
        h = widths[interval]
        return self.ts[interval] + jnp.asarray(j, self.ts.dtype) * h, h

    def grid_time(self, k):
        """`(t_k, h_k)` of flat step `k` on the fixed grid."""
        t, h = self.grid_times()
        return t[k], h[k]

    def solve_fixed_grid(self, y0, args) -> Trajectory:
        interval, j = self.grid_arrays()
        counts = np.asarray(self.counts, np.int64)
        num_out = len(self.ts)
        ends = j == counts[interval] - 1
        # Row of the output each step writes (num_out + E: a discarded row).
        rows = np.where(ends, interval + 1, num_out + self.num_events).astype(np.int32)
        n = len(interval)
        state0 = self.solver.init(self.fn, self.ts[0], y0, args)
        index_zeros = (jnp.int32(0),) * y0.ndim

        def body(carry, x):
            y, state, ys, converged, work = carry
            t, h, row = x
            st = self.step(t, y, h, args, state)
            # A dynamic_update_slice (not a scatter) is updated in place by XLA.
            ys = jax.lax.dynamic_update_slice(ys, st.y1[None], (row, *index_zeros))
            self._report(t + h)
            out = (t, h, st.dense) if self.dense else None
            carry = (st.y1, st.next_state, ys, converged & st.converged, _add_work(work, st))
            return carry, out

        ys = jnp.full((num_out + self.num_events + 1,) + y0.shape, jnp.nan, y0.dtype)
        work = self._zero_work(self.ts[0], y0, self.ts[0], args, state0, 0)
        init = (y0, state0, ys.at[0].set(y0), jnp.asarray(True), work)
        t, h = self.grid_times()
        (_, _, ys, converged, work), per_step = jax.lax.scan(body, init, (t, h, jnp.asarray(rows)))
        # Outputs up to the first non-finite one were reached; the rest are NaN and, for the
        # reverse passes, never reached (so no NaN flows back into the reached ones).
        finite = jnp.all(jnp.isfinite(ys[:num_out].reshape(num_out, -1)), axis=1)
        reached = jnp.cumprod(finite.astype(jnp.int32)).astype(bool)
        out_k = np.full(num_out, -1, np.int32)
        out_k[1:] = np.cumsum(counts) - 1
        out_k = jnp.where(reached, jnp.asarray(out_k), -2)
        status = jnp.where(
            converged,
            jnp.where(jnp.all(reached), RESULTS.successful, RESULTS.nonfinite_state),
            RESULTS.newton_failed,
        ).astype(jnp.int32)
        replayed = (jnp.max(out_k) + 1).astype(jnp.int32)
        stats = _stats(
            jnp.asarray(n, jnp.int32), replayed, work, _init_fevals(self, self.ts[0], y0, args)
        )
        nan_rows = jnp.concatenate([~reached, jnp.zeros(self.num_events, bool)])
        ys = jnp.where(nan_rows.reshape((-1,) + (1,) * y0.ndim), jnp.nan, ys[: len(nan_rows)])
        return Trajectory(
            ys=ys,
            status=status,
            stats=stats,
            out_k=out_k,
            out_theta=jnp.ones(num_out, self.ts.dtype),
            grid=None,
            event_ts=jnp.zeros(0, self.ts.dtype),
            num_events=jnp.asarray(0, jnp.int32),
            dense=per_step,
        )

    def _report(self, t):
        if self.progress:
            progress_meter(t, self.ts[0], self.ts[-1])

    # -- steps chosen at run time -------------------------------------------------------------
    def solve_dynamic(self, y0, args, record: bool) -> Trajectory:
        """Adaptive (or fixed-`dt`) steps to the last output time; outputs from dense output.

        With `record`, the accepted steps' `(t, h)` are kept (two scalars per step): the
        reverse passes replay the steps from them exactly.
        """
        ts, ctrl, solver, event = self.ts, self.controller, self.solver, self.event
        dtype = ts.dtype  # real, also for complex states
        eps = jnp.finfo(dtype).eps
        num_out, num_ev = len(ts), self.num_events
        adaptive = self.dt is None
        q = min(solver.order, solver.error_order or solver.order) + 1
        t_end = ts[-1]

        state0 = solver.init(self.fn, ts[0], y0, args)
        if adaptive:
            f0 = self.fn(ts[0], y0, args)
            h0 = ctrl.initial_step(self.fn, ts[0], y0, f0, args, solver.order)
            h0 = ctrl.clip(h0)[0]
            nfev0 = 2 + _init_fevals(self, ts[0], y0, args)
        else:
            h0 = jnp.asarray(self.dt, dtype)
            nfev0 = _init_fevals(self, ts[0], y0, args)
        increasing = jnp.all(ts[1:] > ts[:-1])
        slots = self.max_steps if (record or self.dense) else 1
        dense_buf = None
        if self.dense:
            shapes = jax.eval_shape(lambda: self.step(ts[0], y0, h0, args, state0).dense)
            dense_buf = jax.tree.map(lambda s: jnp.zeros((slots,) + s.shape, s.dtype), shapes)
        out_k = jnp.full(num_out + num_ev, -2, jnp.int32).at[0].set(-1)
        carry = dict(
            t=ts[0],
            y=y0,
            state=state0,
            h=jax.lax.stop_gradient(h0.astype(dtype)),
            prev_err=jnp.asarray(1.0, dtype),
            i_out=jnp.asarray(1, jnp.int32),
            j=jnp.asarray(0, jnp.int32),
            ys=jnp.full((num_out + num_ev,) + y0.shape, jnp.nan, y0.dtype).at[0].set(y0),
            out_k=out_k,
            out_theta=jnp.zeros(num_out + num_ev, dtype),
            steps=jnp.asarray(0, jnp.int32),
            accepted=jnp.asarray(0, jnp.int32),
            work=self._zero_work(ts[0], y0, h0, args, state0, nfev0),
            # A non-finite initial state fails at once (not after max_steps rejected steps).
            status=jnp.where(
                increasing,
                jnp.where(jnp.all(jnp.isfinite(y0)), RESULTS.successful, RESULTS.nonfinite_state),
                RESULTS.invalid_times,
            ).astype(jnp.int32),
            t_grid=jnp.zeros(slots, dtype),
            h_grid=jnp.zeros(slots, dtype),
            dense=dense_buf,
            g=None if event is None else event.value(self.fn, ts[0], y0, args),
            event_ts=jnp.zeros(num_ev, dtype),
            num_events=jnp.asarray(0, jnp.int32),
        )

        def cond(c):
            return (
                (c["t"] < t_end)
                & (c["status"] == RESULTS.successful)
                & (c["steps"] < self.max_steps)
            )

        def body(c):
            y, t = c["y"], c["t"]
            if adaptive:
                remaining = t_end - t
                hits = c["h"] >= remaining * (1 - 64 * eps)
                h = jnp.where(hits, remaining, c["h"])
                t_stop = t_end
            else:
                # The same grid as with concrete `ts`: equal steps no longer than dt in each
                # output interval, the step time from the integer step index j.
                i = jnp.minimum(c["i_out"], num_out - 1)
                t_prev, t_stop = ts[i - 1], ts[i]
                count = steps_in(t_stop - t_prev, self.dt)
                h = (t_stop - t_prev) / count
                j = c["j"].astype(dtype)
                t = t_prev + j * h
                hits = j + 1 >= count
            st = self.step(t, y, h, args, c["state"])
            finite = jnp.all(jnp.isfinite(st.y1))
            status = c["status"]
            if adaptive:
                err = ctrl.error_norm(st.error, y, st.y1)
                err = jnp.where(st.converged & finite, err, jnp.inf)
                accept = err <= 1
                h_next, below_min = ctrl.clip(h * ctrl.factor(err, c["prev_err"], q))
                h_next = jax.lax.stop_gradient(h_next)
                too_small = h_next <= 16 * eps * jnp.maximum(jnp.abs(t), 1.0)
                status = jnp.where(
                    (too_small | below_min) & ~accept, RESULTS.step_size_too_small, status
                )
                prev_err = jnp.where(accept, jnp.maximum(err, 1e-4), c["prev_err"])
            else:
                accept = st.converged & finite
                h_next = c["h"]
                status = jnp.where(
                    finite,
                    jnp.where(st.converged, status, RESULTS.newton_failed),
                    RESULTS.nonfinite_state,
                )
                prev_err = c["prev_err"]
            t1 = jnp.where(hits, t_stop, t + h)
            k = c["accepted"]
            new = dict(c, h=h_next, prev_err=prev_err, steps=c["steps"] + 1)
            new["work"] = _add_work(c["work"], st)

            # Events: a sign change of the condition over an accepted step.
            t_limit = t1
            if event is not None:
                g1 = event.value(self.fn, t1, st.y1, args)
                found = accept & event.crossed(c["g"], g1)
                theta_e = event.locate(self.fn, solver, st, t, h, args, found)
                t_e = jnp.where(theta_e == 1, t1, t + theta_e * h)
                slot = num_out + jnp.minimum(c["num_events"], num_ev - 1)
                room = found & (c["num_events"] < num_ev)
                new["ys"] = (
                    c["ys"]
                    .at[slot]
                    .set(jnp.where(room, self.emit(st.y1, st.dense, theta_e), c["ys"][slot]))
                )
                new["out_k"] = c["out_k"].at[slot].set(jnp.where(room, k, c["out_k"][slot]))
                new["out_theta"] = (
                    c["out_theta"].at[slot].set(jnp.where(room, theta_e, c["out_theta"][slot]))
                )
                new["event_ts"] = (
                    c["event_ts"]
                    .at[slot - num_out]
                    .set(jnp.where(room, t_e, c["event_ts"][slot - num_out]))
                )
                new["num_events"] = c["num_events"] + room.astype(jnp.int32)
                new["g"] = jnp.where(accept, g1, c["g"])
                if event.terminal:
                    t_limit = jnp.where(found, t_e, t1)
                    status = jnp.where(found, RESULTS.event_occurred, status)
            else:
                new.update(ys=c["ys"], out_k=c["out_k"], out_theta=c["out_theta"])

            # Outputs inside the accepted step, from its dense output.
            def fill(o):
                i, ys, out_k, out_theta = o
                theta = jnp.where(ts[i] == t1, 1, jnp.clip((ts[i] - t) / h, 0, 1))
                return (
                    i + 1,
                    ys.at[i].set(self.emit(st.y1, st.dense, theta)),
                    out_k.at[i].set(k),
                    out_theta.at[i].set(theta.astype(dtype)),
                )

            def more(o):
                i = o[0]
                return accept & (i < num_out) & (ts[jnp.minimum(i, num_out - 1)] <= t_limit)

            i_out, ys, out_k, out_theta = jax.lax.while_loop(
                more, fill, (c["i_out"], new["ys"], new["out_k"], new["out_theta"])
            )
            new.update(i_out=i_out, ys=ys, out_k=out_k, out_theta=out_theta)
            new["t"] = jnp.where(
                accept, jnp.where(status == RESULTS.event_occurred, t_limit, t1), t
            )
            new["j"] = jnp.where(accept, jnp.where(hits, 0, c["j"] + 1), c["j"])
            new["y"] = jnp.where(accept, st.y1, y)
            new["state"] = jax.tree.map(
                lambda a, b: jnp.where(accept, a, b), st.next_state, st.retry_state
            )
            new["accepted"] = k + accept.astype(jnp.int32)
            new["status"] = status.astype(jnp.int32)
            if record or self.dense:
                s = jnp.minimum(k, slots - 1)
                new["t_grid"] = c["t_grid"].at[s].set(jnp.where(accept, t, c["t_grid"][s]))
                new["h_grid"] = c["h_grid"].at[s].set(jnp.where(accept, h, c["h_grid"][s]))
            if self.dense:
                new["dense"] = jax.tree.map(
                    lambda buf, x: buf.at[s].set(jnp.where(accept, x, buf[s])), c["dense"], st.dense
                )
            self._report(new["t"])
            return new

        c = jax.lax.while_loop(cond, body, carry)
        unfinished = (c["t"] < t_end) & (c["status"] == RESULTS.successful)
        status = jnp.where(unfinished, RESULTS.max_steps_reached, c["status"]).astype(jnp.int32)
        stats = _stats(c["steps"], c["accepted"], c["work"])
        grid = (c["t_grid"], c["h_grid"], c["accepted"]) if (record or self.dense) else None
        return Trajectory(
            ys=c["ys"],
            status=status,
            stats=stats,
            out_k=c["out_k"],
            out_theta=c["out_theta"],
            grid=grid if record else None,
            event_ts=c["event_ts"],
            num_events=c["num_events"],
            dense=(c["t_grid"], c["h_grid"], c["dense"]) if self.dense else None,
        )

    def solve(self, y0, args, record: bool = False) -> Trajectory:
        """The forward solve on the flat state."""
        if self.fixed_grid:
            return self.solve_fixed_grid(y0, args)
        return self.solve_dynamic(y0, args, record)


class _Counted:
    """`fn` that counts its calls while traced (attributes pass through)."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *args):
        self.calls += 1
        return self.fn(*args)

    def __getattr__(self, name):
        return getattr(self.fn, name)


def _init_fevals(problem, t0, y0, args) -> int:
    """Right-hand-side evaluations of `solver.init` (counted from its trace)."""
    counted = _Counted(problem.fn)
    jax.eval_shape(lambda: problem.solver.init(counted, t0, y0, args))
    return counted.calls


def _add_work(work, st: Step):
    """Counters of work summed over attempted steps: rhs evaluations and the solver's own."""
    step_work = dict(st.stats, num_fevals=st.num_fevals)
    return {key: work[key] + step_work[key].astype(jnp.int32) for key in work}


def _stats(steps, accepted, work, extra_fevals=0):
    return dict(
        work,
        num_steps=steps,
        num_accepted=accepted,
        num_rejected=steps - accepted,
        num_fevals=work["num_fevals"] + extra_fevals,
    )
