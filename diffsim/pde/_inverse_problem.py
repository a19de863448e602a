"""`FieldInverseProblem`: PDE unknowns (scalars, fields) fitted to sensor data by least squares."""

import time
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array

from ..inverse import LevenbergMarquardt, OptaxMethod
from ..inverse._methods import MESSAGES


class FieldInverseProblem(eqx.Module):
    """Weighted least squares `r = [(predict(z) - data) / σ, regularization(z)]`.

    `z` is the optimizer's flat vector; `fields(z)` maps it to the named unknowns (scalars or
    fields on the inversion grid, in physical units, e.g. `exp` of a log-diffusivity). The
    object has the `residuals`/`num_residuals`/`chi_square` interface of the ODE fits, so the
    optimizers of `diffsim.inverse` step it unchanged.

    **Fields:**
    - `name`, `description`: for reports.
    - `predict`: `z -> predictions` at the data points (shape of `data`).
    - `fields`: `z -> {name: value}`.
    - `regularization`: `z -> extra residuals` (e.g. `√w` times a field's gradient), or None.
    - `z0`: the starting vector; `data`, `sigma`: observations and their noise levels.
    - `truth`: `{name: value}` of the true unknowns on the inversion grid (for the report).
    - `sensors`, `times`: where and when the data were taken (for plots).
    - `coordinates`: cell centres of the inversion grid (for plots of fields).
    """

    name: str = eqx.field(static=True)
    description: str = eqx.field(static=True)
    predict: Callable = eqx.field(static=True)
    fields: Callable = eqx.field(static=True)
    regularization: Callable | None = eqx.field(static=True)
    z0: np.ndarray
    data: np.ndarray
    sigma: np.ndarray
    truth: dict
    sensors: np.ndarray
    times: np.ndarray
    coordinates: np.ndarray

    @property
    def num_data(self) -> int:
        return int(self.data.size)

    @property
    def num_residuals(self) -> int:
        extra = (
            0
            if self.regularization is None
            else int(jax.eval_shape(self.regularization, jnp.asarray(self.z0)).size)
        )
        return self.num_data + extra

    def residuals(self, z) -> Array:
        """Weighted misfits and regularization terms; all `inf` if the simulation fails."""
        misfit = ((self.predict(z) - self.data) / self.sigma).reshape(-1)
        if self.regularization is not None:
            misfit = jnp.concatenate([misfit, self.regularization(z)])
        return jnp.where(jnp.all(jnp.isfinite(misfit)), misfit, jnp.inf)

    def chi_square(self, z) -> Array:
        r = self.residuals(z)
        return jnp.sum(r * r)

    def misfit(self, z) -> Array:
        """The data part of chi-square (without regularization)."""
        r = (self.predict(z) - self.data) / self.sigma
        return jnp.sum(r * r)


class FieldFit(eqx.Module):
    """The outcome of `fit_fields`: estimate, convergence and history (host values)."""

    z: np.ndarray
    fields: dict
    chi_square: float
    misfit: float
    success: bool
    message: str
    num_steps: int
    loss_history: np.ndarray
    compile_seconds: float
    fit_seconds: float


def relative_error(estimate, truth) -> float:
    """`‖estimate - truth‖₂ / ‖truth‖₂` (absolute value for scalars)."""
    estimate, truth = np.asarray(estimate, float), np.asarray(truth, float)
    return float(np.linalg.norm(estimate - truth) / max(np.linalg.norm(truth), 1e-300))


def fit_fields(
    problem: FieldInverseProblem,
    method: str = "levenberg_marquardt",
    *,
    max_steps: int = 50,
    learning_rate: float = 1e-2,
    tolerance: float = 1e-10,
    callback: Callable[[int, float], None] | None = None,
) -> FieldFit:
    """Minimize chi-square of `problem` from `problem.z0`.

    **Arguments:**
    - `method`: `"levenberg_marquardt"` (Jacobian by forward mode: one JVP per unknown; right
      for up to a few hundred unknowns), `"lbfgs"` or `"adam"` (reverse-mode gradients).
    - `max_steps`: most optimizer steps; `learning_rate`: for Adam.
    - `tolerance`: `ftol`/`xtol`/`gtol` of the convergence tests.
    - `callback`: `callback(step, chi_square)` after every step.

    **Returns:** a `FieldFit`.
    """
    if method == "levenberg_marquardt":
        optimizer = LevenbergMarquardt(
            mode="forward", ftol=tolerance, xtol=tolerance, gtol=tolerance
        )
    elif method in ("lbfgs", "adam"):
        transform = optax.lbfgs() if method == "lbfgs" else optax.adam(learning_rate)
        optimizer = OptaxMethod(optimizer=transform, mode="reverse", ftol=tolerance, gtol=tolerance)
    else:
        raise ValueError(f"fit.method: unknown {method!r} (levenberg_marquardt, lbfgs, adam)")
    z0 = jnp.asarray(problem.z0, float)
    clock = time.perf_counter()
    init = jax.jit(lambda z: optimizer.init(problem, z)).lower(z0).compile()
    state = init(z0)
    step = jax.jit(lambda s: optimizer.step(problem, s)).lower(state).compile()
    compile_seconds = time.perf_counter() - clock
    clock = time.perf_counter()
    if isinstance(optimizer, LevenbergMarquardt):
        state = step(state)  # the first step evaluates the start
    losses = [float(state.loss)]
    num_steps = 0
    while num_steps < max_steps and int(state.code) == 0:
        state = step(state)
        num_steps += 1
        losses.append(float(state.loss))
        if callback is not None:
            callback(num_steps, losses[-1])
    code = int(state.code)
    z = np.asarray(state.z)
    return FieldFit(
        z=z,
        fields={k: np.asarray(v) for k, v in problem.fields(jnp.asarray(z)).items()},
        chi_square=float(state.loss),
        misfit=float(problem.misfit(jnp.asarray(z))),
        success=code > 0,
        message=MESSAGES[code],
        num_steps=num_steps,
        loss_history=np.asarray(losses),
        compile_seconds=compile_seconds,
        fit_seconds=time.perf_counter() - clock,
    )
