"""Small neural networks for physics-informed and hybrid models (equinox modules)."""

from ._activation import ACTIVATIONS as ACTIVATIONS
from ._embedding import AbstractEmbedding as AbstractEmbedding
from ._embedding import FourierFeatures as FourierFeatures
from ._embedding import PeriodicEmbedding as PeriodicEmbedding
from ._jet import Jet as Jet
from ._linear import INITIALIZATIONS as INITIALIZATIONS
from ._linear import AbstractLinear as AbstractLinear
from ._linear import FactorizedLinear as FactorizedLinear
from ._linear import Linear as Linear
from ._mlp import MLP as MLP
from ._mlp import AbstractNetwork as AbstractNetwork
from ._mlp import ModifiedMLP as ModifiedMLP
