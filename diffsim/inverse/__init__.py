"""Parameter estimation for ODE models: configs, data, least-squares fits and error bars."""

from ._build import build_model as build_model
from ._build import build_problem as build_problem
from ._config import RunConfig as RunConfig
from ._config_io import (
    ConfigError as ConfigError,
)
from ._config_io import (
    dump_config as dump_config,
)
from ._config_io import (
    load_config as load_config,
)
from ._config_io import (
    read_config_data as read_config_data,
)
from ._config_io import (
    validate_config as validate_config,
)
from ._data import (
    DataError as DataError,
)
from ._data import (
    Dataset as Dataset,
)
from ._data import (
    check_dataset as check_dataset,
)
from ._data import (
    load_dataset as load_dataset,
)
from ._expressions import (
    Expression as Expression,
)
from ._expressions import (
    ExpressionError as ExpressionError,
)
from ._expressions import (
    parse_expression as parse_expression,
)
from ._fit import FitResult as FitResult
from ._fit import StepInfo as StepInfo
from ._fit import fit as fit
from ._fit import make_method as make_method
from ._jacobian_mode import choose_gradient_mode as choose_gradient_mode
from ._methods import (
    AbstractLeastSquares as AbstractLeastSquares,
)
from ._methods import (
    GaussNewton as GaussNewton,
)
from ._methods import (
    LevenbergMarquardt as LevenbergMarquardt,
)
from ._methods import (
    OptaxMethod as OptaxMethod,
)
from ._multistart import multistart_points as multistart_points
from ._parameters import (
    Parameter as Parameter,
)
from ._parameters import (
    ParameterSpace as ParameterSpace,
)
from ._parameters import (
    parameter_space as parameter_space,
)
from ._problem import LeastSquaresProblem as LeastSquaresProblem
from ._statistics import fit_statistics as fit_statistics
from ._transforms import make_transform as make_transform
from ._uncertainty import Uncertainty as Uncertainty
from ._uncertainty import estimate_uncertainty as estimate_uncertainty
from ._uncertainty import unavailable_uncertainty as unavailable_uncertainty
from ._user_models import (
    model_from_equations as model_from_equations,
)
from ._user_models import (
    model_from_function as model_from_function,
)
