"""`PinnInverseProblem`: a PINN and its sensor data as a problem of the inverse layer.

A grid-based `PdeProblem` holds the data, noise levels, unknowns and the solver of the same
configured model; a `PINNProblem` holds the physics as loss terms. Training replaces the
least-squares fit: `train` returns the problem holding the trained network, and a `FitResult`
in the schema every fit has, so the runner, `Result` and report treat it like any other run.
(Named so as not to differ from `PINNProblem` by case alone.)
"""

import math
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
    ParameterSpace,
    PdeProblem,
    TrainedProblem,
    Uncertainty,
    unavailable_uncertainty,
)
from ..inverse._taylor import taylor_summary
from ._problem import Observations, PINNProblem, Trainable
from ._sampling import Collocation
from ._train import Progress, Trained, train
from ._uncertainty import coefficient_covariance
from ._weighting import Causal, Fixed, GradNorm

UNCERTAINTY_METHOD = (
    "Gauss-Newton at the trained optimum over the network weights and the coefficients "
    "together: the data rows (model - data)/sigma and the PDE-residual rows at the final "
    "collocation points (weighted as in training) are linearized in all trainable variables, "
    "and the coefficients' covariance is the inverse Schur complement after projecting out "
    "the network's directions, so a change of a coefficient that the network can absorb does "
    "not count as information (pinn.coefficient_covariance). Initial and boundary rows are "
    "left out (conservative). It is local and linearized: it measures the noise, not an "
    "unfinished training."
)


class Training(eqx.Module):
    """How the network is trained (the settings of `pinn.train`).

    Collocation, the Adam and L-BFGS phases, loss weighting, seed, logging and checkpoint
    intervals. A config's `pinn:` section makes one.

    ```python
    from diffsim import pinn

    training = pinn.Training(
        pinn.Collocation(2000), adam_steps=500, learning_rate=1e-3, lbfgs_steps=1000,
        lbfgs_float64=True, weighting=pinn.Fixed(), causal=None, seed=0, log_every=100,
        checkpoint_every=1000,
    )
    assert training.collocation.n == 2000
    ```
    """

    collocation: Collocation
    adam_steps: int = eqx.field(static=True)
    learning_rate: float = eqx.field(static=True)
    lbfgs_steps: int = eqx.field(static=True)
    lbfgs_float64: bool = eqx.field(static=True)
    weighting: Fixed | GradNorm
    causal: Causal | None
    seed: int = eqx.field(static=True)
    log_every: int = eqx.field(static=True)
    checkpoint_every: int = eqx.field(static=True)


class PinnInverseProblem(TrainedProblem):
    """The unknown coefficients of a PDE identified by a physics-informed network.

    `predict` is the network's field at the data points (the coefficients act through
    training, not directly); `solution` is the grid solver's, used as the reference. Build it
    from a config with `model.solve_with: pinn` (`diffsim.config.build_problem`).

    **Fields:**
    - `base`: the grid `PdeProblem` of the same config (data, noise, unknowns, solver).
    - `pinn`: the `PINNProblem` (its unknowns are named as `base.space`'s).
    - `network`: the starting network; `training`: the `Training` settings.
    - `description`: the network, for reports; `reference`: solve on the grid for the report.
    - `trained`: the `Trained` outcome once `train` has run (else `None`); `maps`: then, for
      1D models, the field, its residual and the reference on the grid (see `field_maps`).

    ```python
    from diffsim.config import build_problem, load_config

    config = load_config("configs/burgers_identification_pinn.yaml", ["pinn.network.width=4"])
    problem = build_problem(config, "configs")
    assert type(problem).__name__ == "PinnInverseProblem" and problem.trained is None
    assert problem.space.names == ("lambda1", "lambda2") and problem.pinn.data is not None
    ```
    """

    base: PdeProblem
    pinn: PINNProblem
    network: eqx.Module
    training: Training
    description: str = eqx.field(static=True)
    reference: bool = eqx.field(static=True)
    trained: Trained | None = None
    maps: dict | None = None

    @property
    def space(self) -> ParameterSpace:
        return self.base.space

    def trainable(self) -> Trainable:
        """The trained network and unknowns, or the starting ones before training."""
        return self.pinn.init(self.network) if self.trained is None else self.trained.trainable

    def predict(self, x: ArrayLike) -> tuple[Array, Array]:
        """The network's values at the data points (independent of `x`: a PINN's
        prediction is its field; the coefficients shape it through training)."""
        del x
        base, several = self.base, self.pinn.data.component is not None
        at = Observations(
            jnp.asarray(base.times),
            jnp.asarray(base.coordinates),
            jnp.asarray(base.observed),  # every value, missing ones (NaN) too
            component=jnp.asarray(base.variables) if several else None,
        )
        values = at.predicted(self.pinn.field(self.trainable()))
        return values.astype(jnp.result_type(float)), jnp.zeros((), jnp.int32)

    def prior(self, z: ArrayLike) -> Array:
        return jnp.zeros(0, jnp.result_type(float))

    def solution(self, x: ArrayLike) -> Solution:
        """The grid solver's solution for coefficient values `x` (the reference)."""
        return self.base.solution(x)

    def adjoint_choice(self) -> tuple[str, str]:
        """A PINN is not time-stepped: no adjoint (its derivatives are exact AD)."""
        return "none", (
            "a PINN is not time-stepped: the PDE's derivatives are forward-mode derivatives of "
            "the network, the loss gradient is reverse mode over weights and coefficients"
        )

    # ----------------------------------------------------------------------------- training
    def train(
        self,
        *,
        callback: Callable[[Progress], None] | None = None,
        checkpoint: str | Path | None = None,
    ) -> tuple["PinnInverseProblem", FitResult]:
        """Train the network and the coefficients (Adam, then L-BFGS; see `pinn.train`).

        **Arguments:** `callback(progress)` every `training.log_every` steps; `checkpoint`: a
        file the trainable leaves are saved to (see `pinn.load`).

        **Returns:** `(problem holding the trained network, FitResult)`: the estimates, the
        data chi-square, the training loss and coefficient values over the logged steps.
        """
        t = self.training
        trained = train(
            self.pinn,
            self.network,
            collocation=t.collocation,
            seed=t.seed,
            adam_steps=t.adam_steps,
            learning_rate=t.learning_rate,
            lbfgs_steps=t.lbfgs_steps,
            lbfgs_float64=t.lbfgs_float64,
            weighting=t.weighting,
            causal=t.causal,
            callback=callback,
            log_every=t.log_every,
            checkpoint=checkpoint,
            checkpoint_every=t.checkpoint_every,
        )
        problem = eqx.tree_at(lambda p: p.trained, self, trained, is_leaf=lambda v: v is None)
        names = self.space.names
        x0 = np.asarray(self.space.initial_values())
        x = np.asarray([trained.params[n] for n in names])
        try:
            maps = problem.field_maps(x)
        except KeyboardInterrupt:  # the report then lacks the maps
            maps = None
        problem = eqx.tree_at(lambda p: p.maps, problem, maps, is_leaf=lambda v: v is None)
        residuals = np.asarray(problem.misfit(x))
        chi_square = float(residuals @ residuals)
        history = trained.history
        steps = len(history["step"])
        adam, lbfgs = trained.steps["adam"], trained.steps["lbfgs"]
        ok = trained.status == "ok" and math.isfinite(chi_square)
        if trained.status == "ok":
            message = (
                f"Trained {adam} Adam steps and {lbfgs} L-BFGS iterations; final training "
                f"loss {history['loss'][-1]:.3e}."
            )
        else:
            message = f"Training stopped after {adam} Adam steps and {lbfgs} L-BFGS iterations: "
            message += trained.status
        x_history = np.stack([history[f"param_{n}"] for n in names], axis=-1).reshape(steps, 1, -1)
        seconds = trained.seconds["adam"] + trained.seconds["lbfgs"]
        result = FitResult(
            names=names,
            x=x,
            z=np.asarray(self.space.to_internal(x)),
            chi_square=chi_square,
            best_start=0,
            success=ok and not trained.interrupted,
            code=1 if ok else -1,
            message=message,
            interrupted=trained.interrupted,
            num_steps=adam + lbfgs,
            method="pinn (adam, then l-bfgs)",
            gradient_mode="reverse",
            gradient_reason=(
                "reverse mode (jax.grad) of the training loss over the network weights and "
                "the coefficients; the PDE's derivatives inside it are forward mode (jvp)"
            ),
            jacobian=None,
            residuals=residuals,
            initial_gradient=np.full(len(names), np.nan),
            starts_x0=x0[None],
            starts_x=x[None],
            starts_loss=np.asarray([chi_square]),
            starts_code=np.asarray([1 if ok else -1]),
            loss_history=np.asarray(history["loss"], float).reshape(steps, 1),
            x_history=x_history,
            compile_seconds=0.0,
            fit_seconds=seconds,
        )
        return problem, result

    # ----------------------------------------------------------------------- checks, error bars
    def taylor_check(self) -> dict:
        """Taylor test of the training loss's gradient (reverse mode, as training uses) in
        all trainable variables at the starting network, in float64."""
        start = jax.tree_util.tree_map(
            lambda a: a.astype(jnp.float64) if eqx.is_inexact_array(a) else a,
            self.pinn.init(self.network),
        )
        t = self.training
        points = jax.tree_util.tree_map(jnp.asarray, self.pinn.points(t.seed))
        n = min(t.collocation.n, 256)
        tx = t.collocation.sampler.sample(t.collocation.n, self.pinn.lower, self.pinn.upper, t.seed)
        tx = jnp.asarray(tx[:n], jnp.float64)
        flat, unravel = ravel_pytree(start)

        def loss(theta):
            return sum(self.pinn.loss_terms(unravel(theta), tx, points).values())

        gradient = jax.jit(jax.grad(loss))(flat)
        return taylor_summary(loss, flat, gradient, what=f"(training loss, {flat.size} variables)")

    def uncertainty(self, *, scale_covariance: bool = True) -> Uncertainty:
        """Covariance of the coefficients (see `UNCERTAINTY_METHOD`), scaled by the reduced
        data chi-square `Σ((u_θ - data)/σ)² / (N - P)` when `scale_covariance` (as the
        least-squares fits do when the noise level is unknown)."""
        names = self.space.names
        if self.trained is None:
            return unavailable_uncertainty(len(names), "Error bars need a trained network.")
        residuals = np.asarray(self.misfit(self.space.initial_values()))
        dof = self.num_points - len(names)
        scale = float(residuals @ residuals) / dof if (scale_covariance and dof > 0) else 1.0
        t = self.trained
        try:
            order, covariance, _ = coefficient_covariance(self.pinn, t.trainable, t.collocation)
        except np.linalg.LinAlgError:
            return unavailable_uncertainty(
                len(names),
                "Error bars cannot be estimated: the network can absorb a change of the "
                "coefficients (the reduced Gauss-Newton matrix is singular).",
                scale=scale,
            )
        index = [order.index(n) for n in names]
        covariance = scale * covariance[np.ix_(index, index)]
        stderr = np.sqrt(np.diag(covariance))
        if not np.all(np.isfinite(stderr)):
            return unavailable_uncertainty(
                len(names), "Error bars cannot be estimated: the covariance is not finite."
            )
        correlation = covariance / np.outer(stderr, stderr)
        return Uncertainty(
            covariance=covariance,
            stderr=stderr,
            correlation=correlation,
            singular=False,
            message="",
            condition_number=math.nan,
            scale=scale,
        )

    # ------------------------------------------------------------------------------ report
    def describe(self) -> dict:
        described = self.base.describe()
        described["kind"] = "pinn"
        model = described["model"]
        model["description"] = f"{model['name']} solved by a PINN ({self.description})"
        t, pinn = self.training, self.pinn
        details = {
            "network": self.description,
            "time": list(pinn.t_span),
            "box": {"lower": list(pinn.lower[1:]), "upper": list(pinn.upper[1:])},
            "collocation": {
                "points": t.collocation.n,
                "sampler": type(t.collocation.sampler).__name__,
                "resample_every": t.collocation.resample_every,
                "adaptive": t.collocation.adaptive is not None,
            },
            "hard": list(pinn.ansatz.hard),
            "weighting": type(t.weighting).__name__,
            "causal": t.causal is not None,
            "adam": {"steps": t.adam_steps, "learning_rate": t.learning_rate},
            "lbfgs": {"steps": t.lbfgs_steps, "float64": t.lbfgs_float64},
            "seed": t.seed,
            "uncertainty_method": UNCERTAINTY_METHOD,
        }
        if self.trained is not None:
            history = self.trained.history
            terms = [k for k in ("residual", "initial", "boundary", "data") if k in history]
            details.update(
                status=self.trained.status,
                seconds=dict(self.trained.seconds),
                final_loss={k: history[k][-1] for k in terms} if history["step"] else {},
                dtype=self.trained.dtype,
            )
        if self.maps:
            residual = self.maps["pinn_residual_map"]
            details["residual_on_grid"] = {
                "rms": float(np.sqrt(np.mean(residual**2))),
                "max_abs": float(np.max(np.abs(residual))),
            }
            if "pinn_reference" in self.maps:
                reference = self.maps["pinn_reference"]
                error = np.linalg.norm(self.maps["solution_fit"] - reference)
                details["reference"] = {
                    "what": f"the grid solver ({self.base.description}) at "
                    + str(self.maps["pinn_reference_label"]),
                    "relative_l2_error": float(error / np.linalg.norm(reference)),
                }
        model["pinn"] = details
        return described

    def _reference_values(self, x_fit) -> tuple[np.ndarray | None, str]:
        """The grid solver's solution for the reference, and what it is."""
        truth = [p.true for p in self.space.parameters]
        if all(v is not None for v in truth):
            x, label = np.asarray(truth, float), "the true coefficients"
        else:
            x, label = np.asarray(x_fit, float), "the PINN's estimated coefficients"
        solution = jax.jit(lambda v: self.base.solution(v))(jnp.asarray(x))
        if int(solution.status) != 0:
            return None, label
        return np.asarray(self.base.states(solution)[0]), label

    def field_maps(self, x_fit) -> dict[str, np.ndarray]:
        """For a 1D model: the network's field (first component) and its PDE residual on the
        model grid at the output times (`solution_fit`, `pinn_residual_map`, `(T, cells)`),
        and with `reference` the grid solver's solution there (`pinn_reference`) at the true
        coefficients when all are known, else at `x_fit`. Empty for 2D models."""
        base = self.base
        grid = base.assemble(*base.values(jnp.asarray(x_fit)))[0].grid
        if grid.ndim != 1:
            return {}
        trainable = self.trainable()
        dtype = jax.tree_util.tree_leaves(eqx.filter(trainable, eqx.is_inexact_array))[0].dtype
        tt, xx = np.meshgrid(base.ts, grid.axis(0), indexing="ij")
        tx = jnp.asarray(np.column_stack([tt.ravel(), xx.ravel()]), dtype)
        fn = self.pinn.field(trainable)

        @jax.jit
        def evaluate(tx):
            u = jax.vmap(lambda p: fn(p[0], p[1:]))(tx)
            r = self.pinn.residuals(trainable, tx)
            return (u if u.ndim == 1 else u[:, 0]), (r if r.ndim == 1 else r[:, 0])

        field, residual = evaluate(tx)
        maps = {
            "solution_fit": np.asarray(field, float).reshape(tt.shape),
            "pinn_residual_map": np.asarray(residual, float).reshape(tt.shape),
        }
        if self.reference:
            values, label = self._reference_values(x_fit)
            if values is not None:
                maps["pinn_reference"] = values
                maps["pinn_reference_label"] = np.asarray(label)
        return maps

    def report_arrays(self, x_fit, x_start) -> dict[str, np.ndarray]:
        """Data and the network at the data points (starting and trained), the model grid,
        the loss terms over the logged steps and the `maps` of `train`."""
        base = self.base
        arrays = {
            "times": np.asarray(base.times),
            "coordinates": np.asarray(base.coordinates),
            "variables": np.asarray(base.variables),
            "data": np.asarray(base.observed),
            "sigma": np.asarray(base.sigma),
            "output_ts": np.asarray(base.ts),
        }
        start = eqx.tree_at(lambda p: p.trained, self, None, is_leaf=lambda v: v is None)
        for key, problem in (("start", start), ("fit", self)):
            arrays[f"prediction_{key}"] = np.asarray(problem.predict(x_fit)[0])
        grid = base.assemble(*base.values(jnp.asarray(x_fit)))[0].grid
        for i in range(grid.ndim):
            arrays[f"grid_axis{i}"] = grid.axis(i)
        if self.trained is not None:
            history = self.trained.history
            arrays["pinn_step"] = np.asarray(history["step"], float)
            for k in ("loss", "residual", "initial", "boundary", "data"):
                if k in history:
                    arrays[f"pinn_{k}"] = np.asarray(history[k], float)
        arrays.update(self.maps or {})
        return arrays
