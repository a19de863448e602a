"""diffsim: differentiable simulation and inverse problems in JAX.

The public API is the list below; everything in `diffsim._*` may change.
"""

from ._adjoint import (
    AbstractAdjoint as AbstractAdjoint,
)
from ._adjoint import (
    Backsolve as Backsolve,
)
from ._adjoint import (
    Checkpoint as Checkpoint,
)
from ._adjoint import (
    Direct as Direct,
)
from ._adjoint import (
    Forward as Forward,
)
from ._controller import PIController as PIController
from ._dense import SaveAt as SaveAt
from ._events import Event as Event
from ._integrate import solve_ode as solve_ode
from ._solution import (
    RESULTS as RESULTS,
)
from ._solution import (
    Solution as Solution,
)
from ._solution import (
    status_message as status_message,
)
from ._solver import (
    ESDIRK as ESDIRK,
)
from ._solver import (
    GMRES as GMRES,
)
from ._solver import (
    SOLVERS as SOLVERS,
)
from ._solver import (
    AbstractSolver as AbstractSolver,
)
from ._solver import (
    ButcherTableau as ButcherTableau,
)
from ._solver import (
    DenseLU as DenseLU,
)
from ._solver import (
    ExplicitRK as ExplicitRK,
)

__version__ = "0.1.0"
from . import ad as ad
from . import config as config
from . import inverse as inverse
from . import models as models
from . import neural as neural
from . import nn as nn
from . import pde as pde
from . import petab as petab
from . import pinn as pinn
from . import report as report
from . import runner as runner
from .config import build_problem as build_problem
from .config import load_config as load_config
from .inverse import AbstractProblem as AbstractProblem
from .inverse import OdeProblem as OdeProblem
from .inverse import PdeProblem as PdeProblem
from .inverse import fit as fit
from .models import ODEModel as ODEModel
