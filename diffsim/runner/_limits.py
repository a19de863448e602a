"""Limits checked before any work starts: step counts, batch sizes, grid sizes and memory.

A config that would overflow a step counter, or allocate more memory than the machine has,
is refused with one line naming the key, the limit and how to raise it, instead of failing
(or swapping) minutes later.
"""

import math
import os

import jax
import numpy as np

from .._integrate import fixed_step_counts
from .._loop import MAX_STEPS
from ..config import PdeRunConfig, RunConfig
from ..config._schema import ParameterConfig
from ..inverse import AbstractProblem, OdeProblem, PdeProblem
from ..inverse._user_models import UserModelError

_BYTES_PER_CELL = 8 * 32
"""Rough bytes per grid cell of a PDE solve: float64 states, solver stages and buffers."""


class LimitError(ValueError):
    """A config asks for more steps, starts, data points or memory than allowed.

    **Example:** synthetic data too large for the memory limit.

    ```python
    import os

    import diffsim

    config = diffsim.config.validate_config({
        "model": "lotka_volterra",
        "observations": {"x": {"sigma": 0.1}},
        "parameters": {"alpha": {"init": 1.0}},
        "data": {"synthetic": {"times": {"start": 0, "stop": 10, "num": 1_000_000}}},
    })
    os.environ["DIFFSIM_MAX_MEMORY_GB"] = "0.01"
    try:
        diffsim.runner.check_before_build(config)
    except diffsim.runner.LimitError as error:
        print(error)  # names data.synthetic.times and the limit
    else:
        raise AssertionError("the batch was accepted")
    finally:
        del os.environ["DIFFSIM_MAX_MEMORY_GB"]
    ```
    """


def memory_limit() -> tuple[int, str]:
    """The most bytes a run may plan to use, and where that figure comes from.

    `$DIFFSIM_MAX_MEMORY_GB` when set, else half of the machine's physical memory.

    **Example:**

    ```python
    import os

    from diffsim import runner

    os.environ["DIFFSIM_MAX_MEMORY_GB"] = "2"
    assert runner.memory_limit() == (2 * 2**30, "DIFFSIM_MAX_MEMORY_GB")
    del os.environ["DIFFSIM_MAX_MEMORY_GB"]
    print(runner.memory_limit())  # half of this machine's memory
    ```
    """
    given = os.environ.get("DIFFSIM_MAX_MEMORY_GB")
    if given:
        try:
            return int(float(given) * 2**30), "DIFFSIM_MAX_MEMORY_GB"
        except ValueError:
            raise LimitError(f"DIFFSIM_MAX_MEMORY_GB={given!r}: not a number") from None
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 16 * 2**30
    return total // 2, "half of this machine's memory"


def _check_memory(where: str, needed: float, what: str) -> None:
    limit, source = memory_limit()
    if needed > limit:
        raise LimitError(
            f"{where}: {what} need about {needed / 2**30:.3g} GiB, more than the limit of "
            f"{limit / 2**30:.3g} GiB ({source}; raise it with DIFFSIM_MAX_MEMORY_GB)"
        )


def check_steps(where: str, times, dt: float | None) -> None:
    """Refuse a fixed step `dt` that needs more than `MAX_STEPS` steps through `times`, or
    more memory for its step grid than the limit."""
    if dt is None or len(times) < 2:
        return
    widths = np.abs(np.diff(np.asarray(times, dtype=float)))
    try:
        count = float(np.sum(fixed_step_counts(widths, dt, where=where), dtype=float))
    except ValueError as error:
        raise LimitError(str(error)) from None
    _check_memory(where, 24 * count, f"{count:.3g} fixed steps")


def _synthetic_times(spec) -> np.ndarray:
    times = spec.times
    if isinstance(times, list):
        return np.asarray(times, dtype=float)
    return np.asarray([times.start, times.stop], dtype=float)


def _num_times(spec) -> int:
    return len(spec.times) if isinstance(spec.times, list) else spec.times.num


def _free_unknowns(config: RunConfig) -> int:
    free = [p for p in config.parameters.values() if not p.fixed]
    pde = isinstance(config, PdeRunConfig)
    specs = [] if pde else list(config.initial_state.values())
    for experiment in config.experiments or []:  # unknowns local to an experiment
        specs += [
            *experiment.parameters.values(),
            *getattr(experiment, "initial_state", {}).values(),
        ]
    specs = [s for s in specs if isinstance(s, ParameterConfig)]
    extra = len(config.fields) if pde else (config.neural is not None)
    return len(free) + sum(not s.fixed for s in specs) + extra


_NOTHING_TO_ESTIMATE = (
    "parameters: nothing to estimate: every parameter and initial state is fixed (give at "
    "least one an 'init' without 'fixed: true')"
)


def _check_network(pinn) -> None:
    """A PINN's weights (with the optimizers' copies) and its activations at the points."""
    net = pinn.network
    weights = net.depth * net.width * (net.width + net.features + 4)
    _check_memory("pinn.network.width", weights * 8 * 16, f"{weights:.3g} network weights")
    points = pinn.collocation.points or 0
    _check_memory(
        "pinn.collocation.points",
        points * net.width * net.depth * 8 * 16,
        f"{points} collocation points through {net.depth} layers of width {net.width}",
    )


def check_before_build(config: RunConfig) -> None:
    """What can be checked from the config alone, before data are read or simulated.

    **Raises:** `LimitError` naming the key: nothing to estimate; a step count above
    `MAX_STEPS`; synthetic data, a PDE grid or a multi-start batch larger than the memory limit.

    **Example:** a config with nothing to estimate.

    ```python
    import diffsim

    config = diffsim.config.validate_config({
        "model": "lotka_volterra",  # no `parameters`: all at their defaults, fixed
        "observations": {"x": {"sigma": 0.1}},
        "data": {"synthetic": {"times": {"start": 0, "stop": 10, "num": 50}}},
    })
    try:
        diffsim.runner.check_before_build(config)
    except diffsim.runner.LimitError as error:
        assert str(error).startswith("parameters: nothing to estimate")
    else:
        raise AssertionError("a config without unknowns was accepted")
    ```
    """
    sections = [("data", config.data)] if config.data is not None else config.data_sections()
    synthetic_data = any(data.synthetic is not None for _, data in sections)
    if synthetic_data and _free_unknowns(config) == 0:
        raise LimitError(_NOTHING_TO_ESTIMATE)  # before simulating data for nothing
    solver = config.solver
    if solver.max_steps > MAX_STEPS:
        raise LimitError(
            f"solver.max_steps: {solver.max_steps} is more than the {MAX_STEPS} steps a solve "
            "can count (int32)"
        )
    if isinstance(config, PdeRunConfig) and config.pinn is not None:
        _check_network(config.pinn)
    if not isinstance(config, PdeRunConfig) and config.neural is not None:
        net = config.neural
        weights = net.depth * net.width * (net.width + len(net.inputs) + net.outputs + 2)
        _check_memory("neural.width", weights * 8 * 16, f"{weights:.3g} network weights")
    for where, data in sections:
        if data.synthetic is not None:
            _check_synthetic(config, where, data)


def _check_synthetic(config: RunConfig, where: str, data) -> None:
    """Memory and step counts of the synthetic data of one data section (at `where`)."""
    solver, synthetic = config.solver, data.synthetic
    num = _num_times(synthetic)
    pde = isinstance(config, PdeRunConfig)
    observed = len(config.observations) or 1
    if pde:
        sensors = [len(a) if isinstance(a, list) else a.num for a in synthetic.sensors.values()]
        observed *= math.prod(sensors)
    _check_memory(f"{where}.synthetic.times", num * observed * 8 * 8, f"{num} output times")
    times = _synthetic_times(synthetic)
    t0 = data.t0 if data.t0 is not None else times[0]
    times = np.concatenate([[t0], times])
    if pde:
        refine = synthetic.refine
        cells = math.prod(config.model.grid.shape) * refine ** len(config.model.grid.shape)
        _check_memory(
            "model.grid.cells" if refine == 1 else f"{where}.synthetic.refine",
            cells * _BYTES_PER_CELL,
            f"{cells:.3g} cells of the synthetic-data grid ({refine}x finer than the model's)",
        )
        if solver.dt is not None:
            check_steps("solver.dt", times, solver.dt)
            check_steps(f"{where}.synthetic.refine", times, solver.dt / refine)
        return
    check_steps("solver.dt", times, solver.dt)
    dt = synthetic.dt or (solver.dt / 10 if solver.dt is not None else None)
    check_steps(f"{where}.synthetic.dt" if synthetic.dt else "solver.dt", times, dt)


def check_problem(config: RunConfig, problem: AbstractProblem) -> None:
    """What needs the built problem: step counts, multi-start memory, a trace of the model.

    Fixed-step counts through the data times, the memory of the batched multi-start fit, and
    that the model can be traced at the starting values (a user's model that raises is
    named here, before any file is written).

    **Raises:** `LimitError` naming the key.

    **Example:** the memory of a batched multi-start fit, against the limit.

    ```python
    import os

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
    diffsim.runner.check_problem(config, problem)  # fine
    many = diffsim.config.validate_config(config.model_dump(), ["fit.multistart.count=100000"])
    os.environ["DIFFSIM_MAX_MEMORY_GB"] = "0.001"
    try:
        diffsim.runner.check_problem(many, problem)
    except diffsim.runner.LimitError as error:
        assert str(error).startswith("fit.multistart.count")
    else:
        raise AssertionError("100 000 starts were accepted")
    finally:
        del os.environ["DIFFSIM_MAX_MEMORY_GB"]
    ```
    """
    if problem.space.size == 0:
        raise LimitError(_NOTHING_TO_ESTIMATE)
    if isinstance(problem, OdeProblem):
        times = np.concatenate([[problem.t0], np.asarray(problem.data.ts)])
        check_steps("solver.dt", times, problem.options.dt)
    size, residuals = problem.space.size, problem.num_residuals
    per_fit = 8 * (residuals * (size + 3) + 4 * size * (size + 4))
    shape = f"batched Jacobians of {residuals} residuals x {size} unknowns"
    count = config.fit.multistart.count
    _check_memory("fit.multistart.count", count * per_fit, f"{count} starts ({shape})")
    samples = config.uncertainty.bootstrap.samples
    _check_memory(
        "uncertainty.bootstrap.samples", samples * per_fit, f"{samples} bootstrap refits ({shape})"
    )
    # Trace (not run) the loss once: a user's Python model that raises does so here, with a
    # `UserModelError` naming it, before any file is written.
    try:
        jax.eval_shape(
            problem.chi_square, problem.space.to_internal(problem.space.initial_values())
        )
    except UserModelError:
        raise
    except (ValueError, TypeError) as error:
        raise ValueError(f"model: cannot be evaluated at the starting values: {error}") from None
    _check_recorded_steps(config, problem, count)


_RECORDED = 100_000
"""Above this `solver.max_steps`, the memory of recorded adaptive steps is estimated."""


def _check_recorded_steps(config: RunConfig, problem: AbstractProblem, count: int) -> None:
    """A reverse-mode adjoint of an adaptive solve keeps room for `max_steps` steps (their
    times, and for `direct` their states) per solve: refuse what would not fit in memory."""
    if not isinstance(problem, (OdeProblem, PdeProblem)):
        return
    options = problem.options
    if options.dt is not None or options.max_steps <= _RECORDED:
        return
    solution = jax.eval_shape(problem.solution, problem.space.initial_values())
    if solution.adjoint == "forward":
        return
    state = sum(math.prod(y.shape[1:]) for y in jax.tree.leaves(solution.ys))
    per_step = 16 + (8 * state if solution.adjoint == "direct" else 0)
    needed = count * options.max_steps * per_step
    what = f"{options.max_steps} recorded steps per solve (adjoint {solution.adjoint!r})"
    _check_memory("solver.max_steps", needed, what)
