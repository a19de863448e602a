"""`UdeProblem`: a universal ODE and its data as a problem of the inverse layer.

The unknowns are the physical parameters of an `OdeProblem` (data, observables, noise
levels, initial state, solver settings) followed by every network weight (parameters of
group `"network"`), so `diffsim.fit` works on it as on any least-squares problem. The runner
trains it instead (`train`: Adam, then L-BFGS on the mean squared weighted residual), then
turns the learned term into equations (`recover_equations`) and reports both.
"""

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, ArrayLike

from .._solution import Solution
from ..inverse import (
    FitResult,
    OdeProblem,
    Parameter,
    ParameterSpace,
    TrainedProblem,
    Uncertainty,
    estimate_uncertainty,
    unavailable_uncertainty,
)
from ..inverse._taylor import taylor_summary
from ._recover import Recovered, Recovery, recover_equations
from ._train import train
from ._ude import UniversalODE

GROUP = "network"


@dataclasses.dataclass(frozen=True)
class TrainingProgress:
    """What the runner's progress callback receives while a UDE trains.

    ```python
    from diffsim import neural

    p = neural.TrainingProgress(50, "adam", 61.5, {"alpha": 1.3}, 2.0)
    assert p.line() == "adam     50  chi-square 6.150e+01  alpha=1.3"
    assert p.record()["chi_square"] == 61.5
    ```
    """

    step: int
    phase: str  # "adam" or "lbfgs"
    chi_square: float
    params: dict[str, float]  # the physical parameters' current values
    elapsed: float = 0.0  # seconds since training started

    def record(self) -> dict:
        """The progress as a JSON-ready dict (a line of a run's `metrics.jsonl`)."""
        return dataclasses.asdict(self)

    def line(self) -> str:
        """One progress line: step, chi-square and each physical parameter."""
        parts = [f"{self.phase} {self.step:>6}", f"chi-square {self.chi_square:.3e}"]
        parts += [f"{k}={v:.6g}" for k, v in self.params.items()]
        return "  ".join(parts)


class UdeProblem(TrainedProblem):
    """Weighted least squares for a UDE's physical parameters and network weights together.

    `diffsim.fit` fits it like any problem; `train` trains it (Adam, then L-BFGS) and turns
    the learned term into equations, as the runner does.

    **Fields:**
    - `base`: the `OdeProblem` of the physical parameters (its model holds the starting
      network; its data, observables, sigma, initial state, `t0` and options are used).
    - `ude`: the `UniversalODE`.
    - `network`: the starting network (its weights are the last unknowns).
    - `space`: the physical parameters, then one parameter per weight (group `"network"`).
    - `truth`: the true network outputs as a function of its inputs, when known (synthetic
      data), e.g. `TrueTerms`; the report compares the learned term with it.
    - `until`: the report extrapolates the fitted UDE (and the truth) up to this time.
    - `points`: how many times the report's curves, learned term and extrapolations have
      (the config's `report.points`); `level`: the recovered equation's band (the config's
      `uncertainty.level`).
    - `adam_steps`, `learning_rate`, `lbfgs_steps`: the training of `train`; it stops once
      chi-square per data value falls to `stop_below` (when given; 1 is the noise level).
    - `recovery`: how `train` turns the learned term into equations (`None`: it does not).
    - `scale_covariance`: scale error bars by the reduced chi-square (unknown noise level).
    - `recovered`: after `train`, the recovered equation (`Recovered`) or why there is none.
    - `training`: after `train`, what the report says about it.

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
    points: int = eqx.field(static=True)
    level: float = eqx.field(static=True)
    adam_steps: int = eqx.field(static=True)
    learning_rate: float = eqx.field(static=True)
    lbfgs_steps: int = eqx.field(static=True)
    stop_below: float | None = eqx.field(static=True)
    recovery: Recovery | None
    scale_covariance: bool = eqx.field(static=True)
    recovered: Recovered | str | None
    training: dict | None
    trained_x: np.ndarray | None

    def __init__(
        self,
        base: OdeProblem,
        ude: UniversalODE,
        network: eqx.Module,
        *,
        truth: eqx.Module | None = None,
        until: float | None = None,
        points: int = 400,
        level: float = 0.95,
        adam_steps: int = 300,
        learning_rate: float = 1e-2,
        lbfgs_steps: int = 500,
        stop_below: float | None = None,
        recovery: Recovery | None = None,
        scale_covariance: bool = True,
    ):
        self.base, self.ude, self.network = base, ude, network
        self.truth, self.until, self.points, self.level = truth, until, points, level
        self.adam_steps, self.learning_rate, self.lbfgs_steps = (
            adam_steps,
            learning_rate,
            lbfgs_steps,
        )
        self.recovery, self.scale_covariance = recovery, scale_covariance
        self.stop_below = stop_below
        self.recovered, self.training, self.trained_x = None, None, None
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

    # ----------------------------------------------------------------------------- training
    def _count(self) -> int:
        return max(int(np.isfinite(self.base.observed).sum()), 1)

    def train(
        self,
        *,
        callback: Callable[[TrainingProgress], None] | None = None,
        checkpoint: str | Path | None = None,
        log_every: int = 25,
    ) -> tuple["UdeProblem", FitResult]:
        """Train the network and the physical parameters together, then recover equations.

        Adam (`adam_steps` at `learning_rate`), then L-BFGS (`lbfgs_steps`), both on the
        chi-square per data value over the whole series (`neural.train`); then, with
        `recovery`, `recover_equations` on the trained network.

        **Arguments:** `callback(progress)` every `log_every` steps (a `TrainingProgress`);
        `checkpoint`: a file the trained network is saved to (`eqx.tree_serialise_leaves`).

        **Returns:** `(problem holding the trained state, FitResult)`.
        """
        space, base, count = self.space, self.base, self._count()
        trainee = eqx.tree_at(lambda p: p.base.options, self, self._training_options())
        to_values = jax.jit(lambda z: space.to_values(z))
        z0 = jnp.asarray(space.to_internal(space.initial_values()))
        rows, clock = [np.asarray(to_values(z0))], time.perf_counter()
        total = self.adam_steps + self.lbfgs_steps

        def record(step, phase, value, z):
            rows.append(np.asarray(to_values(z)))
            if callback is not None and (step % log_every == 0 or step == total):
                physical = {n: float(rows[-1][i]) for i, n in enumerate(base.space.names)}
                seconds = time.perf_counter() - clock
                callback(TrainingProgress(step, phase, value * count, physical, seconds))

        training = train(
            lambda z, batch: trainee.chi_square(z) / count,
            z0,
            adam_steps=self.adam_steps,
            learning_rate=self.learning_rate,
            lbfgs_steps=self.lbfgs_steps,
            stop_below=-np.inf if self.stop_below is None else self.stop_below,
            callback=record,
        )
        x = np.asarray(to_values(training.params))
        residuals = np.asarray(jax.jit(lambda v: self.misfit(v))(jnp.asarray(x)))
        chi_square = float(residuals @ residuals)
        ok = bool(np.isfinite(chi_square))
        network = self.trained_network(x)
        if checkpoint is not None:
            eqx.tree_serialise_leaves(checkpoint, network)
        adam = training.phases.count("adam")
        lbfgs = training.phases.count("lbfgs")
        message = (
            f"Trained {adam} Adam steps and {lbfgs} L-BFGS iterations; chi-square "
            f"{chi_square:.4g} for {count} data values."
        )
        if training.skipped:
            message += f" {training.skipped} Adam steps failed to solve and were skipped."
        recovered = None
        if self.recovery is not None and ok:
            values = base.values(jnp.asarray(x[: base.space.size]))
            try:
                recovered = recover_equations(
                    base,
                    self.ude,
                    network,
                    values,
                    self.recovery,
                    truth=self.truth,
                    until=self.until,
                    scale_covariance=self.scale_covariance,
                    points=self.points,
                    level=self.level,
                )
            except ValueError as error:  # e.g. no terms: the report says why
                recovered = str(error)
        seconds = time.perf_counter() - clock
        summary = {
            "adam": {"steps": adam, "learning_rate": self.learning_rate},
            "lbfgs": {"steps": lbfgs},
            "stop_below": self.stop_below,
            "loss": "chi-square per data value over the whole series",
            "compile_s": training.compile_seconds,
            "train_s": training.train_seconds,
            "recover_s": seconds - training.compile_seconds - training.train_seconds,
            "misfit_rms_sigma": float(np.sqrt(chi_square / count)),
        }
        problem = eqx.tree_at(
            lambda p: (p.recovered, p.training, p.trained_x),
            self,
            (recovered, summary, x),
            is_leaf=lambda v: v is None,
        )
        history = np.append(training.losses * count, chi_square)
        x0 = rows[0]
        result = FitResult(
            names=space.names,
            x=x,
            z=np.asarray(training.params),
            chi_square=chi_square,
            best_start=0,
            success=ok,
            code=1 if ok else -1,
            message=message,
            interrupted=False,
            num_steps=adam + lbfgs,
            method="universal ODE (adam, then l-bfgs)",
            gradient_mode="reverse",
            gradient_reason="reverse mode (jax.grad) of the training loss over the network "
            "weights and the physical parameters, through the solver's adjoint",
            jacobian=None,
            residuals=residuals,
            initial_gradient=np.full(space.size, np.nan),
            starts_x0=x0[None],
            starts_x=x[None],
            starts_loss=np.asarray([chi_square]),
            starts_code=np.asarray([1 if ok else -1]),
            loss_history=history[:, None],
            x_history=np.stack(rows)[:, None, :],
            compile_seconds=training.compile_seconds,
            fit_seconds=training.train_seconds,
        )
        return problem, result

    def _training_options(self):
        """The solver settings of training: a scalar loss of many unknowns is differentiated
        in reverse mode (`checkpoint` in place of `auto`, which would pick forward mode for
        at most 100 inputs)."""
        options = self.base.options
        return options.replace(adjoint="checkpoint") if options.adjoint == "auto" else options

    def adjoint_choice(self) -> tuple[str, str]:
        options = self._training_options()
        if options.adjoint != self.base.options.adjoint:
            return options.adjoint, "reverse mode for the scalar training loss (adjoint: auto)"
        return super().adjoint_choice()

    def taylor_check(self) -> dict:
        """Taylor test of the training loss's gradient (reverse mode, as training uses) in
        all unknowns at the start, in float64."""
        space = self.space
        trainee = eqx.tree_at(lambda p: p.base.options, self, self._training_options())
        z0 = jnp.asarray(space.to_internal(space.initial_values()), jnp.float64)
        value_and_grad = jax.jit(jax.value_and_grad(lambda z: trainee.chi_square(z)))
        loss = lambda z: value_and_grad(z)[0]  # noqa: E731  (one compilation for both)
        gradient = value_and_grad(z0)[1]
        return taylor_summary(loss, z0, gradient, what=f"(training loss, {z0.size} unknowns)")

    def uncertainty(self, *, scale_covariance: bool = True) -> Uncertainty:
        """Error bars of the physical parameters with the trained network held fixed
        (`physical_uncertainty`: a lower bound); none for the network weights."""
        size, physical = self.space.size, self.base.space.size
        note = "Network weights have no error bars (more weights than the data determine)"
        if self.trained_x is None:
            return unavailable_uncertainty(size, "Error bars need a trained network.")
        if physical == 0:
            return unavailable_uncertainty(size, note + "; no physical parameter is free.")
        x = jnp.asarray(self.trained_x)
        fixed = eqx.tree_at(
            lambda b: b.model, self.base, self.ude.with_network(self.trained_network(x))
        )
        z = fixed.space.to_internal(x[:physical])
        part = estimate_uncertainty(fixed, z, scale_covariance=scale_covariance)
        covariance = np.full((size, size), np.nan)
        correlation = covariance.copy()
        covariance[:physical, :physical] = part.covariance
        correlation[:physical, :physical] = part.correlation
        stderr = np.full(size, np.nan)
        stderr[:physical] = part.stderr
        message = note + "; the physical parameters' are conditional on the trained network."
        return Uncertainty(
            covariance=covariance,
            stderr=stderr,
            correlation=correlation,
            singular=part.singular,
            message=(part.message + " " if part.message else "") + message,
            condition_number=part.condition_number,
            scale=part.scale,
        )

    def describe(self) -> dict:
        described = self.base.describe()
        weights = self.space.size - self.base.space.size
        described["model"]["description"] = (
            f"universal ODE ({weights} network weights): " + described["model"]["description"]
        )
        details = {"weights": weights, "training": self.training}
        if isinstance(self.recovered, Recovered):
            details["recovered"] = self.recovered.summary
        elif isinstance(self.recovered, str):
            details["recovered"] = {"message": self.recovered}
        described["model"]["ude"] = details
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

    def report_arrays(self, x_fit, x_start, *, points: int | None = None) -> dict[str, np.ndarray]:
        """Data, noise levels, model curves, the learned term along the fitted trajectory (and
        the true one when known), the weights' index (the report draws the weights as a field
        over it), and every state extrapolated to `until` (fitted UDE, truth), each on
        `points` times (default: the problem's `points`)."""
        base, points = self.base, points or self.points
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
        if isinstance(self.recovered, Recovered):
            arrays |= self.recovered.arrays
        misfit = np.asarray(jax.jit(lambda x: self.misfit(x))(jnp.asarray(x_fit)))
        arrays["normalized_residuals"] = np.where(np.isfinite(misfit), misfit, np.nan).reshape(
            base.data.values.shape
        )
        return arrays
