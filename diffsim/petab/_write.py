"""Export: a fitted PEtab problem's parameters table with the estimates as nominal values."""

from pathlib import Path

import numpy as np
import petab.v1 as petab

from ._problem import PetabProblem
from ._read import table_files


def write_parameters(problem: PetabProblem, x, path: str | Path) -> None:
    """Write the problem's parameters table with `nominalValue` set to the estimates `x`
    (linear values of the estimated parameters), other columns unchanged, so that the
    problem with this table starts from the fit."""
    table = petab.get_parameter_df(str(table_files(Path(problem.layout.source))["parameter_file"]))
    ids = [problem.layout.parameter_ids[i] for i in problem.layout.estimated]
    table.loc[ids, "nominalValue"] = np.asarray(x, float)
    petab.write_parameter_df(table, str(path))
