"""The inverse layer: problems (unknowns -> weighted residuals at the data), fits, error bars.

A model kind is an adapter of `AbstractProblem` (`OdeProblem`, `PdeProblem`; built around one
of them: `WrappedProblem`, `TrainedProblem`); `fit`, `estimate_uncertainty` and `make_result`
work on any of them.
"""

from ._bootstrap import bootstrap as bootstrap
from ._box import Box as Box
from ._box import box_bounds as box_bounds
from ._box import box_space as box_space
from ._box import box_transform as box_transform
from ._box import with_box_bounds as with_box_bounds
from ._data import DataError as DataError
from ._data import Dataset as Dataset
from ._data import check_dataset as check_dataset
from ._data import load_dataset as load_dataset
from ._expressions import Expression as Expression
from ._expressions import ExpressionError as ExpressionError
from ._expressions import parse_expression as parse_expression
from ._fit import FitResult as FitResult
from ._fit import StepInfo as StepInfo
from ._fit import fit as fit
from ._fit import make_method as make_method
from ._intervals import confidence_intervals as confidence_intervals
from ._jacobian_mode import ModeChoice as ModeChoice
from ._jacobian_mode import choose_gradient_mode as choose_gradient_mode
from ._jacobian_mode import mode_for_sizes as mode_for_sizes
from ._joint_problem import JointProblem as JointProblem
from ._likelihood import ErrorModel as ErrorModel
from ._methods import AbstractLeastSquares as AbstractLeastSquares
from ._methods import GaussNewton as GaussNewton
from ._methods import LevenbergMarquardt as LevenbergMarquardt
from ._methods import OptaxMethod as OptaxMethod
from ._multistart import multistart_points as multistart_points
from ._ode_problem import OdeProblem as OdeProblem
from ._options import SolverOptions as SolverOptions
from ._parameters import Parameter as Parameter
from ._parameters import ParameterSpace as ParameterSpace
from ._parameters import parameter_space as parameter_space
from ._pde_problem import FieldLayout as FieldLayout
from ._pde_problem import PdeProblem as PdeProblem
from ._pde_problem import interpolation_matrix as interpolation_matrix
from ._priors import Priors as Priors
from ._problem import AbstractProblem as AbstractProblem
from ._problem import add_noise as add_noise
from ._problem import observation_sigma as observation_sigma
from ._profile import profile_intervals as profile_intervals
from ._quality import assess_fit as assess_fit
from ._refit import Refit as Refit
from ._refit import refit_batch as refit_batch
from ._result import Result as Result
from ._result import make_result as make_result
from ._sensor_data import SensorData as SensorData
from ._sensor_data import load_sensor_data as load_sensor_data
from ._sensors import SensorOperator as SensorOperator
from ._sensors import sensor_operator as sensor_operator
from ._statistics import fit_statistics as fit_statistics
from ._taylor import TaylorTest as TaylorTest
from ._taylor import taylor_test_flat as taylor_test_flat
from ._transforms import make_transform as make_transform
from ._trf import TrustRegionReflective as TrustRegionReflective
from ._uncertainty import Uncertainty as Uncertainty
from ._uncertainty import estimate_uncertainty as estimate_uncertainty
from ._uncertainty import unavailable_uncertainty as unavailable_uncertainty
from ._user_models import model_from_equations as model_from_equations
from ._user_models import model_from_function as model_from_function
from ._wrapped import TrainedProblem as TrainedProblem
from ._wrapped import WrappedProblem as WrappedProblem
