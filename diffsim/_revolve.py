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


def reverse_sweep(step, num_steps, save_idx, ys_bar, y0, args, snapshots: int):
    """Cotangents of `(y0, args)` for the outputs `ys[i] = y_{save_idx[i]}` of a step loop.

    **Arguments:**
    - `step(k, y, args)`: step `k` of the forward loop (`y_k -> y_{k+1}`), replayed exactly.
    - `num_steps`: the number of steps taken (may be traced).
    - `save_idx`: int array, the state index of each output (strictly increasing).
    - `ys_bar`: cotangents of the outputs, shape `(T, d)`.
    - `snapshots`: number of stored states (the initial state included); memory is
      `snapshots * d`.

    **Returns:** `(y0_bar, args_bar)`.
    """
    snap_y = jnp.zeros((snapshots,) + y0.shape, y0.dtype).at[0].set(y0)
    snap_k = jnp.zeros(snapshots, jnp.int32)
    args_bar = jax.tree.map(jnp.zeros_like, args)
    num_out = save_idx.shape[0]

    def inject(lam, ptr, k):
        """Add the cotangent of the output that sits at state index k (if any)."""
        hit = (ptr >= 0) & (save_idx[jnp.maximum(ptr, 0)] == k)
        lam = lam + jnp.where(hit, ys_bar[jnp.maximum(ptr, 0)], 0)
        return lam, ptr - hit

    lam, ptr = inject(jnp.zeros_like(y0), jnp.asarray(num_out - 1, jnp.int32), num_steps)

    def advance(y, k0, count):
        def body(i, y):
            return step(k0 + i, y, args)

        return jax.lax.fori_loop(0, count, body, y)

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
            _, vjp = jax.vjp(lambda y, a: step(k, y, a), y, args)
            y_bar, a_bar = vjp(lam)
            lam, ptr = inject(y_bar, ptr, k)
            return lam, ptr, jax.tree.map(jnp.add, args_bar, a_bar)

        lam, ptr, args_bar = jax.lax.cond(
            do_reverse, reverse, lambda operands: operands, (c["lam"], c["ptr"], c["args_bar"])
        )
        pop = do_reverse & (start == c["fine"] - 1)
        return dict(
            fine=c["fine"] - do_reverse,
            top=jnp.where(do_reverse, top - pop, top + 1),
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
        lam=lam,
        ptr=ptr,
        args_bar=args_bar,
    )
    out = jax.lax.while_loop(cond, body, init)
    return out["lam"], out["args_bar"]
