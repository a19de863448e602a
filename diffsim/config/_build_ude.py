"""Turn an ODE run config with a `neural:` block into a `UdeProblem` (physical parameters and
network weights fitted together)."""

import ast
from pathlib import Path

import jax

from ..models import ODEModel
from ..neural import Recovery, TrueTerms, UdeProblem, ude_from_equations
from ..nn import MLP
from ._build import build_ode_problem
from ._schema import OdeRunConfig


def uses_network(config) -> bool:
    """Whether an ODE config has a `neural:` block or an equation that calls `nn(...)`.

    **Example:**

    ```python
    import diffsim

    def config(rhs):
        return diffsim.config.validate_config({
            "model": {"equations": {"x": rhs}},
            "parameters": {"a": 1.0},
            "observations": {"x": {"sigma": 0.1}},
            "data": {"file": "measured.csv"},
        })

    assert diffsim.config.uses_network(config("-a * x + nn(x)[0]"))
    assert not diffsim.config.uses_network(config("-a * x"))
    ```
    """
    if not isinstance(config, OdeRunConfig):
        return False
    if config.neural is not None:
        return True
    for text in (config.model.equations or {}).values():
        try:
            tree = ast.parse(str(text).strip(), mode="eval")
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "nn":
                return True
    return False


def build_ude_problem(config: OdeRunConfig, base_dir: str | Path = ".") -> UdeProblem:
    """The `UdeProblem` of a config whose equations call `nn(...)`.

    **Raises:** `ValueError` with one line naming the key path (`model.equations.<state>`,
    `neural.*`, `data.synthetic`).

    **Example:** the shipped universal-ODE config: known rates plus a small network.

    ```python
    # slow
    import pathlib

    import diffsim

    configs = pathlib.Path(diffsim.__file__).parents[1] / "configs"  # in a source checkout
    config = diffsim.load_config(configs / "ude_lotka_volterra.yaml")
    problem = diffsim.config.build_ude_problem(config, base_dir=configs)
    assert isinstance(problem, diffsim.neural.UdeProblem) and problem.space.size > 10
    ```
    """
    spec = config.neural
    if config.model.equations is None:
        raise ValueError("neural: a network needs a model given as `equations` calling nn(...)")
    ude = ude_from_equations(
        config.model.equations,
        list(config.parameters),
        inputs=None if spec is None else spec.inputs,
        outputs=None if spec is None else spec.outputs,
    )
    if config.data.synthetic is not None:
        raise ValueError(
            "data.synthetic: a universal ODE has no true model to simulate; give measured "
            "data in data.file"
        )
    network = MLP(
        len(spec.inputs),
        spec.outputs,
        spec.width,
        spec.depth,
        spec.activation,
        dtype="float64",
        key=jax.random.key(spec.seed),
    )
    model = ODEModel(
        name=config.name,
        states=ude.states,
        parameters=ude.physical,
        vector_field=lambda t, y, p: ude.equation(t, y, p, network),
        description="; ".join(f"{s}' = {e}" for s, e in config.model.equations.items()),
    )
    truth = None
    if spec.truth is not None:
        if len(spec.truth) != spec.outputs:
            raise ValueError(
                f"neural.truth: give one expression per network output ({spec.outputs}), "
                f"got {len(spec.truth)}"
            )
        truth = TrueTerms(spec.truth, spec.inputs)
    forecast, recover = config.report.forecast, spec.recover
    return UdeProblem(
        build_ode_problem(config, base_dir, model=model),
        ude,
        network,
        truth=truth,
        until=None if forecast is None else forecast.until,
        points=config.report.points,
        level=config.uncertainty.level,
        adam_steps=spec.adam.steps,
        learning_rate=spec.adam.learning_rate,
        lbfgs_steps=spec.lbfgs.steps,
        stop_below=spec.stop_below,
        recovery=None
        if recover is None
        else Recovery(recover.degree, recover.ridge, recover.criterion, recover.select),
        scale_covariance=config.fit.scale_covariance,
    )
