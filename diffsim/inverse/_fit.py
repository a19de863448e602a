"""`fit`: drive an optimizer over one or many starting points (batched with `vmap`)."""

import functools
import time
import weakref
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ._box import has_bounding_transforms
from ._jacobian_mode import choose_gradient_mode
from ._methods import (
    MESSAGES,
    AbstractLeastSquares,
    FitRun,
    GaussNewton,
    LevenbergMarquardt,
    OptaxMethod,
)
from ._problem import AbstractProblem
from ._sharding import batch_jit, shard_batch, to_host
from ._trf import OPTIONS as TRF_OPTIONS
from ._trf import TrustRegionReflective

LEAST_SQUARES_METHODS = {"levenberg_marquardt": LevenbergMarquardt, "gauss_newton": GaussNewton}
FIRST_ORDER_METHODS = ("lbfgs", "adam")
BOUNDED_METHODS = ("trust_region_reflective",)


class StepInfo(eqx.Module):
    """What a fit reports to its callback after each step (host values).

    **Fields:**
    - `step`: the step number (1-based).
    - `losses`: chi-square of every start, shape `(S,)`.
    - `best`: index of the start with the lowest chi-square.
    - `x`: parameter values of the best start.
    - `gradient_norm`: norm of the chi-square gradient of the best start (optimizer coordinates).
    - `accepted`: whether the best start's last step was accepted.
    - `running`: how many starts have not yet converged or failed.
    - `elapsed`: seconds since the fit started (compilation included).

    **Example:** a callback that records progress.

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
    steps = []
    diffsim.fit(problem, callback=steps.append)
    assert steps[0].step == 1 and steps[-1].losses[steps[-1].best] <= steps[0].losses[0]
    print([f"{s.losses[s.best]:.3g}" for s in steps])
    ```
    """

    step: int
    losses: np.ndarray
    best: int
    x: np.ndarray
    gradient_norm: float
    accepted: bool
    running: int
    elapsed: float


class FitResult(eqx.Module):
    """The outcome of `fit`.

    **Fields:**
    - `names`: free parameter names; `x`: best estimate (values); `z`: it in optimizer
      coordinates.
    - `chi_square`: the best loss; `best_start`: the index of the start it came from (the
      first start when none has a finite loss); `success`, `code`, `message`: the convergence
      verdict of the best start; `interrupted`: the fit was stopped by Ctrl-C.
    - `num_steps`: steps taken; `method`: the method name.
    - `gradient_mode`, `gradient_reason`: forward or reverse mode, and why.
    - `jacobian`, `residuals`: the residual Jacobian (in optimizer coordinates) and the
      residuals at `z` (least-squares methods; `None` for first-order ones).
    - `initial_gradient`: the chi-square gradient (optimizer coordinates) at the first start,
      as the optimizer computed it (for a Taylor test of the gradient).
    - `starts_x0`, `starts_x`, `starts_loss`, `starts_code`: per start: initial values,
      estimates, chi-square and code.
    - `loss_history`: `(steps + 1, S)` chi-square per start; `x_history`: `(steps + 1, S, P)`.
    - `compile_seconds`, `fit_seconds`: tracing+compilation, and the optimization loop.

    **Example:** the estimate, the verdict and the path of every start.

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
    result = diffsim.fit(problem, starts=[[0.3], [2.0]])
    assert result.success and result.names == ("k",) and result.starts_x.shape == (2, 1)
    assert abs(result.x[0] - 0.8) < 0.05 and result.loss_history.shape[1] == 2
    print(result.message, result.gradient_mode, f"{result.chi_square:.2f}")
    ```
    """

    names: tuple[str, ...]
    x: np.ndarray
    z: np.ndarray
    chi_square: float
    best_start: int
    success: bool
    code: int
    message: str
    interrupted: bool
    num_steps: int
    method: str
    gradient_mode: str
    gradient_reason: str
    jacobian: np.ndarray | None
    residuals: np.ndarray | None
    initial_gradient: np.ndarray
    starts_x0: np.ndarray
    starts_x: np.ndarray
    starts_loss: np.ndarray
    starts_code: np.ndarray
    loss_history: np.ndarray
    x_history: np.ndarray
    compile_seconds: float
    fit_seconds: float


def make_method(
    method: str,
    problem: AbstractProblem,
    *,
    gradient_mode: str = "auto",
    learning_rate: float = 1e-2,
    options: dict | None = None,
    ftol: float = 1e-8,
    xtol: float = 1e-8,
    gtol: float = 1e-8,
):
    """Build an optimizer for `problem` by name, choosing the gradient mode.

    **Arguments:**
    - `method`: `"levenberg_marquardt"`, `"gauss_newton"`, `"trust_region_reflective"`
      (bounds kept by the method, see `with_box_bounds`; `options`: `x_scale`), `"lbfgs"`,
      `"adam"` or `"optax.<name>"` for any optax optimizer (built with `learning_rate` and
      `options`).
    - `problem`: the problem (its sizes decide forward or reverse mode).
    - `gradient_mode`: `"auto"`, `"forward"` or `"reverse"`.
    - `learning_rate`, `options`: for optax optimizers.
    - `ftol`, `xtol`, `gtol`: convergence tolerances.

    **Returns:** `(method, mode, reason)`.

    **Raises:** `ValueError` naming `fit.method` or `fit.options` when they are unusable.

    **Example:** the optimizer and the gradient mode, with the reason.

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
    method, mode, reason = diffsim.inverse.make_method("levenberg_marquardt", problem)
    assert isinstance(method, diffsim.inverse.LevenbergMarquardt) and mode == "forward"
    print(reason)  # one parameter, five residuals: forward mode
    adam, _, _ = diffsim.inverse.make_method("adam", problem, learning_rate=0.1)
    assert isinstance(adam, diffsim.inverse.OptaxMethod)
    ```
    """
    options = dict(options or {})
    adjoint = problem.options.adjoint
    num_in = problem.space.size
    if method in LEAST_SQUARES_METHODS:
        mode, reason = choose_gradient_mode(num_in, problem.num_residuals, gradient_mode, adjoint)
        cls = LEAST_SQUARES_METHODS[method]
        return cls(mode=mode, ftol=ftol, xtol=xtol, gtol=gtol), mode, reason
    if method in BOUNDED_METHODS:
        mode, reason = choose_gradient_mode(num_in, problem.num_residuals, gradient_mode, adjoint)
        unknown = sorted(set(options) - set(TRF_OPTIONS))
        if unknown:
            raise ValueError(f"fit.options: {method} takes only {', '.join(TRF_OPTIONS)}")
        trf = TrustRegionReflective(mode=mode, ftol=ftol, xtol=xtol, gtol=gtol, **options)
        return trf, mode, reason
    mode, reason = choose_gradient_mode(num_in, 1, gradient_mode, adjoint)
    if method == "lbfgs":
        optimizer = _optax_optimizer("lbfgs", options)
    elif method == "adam":
        optimizer = _optax_optimizer("adam", options, learning_rate)
    elif method.startswith("optax."):
        optimizer = _optax_optimizer(method.removeprefix("optax."), options, learning_rate)
    else:
        known = [*LEAST_SQUARES_METHODS, *BOUNDED_METHODS, *FIRST_ORDER_METHODS, "optax.<name>"]
        known = ", ".join(known)
        raise ValueError(f"fit.method: unknown method {method!r} (use {known})")
    return OptaxMethod(optimizer=optimizer, mode=mode, ftol=ftol, gtol=gtol), mode, reason


def _optax_optimizer(name: str, options: dict, *learning_rate: float):
    """`optax.<name>(*learning_rate, **options)`, with errors naming `fit.method`/`fit.options`.

    One update on a small quadratic is traced (not run), so that options of the wrong type,
    which optax accepts at construction, are reported here rather than while compiling the fit.
    """
    factory = (
        getattr(optax, name, None) if name.isidentifier() and not name.startswith("_") else None
    )
    if not callable(factory):
        raise ValueError(f"fit.method: optax has no optimizer named {name!r}")
    try:
        optimizer = factory(*learning_rate, **options)
    except TypeError as error:
        raise ValueError(f"fit.options: optax.{name} rejected the options ({error})") from None
    if not isinstance(optimizer, optax.GradientTransformation):
        raise ValueError(f"fit.method: optax.{name} is not an optimizer")

    def one_update(z):
        loss = lambda z: jnp.sum(z * z)
        state = optimizer.init(z)
        return optimizer.update(z, state, z, value=loss(z), grad=2 * z, value_fn=loss)

    try:
        jax.eval_shape(one_update, jnp.ones(2))
    except (TypeError, ValueError) as error:
        raise ValueError(f"fit.options: optax.{name} cannot use the options ({error})") from None
    return optimizer


_COMPILED: dict[tuple, tuple] = {}

#: A batch of at least this many starts is narrowed to its running starts once no more than
#: half of them still run (see `_RunningBatch`).
NARROW_FROM = 256


def _compiled(problem: AbstractProblem, optimizer, settings, kind: str, example):
    """`optimizer.init` or `.step` (`kind`), vmapped and compiled for batches like `example`.

    Reused when the same problem is fitted again with the same settings. `settings` identifies
    the optimizer: optax optimizers are built from fresh closures on every `make_method` call,
    so the method object itself never compares equal; `None` means "do not reuse".
    """
    shapes = tuple((leaf.shape, str(leaf.dtype)) for leaf in jax.tree.leaves(example))
    key = (id(problem), settings, kind, shapes)
    cached = _COMPILED.get(key) if settings is not None else None
    if cached is not None and cached[0]() is problem:
        return cached[1]
    method = getattr(optimizer, kind)
    compiled = batch_jit(jax.vmap(lambda a: method(problem, a))).trace(example).lower().compile()
    if settings is not None:
        _COMPILED[key] = (weakref.ref(problem, lambda _: _COMPILED.pop(key, None)), compiled)
    return compiled


class _RunningBatch:
    """The optimizer states of all starts, stepping only the starts that still run.

    In a vmapped step a finished start costs as much as a running one (its update is computed,
    then discarded), and the adaptive ODE solves of a batch run in lockstep. So once no more
    than half of a batch of at least `NARROW_FROM` starts still runs, the running starts are
    gathered into a smaller batch (a power of two, padded with repeats) with its own compiled
    step, and their new states are scattered back after each step. Each start's result is the
    same as without narrowing.
    """

    def __init__(self, state, step: Callable, compile_step: Callable):
        self.state = state
        self.compile_seconds = 0.0
        self._step = step
        self._compile_step = compile_step
        self._active = state
        self._where = None

    def step(self):
        """Step the running starts; returns the states of all starts."""
        self._active = self._step(self._active)
        if self._where is None:
            self.state = self._active
        else:  # on the host: indexing by a new array shape would compile every time
            self.state = jax.tree.map(self._scatter, self.state, self._active)
        return self.state

    def _scatter(self, full, part):
        full = np.array(to_host(full))
        full[self._where] = to_host(part)[: self._where.size]
        return full

    def narrow(self, codes: np.ndarray) -> None:
        """Gather the running starts (`codes == 0`) into a smaller batch when it pays."""
        size = codes.size if self._where is None else self._where.size
        running = np.flatnonzero(codes == 0)
        if size < NARROW_FROM or not 0 < running.size <= size // 2:
            return
        self._where = np.resize(running, 1 << int(running.size - 1).bit_length())
        self._active = shard_batch(
            jax.tree.map(lambda leaf: leaf[self._where], to_host(self.state))
        )
        clock = time.perf_counter()
        self._step = self._compile_step(self._active)
        self.compile_seconds += time.perf_counter() - clock


def _progress_fields(state):
    """What the host reads after every step: chi-square, point, code, gradient, accepted."""
    return state.loss, state.z, state.code, state.gradient, state.accepted


@functools.cache
def _compiled_progress_fields():
    """`_progress_fields` jitted over sharded batches (an eager operation on an array spread
    over several processes would not run as one program on all of them)."""
    return batch_jit(_progress_fields)


def _settings_key(*settings) -> tuple | None:
    """`settings` as a hashable key (options as sorted items), or `None` if unhashable."""
    key = tuple(tuple(sorted(s.items())) if isinstance(s, dict) else s for s in settings)
    try:
        hash(key)
    except TypeError:
        return None
    return key


def fit(
    problem: AbstractProblem,
    method: str = "levenberg_marquardt",
    *,
    starts: np.ndarray | None = None,
    max_steps: int = 200,
    gradient_mode: str = "auto",
    learning_rate: float = 1e-2,
    options: dict | None = None,
    ftol: float = 1e-8,
    xtol: float = 1e-8,
    gtol: float = 1e-8,
    callback: Callable[[StepInfo], None] | None = None,
) -> FitResult:
    """Estimate the free parameters of `problem` by minimizing chi-square.

    All starting points are optimized together: the step is `jax.vmap`ped over them and
    compiled once (and reused when the same problem is fitted again with the same method and
    number of starts). A batch of `NARROW_FROM` or more starts continues with only its running
    starts once at most half of them still run (one more compilation per halving). The loop
    runs on the host, one compiled step per iteration, so progress can be reported and Ctrl-C
    stops it cleanly (the result then has `interrupted=True` and the best point so far).

    **Arguments:**
    - `problem`: the `AbstractProblem`.
    - `method`: see `make_method`.
    - `starts`: starting parameter values, shape `(S, P)` or `(P,)`; default: each
      parameter's `init`.
    - `max_steps`: the most optimizer steps.
    - `gradient_mode`, `learning_rate`, `options`, `ftol`, `xtol`, `gtol`: see `make_method`.
    - `callback`: called with a `StepInfo` after every step (may raise `KeyboardInterrupt`).

    **Returns:** a `FitResult`.

    **Example:** a decay rate from five noisy points.

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
    result = diffsim.fit(problem)
    assert result.success and abs(result.x[0] - 0.8) < 0.05  # the `true` value
    print(result.names, result.x, result.message)
    ```
    """
    space = problem.space
    if space.size == 0:
        raise ValueError("parameters: there is no free parameter to fit")
    x0 = np.atleast_2d(space.initial_values() if starts is None else np.asarray(starts, float))
    if x0.shape[1] != space.size:
        raise ValueError(f"starts: expected {space.size} values per start, got {x0.shape[1]}")
    optimizer, mode, reason = make_method(
        method,
        problem,
        gradient_mode=gradient_mode,
        learning_rate=learning_rate,
        options=options,
        ftol=ftol,
        xtol=xtol,
        gtol=gtol,
    )
    settings = _settings_key(method, mode, learning_rate, options or {}, ftol, xtol, gtol)
    started = time.perf_counter()
    to_values = jax.jit(space.to_values)

    def report(losses, z, codes, grads, accepted, step):
        best = _best(losses)
        callback(
            StepInfo(
                step=step,
                losses=losses,
                best=best,
                x=np.asarray(to_values(z[best])),
                gradient_norm=float(np.linalg.norm(grads[best])),
                accepted=bool(accepted[best]),
                running=int(np.sum(codes == 0)),
                elapsed=time.perf_counter() - started,
            )
        )

    report = None if callback is None else report
    if isinstance(optimizer, TrustRegionReflective):
        if has_bounding_transforms(space):
            raise ValueError(
                f"fit.method: {method} keeps the bounds itself; fit "
                "diffsim.inverse.with_box_bounds(problem), whose bounds are a box"
            )
        steps = iter(range(1, 1 << 62))
        on_step = report and (
            lambda losses, z, codes, grads: report(
                losses, z, codes, grads, np.ones(len(z), bool), next(steps)
            )
        )
        z0 = np.asarray(space.to_internal(x0))
        run = optimizer.minimize(problem, z0, max_steps=max_steps, on_step=on_step)
    else:
        run = _run_batched(problem, optimizer, method, mode, x0, max_steps, report, settings)
    return _fit_result(space, method, mode, reason, x0, run)


def _run_batched(problem, optimizer, method, mode, x0, max_steps, report, settings) -> FitRun:
    """All starts stepped together by one compiled, `vmap`ped step (see `fit`)."""
    size = len(x0)
    z0 = shard_batch(np.asarray(problem.space.to_internal(x0)))  # padded to the device count
    compile_step = lambda example: _compiled(problem, optimizer, settings, "step", example)
    clock = time.perf_counter()
    init = _compiled(problem, optimizer, settings, "init", z0)
    step = compile_step(init.out_info)
    compile_seconds = time.perf_counter() - clock
    batch = _RunningBatch(init(z0), step, compile_step)
    state = batch.state
    if isinstance(optimizer, AbstractLeastSquares):
        state = batch.step()  # evaluates the starting points (see `AbstractLeastSquares.init`)
    fields = lambda state: jax.tree.map(
        lambda a: a[:size], to_host(_compiled_progress_fields()(state))
    )
    initial_gradient = fields(state)[3][0]

    losses, zs = [to_host(state.loss)[:size]], [to_host(state.z)[:size]]
    interrupted = False
    clock = time.perf_counter()
    num_steps = 0
    try:
        while num_steps < max_steps and bool(np.any(to_host(state.code)[:size] == 0)):
            state = batch.step()
            num_steps += 1
            loss, z, codes, grads, accepted = fields(state)
            batch.narrow(codes)
            losses.append(loss)
            zs.append(z)
            if report is not None:
                report(loss, z, codes, grads, accepted, num_steps)
    except KeyboardInterrupt:
        interrupted = True
    fit_seconds = time.perf_counter() - clock - batch.compile_seconds
    compile_seconds += batch.compile_seconds

    state = jax.tree.map(lambda a: a[:size], to_host(state))
    least_squares = isinstance(optimizer, AbstractLeastSquares)
    return FitRun(
        z=np.asarray(state.z),
        loss=np.asarray(state.loss),
        code=np.asarray(state.code),
        residuals=np.asarray(state.residuals) if least_squares else None,
        jacobian=np.asarray(state.jacobian) if least_squares else None,
        loss_history=np.stack(losses),
        z_history=np.stack(zs),
        initial_gradient=initial_gradient,
        num_steps=num_steps,
        interrupted=interrupted,
        compile_seconds=compile_seconds,
        fit_seconds=fit_seconds,
    )


def _fit_result(space, method: str, mode: str, reason: str, x0, run: FitRun) -> FitResult:
    """The `FitResult` of a run: the best start's verdict, every start's outcome."""
    best = _best(run.loss)
    code = int(run.code[best])
    if run.interrupted:
        message = f"Interrupted by the user (Ctrl-C) after {run.num_steps} steps."
    else:
        message = MESSAGES[code]
    return FitResult(
        names=space.names,
        x=np.asarray(space.to_values(run.z[best])),
        z=run.z[best],
        chi_square=float(run.loss[best]),
        best_start=best,
        success=code > 0 and not run.interrupted,
        code=code,
        message=message,
        interrupted=run.interrupted,
        num_steps=run.num_steps,
        method=method,
        gradient_mode=mode,
        gradient_reason=reason,
        jacobian=None if run.jacobian is None else run.jacobian[best],
        residuals=None if run.residuals is None else run.residuals[best],
        initial_gradient=run.initial_gradient,
        starts_x0=x0,
        starts_x=np.asarray(space.to_values(run.z)),
        starts_loss=run.loss,
        starts_code=run.code,
        loss_history=run.loss_history,
        x_history=np.asarray(space.to_values(run.z_history)),
        compile_seconds=run.compile_seconds,
        fit_seconds=run.fit_seconds,
    )


def _best(losses: np.ndarray) -> int:
    finite = np.where(np.isfinite(losses), losses, np.inf)
    return int(np.argmin(finite))
