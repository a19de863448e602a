"""Optimizer steps on an `AbstractProblem`, written as pure functions of a state pytree.

Every method has `init(problem, z) -> state` and `step(problem, state) -> state`; both can be
`jit`ted and `vmap`ped over starting points. A step whose trial point cannot be simulated (the
loss is not finite) is rejected: the state keeps its point and the method shrinks its step.
`state.code` is 0 while running, positive once converged and negative on failure; a state
with a nonzero code is returned unchanged by `step`.
"""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array

CONVERGED_FTOL = 1
CONVERGED_XTOL = 2
CONVERGED_GTOL = 3
CONVERGED_ZERO = 4
FAILED_NO_DECREASE = -1
FAILED_START = -2

MESSAGES = {
    0: "Stopped after the maximum number of steps without meeting a convergence test.",
    CONVERGED_FTOL: "Converged: the relative reduction of chi-square fell below ftol.",
    CONVERGED_XTOL: "Converged: the relative step size fell below xtol.",
    CONVERGED_GTOL: "Converged: the gradient fell below gtol.",
    CONVERGED_ZERO: "Converged: chi-square is exactly zero.",
    FAILED_NO_DECREASE: "Failed: no step reduced chi-square (the damping or step scale ran out).",
    FAILED_START: "Failed: the model cannot be simulated at the starting point (non-finite loss).",
}


def _freeze(old, new):
    """Keep `old` once it has finished (vmap-friendly `if old.code != 0: return old`)."""
    running = old.code == 0
    return jax.tree.map(lambda a, b: jnp.where(running, b, a), old, new)


def _residuals_and_jacobian(problem, z: Array, mode: str) -> tuple[Array, Array]:
    def twice(z):
        r = problem.residuals(z)
        return r, r

    jacobian = jax.jacfwd if mode == "forward" else jax.jacrev
    jac, r = jacobian(twice, has_aux=True)(z)
    return r, jac


class LeastSquaresState(eqx.Module):
    """State of a Gauss–Newton-type method: point, residuals, Jacobian and damping."""

    z: Array
    residuals: Array
    jacobian: Array
    loss: Array
    damping: Array
    growth: Array
    code: Array
    accepted: Array

    @property
    def gradient(self) -> Array:
        """Gradient of chi-square in optimizer coordinates: `2 J^T r` (batch axes allowed)."""
        return 2 * jnp.einsum("...ij,...i->...j", self.jacobian, self.residuals)


class AbstractLeastSquares(eqx.Module):
    """A method that uses the residual Jacobian `J`: steps solve a (damped) `J^T J` system.

    **Fields:**
    - `mode`: `"forward"` (`jax.jacfwd`) or `"reverse"` (`jax.jacrev`) for the Jacobian.
    - `ftol`, `xtol`, `gtol`: convergence tolerances (MINPACK-style: relative chi-square
      reduction, relative step, cosine between residuals and Jacobian columns).

    **Example:** the least-squares methods use the residual Jacobian; `mode` says how it is
    computed.

    ```python
    import diffsim

    config = diffsim.config.validate_config({
        "name": "decay",
        "model": {"equations": {"y": "-k * y"}},
        "parameters": {"k": {"init": 0.5, "true": 0.8, "transform": "log"}},
        "initial_state": {"y": 1.0},
        "observations": {"y": {"sigma": 0.01}},
        "data": {"synthetic": {"times": {"start": 0.0, "stop": 2.0, "num": 5}, "seed": 0}},
        "solver": {"name": "rk4", "dt": 0.1},
    })
    problem = diffsim.build_problem(config)
    for name, kind in [("levenberg_marquardt", diffsim.inverse.LevenbergMarquardt),
                       ("gauss_newton", diffsim.inverse.GaussNewton)]:  # fmt: skip
        method, mode, _ = diffsim.inverse.make_method(name, problem, ftol=1e-10)
        assert isinstance(method, diffsim.inverse.AbstractLeastSquares) and isinstance(method, kind)
        assert method.mode == mode and method.ftol == 1e-10
    ```
    """

    mode: str = eqx.field(static=True, default="forward")
    ftol: float = eqx.field(static=True, default=1e-8)
    xtol: float = eqx.field(static=True, default=1e-8)
    gtol: float = eqx.field(static=True, default=1e-8)

    @abc.abstractmethod
    def _initial_damping(self) -> float: ...

    @abc.abstractmethod
    def _proposal(self, jacobian, residuals, damping) -> Array: ...

    @abc.abstractmethod
    def _next_damping(self, damping, growth, accept, ratio) -> tuple[Array, Array]: ...

    @abc.abstractmethod
    def _exhausted(self, damping) -> Array: ...

    def init(self, problem, z: Array) -> LeastSquaresState:
        """A state at `z` that has not been evaluated yet (infinite loss).

        The first `step` evaluates residuals and Jacobian at `z` instead of moving, so that
        only `step` needs compiling.
        """
        num_residuals = problem.num_residuals
        return LeastSquaresState(
            z=z,
            residuals=jnp.zeros(num_residuals, z.dtype),
            jacobian=jnp.zeros((num_residuals, z.shape[0]), z.dtype),
            loss=jnp.asarray(jnp.inf, z.dtype),
            damping=jnp.asarray(self._initial_damping(), dtype=z.dtype),
            growth=jnp.asarray(2.0, dtype=z.dtype),
            code=jnp.asarray(0),
            accepted=jnp.asarray(True),
        )

    def step(self, problem, state: LeastSquaresState) -> LeastSquaresState:
        """Propose a step, evaluate it, accept or reject it, and test convergence."""
        jac, r, loss = state.jacobian, state.residuals, state.loss
        first = ~jnp.isfinite(loss)
        delta = jnp.where(first, 0.0, self._proposal(jac, r, state.damping))
        r_new, jac_new = _residuals_and_jacobian(problem, state.z + delta, self.mode)
        loss_new = r_new @ r_new
        jd = jac @ delta
        predicted = -(2 * jd @ r + jd @ jd)
        actual = loss - loss_new
        finite = (
            jnp.isfinite(loss_new) & jnp.all(jnp.isfinite(jac_new)) & jnp.all(jnp.isfinite(delta))
        )
        ratio = jnp.where(predicted > 0, actual / jnp.where(predicted > 0, predicted, 1.0), -1.0)
        accept = finite & (first | (ratio > 1e-4))
        damping, growth = self._next_damping(state.damping, state.growth, accept, ratio)
        damping = jnp.where(first, state.damping, damping)

        tiny = jnp.finfo(loss.dtype).tiny
        small_f = (
            ~first
            & finite
            & (jnp.abs(actual) <= self.ftol * loss)
            & (predicted <= self.ftol * loss)
        )
        step_norm = jnp.linalg.norm(delta)
        small_x = (
            ~first & accept & (step_norm <= self.xtol * (jnp.linalg.norm(state.z) + self.xtol))
        )
        column_norms = jnp.linalg.norm(jac_new, axis=0) * jnp.sqrt(loss_new) + tiny
        cosine = jnp.max(jnp.abs(jac_new.T @ r_new) / column_norms)
        small_g = accept & (cosine <= self.gtol)
        zero = accept & (loss_new == 0)
        code = jnp.select(
            [first & ~finite, zero, small_f, small_x, small_g, ~accept & self._exhausted(damping)],
            [
                FAILED_START,
                CONVERGED_ZERO,
                CONVERGED_FTOL,
                CONVERGED_XTOL,
                CONVERGED_GTOL,
                FAILED_NO_DECREASE,
            ],
            0,
        )
        keep = lambda new, old: jnp.where(accept, new, old)
        # The first evaluation is stored even when it failed, so the state shows why.
        evaluated = lambda new, old: jnp.where(accept | first, new, old)
        new = LeastSquaresState(
            z=keep(state.z + delta, state.z),
            residuals=evaluated(r_new, r),
            jacobian=evaluated(jac_new, jac),
            loss=keep(loss_new, loss),
            damping=damping,
            growth=growth,
            code=code,
            accepted=accept,
        )
        return _freeze(state, new)


class LevenbergMarquardt(AbstractLeastSquares):
    """Levenberg–Marquardt: solve `(J^T J + lambda diag(J^T J)) delta = -J^T r`.

    The damping `lambda` shrinks after good steps and grows after rejected ones (Nielsen's
    update), moving between Gauss–Newton and scaled gradient descent.

    **Example:** from a poor start, the damping keeps every accepted step downhill.

    ```python
    # slow
    import numpy as np

    import diffsim

    config = diffsim.config.validate_config({
        "name": "decay",
        "model": {"equations": {"y": "-k * y"}},
        "parameters": {"k": {"init": 0.5, "true": 0.8, "transform": "log"}},
        "initial_state": {"y": 1.0},
        "observations": {"y": {"sigma": 0.01}},
        "data": {"synthetic": {"times": {"start": 0.0, "stop": 2.0, "num": 5}, "seed": 0}},
        "solver": {"name": "rk4", "dt": 0.1},
    })
    problem = diffsim.build_problem(config)
    result = diffsim.fit(problem, "levenberg_marquardt", starts=[5.0])
    assert result.success and abs(result.x[0] - 0.8) < 0.05
    assert np.all(np.diff(result.loss_history[:, 0]) <= 0)  # chi-square never rises
    ```
    """

    def _initial_damping(self):
        return 1e-3

    def _proposal(self, jacobian, residuals, damping):
        a = jacobian.T @ jacobian
        diag = jnp.diag(a)
        scale = jnp.maximum(diag, 1e-12 * jnp.maximum(jnp.max(diag), 1e-300))
        return jnp.linalg.solve(a + damping * jnp.diag(scale), -(jacobian.T @ residuals))

    def _next_damping(self, damping, growth, accept, ratio):
        shrink = jnp.maximum(1 / 3, 1 - (2 * ratio - 1) ** 3)
        return (
            jnp.where(accept, damping * shrink, damping * growth),
            jnp.where(accept, 2.0, 2 * growth),
        )

    def _exhausted(self, damping):
        return damping > 1e16


class GaussNewton(AbstractLeastSquares):
    """Gauss–Newton with backtracking.

    The least-squares step of `J delta = -r`, halved until chi-square decreases.

    **Example:** from a good start, Gauss–Newton converges in a few steps.

    ```python
    # slow
    import diffsim

    config = diffsim.config.validate_config({
        "name": "decay",
        "model": {"equations": {"y": "-k * y"}},
        "parameters": {"k": {"init": 0.5, "true": 0.8, "transform": "log"}},
        "initial_state": {"y": 1.0},
        "observations": {"y": {"sigma": 0.01}},
        "data": {"synthetic": {"times": {"start": 0.0, "stop": 2.0, "num": 5}, "seed": 0}},
        "solver": {"name": "rk4", "dt": 0.1},
    })
    problem = diffsim.build_problem(config)
    result = diffsim.fit(problem, "gauss_newton", starts=[0.7])
    assert result.success and result.num_steps < 10 and abs(result.x[0] - 0.8) < 0.05
    ```
    """

    def _initial_damping(self):
        return 1.0

    def _proposal(self, jacobian, residuals, damping):
        step, *_ = jnp.linalg.lstsq(jacobian, -residuals)
        return damping * step

    def _next_damping(self, damping, growth, accept, ratio):
        return jnp.where(accept, 1.0, damping / 2), growth

    def _exhausted(self, damping):
        return damping < 1e-10


class FirstOrderState(eqx.Module):
    """State of an optax method: point, optimizer state, loss, gradient and step scale."""

    z: Array
    opt_state: optax.OptState
    loss: Array
    gradient: Array
    scale: Array
    code: Array
    accepted: Array


class OptaxMethod(eqx.Module):
    """Minimize chi-square with any optax `GradientTransformation` (Adam, L-BFGS, ...).

    A rejected step (non-finite loss) halves a scale applied to the optimizer's update and
    retries from the same state; accepted steps grow the scale back towards 1.

    **Fields:**
    - `optimizer`: the optax transformation (L-BFGS receives the loss function for its line
      search).
    - `mode`: `"forward"` or `"reverse"` mode for the gradient.
    - `ftol`: stop when an accepted step changes chi-square by less than `ftol` relative.
    - `gtol`: stop when `max|gradient| <= gtol * max(1, loss)`.

    **Example:** any optax optimizer by name (`"optax.<name>"`), or `"adam"`/`"lbfgs"`.

    ```python
    # slow
    import diffsim

    config = diffsim.config.validate_config({
        "name": "decay",
        "model": {"equations": {"y": "-k * y"}},
        "parameters": {"k": {"init": 0.5, "true": 0.8, "transform": "log"}},
        "initial_state": {"y": 1.0},
        "observations": {"y": {"sigma": 0.01}},
        "data": {"synthetic": {"times": {"start": 0.0, "stop": 2.0, "num": 5}, "seed": 0}},
        "solver": {"name": "rk4", "dt": 0.1},
    })
    problem = diffsim.build_problem(config)
    result = diffsim.fit(problem, "lbfgs", max_steps=100)
    assert result.method == "lbfgs" and abs(result.x[0] - 0.8) < 0.05
    assert result.jacobian is None  # first-order: no residual Jacobian
    ```
    """

    optimizer: optax.GradientTransformation = eqx.field(static=True)
    mode: str = eqx.field(static=True, default="reverse")
    ftol: float = eqx.field(static=True, default=1e-8)
    gtol: float = eqx.field(static=True, default=1e-8)

    def _value_and_grad(self, problem, z):
        if self.mode == "forward":
            return problem.chi_square(z), jax.jacfwd(problem.chi_square)(z)
        return jax.value_and_grad(problem.chi_square)(z)

    def init(self, problem, z: Array) -> FirstOrderState:
        """Evaluate loss and gradient at the start `z` and initialize the optimizer."""
        loss, grad = self._value_and_grad(problem, z)
        finite = jnp.isfinite(loss) & jnp.all(jnp.isfinite(grad))
        return FirstOrderState(
            z=z,
            opt_state=self.optimizer.init(z),
            loss=loss,
            gradient=grad,
            scale=jnp.asarray(1.0, dtype=z.dtype),
            code=jnp.where(finite, 0, FAILED_START),
            accepted=jnp.asarray(True),
        )

    def step(self, problem, state: FirstOrderState) -> FirstOrderState:
        """One optimizer update, rejected (with a smaller scale) if the loss is not finite."""
        updates, opt_state = self.optimizer.update(
            state.gradient,
            state.opt_state,
            state.z,
            value=state.loss,
            grad=state.gradient,
            value_fn=problem.chi_square,
        )
        z_new = state.z + state.scale * updates
        loss_new, grad_new = self._value_and_grad(problem, z_new)
        accept = jnp.isfinite(loss_new) & jnp.all(jnp.isfinite(grad_new))
        scale = jnp.where(accept, jnp.minimum(1.0, 2 * state.scale), state.scale / 2)
        small_f = accept & (jnp.abs(state.loss - loss_new) <= self.ftol * state.loss)
        small_g = accept & (jnp.max(jnp.abs(grad_new)) <= self.gtol * jnp.maximum(1.0, loss_new))
        code = jnp.select(
            [accept & (loss_new == 0), small_f, small_g, ~accept & (scale < 1e-10)],
            [CONVERGED_ZERO, CONVERGED_FTOL, CONVERGED_GTOL, FAILED_NO_DECREASE],
            0,
        )
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(accept, a, b), new, old)
        new = FirstOrderState(
            z=keep(z_new, state.z),
            opt_state=keep(opt_state, state.opt_state),
            loss=keep(loss_new, state.loss),
            gradient=keep(grad_new, state.gradient),
            scale=scale,
            code=code,
            accepted=accept,
        )
        return _freeze(state, new)


class FitRun(eqx.Module):
    """What an optimizer run leaves for `fit` to report, per start (host arrays).

    **Fields:** `z`, `loss`, `code` per start (`(S, P)`, `(S,)`, `(S,)`); `residuals`,
    `jacobian` per start (`(S, R)`, `(S, R, P)`; `None` for first-order methods);
    `loss_history` `(T + 1, S)` and `z_history` `(T + 1, S, P)` (a finished start repeats
    its last point); `initial_gradient` of chi-square at the first start; `num_steps`,
    `interrupted`, `compile_seconds`, `fit_seconds`.
    """

    z: np.ndarray
    loss: np.ndarray
    code: np.ndarray
    residuals: np.ndarray | None
    jacobian: np.ndarray | None
    loss_history: np.ndarray
    z_history: np.ndarray
    initial_gradient: np.ndarray
    num_steps: int
    interrupted: bool
    compile_seconds: float
    fit_seconds: float
