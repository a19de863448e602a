"""Physics-informed neural networks: a `diffsim.pde` model's residual minimized by a network.

Forward problems and identification of PDE coefficients, with `diffsim.nn` networks.
"""

from ._ansatz import HARD_CONSTRAINTS as HARD_CONSTRAINTS
from ._ansatz import Ansatz as Ansatz
from ._checkpoint import load as load
from ._checkpoint import save as save
from ._inverse_problem import PinnInverseProblem as PinnInverseProblem
from ._inverse_problem import Training as Training
from ._problem import Observations as Observations
from ._problem import PINNProblem as PINNProblem
from ._problem import Trainable as Trainable
from ._problem import Unknown as Unknown
from ._sampling import SAMPLERS as SAMPLERS
from ._sampling import AbstractSampler as AbstractSampler
from ._sampling import Collocation as Collocation
from ._sampling import Given as Given
from ._sampling import LatinHypercube as LatinHypercube
from ._sampling import ResidualAdaptive as ResidualAdaptive
from ._sampling import Sobol as Sobol
from ._sampling import Uniform as Uniform
from ._train import Progress as Progress
from ._train import Trained as Trained
from ._train import train as train
from ._uncertainty import coefficient_covariance as coefficient_covariance
from ._uncertainty import coefficient_uncertainty as coefficient_uncertainty
from ._weighting import Causal as Causal
from ._weighting import Fixed as Fixed
from ._weighting import GradNorm as GradNorm
