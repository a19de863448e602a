"""`solve`: integrate a PDE model with the ODE core, after checking shapes and explicit steps."""

import math

from .. import solve_ode
from .._solver import ExplicitRK, get_solver
from ._etd import ETDRK4, AbstractSemilinear
from ._model import AbstractPDE
from ._stability import largest_stable_step


def make_solver(model: AbstractPDE, solver):
    """A solver object: a core solver name or object, or `"etdrk4"` for `ETDRK4(model)`."""
    if solver == "etdrk4":
        if not isinstance(model, AbstractSemilinear):
            raise ValueError(f"solver 'etdrk4': {type(model).__name__} is not semilinear")
        return ETDRK4(model)
    return get_solver(solver)


def stable_step(model: AbstractPDE, u0, params, solver) -> float | None:
    """The largest stable fixed step of an explicit or exponential solver (an estimate).

    Estimated from the linearised spectrum of `model` at `u0` and the stability region of
    `solver`.

    **Returns:** the step; `inf` for implicit solvers; `None` when it depends on traced values
    (inside `jit`/`grad`) and cannot be computed.
    """
    method = make_solver(model, solver)
    real, imaginary = model.rates(u0, params)
    if real is None or imaginary is None:
        return None
    if isinstance(method, ETDRK4):
        # The linear (diffusive) part is exact; the nonlinear part is stepped like RK4.
        return largest_stable_step(method.tableau, 0.0, imaginary)
    if isinstance(method, ExplicitRK):
        return largest_stable_step(method.tableau, real, imaginary)
    return math.inf


def solve(
    model: AbstractPDE,
    u0,
    ts,
    params,
    *,
    solver="tsit5",
    dt: float | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    max_steps: int = 4096,
    adjoint="auto",
    throw: bool = True,
):
    """Integrate `model` from `u0` and return the core's `Solution` (fields in `sol.ys`).

    The same as `diffsim.solve_ode(model, u0, ts, params, ...)`, plus: shapes of the state and
    of parameter fields are checked against the grid, `solver="etdrk4"` builds the exponential
    integrator for semilinear models, and an explicitly requested fixed `dt` beyond the
    explicit stability limit is refused (when the parameters are concrete).

    **Arguments:** as `diffsim.solve_ode`; `solver` may also be `"etdrk4"` (needs `dt`).

    **Raises:** `ValueError` for a state or parameter that does not fit the grid, or an
    unstable `dt` (naming the limit and what to do instead).
    """
    model.check(u0, params)
    method = make_solver(model, solver)
    if dt is not None:
        limit = stable_step(model, u0, params, solver)
        if limit is not None and dt > limit:
            name = solver if isinstance(solver, str) else type(solver).__name__
            if limit == 0:
                advice = "this solver is unstable for this problem at any step; use 'rk4'"
            elif isinstance(method, ETDRK4):
                advice = f"the nonlinear (advective) part limits the step: use dt <= {limit:.3g}"
            else:
                advice = (
                    f"use dt <= {limit:.3g}, or a stiff solver ('stiff', or 'etdrk4' for "
                    "periodic semilinear models)"
                )
            raise ValueError(
                f"dt={dt:g} is beyond the stability limit of solver {name!r} for "
                f"{type(model).__name__} on this grid ({limit:.3g}): {advice}"
            )
    return solve_ode(
        model,
        u0,
        ts,
        params,
        solver=method,
        rtol=rtol,
        atol=atol,
        dt=dt,
        max_steps=max_steps,
        adjoint=adjoint,
        throw=throw,
    )
