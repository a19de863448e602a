"""PEtab v1 problems (SBML model + tables) as problems of the one inverse layer.

`load(path)` reads a problem's YAML file into a `PetabProblem`; `fit`,
`estimate_uncertainty`, `Result` and the report work on it unchanged. Needs the optional
extra `pip install 'diffsim[petab]'` (petab, python-libsbml, sbmlmath), so `import diffsim`
does not import it; `python -m diffsim.run PROBLEM.yaml` runs a PEtab problem file
(`diffsim/petab/_cli.py`).
"""

from ._errors import PetabError as PetabError
from ._evaluate import evaluate as evaluate
from ._load import DEFAULT_OPTIONS as DEFAULT_OPTIONS
from ._load import load as load
from ._model import SbmlModel as SbmlModel
from ._problem import PetabProblem as PetabProblem
from ._starts import latin_hypercube_starts as latin_hypercube_starts
