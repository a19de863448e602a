"""PEtab v1 problems (SBML model + tables) as problems of the one inverse layer.

`load(path)` reads a problem's YAML file into a `PetabProblem`; `fit`,
`estimate_uncertainty`, `Result` and the report work on it unchanged.
"""

from ._errors import PetabError as PetabError
from ._load import DEFAULT_OPTIONS as DEFAULT_OPTIONS
from ._load import is_petab_yaml as is_petab_yaml
from ._load import load as load
from ._problem import PetabProblem as PetabProblem
from ._sbml import SbmlModel as SbmlModel
from ._sbml import read_sbml as read_sbml
