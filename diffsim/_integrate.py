"""`solve_ode`: the one entry point of the time-stepping core."""

import math
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._adjoint import ADJOINTS, AbstractAdjoint, choose_adjoint
from ._controller import PIController
from ._dense import DenseInterpolation, SaveAt
from ._events import Event, event_outputs
from ._loop import MAX_STEPS, Problem, steps_in
from ._rhs import flatten_rhs
from ._solution import MESSAGES, SUCCESSES, Solution
from ._solver import AbstractSolver, get_solver


def _concrete(x):
    """`x` as a NumPy array when known at trace time, else None."""
    try:
        return np.asarray(x)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def _check_number(name, value, positive=False):
    """Checks a tolerance or step that is known at trace time (traced ones pass)."""
    concrete = _concrete(value) if value is not None else None
    if concrete is None:
        return
    ok = concrete.dtype.kind in "fiu" and np.all(np.isfinite(concrete))
    ok = ok and (np.all(concrete > 0) if positive else np.all(concrete >= 0))
    if not ok:
        kind = "a positive number" if positive else "a finite number >= 0"
        raise ValueError(f"`{name}` must be {kind}, got {value!r}")


def _check_options(rtol, atol, dt, max_steps, controller):
    if controller is not None and (rtol is not None or atol is not None):
        raise ValueError("give tolerances either as `rtol`/`atol` or in `controller`, not both")
    for name, value in (("rtol", rtol), ("atol", atol)):
        if value is not None and not isinstance(value, (int, float)):
            value = jax.tree.leaves(value)
            value = value[0] if len(value) == 1 else None
        _check_number(name, value)
    if dt is not None and not (isinstance(dt, (int, float)) and dt > 0 and math.isfinite(dt)):
        raise ValueError(f"`dt` must be a positive number or None, got {dt!r}")
    if not (isinstance(max_steps, int) and 1 <= max_steps <= MAX_STEPS):
        raise ValueError(
            f"`max_steps` must be a positive integer up to {MAX_STEPS} (int32), got {max_steps!r}"
        )


def fixed_step_counts(widths, dt: float, *, where: str, hint: str = "use a larger step"):
    """The steps of a fixed-step solve in each output interval of `widths` (as `solve_ode`
    takes them), refused before any work when their total passes `MAX_STEPS`.

    **Raises:** `ValueError` naming `where`, the step, the time span and the count.
    """
    widths = np.asarray(widths)
    with np.errstate(over="ignore"):
        steps = steps_in(widths, dt, xp=np)
    total = np.sum(steps, dtype=float)
    if not total <= MAX_STEPS:
        raise ValueError(
            f"{where}: a step of {dt:.3g} over the time span {np.sum(widths):.3g} takes "
            f"{total:.3g} steps, more than the {MAX_STEPS} a solve can count (int32); {hint}"
        )
    return steps


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


def _direction(ts_np) -> int:
    """+1 for increasing output times, -1 for decreasing (a solve backwards in time)."""
    if ts_np is None or len(ts_np) < 2:
        return 1
    steps = np.diff(ts_np)
    if np.all(steps > 0):
        return 1
    if np.all(steps < 0):
        return -1
    raise ValueError(f"`ts` must be strictly increasing or strictly decreasing, got {ts_np}")


def solve_ode(
    rhs,
    y0,
    ts,
    params=None,
    *,
    solver: "str | AbstractSolver" = "tsit5",
    rtol=None,
    atol=None,
    dt: float | None = None,
    max_steps: int = 4096,
    adjoint: "str | AbstractAdjoint" = "auto",
    throw: bool = True,
    controller: PIController | None = None,
    saveat: SaveAt | None = None,
    event: Event | None = None,
    progress: bool = False,
) -> Solution:
    """Solve `dy/dt = rhs(t, y, params)` and return the state at every output time.

    Differentiable with respect to `y0` and `params` (and any arrays `rhs` closes over), and
    usable under `jax.jit` and `jax.vmap`; which of `jax.grad`/`jax.jacfwd` works depends on
    `adjoint` (docs/ode.md). Compiled on the first call (`equinox.filter_jit`): a second call
    with the same shapes, `rhs` and options, in or out of `jit`, does not retrace.

    **Arguments:**
    - `rhs`: `rhs(t, y, params) -> dy/dt`, a pytree like `y`.
    - `y0`: the initial state at `ts[0]`: an array of any shape, or a pytree of arrays. Its
      floating dtype (float32 or float64) is the dtype of the solve.
    - `ts`: strictly monotonic output times; `ts[0]` is the initial time. Decreasing times
      integrate backwards in time. Not differentiated.
    - `params`: any pytree passed to `rhs`.
    - `solver`: a name (`euler`, `heun`, `rk4`, `bosh3`, `dopri5`, `tsit5`, `kvaerno5` or its
      alias `stiff`) or an `AbstractSolver`.
    - `rtol`, `atol`: tolerances of adaptive steps (default 1e-6, 1e-9; traced arrays allowed;
      `atol` may be per component). Or give a `controller`.
    - `dt`: a fixed step. Each output interval is split into equal steps no longer than `dt`, so
      outputs fall on the grid exactly. `None` (default): adaptive steps.
    - `max_steps`: most steps attempted (adaptive) before failing with `max_steps_reached`.
    - `adjoint`: gradient strategy: `"direct"`, `"checkpoint"`, `"backsolve"`, `"forward"`,
      `"auto"` (forward mode for at most 100 inputs, reverse mode above; see `sol.adjoint`), or
      an object such as `Checkpoint(snapshots=32)`.
    - `throw`: raise on failure (also inside `jit`); with `False`, read `sol.status`.
    - `controller`: a `PIController` (tolerances, gains, `dtmin`/`dtmax`).
    - `saveat`: `SaveAt(dense=True)` keeps the dense output for `sol.evaluate(t)`.
    - `event`: an `Event`: stop at (or record) the roots of a condition `g(t, y, params)`.
    - `progress`: print the fraction of the time span done while solving (a host callback;
      nothing is traced when False).

    **Returns:** a `Solution`.

    **Example:** logistic growth against its closed form (for gradients see `Direct`,
    `Checkpoint`, `Backsolve` and `Forward`).

    ```python
    import jax
    import jax.numpy as jnp

    import diffsim

    jax.config.update("jax_enable_x64", True)


    def logistic(t, y, p):
        return p["r"] * y * (1 - y / p["K"])


    ts = jnp.linspace(0.0, 5.0, 6)
    params = {"r": 1.0, "K": 1.0}
    sol = diffsim.solve_ode(logistic, jnp.array([0.1]), ts, params, rtol=1e-9, atol=1e-12)
    exact = 1 / (1 + 9 * jnp.exp(-ts))  # y0 = 0.1, r = K = 1
    assert sol.succeeded and jnp.max(jnp.abs(sol.ys[:, 0] - exact)) < 1e-7
    ```
    """
    _check_options(rtol, atol, dt, max_steps, controller)
    method = get_solver(solver)
    if dt is None and not method.adaptive:
        raise ValueError(
            f"solver {solver!r} has no embedded error estimate: give a fixed step `dt`"
        )
    if controller is None:
        controller = PIController(
            rtol=1e-6 if rtol is None else rtol, atol=1e-9 if atol is None else atol
        )
    saveat = SaveAt() if saveat is None else saveat
    y0 = _as_state(y0)
    real = jnp.real(jax.tree.leaves(y0)[0]).dtype

    ts_np = _concrete(ts)  # before any jnp operation, which would be traced under jit
    ts = jnp.asarray(ts)
    if ts.ndim != 1 or ts.shape[0] < 1:
        raise ValueError(f"`ts` must be a 1-D array of output times, got shape {ts.shape}")
    if ts_np is not None and not np.all(np.isfinite(ts_np)):
        raise ValueError("`ts` must be finite")
    sign = _direction(ts_np)
    if sign == -1 and not method.steps_any_rhs:
        raise ValueError(f"solver {type(method).__name__} cannot integrate backwards in time")

    counts = None
    if dt is not None and ts_np is not None and event is None and len(ts_np) > 1:
        widths = np.abs(np.diff(ts_np.astype(real)))
        counts = tuple(int(c) for c in fixed_step_counts(widths, dt, where="`dt`"))
    if dt is not None and ts_np is None:
        warnings.warn(
            "solve_ode: `ts` is traced (built inside jit/grad?), so the fixed-step solve runs "
            "the run-time loop: slower, and reverse-mode only through the checkpointing engine. "
            "Pass `ts` as a NumPy array (or close over it) for the scan over a fixed grid.",
            stacklevel=2,
        )
    options = _Options(
        dt=dt,
        max_steps=max_steps,
        counts=counts,
        sign=sign,
        throw=throw,
        dense=saveat.dense,
        progress=progress,
    )
    try:
        return _solve(rhs, y0, ts.astype(real), params, method, controller, adjoint, event, options)
    except TypeError as error:
        if "custom_vjp" not in str(error):
            raise
        name = adjoint.name if isinstance(adjoint, AbstractAdjoint) else adjoint
        chose = " chose" if name == "auto" else " is"
        raise TypeError(
            f"adjoint={name!r}{chose} a reverse-mode strategy: it supports jax.grad/jax.vjp/"
            "jax.jacrev, not forward mode (jax.jvp/jax.jacfwd/jax.hessian). Use "
            "adjoint='forward' for forward mode."
        ) from None


class _Options(eqx.Module):
    """The static (trace-time) options of one solve."""

    dt: float | None = eqx.field(static=True)
    max_steps: int = eqx.field(static=True)
    counts: tuple[int, ...] | None = eqx.field(static=True)
    sign: int = eqx.field(static=True)
    throw: bool = eqx.field(static=True)
    dense: bool = eqx.field(static=True)
    progress: bool = eqx.field(static=True)


def _strategy(adjoint, y0_flat, dynamic, problem):
    if isinstance(adjoint, AbstractAdjoint):
        return adjoint, "given by the caller"
    if adjoint == "auto":
        num_params = sum(x.size for x in jax.tree.leaves(dynamic))
        return choose_adjoint(y0_flat.size, num_params, problem, y0_flat.dtype.itemsize)
    if adjoint in ADJOINTS:
        return ADJOINTS[adjoint](), "given by the caller"
    raise ValueError(f"unknown adjoint {adjoint!r}; choose one of auto, {', '.join(ADJOINTS)}")


@eqx.filter_jit
def _solve(rhs, y0, ts, params, method, controller, adjoint, event, options):
    sign = options.sign
    tau = jax.lax.stop_gradient(sign * ts)  # solver time: increasing
    _check_rhs(rhs, ts[0], y0, params)
    fn, dynamic, y0_flat = flatten_rhs(rhs, tau[0], y0, params, sign)
    problem = Problem(
        fn=fn,
        solver=method,
        controller=controller.cast(y0),
        ts=tau,
        dt=options.dt,
        max_steps=options.max_steps,
        counts=options.counts,
        event=event,
        dense=options.dense,
        progress=options.progress,
    )
    strategy, reason = _strategy(adjoint, y0_flat, dynamic, problem)
    traj = strategy.solve(problem, y0_flat, dynamic)
    status, stats = jax.lax.stop_gradient((traj.status, traj.stats))
    num_out = len(ts)
    ys = traj.ys
    if options.throw:
        failed = jnp.all(jnp.asarray(SUCCESSES, jnp.int32) != status)
        ys = eqx.branched_error_if(ys, failed, status, MESSAGES)

    num_ev = problem.num_events
    event_ts = jnp.zeros(0, ts.dtype)
    event_ys = ys[num_out:]
    if event is not None:
        found = jnp.arange(num_ev, dtype=jnp.int32) < traj.num_events
        t_ev = jnp.where(found, traj.event_ts, jnp.nan)
        t_star, event_ys = event_outputs(event, fn, dynamic, t_ev, ys[num_out:])
        event_ts = sign * t_star

    interpolation = None
    if traj.dense is not None:
        t_grid, h_grid, dense = traj.dense
        interpolation = DenseInterpolation(
            solver=method,
            t_grid=jax.lax.stop_gradient(t_grid),
            h_grid=jax.lax.stop_gradient(h_grid),
            dense=dense,
            num_steps=stats["num_accepted"],
            unravel=fn.state,
            sign=sign,
        )
    return Solution(
        ts=ts,
        ys=jax.vmap(fn.state)(ys[:num_out]),
        status=status,
        stats=stats,
        event_ts=event_ts,
        event_ys=jax.vmap(fn.state)(event_ys),
        num_events=traj.num_events,
        adjoint=strategy.name,
        adjoint_reason=reason,
        interpolation=interpolation,
    )
