"""ODE solvers, selectable by name in `diffsim.solve_ode(..., solver=NAME)`."""

from ._base import AbstractSolver as AbstractSolver
from ._base import Step as Step
from ._explicit import ExplicitRK as ExplicitRK
from ._implicit import ESDIRK as ESDIRK
from ._linear import (
    GMRES as GMRES,
)
from ._linear import (
    AbstractLinearSolver as AbstractLinearSolver,
)
from ._linear import (
    DenseLU as DenseLU,
)
from ._tableau import (
    BOSH3,
    DOPRI5,
    EULER,
    HEUN,
    KVAERNO5,
    RK4,
    TSIT5,
)
from ._tableau import (
    ButcherTableau as ButcherTableau,
)

SOLVERS: dict[str, AbstractSolver] = {
    "euler": ExplicitRK(EULER),
    "heun": ExplicitRK(HEUN),
    "rk4": ExplicitRK(RK4),
    "bosh3": ExplicitRK(BOSH3),
    "dopri5": ExplicitRK(DOPRI5),
    "tsit5": ExplicitRK(TSIT5),
    "kvaerno5": ESDIRK(KVAERNO5),
    "stiff": ESDIRK(KVAERNO5),
}
"""The built-in solvers by name (`solve_ode(..., solver=NAME)`); `stiff` is `kvaerno5`.

**Example:**

```python
import diffsim

print(sorted(diffsim.SOLVERS))
tsit5 = diffsim.SOLVERS["tsit5"]
assert tsit5.order == 5 and tsit5.adaptive  # an embedded error estimate: adaptive steps
assert diffsim.SOLVERS["stiff"] == diffsim.SOLVERS["kvaerno5"]
```
"""


def get_solver(solver: "str | AbstractSolver") -> AbstractSolver:
    """Look a solver up by name, or pass a solver object through."""
    if isinstance(solver, AbstractSolver):
        return solver
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    return SOLVERS[solver]
