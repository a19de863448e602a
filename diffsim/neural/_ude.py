"""Universal differential equations: known terms plus a network for the unknown part."""

from collections.abc import Callable, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..inverse import SolverOptions, Uncertainty, estimate_uncertainty, parse_expression
from ..models import ODEModel
from ._trajectory_problem import REFIT_OPTIONS, trajectory_problem


class UniversalODE(eqx.Module):
    """A universal ODE `dy/dt = equation(t, y, physical, network)`: known terms plus a network.

    Its `params` are `{"physical": {name: value}, "network": network}`, all trained together.

    **Arguments:**
    - `equation`: `equation(t, y, physical, network) -> dy/dt`, e.g. for Lotka–Volterra with
      unknown interactions `u = network(y)`, `[alpha*x + u[0], -delta*y + u[1]]`.
    - `states`: the state names; `physical`: the physical parameter names.
    - `inputs`: the indices of the states the network reads (default all), for `learned`.

    **Example:** Lotka–Volterra with known growth and decay, a network for the interactions.

    ```python
    import jax
    import jax.numpy as jnp
    from diffsim import neural, nn

    def hybrid(t, u, physical, network):
        x, y = u
        learned = network(u)
        return jnp.stack([physical["alpha"] * x + learned[0], -physical["delta"] * y + learned[1]])

    ude = neural.UniversalODE(hybrid, states=("x", "y"), physical=("alpha", "delta"))
    network = nn.MLP(2, 2, 5, 3, "rbf", dtype="float64", key=jax.random.key(0))
    params = {"physical": {"alpha": 1.3, "delta": 1.8}, "network": network}
    u = jnp.array([0.5, 2.0])
    rate = ude(0.0, u, params)
    assert jnp.allclose(rate, jnp.array([0.65, -3.6]) + network(u))
    assert ude.learned(network, [[0.5, 2.0], [1.0, 1.0]]).shape == (2, 2)
    ```
    """

    equation: Callable = eqx.field(static=True)
    states: tuple[str, ...] = eqx.field(static=True)
    physical: tuple[str, ...] = eqx.field(static=True)
    inputs: tuple[int, ...] | None = eqx.field(static=True, default=None)

    def __call__(self, t, y, params):
        """The right-hand side `rhs(t, y, params)` for `diffsim.solve_ode`."""
        return self.equation(t, y, params["physical"], params["network"])

    def learned(self, network, ys) -> np.ndarray:
        """The network's output along states `ys` `(N, n)`: what sparse regression explains."""
        ys = np.asarray(ys)
        inputs = ys if self.inputs is None else ys[:, list(self.inputs)]
        return np.asarray(jax.vmap(network)(inputs.astype(network.dtype)))

    def with_network(self, network) -> ODEModel:
        """The UDE with `network` held fixed: a plain `ODEModel` of the physical parameters."""
        return ODEModel(
            name="ude_fixed_network",
            states=self.states,
            parameters=self.physical,
            vector_field=lambda t, y, p: self.equation(t, y, p, network),
            description="universal ODE with its trained network held fixed",
        )


class TrueTerms(eqx.Module):
    """Known network outputs as expressions of its inputs, callable like the network.

    The truth a learned term is compared with (synthetic data).

    **Arguments:**
    - `expressions`: one expression per network output (whitelist parser), e.g.
      `("-0.9*x*y", "0.8*x*y")`.
    - `inputs`: the names of the network inputs, in order.

    **Example:**

    ```python
    import jax.numpy as jnp
    from diffsim import neural

    truth = neural.TrueTerms(("-0.9*x*y", "0.8*x*y"), ("x", "y"))
    assert jnp.allclose(truth(jnp.array([2.0, 0.5])), jnp.array([-0.9, 0.8]))
    ```
    """

    expressions: tuple[str, ...] = eqx.field(static=True)
    inputs: tuple[str, ...] = eqx.field(static=True)
    dtype: str = eqx.field(static=True, default="float64")

    def __init__(self, expressions, inputs):
        for text in expressions:
            parse_expression(text, tuple(inputs), where="neural.truth")  # report bad text now
        self.expressions, self.inputs = tuple(expressions), tuple(inputs)

    def __call__(self, features):
        env = {name: features[i] for i, name in enumerate(self.inputs)}
        return jnp.stack(
            [
                jnp.broadcast_to(parse_expression(text, self.inputs)(env), ())
                for text in self.expressions
            ]
        )


def physical_uncertainty(
    ude: UniversalODE,
    params: Mapping,
    ts,
    ys,
    y0,
    *,
    sigma,
    options: SolverOptions = REFIT_OPTIONS,
    scale_covariance: bool = False,
) -> Uncertainty:
    """Error bars of the physical parameters of a trained UDE, its network held at the optimum.

    The Gauss–Newton (Fisher information) covariance `(JᵀJ)⁻¹` of the weighted residuals
    `(y(t_i) - data_i)/sigma` with respect to the physical parameters alone, at the trained
    values (`diffsim.inverse.estimate_uncertainty` on the `OdeProblem` of the fixed-network
    model). Conditional on the network: it omits the trade-off between the physical terms and
    the network, so it is a lower bound on the joint uncertainty.

    **Arguments:**
    - `ude`, `params`: the model and its trained `{"physical", "network"}`.
    - `ts`, `ys`, `y0`, `sigma`: the data (as `trajectory_problem`).
    - `scale_covariance`: multiply by the reduced chi-square (when `sigma` is not known).

    **Returns:** an `Uncertainty` (`stderr` in the order of `ude.physical`).

    **Example:** `x' = -k*x + u(x)` with a network `u` that happens to be zero; the error bar
    of `k` is then that of the plain decay model.

    ```python
    # slow
    import jax
    import numpy as np
    from diffsim import neural, nn

    network = nn.MLP(1, 1, 2, 1, "tanh", dtype="float64", key=jax.random.key(0))
    network = jax.tree.map(lambda w: 0.0 * w, network)  # u = 0
    ude = neural.UniversalODE(
        lambda t, y, p, net: -p["k"] * y + net(y), states=("x",), physical=("k",)
    )
    ts = np.linspace(0.0, 1.0, 11)
    params = {"physical": {"k": 2.0}, "network": network}
    errors = neural.physical_uncertainty(ude, params, ts, np.exp(-2.0 * ts)[:, None], [1.0],
                                         sigma=0.01)
    assert 0.0 < errors.stderr[0] < 0.1
    ```
    """
    physical = {k: float(params["physical"][k]) for k in ude.physical}
    problem = trajectory_problem(
        ude.with_network(params["network"]), physical, ts, ys, y0, sigma=sigma, options=options
    )
    z = problem.space.to_internal(problem.space.initial_values())
    return estimate_uncertainty(problem, z, scale_covariance=scale_covariance)
