"""Run configuration: schema, YAML loading, `--set` overrides and building the problem.

The pydantic schema is one discriminated union over model kinds; YAML with duplicate keys is
refused.
"""

from pathlib import Path

from ..inverse import AbstractProblem
from ._build import build_model as build_model
from ._build import build_ode_problem as build_ode_problem
from ._build import solver_options as solver_options
from ._build_joint import build_joint_problem as build_joint_problem
from ._build_pde import build_pde_problem as build_pde_problem
from ._build_pinn import build_pinn_problem as build_pinn_problem
from ._build_ude import build_ude_problem as build_ude_problem
from ._build_ude import uses_network as uses_network
from ._fitted import fitted_config as fitted_config
from ._load import ConfigError as ConfigError
from ._load import dump_config as dump_config
from ._load import load_config as load_config
from ._load import load_yaml as load_yaml
from ._load import read_config_data as read_config_data
from ._load import validate_config as validate_config
from ._pde_schema import PdeRunConfig as PdeRunConfig
from ._run_config import RunConfig as RunConfig
from ._schema import OdeRunConfig as OdeRunConfig


def build_problem(config, base_dir: str | Path = ".") -> AbstractProblem:
    """The problem a validated config describes, with its data loaded or simulated.

    An `OdeProblem`, a `JointProblem` (with `experiments`, ODE or PDE), a `PdeProblem`, a UDE's
    `UdeProblem`, or with `model.solve_with: pinn` a
    `PinnInverseProblem`. Relative data paths are relative to `base_dir`.

    **Raises:** `ValueError` (or `DataError`) with one line naming the key path or data file.

    **Example:** a config written in code (a YAML file says the same) becomes a problem.

    ```python
    import diffsim

    config = diffsim.config.validate_config({
        "name": "decay",
        "model": {"equations": {"y": "-k * y"}},
        "parameters": {"k": {"init": 0.5, "true": 0.8, "transform": "log"}},
        "initial_state": {"y": 1.0},
        "observations": {"y": {"sigma": 0.01}},
        "data": {"synthetic": {"times": {"start": 0.0, "stop": 2.0, "num": 5}, "seed": 0}},
        "solver": {"name": "rk4", "dt": 0.1},
    })
    problem = diffsim.build_problem(config)
    assert isinstance(problem, diffsim.OdeProblem)
    assert problem.data.names == ("y",) and problem.data.values.shape == (5, 1)
    print(problem.data.source)  # synthetic: simulated from the `true` values, with noise
    ```
    """
    if isinstance(config, PdeRunConfig) and config.model.solve_with == "pinn":
        return build_pinn_problem(config, base_dir)
    if isinstance(config, PdeRunConfig) and config.experiments is None:
        return build_pde_problem(config, base_dir)
    if isinstance(config, OdeRunConfig) and uses_network(config):
        return build_ude_problem(config, base_dir)
    if config.experiments is not None:
        return build_joint_problem(config, base_dir)
    return build_ode_problem(config, base_dir)
