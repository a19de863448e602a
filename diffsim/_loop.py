"""The forward time-stepping loops: a fixed step grid (lax.scan) or adaptive steps (while)."""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ._controller import PIController
from ._solution import RESULTS
from ._solver import AbstractSolver


class Problem(eqx.Module):
    """A flat ODE problem and how it is stepped: everything a loop or an adjoint needs.

    `fn(t, y, args)` is the right-hand side on the flat state vector. With `counts` (one step
    count per output interval, known at trace time) the steps lie on a fixed grid whose times are
    derived from integers: step `j` of interval `i` starts at `ts[i] + j * h_i`. Otherwise steps
    are chosen at run time (adaptive, or a fixed `dt` with traced `ts`) and the accepted grid is
    recorded for the backward pass.
    """

    fn: Callable = eqx.field(static=True)
    solver: AbstractSolver
    controller: PIController
    ts: Array
    dt: float | None = eqx.field(static=True)
    max_steps: int = eqx.field(static=True)
    counts: tuple[int, ...] | None = eqx.field(static=True)

    @property
    def fixed_grid(self) -> bool:
        return self.counts is not None

    @property
    def substeps(self) -> int:
        """Steps per output interval on the fixed grid (shorter intervals pad with h = 0)."""
        return max(self.counts, default=1)

    def step(self, t, y, h, args):
        return self.solver.step(self.fn, t, y, h, args, self.controller.scale(y, y))

    # -- fixed grid -------------------------------------------------------------------------
    def grid_step(self, i, j, y, args):
        """Step `j` of interval `i` on the fixed grid; returns the `Step`."""
        counts = jnp.asarray(self.counts, jnp.int32)
        t0 = self.ts[i]
        h = (self.ts[i + 1] - t0) / counts[i]
        if len(set(self.counts)) > 1:
            h_j = jnp.where(j < counts[i], h, jnp.zeros_like(h))
        else:
            h_j = h
        return self.step(t0 + j * h, y, h_j, args)

    def solve_fixed_grid(self, y0, args):
        n = self.substeps

        def interval(y, i):
            def substep(carry, j):
                y, nfev, ok = carry
                st = self.grid_step(i, j, y, args)
                return (st.y1, nfev + st.num_fevals, ok & st.converged), None

            init = (y, jnp.asarray(0, jnp.int32), jnp.asarray(True))
            (y, nfev, ok), _ = jax.lax.scan(substep, init, jnp.arange(n))
            return y, (y, nfev, ok)

        _, (ys, nfevs, oks) = jax.lax.scan(interval, y0, jnp.arange(len(self.ts) - 1))
        ys = jnp.concatenate([y0[None], ys])
        finite = jnp.all(jnp.isfinite(ys))
        status = jnp.where(
            finite,
            jnp.where(jnp.all(oks), RESULTS.successful, RESULTS.newton_failed),
            RESULTS.nonfinite_state,
        ).astype(jnp.int32)
        steps = jnp.asarray(int(np.sum(self.counts)), jnp.int32)
        stats = _stats(steps, steps, jnp.sum(nfevs).astype(jnp.int32))
        save_idx = jnp.arange(len(self.ts), dtype=jnp.int32) * n
        return ys, status, stats, (save_idx, None)

    # -- steps chosen at run time -------------------------------------------------------------
    def solve_dynamic(self, y0, args, record: bool):
        """Adaptive (or fixed-`dt`) stepping onto each output time; optionally records the grid.

        With `record`, returns the accepted steps' `(t, h)` and the integer state index of each
        output, which is all the backward pass needs to replay the steps exactly.
        """
        ts, ctrl, solver = self.ts, self.controller, self.solver
        dtype = ts.dtype  # real, also for complex states
        eps = jnp.finfo(dtype).eps
        num_out = len(ts)
        adaptive = self.dt is None
        q = min(solver.order, solver.tableau.error_order) + 1

        if adaptive:
            h0 = ctrl.initial_step(self.fn, ts[0], y0, args, solver.order)
            nfev0 = 2
        else:
            h0 = jnp.asarray(self.dt, dtype)
            nfev0 = 0
        increasing = jnp.all(ts[1:] > ts[:-1])
        slots = self.max_steps if record else 1
        carry = dict(
            t=ts[0],
            y=y0,
            h=jax.lax.stop_gradient(h0.astype(dtype)),
            prev_err=jnp.asarray(1.0, dtype),
            i_out=jnp.asarray(1, jnp.int32),
            j=jnp.asarray(0, jnp.int32),
            ys=jnp.full((num_out,) + y0.shape, jnp.nan, y0.dtype).at[0].set(y0),
            steps=jnp.asarray(0, jnp.int32),
            accepted=jnp.asarray(0, jnp.int32),
            nfev=jnp.asarray(nfev0, jnp.int32),
            status=jnp.where(increasing, RESULTS.successful, RESULTS.invalid_times).astype(
                jnp.int32
            ),
            t_grid=jnp.zeros(slots, dtype),
            h_grid=jnp.zeros(slots, dtype),
            save_idx=jnp.zeros(num_out, jnp.int32),
        )

        def cond(c):
            return (
                (c["i_out"] < num_out)
                & (c["status"] == RESULTS.successful)
                & (c["steps"] < self.max_steps)
            )

        def body(c):
            y = c["y"]
            t_next = ts[c["i_out"]]
            if adaptive:
                t = c["t"]
                remaining = t_next - t
                hits = c["h"] >= remaining * (1 - 64 * eps)
                h = jnp.where(hits, remaining, c["h"])
            else:
                # The same grid as with concrete `ts`: equal steps no longer than dt, the step
                # time from the integer step index j (no accumulation of t + h).
                t_prev = ts[c["i_out"] - 1]
                count = jnp.maximum(1, jnp.ceil((t_next - t_prev) / self.dt * (1 - 1e-12)))
                h = (t_next - t_prev) / count
                t = t_prev + c["j"] * h
                hits = c["j"] + 1 >= count
            st = self.step(t, y, h, args)
            finite = jnp.all(jnp.isfinite(st.y1))
            if adaptive:
                err = ctrl.error_norm(st.error, y, st.y1)
                err = jnp.where(st.converged & finite, err, jnp.inf)
                accept = err <= 1
                h_next = jax.lax.stop_gradient(h * ctrl.factor(err, c["prev_err"], q))
                too_small = h_next <= 16 * eps * jnp.maximum(jnp.abs(t), 1.0)
                status = jnp.where(too_small & ~accept, RESULTS.step_size_too_small, c["status"])
                prev_err = jnp.where(accept, jnp.maximum(err, 1e-4), c["prev_err"])
            else:
                accept = st.converged & finite
                h_next = c["h"]
                status = jnp.where(
                    finite,
                    jnp.where(st.converged, c["status"], RESULTS.newton_failed),
                    RESULTS.nonfinite_state,
                )
                prev_err = c["prev_err"]
            save = accept & hits
            i_out = c["i_out"]
            k = c["accepted"]
            new = dict(
                t=jnp.where(accept, jnp.where(hits, t_next, t + h), t),
                j=jnp.where(accept, jnp.where(hits, 0, c["j"] + 1), c["j"]),
                y=jnp.where(accept, st.y1, y),
                h=h_next,
                prev_err=prev_err,
                i_out=i_out + save,
                ys=c["ys"].at[i_out].set(jnp.where(save, st.y1, c["ys"][i_out])),
                steps=c["steps"] + 1,
                accepted=k + accept,
                nfev=c["nfev"] + st.num_fevals,
                status=status.astype(jnp.int32),
                t_grid=c["t_grid"],
                h_grid=c["h_grid"],
                save_idx=c["save_idx"].at[i_out].set(jnp.where(save, k + 1, c["save_idx"][i_out])),
            )
            if record:
                slot = jnp.minimum(k, slots - 1)
                new["t_grid"] = c["t_grid"].at[slot].set(jnp.where(accept, t, c["t_grid"][slot]))
                new["h_grid"] = c["h_grid"].at[slot].set(jnp.where(accept, h, c["h_grid"][slot]))
            return new

        c = jax.lax.while_loop(cond, body, carry)
        unfinished = (c["i_out"] < num_out) & (c["status"] == RESULTS.successful)
        status = jnp.where(unfinished, RESULTS.max_steps_reached, c["status"]).astype(jnp.int32)
        stats = _stats(c["steps"], c["accepted"], c["nfev"])
        grid = (c["t_grid"], c["h_grid"], c["accepted"]) if record else None
        return c["ys"], status, stats, (c["save_idx"], grid)

    def solve(self, y0, args, record: bool = False):
        """Forward solve: `(ys, status, stats, (save_idx, grid))` on the flat state."""
        if self.fixed_grid:
            return self.solve_fixed_grid(y0, args)
        return self.solve_dynamic(y0, args, record)


def _stats(steps, accepted, nfev):
    return dict(
        num_steps=steps,
        num_accepted=accepted,
        num_rejected=steps - accepted,
        num_fevals=nfev,
    )
