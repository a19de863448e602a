"""The equation sparse regression recovered, as a plain ODE model with named coefficients."""

import re
from collections.abc import Mapping

from ..inverse import model_from_equations
from ..models import ODEModel
from ._sparse import SparseModel


def coefficient_name(target: str, term: str) -> str:
    """The parameter name of `term`'s coefficient in `target`'s equation.

    E.g. `x_x_y` for `x*y` in `x`, `x_x2` for `x**2`, `x_1` for the constant.

    **Example:**

    ```python
    from diffsim import neural

    assert neural.coefficient_name("x", "x*y") == "x_x_y"
    assert neural.coefficient_name("y", "sin(x)") == "y_sin_x"
    ```
    """
    slug = re.sub(r"\W+", "_", term.replace("**", "")).strip("_")
    return f"{target}_{slug}"


def recovered_model(
    sparse: SparseModel,
    known: Mapping[str, str] | None = None,
    known_parameters: Mapping[str, float] | None = None,
    *,
    name: str = "recovered",
) -> tuple[ODEModel, dict[str, float]]:
    """`dy_i/dt = known_i + Σ c_ij term_j` with one named coefficient per recovered term.

    The targets of `sparse` must be state names (the learned term of each state's equation,
    or its whole derivative). Refit the result with `trajectory_problem` and `diffsim.fit`.

    **Arguments:**
    - `sparse`: the `SparseModel`, targets named like the states.
    - `known`: the known part of each state's equation as text (default none), e.g.
      `{"x": "alpha*x", "y": "-delta*y"}`.
    - `known_parameters`: the values of the parameters `known` uses (starting values).
    - `name`: the model name.

    **Returns:** the `ODEModel` and the starting value of every parameter (the recovered
    coefficients and `known_parameters`).

    **Example:** `x' = -y, y' = x` recovered from clean derivatives, written as a model.

    ```python
    import numpy as np
    from diffsim import neural

    t = np.linspace(0.0, 2.0, 40)
    ys = np.stack([np.cos(t), np.sin(t)], axis=1)
    sparse = neural.sparse_regression(ys, np.stack([-ys[:, 1], ys[:, 0]], axis=1),
                                      neural.TermLibrary(("x", "y"), degree=2), names=("x", "y"))
    model, start = neural.recovered_model(sparse)
    assert model.description == "x' = x_y*y; y' = y_x*x"
    assert np.allclose([start["x_y"], start["y_x"]], [-1.0, 1.0])
    ```
    """
    known, values = dict(known or {}), dict(known_parameters or {})
    unknown = set(known) - set(sparse.targets)
    if unknown:
        raise ValueError(f"known: {sorted(unknown)[0]!r} is not a target of the sparse model")
    equations = {}
    for target in sparse.targets:
        parts = [f"({known[target]})"] if target in known else []
        for term, coefficient in sparse.active(target).items():
            parameter = coefficient_name(target, term)
            values[parameter] = coefficient
            parts.append(parameter if term == "1" else f"{parameter}*{term}")
        equations[target] = " + ".join(parts) or "0"
    model = model_from_equations(equations, list(values), name=name, where="recovered")
    return model, values
