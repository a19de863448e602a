"""Turn a validated PDE run config into a `PdeProblem`: grid, model, coefficient and initial
condition expressions, unknowns (scalars, fields), sensor data (a file, or simulated)."""

import math
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .._integrate import fixed_step_counts
from .._solution import status_message
from ..inverse import (
    DataError,
    Dataset,
    FieldLayout,
    PdeProblem,
    SensorData,
    add_noise,
    interpolation_matrix,
    load_sensor_data,
    observation_sigma,
    parameter_space,
    parse_expression,
    sensor_operator,
)
from ..inverse._likelihood import LOGNORMAL
from ..inverse._user_models import check_names, import_function
from ..pde import (
    Absorbing,
    AbstractSemilinear,
    AdvectionDiffusion,
    AllenCahn,
    Burgers,
    Dirichlet,
    FisherKPP,
    GrayScott,
    Grid,
    Heat,
    NavierStokes2D,
    Neumann,
    Periodic,
    SpectralBurgers,
    UserPDE,
    Wave,
    stable_step,
)
from ._build import (
    _check_counts,
    _draw,
    _error_model,
    _estimated,
    _estimated_noise,
    make_parameter,
    priors_of,
    solver_options,
)
from ._pde_schema import SIDES, FileInitialCondition, PdeRunConfig

AXES = ("x", "y")
FIXED_STEP_SOLVERS = ("euler", "heun", "rk4", "etdrk4")
#: A fixed step left out is this fraction of the explicit stability limit at the start values
#: (room for the stiffness to grow five-fold while the unknowns move).
STEP_FRACTION = 0.2


def _sides(config: PdeRunConfig):
    """`{side: BoundaryConfig}` for every side of the grid."""
    model = config.model
    names = SIDES[len(model.grid.shape)]
    if not isinstance(model.boundary, dict):
        return dict.fromkeys(names, model.boundary)
    return {s: model.boundary.get(s, model.boundary.get("all")) for s in names}


def _periodic(config: PdeRunConfig) -> tuple[bool, ...]:
    sides = _sides(config)
    names = SIDES[len(config.model.grid.shape)]
    flags = []
    for axis in range(len(config.model.grid.shape)):
        low, high = (sides[names[2 * axis]], sides[names[2 * axis + 1]])
        if (low.type == "periodic") != (high.type == "periodic"):
            raise ValueError(
                f"model.boundary.{names[2 * axis]}: a periodic axis must be periodic at both "
                f"ends ({names[2 * axis]} and {names[2 * axis + 1]})"
            )
        flags.append(low.type == "periodic")
    return tuple(flags)


def _model_factory(config: PdeRunConfig, periodic):
    """`(make(grid, bc), parameter names, optional names, state names)` for the equation."""
    spec = config.model
    equation, spectral = spec.equation, spec.discretization == "spectral"
    spatial = "spectral" if spectral else "fd"
    ndim = len(spec.grid.shape)
    if spectral and not all(periodic):
        raise ValueError("model.discretization: 'spectral' needs periodic boundaries on every side")
    if ":" in equation:
        function = _import_function(equation)
        names = tuple(spec.coefficients)
        states = tuple(spec.states)
        return (lambda g, bc: UserPDE(function, g, bc, names, states)), names, (), states
    with_spatial = lambda cls: (cls, lambda g, bc: cls(g, bc, spatial=spatial))
    makers = {
        "heat": with_spatial(Heat),
        "fisher_kpp": with_spatial(FisherKPP),
        "gray_scott": with_spatial(GrayScott),
        "allen_cahn": with_spatial(AllenCahn),
        "advection_diffusion": (AdvectionDiffusion, None if spectral else AdvectionDiffusion),
        "wave": (Wave, None if spectral else Wave),
        "burgers": (SpectralBurgers, lambda g, bc: SpectralBurgers(g))
        if spectral
        else (Burgers, Burgers),
        "navier_stokes": (NavierStokes2D, (lambda g, bc: NavierStokes2D(g)) if spectral else None),
    }
    cls, make = makers[equation]
    if make is None:
        kind = "spectral" if spectral else "finite_volume"
        raise ValueError(f"model.discretization: {equation!r} has no {kind} discretization")
    if equation == "navier_stokes" and ndim != 2:
        raise ValueError("model.grid: navier_stokes needs a 2D grid")
    return make, tuple(cls.parameters), tuple(cls.optional), tuple(cls.state_names)


def _import_function(reference: str):
    module_name, _, attribute = reference.partition(":")
    dotted = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
    if not dotted.match(module_name) or not attribute.isidentifier():
        raise ValueError(f"model.equation: expected 'package.module:function', got {reference!r}")
    return import_function(module_name, attribute, where="model.equation")


def _unknowns(config: PdeRunConfig, grid: Grid):
    """The scalar and field unknowns as `Parameter`s, with the field layouts."""
    check_names(list(config.parameters), where="parameters", kind="parameter")
    check_names(list(config.fields), where="fields", kind="field")
    for name in (*config.parameters, *config.fields):
        if name in AXES:
            raise ValueError(f"parameters.{name}: {name!r} is a coordinate name")
    both = set(config.parameters) & set(config.fields)
    if both:
        raise ValueError(f"fields.{sorted(both)[0]}: also a name in parameters")
    entries = [
        (make_parameter(name, spec, None, f"parameters.{name}"), f"parameters.{name}")
        for name, spec in config.parameters.items()
    ]
    coarse_grids = {}
    for name, spec in config.fields.items():
        where = f"fields.{name}"
        cells = grid.shape if spec.cells is None else spec.cells
        cells = (cells,) if isinstance(cells, int) else tuple(cells)
        if len(cells) != grid.ndim:
            raise ValueError(f"{where}.cells: {len(cells)} axes given for a {grid.ndim}D grid")
        if any(c < 3 or c > n for c, n in zip(cells, grid.shape, strict=True)):
            raise ValueError(
                f"{where}.cells: {list(cells)} does not fit the solver grid {list(grid.shape)}"
                " (between 3 and the solver's cells per axis)"
            )
        coarse = Grid(cells, grid.lower, grid.upper)
        coarse_grids[name] = coarse
        if spec.init is None:
            raise ValueError(f"{where}.init: no starting value")
        true = _field_values(spec.true, coarse, where=f"{where}.true")
        for i in range(coarse.size):
            entry = spec.model_copy(update={"true": None if true is None else float(true[i])})
            entries.append((make_parameter(f"{name}[{i}]", entry, None, where, group=name), where))
    return entries, coarse_grids


def _field_values(value, grid: Grid, *, where: str):
    """A number or an expression of the coordinates evaluated on every cell of `grid`."""
    if value is None:
        return None
    coordinates = grid.coordinates()
    if isinstance(value, (int, float)):
        return np.full(grid.size, float(value))
    expression = parse_expression(value, AXES[: grid.ndim], where=where)
    env = dict(zip(AXES, coordinates, strict=False))
    return np.broadcast_to(np.asarray(expression(env), float), grid.shape).reshape(-1)


def build_pde_problem(config: PdeRunConfig, base_dir: str | Path = ".") -> PdeProblem:
    """Build the `PdeProblem` a PDE config describes, loading or simulating its data.

    **Raises:** `ValueError` (or `DataError`) with one line naming the key path or data file.

    **Example:** sensors at three points of a heated rod, simulated at two times.

    ```python
    # slow
    import diffsim

    config = diffsim.config.validate_config({
        "name": "heat",
        "model": {
            "equation": "heat",
            "grid": {"cells": 16},
            "boundary": {"left": {"dirichlet": 0.0}, "right": {"dirichlet": 0.0}},
            "initial_condition": "sin(pi*x)",
        },
        "parameters": {"diffusivity": {"init": 0.5, "true": 0.2, "transform": "log"}},
        "data": {"synthetic": {"times": [0.05, 0.1], "sensors": {"x": [0.25, 0.5, 0.75]},
                               "noise": 0.01}},
    })
    problem = diffsim.config.build_pde_problem(config)
    assert problem.observed.shape == (6,) and problem.state_names == ("u",)
    ```
    """
    if config.experiments is not None:
        raise ValueError("experiments: a joint fit is built by build_problem (a JointProblem)")
    spec = config.model
    lower, upper = spec.grid.box()
    grid = Grid(spec.grid.shape, lower, upper)
    periodic = _periodic(config)
    make, model_parameters, optional, states = _model_factory(config, periodic)
    entries, coarse_grids = _unknowns(config, grid)
    parameters = tuple(p for p, _ in entries)
    space = parameter_space(parameters, paths=tuple(w for _, w in entries))
    priors = priors_of(
        [
            (config.parameters if p.group is None else config.fields)[p.group or p.name].prior
            for p in space.parameters
        ]
    )
    fixed = {p.name: p.init for p in parameters if p.fixed and p.group is None}
    scalar_names = tuple(config.parameters)
    field_names = tuple(config.fields)
    symbols = (*AXES[: grid.ndim], *scalar_names, *field_names)
    used: set[str] = set()

    def parse(text, where, allowed=symbols):
        if isinstance(text, (int, float)):
            return lambda env, v=float(text): v
        expression = parse_expression(text, allowed, where=where)
        used.update(expression.symbols)
        return expression

    coefficients = {}
    for key, value in spec.coefficients.items():
        where = f"model.coefficients.{key}"
        if key not in model_parameters:
            raise ValueError(
                f"{where}: not a parameter of {spec.equation!r} "
                f"(its parameters: {', '.join(model_parameters)})"
            )
        if isinstance(value, list):
            coefficients[key] = [parse(v, f"{where}[{i}]") for i, v in enumerate(value)]
        else:
            coefficients[key] = parse(value, where)
    for key in model_parameters:
        if key in coefficients:
            continue
        if key in scalar_names or key in field_names:
            coefficients[key] = parse(key, f"model.coefficients.{key}")
        elif key not in optional:
            raise ValueError(
                f"model.coefficients.{key}: {spec.equation!r} needs a value for {key!r}"
            )
    initial = spec.initial_condition
    initial = initial if isinstance(initial, dict) else {states[0]: initial}
    from_file = {
        state: _initial_from_file(value, state, base_dir)
        for state, value in initial.items()
        if isinstance(value, FileInitialCondition)
    }
    for state in initial:
        if state not in states:
            raise ValueError(
                f"model.initial_condition.{state}: not a state (states: {', '.join(states)})"
            )
    missing = [s for s in states if s not in initial]
    if missing:
        raise ValueError(f"model.initial_condition.{missing[0]}: no initial condition given")
    initial_values = {
        s: parse(v, f"model.initial_condition.{s}")
        for s, v in initial.items()
        if s not in from_file
    }
    side_names = SIDES[grid.ndim]
    sides = _sides(config)
    boundary_values = {
        side: parse(bc.value, f"model.boundary.{side}.value", scalar_names)
        for side, bc in sides.items()
    }
    for p, where in entries:
        name = p.group or p.name
        if name not in used:
            raise ValueError(f"{where}: not used by any coefficient, initial or boundary condition")

    kinds = {"periodic": Periodic, "dirichlet": Dirichlet, "neumann": Neumann}

    def assemble_on(target: Grid):
        coordinates = target.coordinates()
        on_target = {s: jnp.asarray(f(target)) for s, f in from_file.items()}

        def assemble(scalars, fields):
            env = dict(zip(AXES, (jnp.asarray(c) for c in coordinates), strict=False))
            env.update(scalars)
            env.update({k: v.reshape(target.shape) for k, v in fields.items()})
            per_axis = []
            for axis in range(target.ndim):
                pair = []
                for side in side_names[2 * axis : 2 * axis + 2]:
                    bc = sides[side]
                    if bc.type == "absorbing":
                        pair.append(Absorbing())
                    elif bc.type == "periodic":
                        pair.append(Periodic())
                    else:
                        pair.append(kinds[bc.type](jnp.asarray(boundary_values[side](env))))
                per_axis.append(tuple(pair))
            model = make(target, tuple(per_axis) if target.ndim > 1 else per_axis[0])
            params = {}
            for key, value in coefficients.items():
                if isinstance(value, list):
                    params[key] = tuple(jnp.asarray(v(env)) for v in value)
                else:
                    params[key] = jnp.asarray(value(env))
            u0 = [
                on_target[s]
                if s in on_target
                else jnp.broadcast_to(jnp.asarray(initial_values[s](env), float), target.shape)
                for s in states
            ]
            return model, (u0[0] if len(u0) == 1 else tuple(u0)), params

        return assemble

    layouts = []
    for i, p in enumerate(space.parameters):
        if p.group is not None and (i == 0 or space.parameters[i - 1].group != p.group):
            field = config.fields[p.group]
            coarse = coarse_grids[p.group]
            matrix = interpolation_matrix(coarse, grid, periodic, field.interpolation)
            layouts.append(FieldLayout(p.group, i, coarse, matrix, field.smoothness))
    fixed_fields = [n for n in field_names if config.fields[n].fixed]
    if fixed_fields:
        raise ValueError(f"fields.{fixed_fields[0]}.fixed: a fixed field is a coefficient")

    options = solver_options(config.solver, config.gradient.adjoint)
    assemble = assemble_on(grid)
    start_values = _split(space, fixed, layouts, np.asarray(space.initial_values()))
    options = _checked_step(config, options, assemble, start_values)

    interpolation = spec.interpolation or (
        "spectral" if spec.discretization == "spectral" and all(periodic) else "linear"
    )
    if config.data.file is not None:
        path = Path(base_dir) / config.data.file.path
        data = load_sensor_data(path, AXES[: grid.ndim], states, config.data.file.columns)
        _check_sensors(data, grid, config.data.t0, str(path))
        for name in config.observations:
            if name not in states:
                raise ValueError(f"observations.{name}: not a state (states: {', '.join(states)})")
    else:
        data = _sensor_layout(config, grid, states)

    ts, time_index = _output_times(data.times, config.data.t0)
    if options.dt is not None:
        fixed_step_counts(np.diff(ts), options.dt, where="solver.dt", hint=_STEP_HINT)
    state_index = np.asarray([states.index(v) for v in data.variables])

    def sample_on(target: Grid):
        return sensor_operator(
            target, periodic, data.coordinates, time_index, state_index, interpolation
        )

    sensors = sample_on(grid)
    observed = np.asarray(data.values, float)
    columns = np.asarray([_column(config, v) for v in data.variables], int)
    table = _error_model(config, (len(observed), len(config.observations)))
    errors = None if table is None else table.per_value(columns)
    if config.data.synthetic is not None:
        fine = grid.refine(config.data.synthetic.refine)
        clean, observed, sigma = _synthesize(
            config, space, fixed, fine, assemble_on(fine), sample_on(fine), options, ts, state_index
        )
        if errors is not None:
            observed, sigma = _synthetic_draw(config, errors, columns, clean, observed, sigma)
    elif data.sigma is not None:
        sigma = np.asarray(data.sigma)
    else:
        sigma = np.ones_like(observed)
        for name, obs in config.observations.items():
            mask = data.variables == name
            sigma[mask] = observation_sigma(observed[mask], _given_sigma(obs), obs.sigma_relative)
    if table is not None:
        space, errors, sigma = _likelihoods(config, entries, space, table, columns, observed, sigma)
    return PdeProblem(
        space=space,
        options=options,
        observed=observed,
        sigma=sigma,
        fixed=fixed,
        fields=tuple(layouts),
        assemble=assemble,
        ts=ts,
        sensors=sensors,
        coordinates=np.asarray(data.coordinates),
        times=np.asarray(data.times),
        variables=state_index,
        state_names=states,
        name=spec.equation,
        description=(
            f"{spec.equation} ({spec.discretization.replace('_', ' ')}, "
            f"{' x '.join(map(str, grid.shape))} cells, {config.solver.name})"
        ),
        source=data.source,
        priors=priors,
        errors=errors,
    )


def _column(config: PdeRunConfig, variable: str) -> int:
    """The observation (column of the ODE-style data table) a sensor value belongs to."""
    names = list(config.observations)
    return names.index(variable) if variable in names else -1


def _given_sigma(observation) -> float:
    """An observation's absolute noise level (1 when none is given or it is estimated)."""
    unset = observation.sigma is None and observation.sigma_relative == 0
    return 1.0 if unset or observation.sigma == "estimate" else (observation.sigma or 0.0)


def _synthetic_draw(config, errors, columns, clean, gaussian, sigma):
    """`(observed, sigma)`: synthetic values drawn from each value's likelihood (Gaussian
    ones kept); a log-normal value's noise level is its observation's `sigma` (of
    `log value`), `data.synthetic.noise` where it is estimated."""
    spec = config.data.synthetic
    observations = list(config.observations.values())
    given = np.asarray([_given_sigma(o) for o in observations])[np.maximum(columns, 0)]
    estimated = np.asarray([o.sigma == "estimate" for o in observations])[np.maximum(columns, 0)]
    lognormal = errors.kinds == LOGNORMAL
    sigma = np.where(lognormal, given, sigma)
    if spec.noise == 0:
        return gaussian, sigma
    drawn_sd = np.where(lognormal & estimated, spec.noise, sigma)
    return _draw(errors, clean, drawn_sd, gaussian, spec.seed), sigma


def _likelihoods(config, entries, space, table, columns, observed, sigma):
    """`(space, errors, sigma)` for non-Gaussian likelihoods or estimated noise: the ODE
    runs' code applied to the sensor values laid out as a table, one column per observation
    (NaN elsewhere); estimated noise levels and dispersions are appended to the unknowns."""
    rows = np.arange(len(observed))
    own = columns >= 0
    wide = np.full(table.kinds.shape, np.nan)
    wide[rows[own], columns[own]] = observed[own]
    data = Dataset(
        ts=rows.astype(float), values=wide, names=tuple(config.observations), source="sensors"
    )
    if any(_estimated(o) for o in config.observations.values()):
        parameters = tuple(p for p, _ in entries)
        space, table = _estimated_noise(config, parameters, entries, data, table)
    wide_sigma = np.ones_like(wide)
    wide_sigma[rows[own], columns[own]] = sigma[own]
    wide_sigma = _check_counts(config, data, table, wide_sigma)
    sigma = np.where(own, wide_sigma[rows, np.maximum(columns, 0)], sigma)
    return space, table.per_value(columns), sigma


def _initial_from_file(spec: FileInitialCondition, state: str, base_dir):
    """`on(grid)`: a state's initial values on a grid, interpolated linearly from a file of
    scattered or gridded points (read once, here)."""
    path = Path(base_dir) / spec.file
    column = spec.column or state
    table = {}

    def on(grid: Grid) -> np.ndarray:
        if grid.ndim not in table:
            table[grid.ndim] = load_sensor_data(path, AXES[: grid.ndim], (column,), {}, timed=False)
        return _interpolate_snapshot(table[grid.ndim], grid)

    return on


def _interpolate_snapshot(data: SensorData, grid: Grid) -> np.ndarray:
    if grid.ndim == 1:
        order = np.argsort(data.coordinates[:, 0])
        return np.interp(grid.x, data.coordinates[order, 0], data.values[order])
    from scipy.interpolate import griddata

    points = np.column_stack([c.reshape(-1) for c in grid.coordinates()])
    values = griddata(data.coordinates, data.values, points, method="linear")
    nearest = griddata(data.coordinates, data.values, points, method="nearest")
    return np.where(np.isfinite(values), values, nearest).reshape(grid.shape)


def _split(space, fixed, layouts, x):
    """`(scalars, fields on the solver grid)` for concrete free values `x` (host arrays)."""
    scalars = {k: float(v) for k, v in fixed.items()}
    in_field = set()
    fields = {}
    for layout in layouts:
        fields[layout.name] = jnp.asarray(
            layout.to_solver @ x[layout.start : layout.start + layout.size]
        )
        in_field.update(range(layout.start, layout.start + layout.size))
    for i, p in enumerate(space.parameters):
        if i not in in_field:
            scalars[p.name] = jnp.asarray(float(x[i]))
    return scalars, fields


def _checked_step(config, options, assemble, values):
    """The options with a stable fixed step filled in (explicit solvers, from the starting
    values), or `ValueError` naming `solver.dt` when the requested step is unstable."""
    model, u0, params = assemble(*values)
    if not all(np.all(np.isfinite(np.asarray(u))) for u in jax.tree.leaves(u0)):
        raise ValueError("model.initial_condition: not finite (NaN or inf) on the grid")
    name = config.solver.name
    try:
        model.check(u0, params)
    except ValueError as error:
        raise ValueError(f"model: {error}") from None
    if name == "etdrk4" and not isinstance(model, AbstractSemilinear):
        raise ValueError(
            f"solver.name: 'etdrk4' needs a semilinear model, not {config.model.equation!r}"
        )
    fixed_step = name in FIXED_STEP_SOLVERS or options.dt is not None
    limit = stable_step(model, u0, params, name) if fixed_step else None
    if options.dt is None and name in FIXED_STEP_SOLVERS:
        if limit is None or not math.isfinite(limit) or limit == 0:
            raise ValueError(
                f"solver.dt: give a fixed step for solver {name!r} (no stable step can be "
                "computed for this model)"
            )
        return options.replace(dt=STEP_FRACTION * limit)
    if options.dt is not None and limit is not None and options.dt > limit:
        raise ValueError(
            f"solver.dt: {options.dt:g} is beyond the stability limit of solver {name!r} for "
            f"this model and grid at the starting values ({limit:.3g}); use dt <= {limit:.3g} "
            "or leave dt out"
        )
    return options


def _check_sensors(data: SensorData, grid: Grid, t0: float, where: str) -> None:
    for axis in range(grid.ndim):
        values = data.coordinates[:, axis]
        outside = (values < grid.lower[axis]) | (values > grid.upper[axis])
        if outside.any():
            bad = values[outside][0]
            raise DataError(
                f"{where}: a sensor at {AXES[axis]} = {bad:g} lies outside the domain "
                f"[{grid.lower[axis]:g}, {grid.upper[axis]:g}] (model.grid)"
            )
    if np.any(data.times < t0):
        raise DataError(
            f"{where}: a time {data.times.min():g} is before the initial time t0 = {t0:g} (data.t0)"
        )


_STEP_HINT = (
    "an explicit step this small comes from the grid spacing and the coefficients (check "
    "their values and model.grid.cells), or use an implicit solver (solver.name: stiff)"
)


def _output_times(times, t0):
    ts = np.unique(np.concatenate([[t0], np.asarray(times, float)]))
    return ts, np.searchsorted(ts, times)


def _axis_points(spec, name, grid: Grid, axis: int):
    if isinstance(spec, list):
        points = np.asarray(spec, float)
    else:
        points = np.linspace(spec.start, spec.stop, spec.num + 2)[1:-1]
    outside = (points < grid.lower[axis]) | (points > grid.upper[axis])
    if outside.any():
        raise ValueError(
            f"data.synthetic.sensors.{name}: position {points[outside][0]:g} lies outside the "
            f"domain [{grid.lower[axis]:g}, {grid.upper[axis]:g}]"
        )
    return points


def _sensor_layout(config: PdeRunConfig, grid: Grid, states) -> SensorData:
    """Every sensor at every time, for each observed state (values filled in later)."""
    spec = config.data.synthetic
    names = AXES[: grid.ndim]
    for key in spec.sensors:
        if key not in names:
            raise ValueError(f"data.synthetic.sensors.{key}: not an axis (use {', '.join(names)})")
    missing = [a for a in names if a not in spec.sensors]
    if missing:
        raise ValueError(f"data.synthetic.sensors.{missing[0]}: no sensor positions")
    axes = [_axis_points(spec.sensors[a], a, grid, i) for i, a in enumerate(names)]
    times = spec.times
    ts = (
        np.asarray(times, float)
        if isinstance(times, list)
        else np.linspace(times.start, times.stop, times.num)
    )
    if np.any(ts <= config.data.t0):
        raise ValueError("data.synthetic.times: times must come after the initial time data.t0")
    observed = list(config.observations) or [states[0]]
    for name in observed:
        if name not in states:
            raise ValueError(f"observations.{name}: not a state (states: {', '.join(states)})")
    positions = np.stack([c.reshape(-1) for c in np.meshgrid(*axes, indexing="ij")], axis=1)
    rows = [(t, p, v) for v in observed for t in ts for p in positions]
    return SensorData(
        times=np.asarray([r[0] for r in rows]),
        coordinates=np.asarray([r[1] for r in rows]),
        variables=np.asarray([r[2] for r in rows]),
        values=np.zeros(len(rows)),
        sigma=None,
        source="synthetic",
    )


def _synthesize(config, space, fixed, fine, assemble, sampler, options, ts, state_index):
    """Simulate the truth on a grid `refine` times finer, sample it and add Gaussian noise:
    `(clean, noisy, sigma)`."""
    spec = config.data.synthetic
    missing = [p for p in space.parameters if p.true is None]
    if missing:
        where = (
            f"fields.{missing[0].group}" if missing[0].group else f"parameters.{missing[0].name}"
        )
        raise ValueError(f"{where}.true: synthetic data needs the true value of every unknown")
    scalars = {k: jnp.asarray(v) for k, v in fixed.items()}
    for p in space.parameters:
        if p.group is None:
            scalars[p.name] = jnp.asarray(p.true)
    fields = {
        name: jnp.asarray(_field_values(f.true, fine, where=f"fields.{name}.true"))
        for name, f in config.fields.items()
    }
    model, u0, params = assemble(scalars, fields)
    dt = None
    if options.dt is not None:
        limit = stable_step(model, u0, params, options.solver)
        dt = options.dt / spec.refine
        if limit is not None and math.isfinite(limit):
            dt = min(dt, STEP_FRACTION * limit)
    fine_options = options.replace(
        dt=dt, rtol=options.rtol * 1e-3, atol=options.atol * 1e-3, max_steps=options.max_steps * 10
    )
    if dt is not None:
        where = "data.synthetic (the step at the true values)"
        fixed_step_counts(np.diff(ts), dt, where=where, hint=_STEP_HINT)
    solution = fine_options.solve_pde(model, u0, ts, params)
    if int(solution.status) != 0:
        raise ValueError(
            "data.synthetic: simulating at the true values failed: "
            + status_message(int(solution.status))
        )
    states = solution.ys if isinstance(solution.ys, (tuple, list)) else (solution.ys,)
    clean = np.asarray(sampler(tuple(states)))
    sigma = np.ones_like(clean)
    for index in np.unique(state_index):
        mask = state_index == index
        scale = float(np.max(np.abs(clean[mask]))) or 1.0
        sigma[mask] = (spec.noise if spec.noise > 0 else 1e-3) * scale
    observed = add_noise(clean, sigma, seed=spec.seed) if spec.noise > 0 else clean
    return clean, observed, sigma
