"""Universal differential equations: known terms plus a network for the unknown part."""

from collections.abc import Callable, Mapping

import equinox as eqx
import jax
import numpy as np

from ..inverse import SolverOptions, Uncertainty, estimate_uncertainty
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
    """
    physical = {k: float(params["physical"][k]) for k in ude.physical}
    problem = trajectory_problem(
        ude.with_network(params["network"]), physical, ts, ys, y0, sigma=sigma, options=options
    )
    z = problem.space.to_internal(problem.space.initial_values())
    return estimate_uncertainty(problem, z, scale_covariance=scale_covariance)
