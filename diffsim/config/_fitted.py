"""`fitted.yaml`: the run's config with the estimates filled in as starting values."""

from ._load import dump_config
from ._run_config import RunConfig

HEADER = (
    "# The config of this run with every estimated scalar's `init` set to its estimate\n"
    "# (written by diffsim). Rerunning it simulates the fitted model and refits from there.\n"
)


def fitted_config(config: RunConfig, summary: dict) -> str:
    """`config` as YAML with each free scalar's `init` replaced by its estimate.

    Parameters are found under `parameters.<name>`, unknown initial states (named
    `<state>0` in results) under `initial_state.<state>`, an experiment's local unknowns
    (`name[experiment]`) in that experiment; fields are left as configured.

    **Arguments:**
    - `config`: the run's (resolved) config; `summary`: its `result.json` content.

    **Example:** a rerun starts from the estimates.

    ```python
    import diffsim

    config = diffsim.config.validate_config({
        "model": {"equations": {"y": "-k * y"}},
        "parameters": {"k": {"init": 0.5}},
        "initial_state": {"y": 1.0},
        "observations": {"y": {"sigma": 0.1}},
        "data": {"file": "measured.csv"},
    })
    summary = {"parameters": {"k": {"estimate": 0.79, "fixed": False}}}
    text = diffsim.config.fitted_config(config, summary)
    rerun = diffsim.config.validate_config(diffsim.config.load_yaml(text))
    assert rerun.parameters["k"].init == 0.79
    ```
    """
    estimates = {
        name: p["estimate"]
        for name, p in summary["parameters"].items()
        if not p["fixed"] and p["estimate"] is not None
    }

    def filled(specs: dict, key_of) -> dict:
        out = {}
        for key, spec in specs.items():
            name = key_of(key)
            if name in estimates and hasattr(spec, "model_copy"):
                spec = spec.model_copy(update={"init": estimates[name]})
            out[key] = spec
        return out

    update = {"parameters": filled(config.parameters, lambda key: key)}
    if "initial_state" in type(config).model_fields:
        update["initial_state"] = filled(config.initial_state, lambda key: f"{key}0")
    if getattr(config, "experiments", None):
        update["experiments"] = [
            _fitted_experiment(config, e, estimates) for e in config.experiments
        ]
    return HEADER + dump_config(config.model_copy(update=update))


def _fitted_experiment(config, experiment, estimates: dict):
    """An experiment with its local unknowns (`name[experiment]`) starting at their
    estimates, as a mapping in its `parameters` or `initial_state`."""
    parameters = dict(experiment.parameters)
    states = dict(getattr(experiment, "initial_state", {}))  # PDE experiments have none
    suffix = f"[{experiment.name}]"
    for name, value in estimates.items():
        if not name.endswith(suffix):
            continue
        base = name.removesuffix(suffix)
        if base in config.parameters or base in parameters:
            section, key = parameters, base
        else:  # an unknown initial state, `<state>0`
            section, key = states, base[:-1]
        spec = section.get(key)
        if not hasattr(spec, "model_copy"):
            top = config.parameters if section is parameters else config.initial_state
            spec = top[key]
        section[key] = spec.model_copy(update={"init": value})
    update = {"parameters": parameters} | ({"initial_state": states} if states else {})
    return experiment.model_copy(update=update)
