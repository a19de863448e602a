"""Built-in ODE systems with named states and parameters."""

from ._chaos import lorenz as lorenz
from ._ecology import lotka_volterra as lotka_volterra
from ._epidemics import seir as seir
from ._epidemics import sir as sir
from ._kinetics import robertson as robertson
from ._library import BUILTIN_MODELS as BUILTIN_MODELS
from ._library import builtin_model as builtin_model
from ._model import ODEModel as ODEModel
from ._oscillators import (
    damped_pendulum as damped_pendulum,
)
from ._oscillators import (
    fitzhugh_nagumo as fitzhugh_nagumo,
)
from ._oscillators import (
    van_der_pol as van_der_pol,
)
