"""`JointProblem`: several experiments of one model (ODE, or PDE on a grid) fitted as one
problem.

Each experiment is an `OdeProblem` or `PdeProblem` of its own (its data, initial values,
known inputs); the joint unknowns are shared by all experiments or local to one. The
residual vector is the experiments' residuals one after another, so `fit`, the uncertainty,
profiles, the bootstrap and the report treat a joint fit like any other problem. Experiments
with the same data times and the same structure (they differ only in numbers) are solved as
one `vmap`ped batch.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from .._solution import Solution
from ._options import SolverOptions
from ._parameters import ParameterSpace
from ._problem import AbstractProblem


class JointProblem(AbstractProblem):
    """Weighted least squares over several experiments sharing some unknowns.

    Experiment `e` sees the vector `x_e = where(take[e] >= 0, x[take[e]], inputs[e])`:
    its entries are joint unknowns (shared or local) or known values of this experiment.

    **Fields:**
    - `space`: the joint free parameters (shared ones, then each experiment's local ones).
    - `experiments`: one `OdeProblem` (or `PdeProblem`) per experiment, all of one kind
      (its `space` names the entries of `x_e`; its data, noise levels and likelihood are
      that experiment's).
    - `names`: the experiments' names.
    - `take`: per experiment, the joint index of each entry of `x_e` (`-1`: a known input).
    - `inputs`: per experiment, the values of the entries that are not estimated.
    - `groups`: experiments solved together as one `vmap`ped batch (same data times and
      structure), each group's first experiment standing for all.
    - `fixed`: the known values reported beside the estimates.

    **Example:** two experiments share a decay rate; each has its own start value.

    ```python
    # slow
    import diffsim

    config = diffsim.config.validate_config({
        "name": "two_decays",
        "model": {"equations": {"y": "-k * y"}},
        "parameters": {"k": {"init": 0.5, "true": 0.8, "transform": "log"}},
        "initial_state": {"y": {"init": 1.0, "true": 2.0}},
        "local": ["y0"],
        "observations": {"y": {"sigma": 0.01}},
        "solver": {"name": "rk4", "dt": 0.1},
        "experiments": [
            {"name": "a", "data": {"synthetic": {"times": {"start": 0, "stop": 2, "num": 5}}}},
            {"name": "b", "initial_state": {"y": {"init": 1.0, "true": 3.0}},
             "data": {"synthetic": {"times": {"start": 0, "stop": 2, "num": 5}}}},
        ],
    })
    problem = diffsim.build_problem(config)
    assert isinstance(problem, diffsim.inverse.JointProblem) and problem.names == ("a", "b")
    print(problem.space.names)  # the shared rate, then one start value per experiment
    result = diffsim.fit(problem)
    assert result.success and abs(result.x[0] - 0.8) < 0.05
    ```
    """

    space: ParameterSpace
    experiments: tuple[AbstractProblem, ...]
    names: tuple[str, ...] = eqx.field(static=True)
    take: tuple[np.ndarray, ...]
    inputs: tuple[np.ndarray, ...]
    groups: tuple[tuple[int, ...], ...] = eqx.field(static=True)
    fixed: dict[str, float] = eqx.field(static=True)

    @property
    def options(self) -> SolverOptions:
        return self.experiments[0].options

    @property
    def observed(self) -> np.ndarray:
        """The experiments' data stacked by rows, shape `(sum of T_e, M)`."""
        return np.concatenate([e.observed for e in self.experiments])

    @property
    def sigma(self) -> np.ndarray:
        return np.concatenate([e.sigma for e in self.experiments])

    @property
    def rows(self) -> np.ndarray:
        """Where each experiment's rows start in `observed` (and the end): `(E + 1,)`."""
        return np.cumsum([0] + [e.observed.shape[0] for e in self.experiments])

    def experiment_values(self, x: ArrayLike) -> list[Array]:
        """`x_e` of every experiment for the joint values `x`."""
        x = jnp.asarray(x)
        return [
            jnp.where(jnp.asarray(take) >= 0, x[jnp.maximum(jnp.asarray(take), 0)], inputs)
            for take, inputs in zip(self.take, self.inputs, strict=True)
        ]

    def _grouped(self, xs: list[Array], evaluate) -> list:
        """`evaluate(problem, x_e)` for every experiment, one `vmap` per group, in order."""
        out = [None] * len(self.experiments)
        for group in self.groups:
            problem = self.experiments[group[0]]
            if len(group) == 1:
                out[group[0]] = evaluate(problem, xs[group[0]])
                continue
            batch = jax.vmap(lambda x, p=problem: evaluate(p, x))(jnp.stack([xs[e] for e in group]))
            for k, e in enumerate(group):
                out[e] = jax.tree.map(lambda leaf, k=k: leaf[k], batch)
        return out

    def predict(self, x: ArrayLike) -> tuple[Array, Array]:
        results = self._grouped(self.experiment_values(x), lambda p, xe: p.predict(xe))
        prediction = jnp.concatenate([r[0] for r in results])
        statuses = jnp.stack([r[1] for r in results])
        status = statuses[jnp.argmax(statuses != 0)]  # the first failure, 0 when none
        return prediction, status

    def prior(self, z: ArrayLike) -> Array:
        return jnp.zeros(0, jnp.result_type(float))

    def solution(self, x: ArrayLike) -> Solution:
        """The first experiment's solution (the solver and gradient strategy are shared)."""
        return self.experiments[0].solution(self.experiment_values(x)[0])

    def describe(self) -> dict:
        first = self.experiments[0].describe()
        sources = [e.describe()["data"]["source"] for e in self.experiments]
        return {
            "kind": first["kind"],
            "model": first["model"],
            "data": {
                "source": ", ".join(sources),
                "observations": first["data"]["observations"],
                "experiments": [
                    {"name": name, "source": source, "num_points": e.num_points}
                    for name, source, e in zip(self.names, sources, self.experiments, strict=True)
                ],
            },
        }

    def report_arrays(self, x_fit, x_start) -> dict[str, np.ndarray]:
        """The stacked data and noise levels (`data`, `sigma`, `experiment_rows`), and each
        experiment's own report arrays (its problem's `report_arrays`: data times or
        sensors, model curves or solution, ...) with keys `e{k}_...`."""
        starts, fits = self.experiment_values(x_start), self.experiment_values(x_fit)
        arrays = {"data": self.observed, "sigma": self.sigma, "experiment_rows": self.rows}
        for k, problem in enumerate(self.experiments):
            own = problem.report_arrays(fits[k], starts[k])
            arrays |= {f"e{k}_{key}": value for key, value in own.items()}
        return arrays

    def forecast_arrays(
        self, x_fit, covariance, until: float, *, points: int = 400, level: float = 0.95
    ) -> dict[str, np.ndarray]:
        """Each experiment's forecast (`OdeProblem.forecast_arrays`) with keys `e{k}_...`.

        Experiment `k` sees `x_k = S_k x` (plus known inputs), so the covariance of its
        unknowns is `S_k C S_k^T`: its bands carry the uncertainty of the shared parameters
        and of its own local ones, and none of the other experiments' local ones.
        """
        covariance = np.asarray(covariance, float)
        arrays = {"forecast_level": np.asarray(level)}
        for k, (problem, x_k) in enumerate(
            zip(self.experiments, self.experiment_values(x_fit), strict=True)
        ):
            take = np.asarray(self.take[k])
            select = np.zeros((take.size, covariance.shape[0]))
            select[take >= 0, take[take >= 0]] = 1.0
            forecast = problem.forecast_arrays(
                x_k, select @ covariance @ select.T, until, points=points, level=level
            )
            arrays |= {f"e{k}_{key}": value for key, value in forecast.items()}
        return arrays
