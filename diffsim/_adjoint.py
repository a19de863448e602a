"""Gradient strategies: how derivatives of a solve are computed (`solve_ode(..., adjoint=)`).

All strategies but `Backsolve` give derivatives of the *discrete* solution on the step grid the
forward pass chose (the grid itself is held fixed: step sizes carry no derivative). They agree
with each other to round-off; they differ in time and memory.
"""

import abc
import math
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ._loop import Problem
from ._revolve import repetitions, reverse_sweep


class AbstractAdjoint(eqx.Module):
    """A way to differentiate `Problem.solve`. `solve` returns `(ys, status, stats)`."""

    name: ClassVar[str]

    @abc.abstractmethod
    def solve(self, problem: Problem, y0, args): ...


def _int_zeros(tree):
    """Tangents/cotangents of integer outputs."""
    return jax.tree.map(lambda x: np.zeros(np.shape(x), jax.dtypes.float0), tree)


def _custom_vjp_solve(problem: Problem, y0, args, backward):
    """Wrap the forward solve in a `custom_vjp` whose backward pass is `backward`.

    `backward(problem, y0, args, ys, save_idx, grid, ys_bar)` returns `(y0_bar, args_bar)`.
    Array leaves of `problem` (the output times) travel as a non-differentiated argument.
    """
    dynamic, static = eqx.partition(problem, eqx.is_array)

    @jax.custom_vjp
    def run(y0, args, dynamic):
        ys, status, stats, _ = eqx.combine(dynamic, static).solve(y0, args, record=False)
        return ys, status, stats

    def fwd(y0, args, dynamic):
        ys, status, stats, (save_idx, grid) = eqx.combine(dynamic, static).solve(
            y0, args, record=True
        )
        return (ys, status, stats), (y0, args, dynamic, ys, save_idx, grid)

    def bwd(res, cts):
        y0, args, dynamic, ys, save_idx, grid = res
        problem = eqx.combine(dynamic, static)
        y0_bar, args_bar = backward(problem, y0, args, ys, save_idx, grid, cts[0])
        return y0_bar, args_bar, jax.tree.map(jnp.zeros_like, dynamic)

    run.defvjp(fwd, bwd)
    return run(y0, args, dynamic)


def _replay(problem: Problem, grid):
    """`(step(k, y, args), num_steps)` replaying the forward steps from integers/stored values."""
    if problem.fixed_grid:
        n = problem.substeps

        def step(k, y, args):
            return problem.grid_step(k // n, k % n, y, args).y1

        return step, (len(problem.ts) - 1) * n
    t_grid, h_grid, num_steps = grid

    def step(k, y, args):
        return problem.step(t_grid[k], y, h_grid[k], args).y1

    return step, num_steps


def _max_steps(problem: Problem) -> int:
    if problem.fixed_grid:
        return (len(problem.ts) - 1) * problem.substeps
    return problem.max_steps


class Direct(AbstractAdjoint):
    """Backpropagate through every stored step: fastest, memory linear in the number of steps.

    On a fixed step grid this is JAX's own reverse mode through the `lax.scan` loop. With
    adaptive steps, all accepted states are stored (up to `max_steps`) and each step is reversed
    once.
    """

    name: ClassVar[str] = "direct"

    def solve(self, problem, y0, args):
        if problem.fixed_grid:
            ys, status, stats, _ = problem.solve(y0, args)
            return ys, status, stats

        def backward(problem, y0, args, ys, save_idx, grid, ys_bar):
            step, num = _replay(problem, grid)
            return reverse_sweep(step, num, save_idx, ys_bar, y0, args, problem.max_steps + 1)

        return _custom_vjp_solve(problem, y0, args, backward)


class Checkpoint(AbstractAdjoint):
    """Binomial checkpointing (revolve): memory bounded by `snapshots` stored states.

    The forward pass stores no states; the backward pass recomputes them from at most
    `snapshots` checkpoints following Griewank's binomial schedule, so that `N` steps cost at
    most `r` extra forward sweeps with `C(snapshots + r, snapshots) >= N` (`recompute_factor`).
    Give either `snapshots` or a `memory` budget in bytes; by default `sqrt(2N)` snapshots, which
    reverse `N` steps with two repetitions (`N` the number of steps, or `max_steps` for adaptive
    solves).
    """

    name: ClassVar[str] = "checkpoint"
    snapshots: int | None = eqx.field(static=True, default=None)
    memory: int | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        if self.snapshots is not None and self.snapshots < 1:
            raise ValueError("Checkpoint: `snapshots` must be at least 1.")
        if self.memory is not None and self.memory <= 0:
            raise ValueError("Checkpoint: `memory` must be a positive number of bytes.")

    def num_snapshots(self, num_steps: int, state_bytes: int) -> int:
        if self.snapshots is not None:
            return self.snapshots
        if self.memory is not None:
            return max(1, int(self.memory // state_bytes))
        return max(2, math.isqrt(2 * num_steps) + 1)

    def recompute_factor(self, num_steps: int, state_bytes: int = 1) -> int:
        """Upper bound on forward recomputations per step for `num_steps` steps."""
        return repetitions(num_steps, self.num_snapshots(num_steps, state_bytes))

    def solve(self, problem, y0, args):
        snaps = self.num_snapshots(_max_steps(problem), y0.size * y0.dtype.itemsize)

        def backward(problem, y0, args, ys, save_idx, grid, ys_bar):
            step, num = _replay(problem, grid)
            return reverse_sweep(step, num, save_idx, ys_bar, y0, args, snaps)

        return _custom_vjp_solve(problem, y0, args, backward)


class Backsolve(AbstractAdjoint):
    """Continuous adjoint: solve the adjoint ODE backwards in time. Approximate.

    Between outputs, `a' = -(∂f/∂y)ᵀ a` and `g' = -(∂f/∂p)ᵀ a` are integrated backwards together
    with the state, with the same solver and tolerances (or step). Memory does not grow with the
    number of steps, but the gradient is that of the continuous problem, accurate to the solver
    tolerance, not the exact derivative of the discrete solution.
    """

    name: ClassVar[str] = "backsolve"

    def solve(self, problem, y0, args):
        return _custom_vjp_solve(problem, y0, args, _backsolve)


def _backsolve(problem: Problem, y0, args, ys, save_idx, grid, ys_bar):
    del save_idx, grid
    d = y0.size
    g0, unravel_args = ravel_pytree(args)
    fn = problem.fn

    def aug_rhs(tau, z, args):
        y, a = z[:d], z[d : 2 * d]
        f, vjp = jax.vjp(lambda y, p: fn(-tau, y, p), y, args)
        a_y, a_p = vjp(a)
        return jnp.concatenate([-f, a_y, ravel_pytree(a_p)[0]])

    def interval(carry, i):
        a, g = carry
        a = a + ys_bar[i + 1]
        ts_aug = jnp.stack([-problem.ts[i + 1], -problem.ts[i]])
        aug = Problem(
            fn=aug_rhs,
            solver=problem.solver,
            controller=problem.controller,
            ts=ts_aug,
            dt=problem.dt,
            max_steps=problem.max_steps,
            counts=None if problem.counts is None else (problem.substeps,),
        )
        z0 = jnp.concatenate([ys[i + 1], a, g])
        zs, _, _, _ = aug.solve(z0, args)
        z1 = zs[-1]
        return (z1[d : 2 * d], z1[2 * d :]), None

    num_intervals = len(problem.ts) - 1
    init = (jnp.zeros_like(y0), jnp.zeros_like(g0))
    (a, g), _ = jax.lax.scan(interval, init, jnp.arange(num_intervals), reverse=True)
    return a + ys_bar[0], unravel_args(g)


class Forward(AbstractAdjoint):
    """Forward-mode sensitivities: the Jacobian of the outputs by one JVP sweep per input.

    Cheapest when inputs (states plus parameters) are few and outputs many. Works with
    `jax.jvp`/`jax.jacfwd` and also under `jax.grad`/`jax.vjp`, which contract the sensitivity
    matrix with the output cotangent.
    """

    name: ClassVar[str] = "forward"

    def solve(self, problem, y0, args):
        dynamic, static = eqx.partition(problem, eqx.is_array)

        def primal(y0, args, dynamic):
            ys, status, stats, _ = eqx.combine(dynamic, static).solve(y0, args)
            return ys, status, stats

        @jax.custom_jvp
        def run(y0, args, dynamic):
            return primal(y0, args, dynamic)

        @run.defjvp
        def run_jvp(primals, tangents):
            y0, args, dynamic = primals
            z, unravel = ravel_pytree((y0, args))

            def flat(z):
                out = primal(*unravel(z), dynamic)
                return out[0], out

            jac, out = jax.jacfwd(flat, has_aux=True)(z)
            tz, _ = ravel_pytree(tangents[:2])
            ys_dot = (jac.reshape(-1, z.size) @ tz).reshape(out[0].shape)
            return out, (ys_dot, *_int_zeros(out[1:]))

        return run(y0, args, dynamic)


ADJOINTS = {cls.name: cls for cls in (Direct, Checkpoint, Backsolve, Forward)}

#: Forward mode is chosen when states plus parameters number at most this many.
FORWARD_MODE_MAX_INPUTS = 100
#: Reverse mode stores all states of an adaptive solve only below this many bytes.
DIRECT_MAX_BYTES = 256 * 2**20


def choose_adjoint(num_states: int, num_params: int, problem: Problem, itemsize: int):
    """The strategy `adjoint="auto"` picks, and why (the seed's rule: few inputs → forward).

    **Returns:** `(adjoint, reason)`.
    """
    num_inputs = num_states + num_params
    if num_inputs <= FORWARD_MODE_MAX_INPUTS:
        return Forward(), (
            f"forward mode: {num_inputs} inputs ({num_states} states + {num_params} parameters) "
            f"<= {FORWARD_MODE_MAX_INPUTS}, one JVP sweep per input"
        )
    reason = f"reverse mode: {num_inputs} inputs > {FORWARD_MODE_MAX_INPUTS}"
    stored = (problem.max_steps + 1) * num_states * itemsize
    if problem.fixed_grid or stored <= DIRECT_MAX_BYTES:
        return Direct(), reason + ", all steps stored"
    return Checkpoint(), reason + f", checkpointed (storing all steps would take {stored} bytes)"
