"""`SolverOptions`: the typed solver settings of a problem, read once and passed to the solver."""

import dataclasses

import equinox as eqx

from .._integrate import solve_ode
from .._solution import Solution
from ..pde import solve as pde_solve


class SolverOptions(eqx.Module):
    """How a problem's model is integrated (built from the config's `solver` and `gradient`).

    **Fields:**
    - `solver`: a solver name of `diffsim.solve_ode` (or `"etdrk4"` for semilinear PDEs).
    - `rtol`, `atol`: tolerances of adaptive steps.
    - `dt`: a fixed step, or `None` for adaptive steps.
    - `max_steps`: the most steps of an adaptive solve.
    - `adjoint`: the gradient strategy through the solver (`"auto"`, `"direct"`, ...); the
      fit's choice of forward or reverse mode reads it here.

    **Example:**

    ```python
    from diffsim import inverse

    options = inverse.SolverOptions(solver="kvaerno5", rtol=1e-8, atol=1e-10)
    assert options.dt is None and options.adjoint == "auto"  # adaptive, automatic gradient
    fixed = inverse.SolverOptions(solver="rk4", dt=0.01)
    ```
    """

    solver: str = eqx.field(static=True, default="tsit5")
    rtol: float = eqx.field(static=True, default=1e-6)
    atol: float = eqx.field(static=True, default=1e-9)
    dt: float | None = eqx.field(static=True, default=None)
    max_steps: int = eqx.field(static=True, default=4096)
    adjoint: str = eqx.field(static=True, default="auto")

    def replace(self, **changes) -> "SolverOptions":
        """A copy with some fields changed (e.g. tighter tolerances for synthetic data)."""
        return dataclasses.replace(self, **changes)

    def _solve(self, solve, rhs, y0, ts, params) -> Solution:
        return solve(
            rhs,
            y0,
            ts,
            params,
            solver=self.solver,
            rtol=self.rtol,
            atol=self.atol,
            dt=self.dt,
            max_steps=self.max_steps,
            adjoint=self.adjoint,
            throw=False,
        )

    def solve_ode(self, rhs, y0, ts, params) -> Solution:
        """`diffsim.solve_ode` with these options; never raises on failure (read `status`)."""
        return self._solve(solve_ode, rhs, y0, ts, params)

    def solve_pde(self, model, u0, ts, params) -> Solution:
        """`diffsim.pde.solve` with these options (shape checks, an unstable `dt` refused)."""
        return self._solve(pde_solve, model, u0, ts, params)
