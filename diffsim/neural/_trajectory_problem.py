"""A plain ODE model fitted to one observed trajectory, as the inverse layer's `OdeProblem`."""

from collections.abc import Mapping

import jax.numpy as jnp
import numpy as np

from ..inverse import (
    Dataset,
    OdeProblem,
    Parameter,
    SolverOptions,
    check_dataset,
    parameter_space,
    parse_expression,
)
from ..models import ODEModel

REFIT_OPTIONS = SolverOptions(solver="tsit5", rtol=1e-8, atol=1e-10, adjoint="auto")
"""Solver settings of the refits unless given: tsit5 at rtol 1e-8, atol 1e-10.

**Example:**

```python
from diffsim import neural

assert neural.REFIT_OPTIONS.rtol == 1e-8
looser = neural.REFIT_OPTIONS.replace(rtol=1e-6, atol=1e-8)
```"""


def trajectory_problem(
    model: ODEModel,
    parameters: Mapping[str, float],
    ts,
    ys,
    y0,
    *,
    sigma=1.0,
    fixed: Mapping[str, float] | None = None,
    options: SolverOptions = REFIT_OPTIONS,
) -> OdeProblem:
    """The `OdeProblem` of fitting `parameters` of `model` to every state observed at `ts`.

    So that `diffsim.fit` and `diffsim.inverse.estimate_uncertainty` work on it: a refit of a
    recovered equation, or the physical parameters of a UDE with its network held fixed.

    **Arguments:**
    - `model`: the `ODEModel` (every state is observed, in the order of `model.states`).
    - `parameters`: the free parameters and their starting values.
    - `ts`, `ys`: observation times `(T,)` and states `(T, n)` (NaN marks a missing value).
    - `y0`: the known initial state at `ts[0]`.
    - `sigma`: the noise standard deviation: a number, one per state, or `(T, n)`.
    - `fixed`: the values of the model's other parameters (known, not estimated).
    - `options`: the solver settings.

    **Example:** the decay rate `k` of `x' = -k*x`, its data observed at 11 times.

    ```python
    import numpy as np
    from diffsim import inverse, neural

    model = inverse.model_from_equations({"x": "-k*x"}, ["k"], name="decay")
    ts = np.linspace(0.0, 1.0, 11)
    problem = neural.trajectory_problem(model, {"k": 1.0}, ts, np.exp(-2.0 * ts)[:, None], [1.0],
                                        sigma=0.01)
    assert problem.space.names == ("k",) and problem.observed.shape == (11, 1)
    ```
    """
    fixed = {k: float(v) for k, v in (fixed or {}).items()}
    missing = [p for p in model.parameters if p not in parameters and p not in fixed]
    if missing:
        raise ValueError(f"parameters: no starting value for {missing[0]!r}")
    ts = np.asarray(ts, dtype=float)
    ys = np.asarray(ys, dtype=float)
    data = check_dataset(
        Dataset(ts=ts, values=ys, names=model.states, source="trajectory"), "trajectory"
    )
    space = parameter_space(tuple(Parameter(name=k, init=float(v)) for k, v in parameters.items()))
    y0 = np.asarray(y0, dtype=float)
    return OdeProblem(
        model=model,
        space=space,
        fixed=fixed,
        initial_state=lambda values: jnp.asarray(y0),
        observables=tuple(parse_expression(s, model.states) for s in model.states),
        data=data,
        sigma=np.broadcast_to(np.asarray(sigma, dtype=float), ys.shape).copy(),
        t0=float(ts[0]),
        options=options,
    )
