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
from jax.custom_derivatives import SymbolicZero
from jax.flatten_util import ravel_pytree

from ._loop import Problem, Trajectory
from ._revolve import repetitions, reverse_sweep
from ._solver import ExplicitRK


class AbstractAdjoint(eqx.Module):
    """A way to differentiate `Problem.solve`. `solve` returns `(ys, status, stats)`.

    The strategies are `Direct`, `Checkpoint`, `Backsolve` and `Forward`; `solve_ode` takes one
    (or its name) as `adjoint=`, and with `"auto"` says which it chose and why.

    **Example:**

    ```python
    import jax.numpy as jnp

    import diffsim

    strategies = [diffsim.Direct(), diffsim.Checkpoint(snapshots=4), diffsim.Forward()]
    assert all(isinstance(s, diffsim.AbstractAdjoint) for s in strategies)

    sol = diffsim.solve_ode(lambda t, y, k: -k * y, jnp.ones(1), jnp.array([0.0, 1.0]), 0.5,
                            dt=0.25, adjoint="auto")  # fmt: skip
    assert sol.adjoint == diffsim.Forward.name  # one input: forward mode
    print(sol.adjoint_reason)
    ```
    """

    name: ClassVar[str]

    @abc.abstractmethod
    def solve(self, problem: Problem, y0, args): ...


_REPLAY_FAILED = (
    "the gradient of solve_ode is not finite although the solve succeeded and the incoming "
    "cotangents are finite: a step replayed in the backward pass failed (e.g. a float32 "
    "GMRES solve of a stiff system). Use float64, linear_solver=DenseLU() or adjoint='forward'."
)


def _all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if eqx.is_inexact_array(x)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def _custom_vjp_solve(problem: Problem, y0, args, backward) -> Trajectory:
    """Wrap the forward solve in a `custom_vjp` whose backward pass is `backward`.

    `backward(problem, y0, args, traj, ys_bar, dense_bar)` returns `(y0_bar, args_bar)`, where
    `traj` is the forward `Trajectory` with its recorded grid. Array leaves of `problem` (output
    times, tolerances) travel as a non-differentiated argument.
    """
    dynamic, static = eqx.partition(problem, eqx.is_array)

    @jax.custom_vjp
    def run(y0, args, dynamic):
        return eqx.combine(dynamic, static).solve(y0, args, record=False)

    def fwd(y0, args, dynamic):
        traj = eqx.combine(dynamic, static).solve(y0, args, record=True)
        return traj._replace(grid=None), (y0, args, dynamic, traj)

    def bwd(res, cts):
        y0, args, dynamic, traj = res
        problem = eqx.combine(dynamic, static)
        dense_bar = None if cts.dense is None else cts.dense[2]
        y0_bar, args_bar = backward(problem, y0, args, traj, cts.ys, dense_bar)
        # A successful solve and finite cotangents in, a non-finite gradient out: a replayed
        # step failed. Refuse it.
        given = (traj.status == 0) & _all_finite((cts.ys, dense_bar))
        y0_bar, args_bar = eqx.error_if(
            (y0_bar, args_bar), given & ~_all_finite((y0_bar, args_bar)), _REPLAY_FAILED
        )
        return y0_bar, args_bar, jax.tree.map(jnp.zeros_like, dynamic)

    run.defvjp(fwd, bwd)
    return run(y0, args, dynamic)


def _replay(problem: Problem, traj: Trajectory):
    """`(step(k, y, args), num_steps)` replaying the forward steps from integers/stored values."""
    if problem.fixed_grid:

        def step(k, y, args):
            t, h = problem.grid_time(k)
            return problem.fresh_step(t, y, h, args)

        return step, traj.stats["num_accepted"]
    t_grid, h_grid, num_steps = traj.grid

    def step(k, y, args):
        return problem.fresh_step(t_grid[k], y, h_grid[k], args)

    return step, num_steps


def _sweep(problem: Problem, y0, args, traj, ys_bar, dense_bar, snapshots):
    step, num = _replay(problem, traj)
    outputs = (traj.out_k, traj.out_theta, ys_bar)
    return reverse_sweep(step, problem.emit, num, outputs, y0, args, snapshots, dense_bar)


class Direct(AbstractAdjoint):
    """Backpropagate through every stored step: fastest, memory linear in the number of steps.

    On a fixed step grid this is JAX's own reverse mode through the `lax.scan` loop. With
    adaptive steps, all accepted states are stored (up to `max_steps`) and each step is reversed
    once.

    **Example:** the derivative of `y(1) = exp(-k)` with respect to `k`, adaptive steps.

    ```python
    import jax
    import jax.numpy as jnp

    import diffsim

    jax.config.update("jax_enable_x64", True)


    def rhs(t, y, k):
        return -k * y


    def final(k, adjoint):
        sol = diffsim.solve_ode(rhs, jnp.array([1.0]), jnp.array([0.0, 1.0]), k, adjoint=adjoint)
        return sol.ys[-1, 0]


    g = jax.grad(final)(0.5, diffsim.Direct())
    assert abs(g + jnp.exp(-0.5)) < 1e-5  # d/dk exp(-k) = -exp(-k)
    ```
    """

    name: ClassVar[str] = "direct"

    def solve(self, problem, y0, args):
        if problem.fixed_grid:
            return problem.solve(y0, args)

        def backward(problem, y0, args, traj, ys_bar, dense_bar):
            return _sweep(problem, y0, args, traj, ys_bar, dense_bar, problem.max_steps + 1)

        return _custom_vjp_solve(problem, y0, args, backward)


class Checkpoint(AbstractAdjoint):
    """Binomial checkpointing (revolve): memory bounded by `snapshots` stored states.

    The forward pass stores no states; the backward pass recomputes them from at most
    `snapshots` checkpoints following Griewank's binomial schedule, so that `N` steps cost at
    most `r` extra forward sweeps with `C(snapshots + r, snapshots) >= N` (`recompute_factor`).
    Give either `snapshots` or a `memory` budget in bytes; by default `sqrt(2N)` snapshots, which
    reverse `N` steps with two repetitions (`N` the number of steps, or `max_steps` for adaptive
    solves).

    **Example:** checkpointed and stored gradients agree to round-off.

    ```python
    import jax
    import jax.numpy as jnp

    import diffsim

    jax.config.update("jax_enable_x64", True)


    def rhs(t, y, k):
        return -k * y


    def final(k, adjoint):
        ts = jnp.array([0.0, 1.0])
        return diffsim.solve_ode(rhs, jnp.array([1.0]), ts, k, dt=1e-3, adjoint=adjoint).ys[-1, 0]


    # 1000 fixed steps reversed from 8 stored states: the same discrete gradient as Direct.
    g = jax.grad(final)(0.5, diffsim.Checkpoint(snapshots=8))
    assert abs(g - jax.grad(final)(0.5, diffsim.Direct())) < 1e-12
    assert diffsim.Checkpoint(snapshots=20).recompute_factor(10_000) == 4
    ```
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
        snaps = self.num_snapshots(problem.step_capacity, y0.size * y0.dtype.itemsize)

        def backward(problem, y0, args, traj, ys_bar, dense_bar):
            return _sweep(problem, y0, args, traj, ys_bar, dense_bar, snaps)

        return _custom_vjp_solve(problem, y0, args, backward)


class Backsolve(AbstractAdjoint):
    """Continuous adjoint: solve the adjoint ODE backwards in time. Approximate.

    Between outputs, `a' = -(∂f/∂y)ᵀ a` and `g' = -(∂f/∂p)ᵀ a` are integrated backwards together
    with the state, with the same solver and tolerances (or step). Memory does not grow with the
    number of steps, but the gradient is that of the continuous problem, accurate to the solver
    tolerance, not the exact derivative of the discrete solution.

    **Example:** the adjoint ODE solved backwards gives the gradient to the solver's tolerance.

    ```python
    import jax
    import jax.numpy as jnp

    import diffsim

    jax.config.update("jax_enable_x64", True)


    def rhs(t, y, k):
        return -k * y


    def final(k):
        ts = jnp.array([0.0, 1.0])
        adjoint = diffsim.Backsolve()
        sol = diffsim.solve_ode(rhs, jnp.array([1.0]), ts, k, rtol=1e-8, adjoint=adjoint)
        return sol.ys[-1, 0]


    # Accurate to the tolerance, not to round-off: the gradient of the continuous problem.
    assert abs(jax.grad(final)(0.5) + jnp.exp(-0.5)) < 1e-6
    ```
    """

    name: ClassVar[str] = "backsolve"

    def solve(self, problem, y0, args):
        if not isinstance(problem.solver, ExplicitRK):
            raise ValueError(
                "adjoint='backsolve' integrates the state backwards in time, which is unstable "
                "for stiff problems, and needs a solver that steps any right-hand side: it "
                f"supports explicit Runge–Kutta solvers, not {type(problem.solver).__name__}. "
                "Use adjoint='checkpoint' (memory O(sqrt(steps))) or 'direct'."
            )
        if problem.event is not None or problem.dense:
            raise ValueError(
                "adjoint='backsolve' does not differentiate events or dense output; use "
                "adjoint='direct', 'checkpoint' or 'forward'."
            )
        return _custom_vjp_solve(problem, y0, args, _backsolve)


_BACKSOLVE_FAILED = (
    "adjoint='backsolve': the adjoint ODE solved backwards in time failed (too many steps or "
    "a non-finite state), so there is no gradient. Use adjoint='checkpoint' or 'direct'."
)


def _backsolve(problem: Problem, y0, args, traj, ys_bar, dense_bar):
    """Integrate `(y, a, g)` backwards over each output interval (in `τ = -t`, forwards)."""
    del dense_bar
    fn = problem.fn
    zero_g = jax.tree.map(jnp.zeros_like, args)
    aug0, unravel = ravel_pytree((y0, y0, zero_g))

    def aug_rhs(tau, z, args):
        y, a, _ = unravel(z)
        f, vjp = jax.vjp(lambda y, p: fn(-tau, y, p), y, args)
        a_y, a_p = vjp(a)
        return ravel_pytree((-f, a_y, a_p))[0].astype(z.dtype)

    # Tolerances: the state's for y and a, the largest for the parameter gradient g.
    atol = jnp.broadcast_to(problem.controller.atol, y0.shape)
    atol = jnp.concatenate([atol, atol, jnp.full(aug0.size - 2 * y0.size, jnp.max(atol))])
    controller = eqx.tree_at(lambda c: c.atol, problem.controller, atol)

    def solve_interval(operands):
        a, g, failed, i = operands
        aug = Problem(
            fn=aug_rhs,
            solver=problem.solver,
            controller=controller,
            ts=jnp.stack([-problem.ts[i + 1], -problem.ts[i]]),
            dt=problem.dt,
            max_steps=problem.max_steps,
            counts=None,
        )
        z0 = ravel_pytree((traj.ys[i + 1], a, g))[0].astype(aug0.dtype)
        out = aug.solve(z0, args)
        _, a, g = unravel(out.ys[-1])
        return a, g, failed | (out.status != 0), i

    def interval(carry, i):
        a, g, failed = carry
        # Outputs after a failure of the forward solve were never reached: no contribution.
        reached = traj.out_k[i + 1] != -2
        a = a + jnp.where(reached, ys_bar[i + 1], 0)
        a, g, failed, _ = jax.lax.cond(reached, solve_interval, lambda o: o, (a, g, failed, i))
        return (a, g, failed), None

    num_intervals = len(problem.ts) - 1
    init = (jnp.zeros_like(y0), zero_g, jnp.asarray(False))
    (a, g, failed), _ = jax.lax.scan(interval, init, jnp.arange(num_intervals), reverse=True)
    # On both cotangents: the one not asked for is discarded, with its check.
    a, g = eqx.error_if((a + ys_bar[0], g), failed, _BACKSOLVE_FAILED)
    return a, g


class Forward(AbstractAdjoint):
    """Forward-mode sensitivities: the Jacobian of the outputs by one JVP sweep per input.

    Cheapest when inputs (states plus parameters) are few and outputs many. Inputs that do
    not depend on what is differentiated (constants in `params` or closed over, a fixed `y0`)
    carry no sweep. Works with
    `jax.jvp`/`jax.jacfwd` and also under `jax.grad`/`jax.vjp`, which contract the sensitivity
    matrix with the output cotangent. Complex inputs count twice (real and imaginary parts).

    **Example:** the sensitivity of a whole trajectory to a parameter, by `jax.jacfwd`.

    ```python
    import jax
    import jax.numpy as jnp

    import diffsim

    jax.config.update("jax_enable_x64", True)


    def rhs(t, y, k):
        return -k * y


    ts = jnp.linspace(0.0, 2.0, 5)


    def trajectory(k):
        return diffsim.solve_ode(rhs, jnp.array([1.0]), ts, k, adjoint=diffsim.Forward()).ys[:, 0]


    sensitivity = jax.jacfwd(trajectory)(0.5)  # d y(t)/dk = -t exp(-k t)
    assert jnp.max(jnp.abs(sensitivity + ts * jnp.exp(-0.5 * ts))) < 1e-5
    ```
    """

    name: ClassVar[str] = "forward"

    def solve(self, problem, y0, args):
        dynamic, static = eqx.partition(problem, eqx.is_array)

        def primal(y0, args, dynamic):
            return eqx.combine(dynamic, static).solve(y0, args)

        @jax.custom_jvp
        def run(y0, args, dynamic):
            return primal(y0, args, dynamic)

        def run_jvp(primals, tangents):
            y0, args, dynamic = primals
            leaves, treedef = jax.tree.flatten((y0, args))
            dots = treedef.flatten_up_to(tangents[:2])
            # Inputs that do not depend on what is differentiated (constants in `args` or
            # closed over, a fixed `y0`) have symbolic-zero tangents: they carry no column.
            moving = [i for i, dot in enumerate(dots) if not isinstance(dot, SymbolicZero)]
            if not moving:
                traj = primal(y0, args, dynamic)
                return traj, jax.tree.map(_zero_tangent, traj)
            z, unravel = ravel_pytree([leaves[i] for i in moving])
            tz, _ = ravel_pytree([dots[i] for i in moving])

            def inputs(z):
                chosen = dict(zip(moving, unravel(z), strict=True))
                return jax.tree.unflatten(treedef, [chosen.get(i, x) for i, x in enumerate(leaves)])

            basis = jnp.eye(z.size, dtype=z.dtype)
            coeffs = tz
            if jnp.iscomplexobj(z):
                basis = jnp.concatenate([basis, 1j * basis])
                coeffs = jnp.concatenate([jnp.real(tz), jnp.imag(tz)])

            def differentiable(z):
                traj = primal(*inputs(z), dynamic)
                return (traj.ys, traj.dense), traj

            def column(v):
                return jax.jvp(differentiable, (z,), (v,), has_aux=True)

            out, cols, traj = jax.vmap(column, out_axes=(None, 0, None))(basis)
            del out

            def contract(col):
                return jnp.tensordot(coeffs.astype(col.dtype), col, axes=1)

            ys_dot, dense_dot = jax.tree.map(contract, cols)
            traj_dot = jax.tree.map(_zero_tangent, traj)
            return traj, traj_dot._replace(ys=ys_dot, dense=dense_dot)

        run.defjvp(run_jvp, symbolic_zeros=True)
        return run(y0, args, dynamic)


def _zero_tangent(x):
    if jnp.issubdtype(x.dtype, jnp.inexact):
        return jnp.zeros_like(x)
    return np.zeros(np.shape(x), jax.dtypes.float0)


ADJOINTS = {cls.name: cls for cls in (Direct, Checkpoint, Backsolve, Forward)}

#: Forward mode is chosen when states plus parameters number at most this many.
FORWARD_MODE_MAX_INPUTS = 100
#: Reverse mode stores all states of an adaptive solve only below this many bytes.
DIRECT_MAX_BYTES = 256 * 2**20


def choose_adjoint(num_states: int, num_params: int, problem: Problem, itemsize: int):
    """The strategy `adjoint="auto"` picks, and why (the seed's rule: few inputs → forward;
    reverse mode stores all steps only when that fits in `DIRECT_MAX_BYTES`).

    **Returns:** `(adjoint, reason)`.
    """
    num_inputs = num_states + num_params
    if num_inputs <= FORWARD_MODE_MAX_INPUTS:
        return Forward(), (
            f"forward mode: {num_inputs} inputs ({num_states} states + {num_params} parameters) "
            f"<= {FORWARD_MODE_MAX_INPUTS}, one JVP sweep per input"
        )
    reason = f"reverse mode: {num_inputs} inputs > {FORWARD_MODE_MAX_INPUTS}"
    stored = (problem.step_capacity + 1) * num_states * itemsize
    kind = "steps" if problem.fixed_grid else "max_steps"
    if stored <= DIRECT_MAX_BYTES:
        return Direct(), reason + f", all steps stored ({stored} bytes for {kind})"
    return Checkpoint(), reason + (
        f", checkpointed (storing all {kind} would take {stored} bytes > {DIRECT_MAX_BYTES})"
    )
