"""`ODEModel`: a named vector field with named states and parameters."""

from collections.abc import Callable, Mapping

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike


class ODEModel(eqx.Module):
    """An ODE system `dy/dt = f(t, y, params)` whose states and parameters have names.

    Names are what configs, data columns and reports refer to; the vector field itself works on a
    1-D state array (in the order of `states`) and a dict of scalar parameters.

    **Fields:**
    - `name`: a short identifier, e.g. `"lotka_volterra"`.
    - `states`: state names, in the order of the state vector.
    - `parameters`: parameter names the vector field reads from its `params` dict.
    - `vector_field`: `f(t, y, params) -> dy/dt`, with `y` of shape `(len(states),)`.
    - `default_parameters`: typical parameter values (a dict of floats), used when a config
      leaves a parameter out.
    - `default_initial_state`: a typical initial state (tuple of floats, may be empty).
    - `stiff`: whether an implicit solver is recommended.
    - `description`: one line, shown in reports.

    **Example:** a model is the `rhs` of `diffsim.solve_ode`:

    ```python
    import jax.numpy as jnp
    import diffsim

    model = diffsim.models.lotka_volterra()
    y0 = jnp.array(model.default_initial_state)
    ts = jnp.linspace(0.0, 10.0, 11)
    sol = diffsim.solve_ode(model, y0, ts, model.default_parameters)
    assert sol.ys.shape == (11, len(model.states))
    ```
    """

    name: str = eqx.field(static=True)
    states: tuple[str, ...] = eqx.field(static=True)
    parameters: tuple[str, ...] = eqx.field(static=True)
    vector_field: Callable = eqx.field(static=True)
    default_parameters: dict[str, float] = eqx.field(static=True, default_factory=dict)
    default_initial_state: tuple[float, ...] = eqx.field(static=True, default=())
    stiff: bool = eqx.field(static=True, default=False)
    description: str = eqx.field(static=True, default="")

    def __call__(self, t: ArrayLike, y: Array, params: Mapping[str, ArrayLike]) -> Array:
        """Evaluate `dy/dt` (the `rhs(t, y, params)` that `diffsim.solve_ode` expects)."""
        return jnp.asarray(self.vector_field(t, y, params))
