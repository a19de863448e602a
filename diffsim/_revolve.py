"""Binomial checkpointing (Griewank's revolve schedule) for the reverse sweep of a step loop.

The forward pass keeps only the step grid; the backward pass rebuilds states from at most
`snapshots` stored states. With `s` snapshots and `r` repetitions, `C(s + r, s)` steps can be
reversed while advancing each step at most `r` times (Griewank & Walther, ACM TOMS 26 (2000)).
The schedule is computed on the fly from integers, so it also serves adaptive solves whose number
of steps is known only after the forward pass.
"""

import math

import jax
import jax.numpy as jnp


def max_steps_reversible(snapshots: int, repetitions: int) -> int:
    """`C(s + r, s)`: the most steps `s` snapshots reverse with `r` forward repetitions."""
    return math.comb(snapshots + repetitions, snapshots)


def repetitions(num_steps: int, snapshots: int) -> int:
    """Smallest `r` with `C(s + r, s) >= num_steps`: the recompute factor of the schedule."""
    r = 0
    while max_steps_reversible(snapshots, r) < num_steps:
        r += 1
    return r


def _split(n, free):
    """How far to advance before storing the next snapshot, for `n` steps and `free` slots.

    With `r` the fewest repetitions for which `free` more snapshots reverse `n` steps, advancing
    `min(C(free + r, free + 1), n - 1)` leaves both parts reversible with `r` repetitions.
    Computed in floating point (exact for the sizes used; any value in [1, n-1] is correct).
    """
    n_f = n.astype(jnp.float32)
    c = free.astype(jnp.float32)

    def cond(state):
        return state[2] < n_f

    def body(state):
        r, _, cur = state
        r = r + 1
        return r, cur, cur * (c + 1 + r) / r

    # cur = C(c + r + 1, c + 1) = steps reversible with c free slots, r repetitions.
    _, prev, _ = jax.lax.while_loop(cond, body, (jnp.float32(0), jnp.float32(0), jnp.float32(1)))
    m = jnp.where(free > 0, jnp.minimum(prev, n_f - 1).astype(jnp.int32), n - 1)
    return jnp.clip(m, 1, jnp.maximum(n - 1, 1))


def reverse_sweep(step, emit, num_steps, outputs, y0, args, snapshots: int, dense_bar=None):
    """Cotangents of `(y0, args)` for the outputs of a step loop.

    **Arguments:**
    - `step(k, y, args)`: step `k` of the forward loop, replayed exactly; returns an object with
      `y1` (`y_{k+1}`) and `dense` (the step's dense-output data).
    - `emit(y1, dense, theta)`: the output at position `theta` inside a step (linear in
      `y1, dense`).
    - `num_steps`: the number of steps taken (may be traced).
    - `outputs`: `(out_k, out_theta, ys_bar)`: for each output the step that holds it (-1: the
      initial state, -2: not reached, no contribution), its position there, and its cotangent
      (shape `(T, d)`); in any order.
    - `snapshots`: number of stored states (the initial state included); memory is
      `snapshots * d`.
    - `dense_bar`: optional cotangents of every step's `dense` (leading axis: the step).

    **Returns:** `(y0_bar, args_bar)`.
    """
    out_k, out_theta, ys_bar = outputs
    order = jnp.argsort(out_k, stable=True)
    out_k, out_theta, ys_bar = out_k[order], out_theta[order], ys_bar[order]
    snap_y = jnp.zeros((snapshots,) + y0.shape, y0.dtype).at[0].set(y0)
    snap_k = jnp.zeros(snapshots, jnp.int32)
    args_bar = jax.tree.map(jnp.zeros_like, args)
    ptr0 = jnp.asarray(out_k.shape[0] - 1, jnp.int32)

    def advance(y, k0, count):
        def body(i, y):
            return step(k0 + i, y, args).y1

        return jax.lax.fori_loop(0, count, body, y)

    def output_cotangents(k, y1, dense, ptr, y1_bar, d_bar):
        """Add the cotangents of the outputs inside step k (pointer walks down the sorted list)."""

        def more(o):
            return (o[0] >= 0) & (out_k[jnp.maximum(o[0], 0)] == k)

        def add(o):
            p, y1_bar, d_bar = o
            _, vjp = jax.vjp(lambda y1, d: emit(y1, d, out_theta[p]), y1, dense)
            a, b = vjp(ys_bar[p])
            return p - 1, y1_bar + a, jax.tree.map(jnp.add, d_bar, b)

        return jax.lax.while_loop(more, add, (ptr, y1_bar, d_bar))

    def cond(c):
        return c["fine"] > 0

    def body(c):
        top = c["top"]
        start = c["snap_k"][top]
        n = c["fine"] - start
        free = snapshots - 1 - top
        m = jnp.where(n == 1, 0, _split(n, free))
        y = advance(c["snap_y"][top], start, m)

        # Only small operands pass through the cond: the snapshot buffer is updated in place
        # outside it (a cond carrying the buffer would copy it every iteration).
        do_reverse = n - m == 1
        slot = jnp.minimum(top + 1, snapshots - 1)
        snap_y = c["snap_y"].at[slot].set(jnp.where(do_reverse, c["snap_y"][slot], y))
        snap_k = c["snap_k"].at[slot].set(jnp.where(do_reverse, c["snap_k"][slot], start + m))

        def reverse(operands):
            lam, ptr, args_bar = operands
            k = c["fine"] - 1
            (y1, dense), vjp = jax.vjp(
                lambda y, a: (lambda st: (st.y1, st.dense))(step(k, y, a)), y, args
            )
            d_bar = jax.tree.map(jnp.zeros_like, dense)
            if dense_bar is not None:
                d_bar = jax.tree.map(lambda x: x[k], dense_bar)
            ptr, y1_bar, d_bar = output_cotangents(k, y1, dense, ptr, lam, d_bar)
            y_bar, a_bar = vjp((y1_bar, d_bar))
            return y_bar, ptr, jax.tree.map(jnp.add, args_bar, a_bar)

        lam, ptr, args_bar = jax.lax.cond(
            do_reverse, reverse, lambda operands: operands, (c["lam"], c["ptr"], c["args_bar"])
        )
        pop = do_reverse & (start == c["fine"] - 1)
        return dict(
            fine=c["fine"] - do_reverse.astype(jnp.int32),
            top=jnp.where(do_reverse, top - pop.astype(jnp.int32), top + 1),
            snap_y=snap_y,
            snap_k=snap_k,
            lam=lam,
            ptr=ptr,
            args_bar=args_bar,
        )

    init = dict(
        fine=jnp.asarray(num_steps, jnp.int32),
        top=jnp.asarray(0, jnp.int32),
        snap_y=snap_y,
        snap_k=snap_k,
        lam=jnp.zeros_like(y0),
        ptr=ptr0,
        args_bar=args_bar,
    )
    out = jax.lax.while_loop(cond, body, init)

    # Outputs at the initial state itself.
    def more(p):
        return (p[0] >= 0) & (out_k[jnp.maximum(p[0], 0)] == -1)

    def add(p):
        return p[0] - 1, p[1] + ys_bar[p[0]]

    _, lam = jax.lax.while_loop(more, add, (out["ptr"], out["lam"]))
    return lam, out["args_bar"]
