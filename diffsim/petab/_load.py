"""`load`: a PEtab v1 problem file into a `PetabProblem`.

The readers (petab, python-libsbml, sbmlmath) are an optional extra, imported on the first
`load`, so `import diffsim` neither needs them nor waits for them.
"""

from pathlib import Path

from ..inverse import SolverOptions
from ._problem import PetabProblem

DEFAULT_OPTIONS = SolverOptions(solver="kvaerno5", rtol=1e-8, atol=1e-10, max_steps=20000)
"""The solver settings of a loaded problem: stiff, tight tolerances.

Tight enough for the reference log-likelihoods to 1e-3.

**Example:** looser tolerances for a quick exploratory fit.

```python
from diffsim import petab

assert petab.DEFAULT_OPTIONS.solver == "kvaerno5"
loose = petab.DEFAULT_OPTIONS.replace(rtol=1e-6, atol=1e-8)
problem = petab.load(
    "tests/data/petab/Boehm_JProteomeRes2014/Boehm_JProteomeRes2014.yaml", options=loose
)
assert problem.options.rtol == 1e-6
```
"""


def load(path: str | Path, options: SolverOptions | None = None) -> PetabProblem:
    """Load a PEtab v1 problem into a `PetabProblem` of the inverse layer.

    **Arguments:**
    - `path`: the problem's YAML file (`format_version: 1`).
    - `options`: solver settings (default `DEFAULT_OPTIONS`: `kvaerno5`, rtol 1e-8, atol
      1e-10).

    **Raises:** `PetabError` (a `ValueError`) in one line naming the file, row and column of
    a mistake or of an unsupported feature; `ImportError` naming the extra to install when
    petab, python-libsbml or sbmlmath is missing.

    **Example:** Boehm et al. (2014), shipped with the tests.

    ```python
    from diffsim import petab

    problem = petab.load("tests/data/petab/Boehm_JProteomeRes2014/Boehm_JProteomeRes2014.yaml")
    assert problem.space.size == 9 and problem.num_points == 48
    print(problem.model.states)
    ```
    """
    try:
        from ._read import read_problem
    except ImportError as error:
        raise ImportError(
            f"diffsim.petab needs the optional extra: pip install 'diffsim[petab]' ({error})"
        ) from None
    return read_problem(path, options or DEFAULT_OPTIONS)
