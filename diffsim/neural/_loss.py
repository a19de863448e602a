"""Losses of a model solved over windows of data: the prediction error of each window."""

import jax
import jax.numpy as jnp
from jaxtyping import Array

from ..inverse import SolverOptions
from ._windows import Windows

NORMS = ("l2", "l1")
DEFAULT_OPTIONS = SolverOptions(solver="tsit5", rtol=1e-6, atol=1e-8, adjoint="checkpoint")
"""The solver settings of neural ODE training unless given (tsit5, checkpointed gradients).

tsit5 at rtol 1e-6, atol 1e-8; checkpointed gradients: memory O(sqrt(steps)), exact gradients
of the discrete solve.

**Example:**

```python
from diffsim import neural

assert neural.DEFAULT_OPTIONS.solver == "tsit5"
faster = neural.DEFAULT_OPTIONS.replace(adjoint="direct")  # short windows: no checkpoints
```
"""


def predict_windows(rhs, params, windows: Windows, options: SolverOptions = DEFAULT_OPTIONS):
    """`(ys, status)`: every window solved from its first state at its times.

    **Arguments:**
    - `rhs`: `rhs(t, y, params) -> dy/dt`.
    - `params`: the pytree passed to `rhs` (networks, physical parameters).
    - `windows`: the `Windows` (times `(B, L)`, states `(B, L, n)`).
    - `options`: the solver settings (`SolverOptions`; its `adjoint` is the gradient strategy).

    **Returns:** predictions of shape `(B, L, n)` and the status code of each solve `(B,)`.

    **Example:** exponential decay `dy/dt = -k y`, two windows of 6 samples.

    ```python
    import numpy as np
    from diffsim import neural

    ts = np.linspace(0.0, 1.0, 11)
    data = np.exp(-2.0 * ts)[:, None]
    windows = neural.all_windows(ts, data, 6)
    ys, status = neural.predict_windows(lambda t, y, k: -k * y, 2.0, windows)
    assert np.all(status == 0) and np.allclose(ys, windows.ys, atol=1e-6)
    ```
    """

    def one(ts, y0):
        solution = options.solve_ode(rhs, y0, ts, params)
        return solution.ys, solution.status

    return jax.vmap(one)(windows.ts, windows.ys[:, 0])


def window_loss(
    rhs, params, windows: Windows, options: SolverOptions = DEFAULT_OPTIONS, *, norm: str = "l2"
) -> Array:
    """Mean squared (`norm="l2"`) or absolute (`"l1"`) prediction error over all windows.

    `inf` when a solve fails, so that training skips the step rather than using garbage.

    **Example:**

    ```python
    import numpy as np
    from diffsim import neural

    ts = np.linspace(0.0, 1.0, 11)
    windows = neural.all_windows(ts, np.exp(-2.0 * ts)[:, None], 6)
    decay = lambda t, y, k: -k * y
    assert neural.window_loss(decay, 2.0, windows) < 1e-12  # the true rate
    assert neural.window_loss(decay, 1.0, windows, norm="l1") > 0.05
    ```
    """
    if norm not in NORMS:
        raise ValueError(f"norm: unknown norm {norm!r} (use one of {', '.join(NORMS)})")
    ys, status = predict_windows(rhs, params, windows, options)
    error = ys - windows.ys
    value = jnp.mean(error * error) if norm == "l2" else jnp.mean(jnp.abs(error))
    return jnp.where(jnp.all(status == 0), value, jnp.inf)
