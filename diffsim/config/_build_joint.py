"""Turn a run config with `experiments:` (ODE or PDE on a grid) into one `JointProblem`.

Each experiment becomes an `OdeProblem` or `PdeProblem` built like a single-data-set run,
from the shared config with the experiment's data, parameters and initial values (ODE:
initial states; PDE: initial condition and boundary). Every quantity that is estimated, or
that some experiment sets, is an entry of the experiments' parameter vectors; per experiment
an entry is a shared unknown, a local unknown (`name[experiment]`: listed in `local`, or a
mapping in the experiment) or a known value. What differs between ODE and PDE runs is kept
in one small adapter per kind (`_OdeKind`, `_PdeKind`).
"""

from pathlib import Path

import numpy as np
from pydantic import ValidationError

from ..inverse import DataError, ErrorModel, parameter_space
from ..inverse._joint_problem import JointProblem
from ._build import (
    build_model,
    build_ode_problem,
    collect_parameters,
    make_parameter,
    priors_of,
)
from ._build_pde import build_pde_problem
from ._pde_schema import PdeRunConfig
from ._schema import ExperimentBase, ObservationConfig, OdeRunConfig, ParameterConfig


def local_name(name: str, experiment: str) -> str:
    """How a local unknown is reported: `name[experiment]`."""
    return f"{name}[{experiment}]"


def _entries(config, kind) -> list[tuple[str, str]]:
    """`(section, key)` of every quantity estimated or set per experiment, in the order of
    the shared config's parameters (`section`: `parameters` or `initial_state`)."""
    entries = [_section_key(p.name, where) for p, where in kind.base if not p.fixed]
    for i, experiment in enumerate(config.experiments):
        for name in experiment.parameters:
            if name not in kind.known:
                raise ValueError(
                    f"experiments.{i}.parameters.{name}: not a parameter of the config "
                    f"(parameters: {', '.join(kind.known) or 'none'})"
                )
            entries.append(("parameters", name))
        for state, spec in kind.initial_states(experiment).items():
            if state not in kind.states:
                raise ValueError(
                    f"experiments.{i}.initial_state.{state}: not a state of the model "
                    f"(states: {', '.join(kind.states)})"
                )
            if not isinstance(spec, str):
                entries.append(("initial_state", state))
    return list(dict.fromkeys(entries))


def _section_key(name: str, where: str) -> tuple[str, str]:
    section, _, key = where.partition(".")
    return section, key


def _unknown_name(section: str, key: str) -> str:
    return key if section == "parameters" else f"{key}0"


def _number(spec) -> float | None:
    if isinstance(spec, ParameterConfig):
        return spec.init if spec.fixed else None
    return None if spec is None or isinstance(spec, str) else float(spec)


def _check_local(config: OdeRunConfig, free: list[str]) -> None:
    for name in config.local:
        if name not in free:
            raise ValueError(
                f"local: {name!r} is not an unknown of the shared config "
                f"(unknowns: {', '.join(free) or 'none'})"
            )


def _observations(config, experiment: ExperimentBase, index: int) -> dict:
    """The observations of one experiment: the shared ones, with this experiment's noise
    levels where it gives them."""
    observations = dict(config.observations)
    for name, override in experiment.observations.items():
        where = f"experiments.{index}.observations.{name}"
        shared = observations.get(name)
        if shared is None:
            raise ValueError(
                f"{where}: not an observation of the config "
                f"(observations: {', '.join(config.observations)})"
            )
        if shared.sigma == "estimate":
            raise ValueError(
                f"{where}: its noise level is estimated (one level shared by all "
                "experiments); leave it out here"
            )
        changes = override.model_dump(exclude_none=True)
        try:
            observations[name] = ObservationConfig.model_validate(
                {**shared.model_dump(), **changes}
            )
        except ValidationError as error:
            reason = error.errors()[0]["msg"].removeprefix("Value error, ")
            raise ValueError(f"{where}: {reason}") from None
    return observations


class _OdeKind:
    """How an ODE config's experiments are built: model parameters and unknown initial
    states, each experiment an `OdeProblem`."""

    own_keys = ("data",)  # errors of these keys are the experiment's

    def __init__(self, config: OdeRunConfig):
        self.config = config
        self.model = build_model(config)
        self.base = collect_parameters(config, self.model)
        auxiliary = [n for n in config.parameters if n not in self.model.parameters]
        self.known = [*self.model.parameters, *auxiliary]
        self.states = self.model.states

    @staticmethod
    def initial_states(experiment) -> dict:
        return experiment.initial_state

    def base_value(self, section: str, key: str):
        """The shared config's spec of an entry: a `ParameterConfig`, a number, an
        expression string, or the model's default."""
        config, model = self.config, self.model
        if section == "parameters":
            spec = config.parameters.get(key)
            return model.default_parameters.get(key) if spec is None else spec
        spec = config.initial_state.get(key)
        if spec is None and model.default_initial_state:
            return float(model.default_initial_state[model.states.index(key)])
        return spec

    def experiment_config(self, experiment, index: int, specs) -> OdeRunConfig:
        """The single-data-set config of one experiment: every entry a free parameter
        starting at its value in this experiment (so that experiments of one structure share
        one compiled solve), expressions and the rest as configured."""
        config = self.config
        parameters, initial_state = _entry_specs(config, specs)
        initial_state = {**config.initial_state, **experiment.initial_state, **initial_state}
        return config.model_copy(
            update={
                "parameters": parameters,
                "initial_state": initial_state,
                **_single_data_set(config, experiment, index),
            }
        )

    def build(self, config: OdeRunConfig, base_dir):
        return build_ode_problem(config, base_dir, model=self.model)

    @staticmethod
    def group_key(problem, config: OdeRunConfig) -> tuple:
        """Experiments of one key share a compiled, vmapped solve: the same parameter
        entries, initial-state expressions, start time and data times."""
        expressions = tuple(
            sorted((k, v) for k, v in config.initial_state.items() if isinstance(v, str))
        )
        return (problem.space.names, expressions, problem.t0, problem.data.ts.tobytes())


class _PdeKind:
    """How a PDE config's experiments are built: scalar parameters (the initial condition
    and boundary per experiment come with its model), each experiment a `PdeProblem`."""

    states = ()
    # errors of these keys are the experiment's (its data, its model; a parameter that its
    # initial condition and boundary do not use)
    own_keys = ("data", "model.initial_condition", "model.boundary", "parameters")

    def __init__(self, config: PdeRunConfig):
        self.config = config
        self.base = [
            (make_parameter(name, spec, None, f"parameters.{name}"), f"parameters.{name}")
            for name, spec in config.parameters.items()
        ]
        self.known = list(config.parameters)

    @staticmethod
    def initial_states(experiment) -> dict:
        return {}

    def base_value(self, section: str, key: str):
        return self.config.parameters.get(key)

    def experiment_config(self, experiment, index: int, specs) -> PdeRunConfig:
        """The single-data-set config of one experiment: every entry a free parameter
        starting at its value in this experiment, the experiment's model."""
        config = self.config
        parameters, _ = _entry_specs(config, specs)
        return config.model_copy(
            update={
                "model": config.experiment_model(index),
                "parameters": parameters,
                **_single_data_set(config, experiment, index),
            }
        )

    def build(self, config: PdeRunConfig, base_dir):
        return build_pde_problem(config, base_dir)

    @staticmethod
    def group_key(problem, config: PdeRunConfig) -> tuple:
        """Experiments of one key share a compiled, vmapped solve: the same parameter
        entries and known values, model (initial condition, boundary), step, output times
        and sensors."""
        arrays = (problem.ts, problem.coordinates, problem.times, problem.variables)
        return (
            problem.space.names,
            tuple(sorted(problem.fixed.items())),
            config.model.model_dump_json(),
            problem.options.dt,
            *(np.asarray(a).tobytes() for a in arrays),
        )


def _entry_specs(config, specs) -> tuple[dict, dict]:
    """`(parameters, initial states)` of an experiment's config: the shared ones with every
    entry a free parameter `{init, true}` (its starting or known value in the experiment)."""
    parameters, initial_state = dict(config.parameters), {}
    for (section, key), (init, true) in specs.items():
        spec = ParameterConfig(init=init, true=true)
        (parameters if section == "parameters" else initial_state)[key] = spec
    return parameters, initial_state


def _single_data_set(config, experiment, index: int) -> dict:
    """The keys that make an experiment a run of its own: its observations and data."""
    return {
        "observations": _observations(config, experiment, index),
        "data": experiment.data,
        "experiments": None,
        "local": [],
    }


def _build_experiment(kind, config, index: int, base_dir):
    """Experiment `index`'s problem; errors of its own keys (`kind.own_keys`) name them as
    `experiments.<index>.<key>`."""
    try:
        return kind.build(config, base_dir)
    except DataError:
        raise
    except ValueError as error:
        text = str(error)
        if text.startswith(kind.own_keys):
            text = f"experiments.{index}.{text.removeprefix('model.')}"
        raise ValueError(text) from None


def _merged_errors(problems, take) -> ErrorModel | None:
    """One `ErrorModel` for the stacked data: estimated noise levels and dispersions shared
    by all experiments (their indices mapped to the joint vector, their counts added)."""
    errors = [p.errors for p in problems]
    if errors[0] is None:
        return None

    def stacked(get, remap=False):
        if get(errors[0]) is None:
            return None
        parts = [get(e) for e in errors]
        if remap:
            parts = [
                np.where(a >= 0, t[np.maximum(a, 0)], -1) for a, t in zip(parts, take, strict=True)
            ]
        return np.concatenate(parts)

    return ErrorModel(
        kinds=stacked(lambda e: e.kinds),
        dispersion=stacked(lambda e: e.dispersion),
        sigma_index=stacked(lambda e: e.sigma_index, remap=True),
        noise_parameters=take[0][errors[0].noise_parameters],
        noise_counts=np.sum([e.noise_counts for e in errors], axis=0),
        noise_floor=errors[0].noise_floor,
        dispersion_index=stacked(lambda e: e.dispersion_index, remap=True),
    )


def _groups(kind, problems, configs) -> tuple:
    """Experiments that one compiled, vmapped solve can serve (`kind.group_key` equal)."""
    groups: dict = {}
    for e, (problem, config) in enumerate(zip(problems, configs, strict=True)):
        groups.setdefault(kind.group_key(problem, config), []).append(e)
    return tuple(tuple(g) for g in groups.values())


def build_joint_problem(
    config: OdeRunConfig | PdeRunConfig, base_dir: str | Path = "."
) -> JointProblem:
    """Build the `JointProblem` of a config with `experiments` (ODE, or PDE on a grid).

    Each experiment's data are loaded or simulated; a PDE experiment may bring its own
    `initial_condition` and `boundary` (see `docs/config.md`).

    **Raises:** `ValueError` (or `DataError`) with one line naming the key path or data file.

    **Example:** two experiments share a decay rate; each has its own start value.

    ```python
    import diffsim

    synthetic = {"synthetic": {"times": {"start": 0, "stop": 2, "num": 5}}}
    config = diffsim.config.validate_config({
        "model": {"equations": {"y": "-k * y"}},
        "parameters": {"k": {"init": 0.5, "true": 0.8, "transform": "log"}},
        "initial_state": {"y": {"init": 1.0, "true": 2.0}},
        "local": ["y0"],
        "observations": {"y": {"sigma": 0.01}},
        "solver": {"name": "rk4", "dt": 0.1},
        "experiments": [
            {"name": "a", "data": synthetic},
            {"name": "b", "initial_state": {"y": {"init": 1.0, "true": 3.0}}, "data": synthetic},
        ],
    })
    problem = diffsim.config.build_joint_problem(config)
    assert problem.names == ("a", "b") and problem.space.names == ("k", "y0[a]", "y0[b]")
    ```
    """
    kind = _PdeKind(config) if isinstance(config, PdeRunConfig) else _OdeKind(config)
    base = kind.base
    free = [p.name for p, _ in base if not p.fixed]
    _check_local(config, free)
    entries = _entries(config, kind)
    shared_parameters = {p.name: (p, where) for p, where in base if not p.fixed}

    joint, joint_specs = [], []  # the joint free parameters and their priors' specs
    index_of: dict[str, int] = {}

    def add(parameter, where, prior):
        index_of[parameter.name] = len(joint)
        joint.append((parameter, where))
        joint_specs.append(prior)

    for section, key in entries:
        name = _unknown_name(section, key)
        if name in shared_parameters and name not in config.local:
            overridden = all(_override(e, section, key) is not None for e in config.experiments)
            if not overridden:
                parameter, where = shared_parameters[name]
                add(parameter, where, _prior(kind.base_value(section, key)))

    configs, problems, sources = [], [], []
    for i, experiment in enumerate(config.experiments):
        specs, source = {}, {}
        for section, key in entries:
            name = _unknown_name(section, key)
            override = _override(experiment, section, key)
            base_spec = kind.base_value(section, key)
            where = f"experiments.{i}.{section}.{key}"
            if isinstance(override, str) or (override is None and isinstance(base_spec, str)):
                continue  # an expression in this experiment
            if isinstance(override, ParameterConfig) and not override.fixed:
                spec, local = override, True
            elif override is not None:
                value = _number(override)
                specs[(section, key)] = (value, value)
                source[name] = value
                continue
            elif name in config.local:
                spec, local, where = base_spec, True, f"local ({name} of experiment {i})"
            elif isinstance(base_spec, ParameterConfig) and not base_spec.fixed:
                spec, local = base_spec, False
            else:
                value = _number(base_spec)
                if value is None:
                    raise ValueError(f"{section}.{key}: no value for the experiments")
                specs[(section, key)] = (value, value)
                source[name] = value
                continue
            default = _number(base_spec) if local else None
            parameter = make_parameter(
                local_name(name, experiment.name) if local else name, spec, default, where
            )
            if local:
                add(parameter, where, spec.prior)
            specs[(section, key)] = (parameter.init, spec.true)
            source[name] = parameter.name
        derived = kind.experiment_config(experiment, i, specs)
        configs.append(derived)
        problems.append(_build_experiment(kind, derived, i, base_dir))
        sources.append(source)

    noise = [p for p in problems[0].space.parameters if p.name not in sources[0]]
    for parameter in noise:  # estimated noise levels and dispersions (shared)
        key = "sigma" if parameter.name.startswith("sigma_") else "dispersion"
        observation = parameter.name.removeprefix(f"{key}_")
        add(parameter, f"observations.{observation}.{key}", None)

    take, inputs, fixed = [], [], {}
    for experiment, problem, source in zip(config.experiments, problems, sources, strict=True):
        row_take, row_inputs = [], []
        for name in problem.space.names:
            value = source.get(name, name)  # a noise level: shared
            if isinstance(value, str):
                row_take.append(index_of[value])
                row_inputs.append(0.0)
            else:
                row_take.append(-1)
                row_inputs.append(value)
                fixed[local_name(name, experiment.name)] = value
        take.append(np.asarray(row_take, int))
        inputs.append(np.asarray(row_inputs, float))
    for p, _ in base:
        if p.fixed and p.name not in {_unknown_name(*e) for e in entries}:
            fixed[p.name] = p.init

    space = parameter_space(tuple(p for p, _ in joint), paths=tuple(w for _, w in joint))
    return JointProblem(
        space=space,
        experiments=tuple(problems),
        names=tuple(e.name for e in config.experiments),
        take=tuple(take),
        inputs=tuple(inputs),
        groups=_groups(kind, problems, configs),
        fixed=fixed,
        errors=_merged_errors(problems, take),
        priors=priors_of(joint_specs),
    )


def _override(experiment: ExperimentBase, section: str, key: str):
    if section == "parameters":
        return experiment.parameters.get(key)
    return experiment.initial_state.get(key)


def _prior(spec):
    return spec.prior if isinstance(spec, ParameterConfig) else None
