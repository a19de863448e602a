"""`UdeProblem`: a universal ODE and its data as a least-squares problem of the inverse layer.

The unknowns are the physical parameters of an `OdeProblem` (data, observables, noise
levels, initial state, solver settings) followed by every network weight (parameters of
group `"network"`), so `diffsim.fit`, the runner and the report work on it unchanged.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, ArrayLike

from .._solution import Solution
from ..inverse import OdeProblem, Parameter, ParameterSpace, WrappedProblem
from ._ude import UniversalODE

GROUP = "network"


class UdeProblem(WrappedProblem):
    """Weighted least squares for a UDE's physical parameters and network weights together.

    **Fields:**
    - `base`: the `OdeProblem` of the physical parameters (its model holds the starting
      network; its data, observables, sigma, initial state, `t0` and options are used).
    - `ude`: the `UniversalODE`.
    - `network`: the starting network (its weights are the last unknowns).
    - `space`: the physical parameters, then one parameter per weight (group `"network"`).
    - `truth`: the true network outputs as a function of its inputs, when known (synthetic
      data), e.g. `TrueTerms`; the report compares the learned term with it.
    - `until`: the report extrapolates the fitted UDE (and the truth) up to this time.

    **Example:** `x' = -k*x + u(x)`: one physical parameter, then the network's 7 weights.

    ```python
    import jax
    import numpy as np
    from diffsim import neural, nn

    network = nn.MLP(1, 1, 2, 1, "tanh", dtype="float64", key=jax.random.key(0))
    ude = neural.UniversalODE(
        lambda t, y, p, net: -p["k"] * y + net(y), states=("x",), physical=("k",)
    )
    ts = np.linspace(0.0, 1.0, 11)
    base = neural.trajectory_problem(
        ude.with_network(network), {"k": 1.0}, ts, np.exp(-2.0 * ts)[:, None], [1.0]
    )
    problem = neural.UdeProblem(base, ude, network)
    assert problem.space.size == 1 + 7 and problem.space.names[1] == "network[0]"
    x = problem.space.initial_values()
    assert np.allclose(problem.trained_network(x)(np.ones(1)), network(np.ones(1)))
    ```
    """

    base: OdeProblem
    ude: UniversalODE
    network: eqx.Module
    space: ParameterSpace
    truth: eqx.Module | None
    until: float | None = eqx.field(static=True)

    def __init__(
        self,
        base: OdeProblem,
        ude: UniversalODE,
        network: eqx.Module,
        *,
        truth: eqx.Module | None = None,
        until: float | None = None,
    ):
        self.base, self.ude, self.network = base, ude, network
        self.truth, self.until = truth, until
        flat = np.asarray(self._flatten(network))
        weights = tuple(
            Parameter(name=f"{GROUP}[{i}]", init=float(v), group=GROUP) for i, v in enumerate(flat)
        )
        transforms = base.space.transforms + tuple(w.check(GROUP) for w in weights)
        self.space = ParameterSpace(
            parameters=base.space.parameters + weights, transforms=transforms
        )

    @staticmethod
    def _flatten(network):
        return ravel_pytree(eqx.filter(network, eqx.is_inexact_array))[0]

    def trained_network(self, x: ArrayLike):
        """The network with the weights in the unknown values `x`."""
        dynamic, static = eqx.partition(self.network, eqx.is_inexact_array)
        unravel = ravel_pytree(dynamic)[1]
        weights = jnp.asarray(x)[self.base.space.size :].astype(self.network.dtype)
        return eqx.combine(unravel(weights), static)

    def _params(self, x):
        values = self.base.values(jnp.asarray(x)[: self.base.space.size])
        physical = {name: values[name] for name in self.ude.physical}
        return values, {"physical": physical, "network": self.trained_network(x)}

    def _solve(self, x, ts, options=None) -> tuple[Solution, dict, bool]:
        base = self.base
        ts = np.asarray(ts, dtype=float)
        prepend = base.t0 < ts[0]
        grid = np.concatenate([[base.t0], ts]) if prepend else ts
        values, params = self._params(x)
        y0 = base.initial_state(values)
        solution = (options or base.options).solve_ode(self.ude, y0, grid, params)
        return solution, values, prepend

    def solution(self, x: ArrayLike) -> Solution:
        return self._solve(x, self.base.data.ts)[0]

    def predict_at(self, x: ArrayLike, ts: ArrayLike) -> tuple[Array, Array]:
        """`(observables, status)` at times `ts` (shape `(T, M)`)."""
        solution, values, prepend = self._solve(x, ts)
        ys = solution.ys[1:] if prepend else solution.ys
        return self.base.observe(values, jnp.asarray(ts), ys), solution.status

    def predict(self, x: ArrayLike) -> tuple[Array, Array]:
        return self.predict_at(x, self.base.data.ts)

    def prior(self, z: ArrayLike) -> Array:
        return jnp.zeros(0, jnp.result_type(float))

    def describe(self) -> dict:
        described = self.base.describe()
        described["model"]["description"] = (
            f"universal ODE ({self.space.size - self.base.space.size} network weights): "
            + described["model"]["description"]
        )
        return described

    def _extrapolation(self, x, points: int) -> dict[str, np.ndarray]:
        """Every state of the fitted UDE (and of the true model) from `t0` to `until`."""
        base = self.base
        if self.until is None or self.until <= float(base.data.ts[-1]):
            return {}
        ts = np.linspace(base.t0, self.until, points)
        values, params = self._params(x)
        y0 = base.initial_state(values)
        arrays = {"extrapolation_ts": ts}
        networks = {"extrapolation_fit": params["network"], "extrapolation_truth": self.truth}
        for key, network in networks.items():
            if network is not None:
                solution = base.options.solve_ode(self.ude, y0, ts, {**params, "network": network})
                ok = int(solution.status) == 0
                arrays[key] = np.where(ok, np.asarray(solution.ys), np.nan)
        return arrays

    def report_arrays(self, x_fit, x_start, *, points: int = 400) -> dict[str, np.ndarray]:
        """Data, noise levels, model curves, the learned term along the fitted trajectory (and
        the true one when known), the weights' index (the report draws the weights as a field
        over it), and every state extrapolated to `until` (fitted UDE, truth)."""
        base = self.base
        fine = np.linspace(base.t0, float(base.data.ts[-1]), points)
        curve = jax.jit(lambda x: self.predict_at(x, fine))
        arrays = {
            "ts": np.asarray(base.data.ts),
            "data": np.asarray(base.data.values),
            "sigma": np.asarray(base.sigma),
            "fine_ts": fine,
            f"field_{GROUP}_coordinates": np.arange(self.space.size - base.space.size)[:, None],
        }
        for key, x in (("curve_start", x_start), ("curve_fit", x_fit)):
            values, status = curve(jnp.asarray(x))
            arrays[key] = np.where(int(status) == 0, np.asarray(values), np.nan)
        solution = self._solve(jnp.asarray(x_fit), fine)[0]
        if int(solution.status) == 0:
            states = np.asarray(solution.ys[-points:])
            arrays["states_fit"] = states
            arrays["learned_fit"] = self.ude.learned(self.trained_network(x_fit), states)
            if self.truth is not None:
                arrays["truth_fit"] = self.ude.learned(self.truth, states)
        arrays |= self._extrapolation(jnp.asarray(x_fit), points)
        misfit = np.asarray(jax.jit(lambda x: self.misfit(x))(jnp.asarray(x_fit)))
        arrays["normalized_residuals"] = np.where(np.isfinite(misfit), misfit, np.nan).reshape(
            base.data.values.shape
        )
        return arrays
