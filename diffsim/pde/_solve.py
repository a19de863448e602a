"""`solve`: integrate a PDE model with the ODE core, after checking shapes and explicit steps."""

import math

from .. import solve_ode
from .._solver import ExplicitRK, get_solver
from ._etd import ETDRK4, AbstractSemilinear
from ._model import AbstractPDE
from ._stability import largest_stable_step


def make_solver(model: AbstractPDE, solver):
    """A solver object: a core solver name or object, or `"etdrk4"` for `ETDRK4(model)`.

    **Example:**

    ```python
    import diffsim
    from diffsim import pde

    model = pde.SpectralBurgers(pde.uniform_grid(32))
    assert isinstance(pde.make_solver(model, "etdrk4"), pde.ETDRK4)
    assert pde.make_solver(model, "tsit5") == diffsim.SOLVERS["tsit5"]
    ```
    """
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

    **Example:** the step limit of an explicit method on the heat equation scales like `dx²`.

    ```python
    import math

    import jax.numpy as jnp
    from diffsim import pde

    params = {"diffusivity": 1.0}
    steps = []
    for n in (32, 64):
        model = pde.Heat(pde.uniform_grid(n), pde.Dirichlet(0.0))
        steps.append(pde.stable_step(model, jnp.zeros(n), params, "rk4"))
    assert abs(steps[0] / steps[1] - 4.0) < 0.1  # half the cells' width: a quarter of the step
    assert math.isinf(pde.stable_step(model, jnp.zeros(64), params, "stiff"))  # implicit
    ```
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

    **Example:** an unstable explicit step is refused before anything runs; a stable one solves.

    ```python
    import jax.numpy as jnp
    from diffsim import pde

    model = pde.Heat(pde.uniform_grid(20), pde.Dirichlet(0.0))
    u0 = jnp.sin(jnp.pi * model.grid.x)
    params = {"diffusivity": 1.0}
    try:
        pde.solve(model, u0, [0.0, 0.1], params, solver="rk4", dt=0.01)
    except ValueError as error:
        print(error)  # names the stable limit and what to do instead
    else:
        raise AssertionError("an unstable step was accepted")
    sol = pde.solve(model, u0, [0.0, 0.1], params, solver="rk4", dt=5e-4)
    assert jnp.allclose(sol.ys[-1], jnp.exp(-(jnp.pi**2) * 0.1) * u0, atol=2e-3)
    ```
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
