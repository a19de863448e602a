"""`solve_ode`: the one entry point of the time-stepping core."""

import math
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._adjoint import ADJOINTS, AbstractAdjoint, choose_adjoint
from ._controller import PIController
from ._loop import Problem
from ._rhs import flatten_rhs
from ._solution import MESSAGES, Solution
from ._solver import AbstractSolver, get_solver


def _concrete(x):
    """`x` as a NumPy array when known at trace time, else None."""
    try:
        return np.asarray(x)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def _grid_counts(ts: np.ndarray, dt: float) -> tuple[int, ...]:
    """Steps per output interval for a fixed `dt` (the last step of an interval is shortened
    evenly: each interval is split into equal steps no longer than `dt`)."""
    widths = np.diff(ts.astype(np.float64))
    return tuple(int(max(1, math.ceil(w / dt * (1 - 1e-12)))) for w in widths)


def _check_options(rtol, atol, dt, max_steps):
    for name, value in (("rtol", rtol), ("atol", atol)):
        if not (isinstance(value, (int, float)) and value >= 0 and math.isfinite(value)):
            raise ValueError(f"`{name}` must be a finite number >= 0, got {value!r}")
    if dt is not None and not (isinstance(dt, (int, float)) and dt > 0 and math.isfinite(dt)):
        raise ValueError(f"`dt` must be a positive number or None, got {dt!r}")
    if not (isinstance(max_steps, int) and max_steps >= 1):
        raise ValueError(f"`max_steps` must be a positive integer, got {max_steps!r}")


def _as_state(y0):
    leaves = jax.tree.leaves(y0)
    if not leaves:
        raise ValueError("`y0` must contain at least one array")
    leaves = [jnp.asarray(x) for x in leaves]
    if not all(jnp.issubdtype(x.dtype, jnp.inexact) for x in leaves):
        raise TypeError("`y0` must be floating point (got integer or boolean arrays)")
    return jax.tree.unflatten(jax.tree.structure(y0), leaves)


def _check_rhs(rhs, t0, y0, params):
    out = jax.eval_shape(rhs, t0, y0, params)
    shapes = [x.shape for x in jax.tree.leaves(y0)]
    if jax.tree.structure(out) != jax.tree.structure(y0) or shapes != [
        x.shape for x in jax.tree.leaves(out)
    ]:
        raise ValueError(
            "`rhs(t, y, params)` must return dy/dt with the structure and shapes of y "
            f"{jax.tree.map(lambda x: x.shape, y0)}, got {jax.tree.map(lambda x: x.shape, out)}"
        )


def solve_ode(
    rhs,
    y0,
    ts,
    params=None,
    *,
    solver: "str | AbstractSolver" = "tsit5",
    rtol: float = 1e-6,
    atol: float = 1e-9,
    dt: float | None = None,
    max_steps: int = 4096,
    adjoint: "str | AbstractAdjoint" = "auto",
    throw: bool = True,
) -> Solution:
    """Solve `dy/dt = rhs(t, y, params)` and return the state at every output time.

    Differentiable with `jax.grad`/`jax.jacfwd`/`jax.jacrev` with respect to `y0` and `params`
    (and any arrays `rhs` closes over), and usable under `jax.jit` and `jax.vmap`.

    **Arguments:**
    - `rhs`: `rhs(t, y, params) -> dy/dt`, a pytree like `y`.
    - `y0`: the initial state at `ts[0]`: an array of any shape, or a pytree of arrays. Its
      floating dtype (float32 or float64) is the dtype of the solve.
    - `ts`: strictly increasing output times; `ts[0]` is the initial time. Not differentiated.
    - `params`: any pytree passed to `rhs`.
    - `solver`: a name (`euler`, `heun`, `rk4`, `bosh3`, `dopri5`, `tsit5`, `kvaerno5` or its
      alias `stiff`) or an `AbstractSolver`.
    - `rtol`, `atol`: tolerances of adaptive steps (and of Newton iterations of implicit stages).
    - `dt`: a fixed step. Each output interval is split into equal steps no longer than `dt`, so
      outputs fall on the grid exactly. `None` (default): adaptive steps with a PI controller.
    - `max_steps`: most steps attempted (adaptive) before failing with `max_steps_reached`.
    - `adjoint`: gradient strategy: `"direct"`, `"checkpoint"`, `"backsolve"`, `"forward"`,
      `"auto"` (forward mode for at most 100 inputs, reverse mode above; see `sol.adjoint`), or
      an object such as `Checkpoint(snapshots=32)`.
    - `throw`: raise on failure (also inside `jit`); with `False`, read `sol.status`.

    **Returns:** a `Solution` with `ts`, `ys`, `status`, `stats`, `adjoint`, `adjoint_reason`.
    """
    _check_options(rtol, atol, dt, max_steps)
    method = get_solver(solver)
    if dt is None and not method.adaptive:
        raise ValueError(
            f"solver {solver!r} has no embedded error estimate: give a fixed step `dt`"
        )
    y0 = _as_state(y0)
    dtype = jnp.result_type(*jax.tree.leaves(y0))

    ts_np = _concrete(ts)  # before any jnp operation, which would be traced under jit
    ts = jnp.asarray(ts)
    if ts.ndim != 1 or ts.shape[0] < 1:
        raise ValueError(f"`ts` must be a 1-D array of output times, got shape {ts.shape}")
    if ts_np is not None and not np.all(np.isfinite(ts_np)):
        raise ValueError("`ts` must be finite")
    if ts_np is not None and np.any(np.diff(ts_np) <= 0):
        raise ValueError(f"`ts` must be strictly increasing, got {ts_np}")
    ts = jax.lax.stop_gradient(ts.astype(jnp.finfo(dtype).dtype))  # real even for complex y

    _check_rhs(rhs, ts[0], y0, params)
    fn, dynamic, y0_flat = flatten_rhs(rhs, ts[0], y0, params)

    counts = None if dt is None or ts_np is None else _grid_counts(ts_np, dt)
    if dt is not None and ts_np is None:
        warnings.warn(
            "solve_ode: `ts` is traced (built inside jit/grad?), so the fixed-step solve runs "
            "the run-time loop: slower, and reverse-mode only through the checkpointing engine. "
            "Pass `ts` as a NumPy array (or close over it) for the scan over a fixed grid.",
            stacklevel=2,
        )
    problem = Problem(
        fn=fn,
        solver=method,
        controller=PIController(rtol=rtol, atol=atol),
        ts=ts,
        dt=dt,
        max_steps=max_steps,
        counts=counts,
    )

    if isinstance(adjoint, AbstractAdjoint):
        strategy, reason = adjoint, "given by the caller"
    elif adjoint == "auto":
        num_params = sum(x.size for x in jax.tree.leaves(dynamic))
        strategy, reason = choose_adjoint(y0_flat.size, num_params, problem, dtype.itemsize)
    elif adjoint in ADJOINTS:
        strategy, reason = ADJOINTS[adjoint](), "given by the caller"
    else:
        raise ValueError(f"unknown adjoint {adjoint!r}; choose one of auto, {', '.join(ADJOINTS)}")

    ys, status, stats = strategy.solve(problem, y0_flat, dynamic)
    status, stats = jax.lax.stop_gradient((status, stats))
    if throw:
        ys = eqx.branched_error_if(ys, status != 0, status, MESSAGES)
    return Solution(
        ts=ts,
        ys=jax.vmap(fn.state)(ys),
        status=status,
        stats=stats,
        adjoint=strategy.name,
        adjoint_reason=reason,
    )
