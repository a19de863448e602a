"""Neural and universal differential equations, and sparse regression back to equations.

Train a right-hand side that is or contains a `diffsim.nn` network on windows of trajectories
(or by multiple shooting), then find the few library terms it stands for.
"""

from ._equations import ude_from_equations as ude_from_equations
from ._library import TermLibrary as TermLibrary
from ._loss import DEFAULT_OPTIONS as DEFAULT_OPTIONS
from ._loss import predict_windows as predict_windows
from ._loss import window_loss as window_loss
from ._recover import Recovered as Recovered
from ._recover import Recovery as Recovery
from ._recover import recover_equations as recover_equations
from ._recovered import coefficient_name as coefficient_name
from ._recovered import recovered_model as recovered_model
from ._selection import Selection as Selection
from ._selection import select_terms as select_terms
from ._shooting import Segments as Segments
from ._shooting import shooting_loss as shooting_loss
from ._shooting import shooting_segments as shooting_segments
from ._sparse import SparseModel as SparseModel
from ._sparse import information_criterion as information_criterion
from ._sparse import sparse_regression as sparse_regression
from ._sparse import stlsq as stlsq
from ._train import Training as Training
from ._train import train as train
from ._trajectory_problem import REFIT_OPTIONS as REFIT_OPTIONS
from ._trajectory_problem import trajectory_problem as trajectory_problem
from ._ude import TrueTerms as TrueTerms
from ._ude import UniversalODE as UniversalODE
from ._ude import physical_uncertainty as physical_uncertainty
from ._ude_problem import TrainingProgress as TrainingProgress
from ._ude_problem import UdeProblem as UdeProblem
from ._windows import Windows as Windows
from ._windows import all_windows as all_windows
from ._windows import sample_windows as sample_windows
