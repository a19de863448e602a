"""The log-likelihood of a PEtab problem at its nominal parameters, and its gradient."""

import math
import time

import jax
import numpy as np

from ._problem import PetabProblem


def evaluate(problem: PetabProblem) -> dict:
    """The log-likelihood at the nominal parameters and its gradient, as `result.json` holds them.

    The gradient is with respect to the estimated parameters on their PEtab scales, in
    reverse mode through the stored steps (`adjoint="direct"`); values are float64 (with
    `jax_enable_x64`); the time includes compilation.

    **Example:** what `python -m diffsim.run PROBLEM.yaml --evaluate` writes.

    ```python
    # slow
    import jax

    jax.config.update("jax_enable_x64", True)
    from diffsim import petab

    problem = petab.load("tests/data/petab/Boehm_JProteomeRes2014/Boehm_JProteomeRes2014.yaml")
    summary = petab.evaluate(problem)
    assert abs(summary["log_likelihood"] - -138.22199693517703) < 1e-3  # AMICI's reference
    print(summary["gradient"])
    ```
    """
    scaled = problem.nominal_scaled()
    reverse = problem.with_options(adjoint="direct")
    start = time.perf_counter()
    function = lambda s: reverse.log_likelihood_and_status(reverse.x_from_scaled(s))
    (value, status), gradient = jax.jit(jax.value_and_grad(function, has_aux=True))(scaled)
    value, status = float(value), int(status)
    seconds = time.perf_counter() - start
    lay = problem.layout
    return {
        "kind": "petab",
        "problem": lay.source,
        "log_likelihood": value if math.isfinite(value) else None,
        "gradient": {
            lay.parameter_ids[i]: float(g) for i, g in zip(lay.estimated, gradient, strict=True)
        },
        "gradient_scale": {lay.parameter_ids[i]: lay.scales[i] for i in lay.estimated},
        "status": status,
        "message": "" if status == 0 else "the solve or pre-equilibration failed",
        "dtype": str(np.asarray(gradient).dtype),
        "timings": {"evaluate_and_compile_s": seconds},
    }
