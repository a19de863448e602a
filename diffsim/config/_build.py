"""Turn a validated ODE run config into an `OdeProblem` (model, unknowns, data)."""

from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._solution import status_message
from ..inverse import (
    DataError,
    Dataset,
    ErrorModel,
    OdeProblem,
    Parameter,
    SolverOptions,
    add_noise,
    check_dataset,
    load_dataset,
    observation_sigma,
    parameter_space,
    parse_expression,
)
from ..inverse._likelihood import KINDS
from ..inverse._priors import Priors
from ..inverse._user_models import check_names, model_from_equations, model_from_function
from ..models import ODEModel, builtin_model
from ._schema import OdeRunConfig, ParameterConfig, SolverConfig


def build_model(config: OdeRunConfig) -> ODEModel:
    """The `ODEModel` a config names (built-in, equations or `module:function`).

    **Raises:** `ValueError` naming the `model.*` key path.

    **Example:**

    ```python
    import jax.numpy as jnp

    import diffsim

    config = diffsim.config.validate_config({
        "model": {"equations": {"x": "a - x", "y": "x - b * y"}},
        "parameters": {"a": 1.0, "b": 2.0},
        "observations": {"y": {"sigma": 0.1}},
        "data": {"file": "measured.csv"},
    })
    model = diffsim.config.build_model(config)
    assert model.states == ("x", "y")
    assert model(0.0, jnp.array([1.0, 0.5]), {"a": 1.0, "b": 2.0}).tolist() == [0.0, 0.0]
    ```
    """
    spec = config.model
    if spec.builtin is not None:
        try:
            return builtin_model(spec.builtin)
        except ValueError as error:
            raise ValueError(f"model.builtin: {error}") from None
    if spec.equations is not None:
        return model_from_equations(spec.equations, list(config.parameters), name=config.name)
    return model_from_function(spec.function, spec.states, list(config.parameters))


def solver_options(solver: SolverConfig, adjoint: str) -> SolverOptions:
    """The typed solver settings of the `solver` section and `gradient.adjoint`.

    **Example:**

    ```python
    import diffsim

    config = diffsim.config.validate_config({
        "model": "lotka_volterra",
        "observations": {"x": {"sigma": 0.1}},
        "data": {"file": "measured.csv"},
        "solver": {"name": "kvaerno5", "rtol": 1e-8},
        "gradient": {"adjoint": "checkpoint"},
    })
    options = diffsim.config.solver_options(config.solver, config.gradient.adjoint)
    assert (options.solver, options.rtol, options.adjoint) == ("kvaerno5", 1e-8, "checkpoint")
    ```
    """
    return SolverOptions(
        solver=solver.name,
        rtol=solver.rtol,
        atol=solver.atol,
        dt=solver.dt,
        max_steps=solver.max_steps,
        adjoint=adjoint,
    )


def make_parameter(
    name: str, spec: ParameterConfig, default: float | None, where: str, group=None
) -> Parameter:
    init = spec.init
    if init is None:
        init = default if default is not None else spec.true
    if init is None:
        raise ValueError(f"{where}.init: no starting value (give init, or true)")
    lower, upper = spec.bounds if spec.bounds is not None else (None, None)
    return Parameter(
        name=name,
        init=float(init),
        lower=lower,
        upper=upper,
        transform=spec.transform,
        fixed=spec.fixed,
        true=spec.true,
        group=group,
    )


def collect_parameters(config: OdeRunConfig, model: ODEModel):
    """Model parameters, auxiliary parameters and unknown initial states, with key paths."""
    entries: list[tuple[Parameter, str]] = []
    for name in model.parameters:
        where = f"parameters.{name}"
        default = model.default_parameters.get(name)
        spec = config.parameters.get(name)
        if spec is None:
            if default is None:
                raise ValueError(f"{where}: the model needs a value for parameter {name!r}")
            spec = ParameterConfig(init=default, fixed=True)
        entries.append((make_parameter(name, spec, default, where), where))
    auxiliary = [n for n in config.parameters if n not in model.parameters]
    check_names(auxiliary, where="parameters", kind="parameter")
    for name in auxiliary:
        entries.append(
            (
                make_parameter(name, config.parameters[name], None, f"parameters.{name}"),
                f"parameters.{name}",
            )
        )
    for state in config.initial_state:
        if state not in model.states:
            raise ValueError(
                f"initial_state.{state}: not a state of the model "
                f"(states: {', '.join(model.states)})"
            )
    for index, state in enumerate(model.states):
        spec = config.initial_state.get(state)
        if isinstance(spec, ParameterConfig):
            where = f"initial_state.{state}"
            default = (model.default_initial_state or (None,) * len(model.states))[index]
            entries.append((make_parameter(f"{state}0", spec, default, where), where))
    names = [p.name for p, _ in entries]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(
                f"initial_state: the name {name!r} of an unknown initial state "
                "is also a parameter name"
            )
    return entries


def _initial_state(config: OdeRunConfig, model: ODEModel, symbols: tuple[str, ...]):
    """`f(values) -> y0` and the parameter names its expressions read."""
    parts, used = [], set()
    for index, state in enumerate(model.states):
        where = f"initial_state.{state}"
        spec = config.initial_state.get(state)
        if spec is None:
            if not model.default_initial_state:
                raise ValueError(f"{where}: no initial value for state {state!r}")
            value = float(model.default_initial_state[index])
            parts.append(lambda values, value=value: jnp.asarray(value))
        elif isinstance(spec, ParameterConfig):
            parts.append(lambda values, name=f"{state}0": values[name])
        elif isinstance(spec, str):
            expression = parse_expression(spec, symbols, where=where)
            used.update(expression.symbols)
            parts.append(lambda values, e=expression: e(values))
        else:
            parts.append(lambda values, value=float(spec): jnp.asarray(value))
    function = lambda values: jnp.stack([jnp.asarray(part(values), dtype=float) for part in parts])
    return function, used


def build_ode_problem(
    config: OdeRunConfig, base_dir: str | Path = ".", *, model: ODEModel | None = None
) -> OdeProblem:
    """Build the `OdeProblem` a config describes, loading or simulating its data.

    **Arguments:**
    - `config`: a validated `OdeRunConfig`.
    - `base_dir`: the folder that relative data paths are relative to (the config's folder).
    - `model`: the model to use instead of the one `config.model` names (a UDE's).

    **Returns:** the problem; for synthetic data, `problem.data` holds the simulated values.

    **Raises:** `ValueError` (or `DataError`) with one line naming the key path or data file.

    **Example:** a model of one's own in place of the config's.

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
    faster = diffsim.inverse.model_from_equations({"y": "-2 * k * y"}, ["k"])
    other = diffsim.config.build_ode_problem(config, model=faster)
    assert other.model == faster and other.space.names == problem.space.names
    ```
    """
    if config.experiments is not None:
        raise ValueError("experiments: a joint fit is built by build_problem (a JointProblem)")
    model = build_model(config) if model is None else model
    entries = collect_parameters(config, model)
    parameters = tuple(p for p, _ in entries)
    space = parameter_space(parameters, paths=tuple(w for _, w in entries))
    fixed = {p.name: p.init for p in parameters if p.fixed}
    parameter_names = tuple(p.name for p in parameters)
    initial_state, used = _initial_state(config, model, parameter_names)

    symbols = (*model.states, *parameter_names, "t")
    observables, sigma, sigma_relative = [], [], []
    for name, spec in config.observations.items():
        text = spec.expression if spec.expression is not None else name
        observables.append(parse_expression(text, symbols, where=f"observations.{name}"))
        both_unset = spec.sigma is None and spec.sigma_relative == 0
        given = spec.sigma if spec.sigma != "estimate" else 1.0  # replaced by a parameter
        sigma.append(1.0 if both_unset else (given or 0.0))
        sigma_relative.append(spec.sigma_relative)
    used.update(s for e in observables for s in e.symbols)
    for p, where in entries:
        auxiliary = where.startswith("parameters.") and p.name not in model.parameters
        if auxiliary and p.name not in used:
            raise ValueError(
                f"{where}: not a parameter of model {model.name!r} (its parameters: "
                f"{', '.join(model.parameters)}) and not used by any initial_state or observation"
            )
    names = tuple(config.observations)

    source = config.data
    if source.file is not None:
        path = Path(base_dir) / source.file.path
        data = load_dataset(
            path, names, time_column=source.file.time_column, columns=source.file.columns
        )
    else:
        times = source.synthetic.times
        ts = (
            np.linspace(times.start, times.stop, times.num)
            if not isinstance(times, list)
            else np.asarray(times, dtype=float)
        )
        data = check_dataset(
            Dataset(ts=ts, values=np.zeros((len(ts), len(names))), names=names, source="synthetic"),
            "data.synthetic.times",
        )
    t0 = float(data.ts[0]) if source.t0 is None else float(source.t0)
    if t0 > data.ts[0]:
        raise DataError(f"data.t0: initial time {t0} is after the first data time {data.ts[0]}")
    problem = OdeProblem(
        model=model,
        space=space,
        fixed=fixed,
        initial_state=initial_state,
        observables=tuple(observables),
        data=data,
        sigma=np.ones(data.values.shape),  # set below, once the data are known
        t0=t0,
        options=solver_options(config.solver, config.gradient.adjoint),
    )
    errors = _error_model(config, data.values.shape)
    if errors is not None and any(_estimated(o) for o in config.observations.values()):
        space, errors = _estimated_noise(config, parameters, entries, data, errors)
        problem = eqx.tree_at(lambda p: p.space, problem, space)
    if source.synthetic is not None:
        data = _synthesize(config, problem, np.asarray(sigma), np.asarray(sigma_relative), errors)
    sigma_abs, sigma_relative = np.asarray(sigma, float), np.asarray(sigma_relative, float)
    sigma = observation_sigma(data.values, sigma_abs, sigma_relative)
    if errors is not None:
        sigma = _check_counts(config, data, errors, sigma)
    problem = eqx.tree_at(lambda p: (p.data, p.sigma), problem, (data, sigma))
    return eqx.tree_at(
        lambda p: (p.errors, p.priors, p.noise),
        problem,
        (errors, build_priors(config, entries, space), np.stack([sigma_abs, sigma_relative])),
        is_leaf=lambda leaf: leaf is None,
    )


def _estimated(spec) -> bool:
    return spec.sigma == "estimate" or spec.dispersion == "estimate"


def _dispersion_start(column: np.ndarray) -> float:
    """A moment estimate of the negative-binomial `k` (`variance = m + m^2 / k`), 10 when
    the counts are not over-dispersed."""
    mean, variance = float(np.mean(column)), float(np.var(column))
    return mean**2 / (variance - mean) if variance > 1.1 * mean and mean > 0 else 10.0


def _estimated_noise(config, parameters, entries, data: Dataset, errors: ErrorModel):
    """Add a free noise level `sigma_<observation>` per `sigma: estimate` (log-transformed,
    above a floor 1000 times below its start), then a free dispersion
    `dispersion_<observation>` per `dispersion: estimate` (log-transformed, from a moment
    estimate), and point the error model at them."""
    noise, columns, floors, dispersions, counts_data = [], [], [], [], []  # counts: (j, column)
    observations = list(config.observations.items())
    for j, (name, spec) in enumerate(observations):
        column = data.values[:, j]
        column = column[np.isfinite(column)]
        if spec.sigma == "estimate":
            spread = np.std(np.log(column)) if spec.likelihood == "lognormal" else np.std(column)
            init = 0.3 * float(spread) if spread > 0 else 1.0
            floor = 1e-3 * init
            noise.append(Parameter(name=f"sigma_{name}", init=init, lower=floor, transform="log"))
            columns.append(j)
            floors.append(floor)
    for j, (name, spec) in enumerate(observations):
        if spec.dispersion == "estimate":
            column = data.values[:, j]
            init = _dispersion_start(column[np.isfinite(column)])
            dispersions.append(
                Parameter(name=f"dispersion_{name}", init=init, lower=1e-6, transform="log")
            )
            counts_data.append((j, column))
    paths = (
        tuple(w for _, w in entries)
        + tuple(f"observations.{observations[j][0]}.sigma" for j in columns)
        + tuple(f"observations.{observations[j][0]}.dispersion" for j, _ in counts_data)
    )
    space = parameter_space(parameters + tuple(noise) + tuple(dispersions), paths=paths)
    first = space.size - len(noise) - len(dispersions)
    index = np.full(data.values.shape, -1)
    for k, j in enumerate(columns):
        index[:, j] = first + k
    dispersion_index = np.full(data.values.shape, -1)
    for k, (j, _) in enumerate(counts_data):
        dispersion_index[:, j] = first + len(noise) + k
    counts = np.isfinite(data.values).sum(axis=0)[columns].astype(float)
    errors = eqx.tree_at(
        lambda e: (
            e.sigma_index,
            e.noise_parameters,
            e.noise_counts,
            e.noise_floor,
            e.dispersion_index,
        ),
        errors,
        (
            index,
            np.arange(first, space.size),
            counts,
            np.asarray(floors),
            dispersion_index if counts_data else None,
        ),
        is_leaf=lambda leaf: leaf is None,
    )
    return space, errors


def _error_model(config: OdeRunConfig, shape) -> ErrorModel | None:
    """The likelihood of each data column (`None` when all are Gaussian with known sigma)."""
    specs = list(config.observations.values())
    if all(spec.likelihood == "gaussian" and not _estimated(spec) for spec in specs):
        return None
    kinds = np.asarray([KINDS.index(spec.likelihood) for spec in specs])
    dispersion = np.asarray(
        [1.0 if spec.dispersion in (None, "estimate") else spec.dispersion for spec in specs]
    )
    return ErrorModel(
        kinds=np.broadcast_to(kinds, shape).copy(),
        dispersion=np.broadcast_to(dispersion, shape).copy(),
    )


def _check_counts(config, data: Dataset, errors: ErrorModel, sigma: np.ndarray) -> np.ndarray:
    """Refuse values a likelihood cannot have; the noise level shown for counts: the
    standard deviation at the data value."""
    for j, (name, spec) in enumerate(config.observations.items()):
        column = data.values[:, j]
        finite = column[np.isfinite(column)]
        where = f"observations.{name}"
        if spec.likelihood in ("poisson", "negative_binomial") and np.any(finite < 0):
            raise DataError(f"{where}: likelihood {spec.likelihood} needs counts >= 0")
        if spec.likelihood == "lognormal" and np.any(finite <= 0):
            raise DataError(f"{where}: likelihood lognormal needs values > 0")
        counts = np.maximum(np.nan_to_num(column), 1.0)
        if spec.likelihood == "poisson":
            sigma[:, j] = np.sqrt(counts)
        elif spec.likelihood == "negative_binomial":
            k = _dispersion_start(finite) if spec.dispersion == "estimate" else spec.dispersion
            sigma[:, j] = np.sqrt(counts + counts**2 / k)
    return sigma


def build_priors(config, entries, space) -> Priors | None:
    """The normal / log-normal priors of the free parameters (`None` when there are none).

    **Arguments:** the config; `entries`: `(Parameter, key path)` of every parameter;
    `space`: the free parameters.
    """
    specs = {}
    for parameter, where in entries:
        section, _, key = where.partition(".")
        spec = (config.parameters if section == "parameters" else config.initial_state)[key]
        specs[parameter.name] = spec.prior if isinstance(spec, ParameterConfig) else None
    return priors_of([specs.get(parameter.name) for parameter in space.parameters])


def priors_of(priors: list) -> Priors | None:
    """The `Priors` of free parameters from their `PriorConfig`s (`None`: no prior; a uniform
    prior is the bounds): `None` when there are none."""
    rows = []
    for index, prior in enumerate(priors):
        if prior is None or prior.uniform is not None:
            continue
        lognormal = prior.lognormal is not None
        mean, sd = prior.lognormal if lognormal else prior.normal
        rows.append((index, lognormal, mean, sd))
    if not rows:
        return None
    index, lognormal, mean, sd = (np.asarray(column) for column in zip(*rows, strict=True))
    return Priors(indices=index, lognormal=lognormal, mean=mean.astype(float), sd=sd.astype(float))


def _synthesize(config, problem: OdeProblem, sigma, sigma_relative, errors=None) -> Dataset:
    """Simulate the data at the true values, more accurately than the fit, and add noise
    (Gaussian, or drawn from each observation's likelihood)."""
    spec = config.data.synthetic
    missing = [p.name for p in problem.space.parameters if p.true is None]
    if missing:
        raise ValueError(
            f"parameters.{missing[0]}.true: synthetic data needs the true value of every free "
            "parameter"
        )
    truth = np.asarray([p.true for p in problem.space.parameters])
    solver = config.solver
    options = problem.options.replace(
        rtol=spec.rtol or solver.rtol * 1e-3,
        atol=spec.atol or solver.atol * 1e-3,
        max_steps=solver.max_steps * 10,
        dt=spec.dt or solver.dt / 10 if (solver.dt is not None or spec.dt is not None) else None,
    )
    clean, status = jax.jit(lambda x: problem.predict_at(x, problem.data.ts, options))(truth)
    if int(status) != 0:
        raise ValueError(
            "data.synthetic: simulating at the true parameter values failed: "
            + status_message(int(status))
        )
    clean = np.asarray(clean)
    std = np.sqrt(sigma**2 + (sigma_relative * np.abs(clean)) ** 2)
    values = add_noise(clean, std, seed=spec.seed) if spec.noise else clean
    if errors is not None and spec.noise:
        values = _draw(errors, clean, sigma, values, spec.seed)
    return Dataset(ts=problem.data.ts, values=values, names=problem.data.names, source="synthetic")


def _draw(errors: ErrorModel, clean, sigma, gaussian, seed: int) -> np.ndarray:
    """Noisy values from each value's likelihood at the clean means (Gaussian ones kept)."""
    values = errors.draw(clean, np.broadcast_to(sigma, np.shape(clean)), seed=seed)
    chosen = errors.kinds == KINDS.index("gaussian")
    values[chosen] = np.asarray(gaussian)[chosen]
    return values
