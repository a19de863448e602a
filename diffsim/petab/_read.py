"""Read a PEtab v1 problem (its YAML file) into a `PetabProblem` (needs the petab extra).

The `petab` library reads the tables; every reference in them (condition columns and
values, observable formulas, placeholder values, measurement ids) is checked here, and a
mistake is one line naming the file, row and column.
"""

import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import petab.v1 as petab
import sympy as sp
import yaml

from ..inverse import Parameter, Priors, SolverOptions, parameter_space
from ._errors import PetabError, where
from ._layout import Layout, Observable, resolve
from ._model import SbmlModel
from ._noise import DISTRIBUTIONS, SCALES
from ._problem import PetabProblem
from ._sbml import read_sbml
from ._steady import SteadyState, steady_state_for
from ._sympy_jax import check


def read_problem(path: str | Path, options: SolverOptions) -> PetabProblem:
    """Load a PEtab v1 problem into a `PetabProblem` of the inverse layer.

    **Arguments:**
    - `path`: the problem's YAML file (`format_version: 1`).
    - `options`: solver settings.

    **Raises:** `PetabError` (a `ValueError`) in one line naming the file, row and column of
    a mistake or of an unsupported feature.
    """
    path = Path(path)
    files = table_files(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            problem = petab.Problem.from_yaml(str(path))
        except FileNotFoundError as error:
            raise PetabError(f"{path}: table file not found: {error.filename}") from None
        except Exception as error:  # petab raises many types for a malformed table
            message = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise PetabError(f"{path}: {type(error).__name__}: {message}") from None
    model = read_sbml(files["sbml_files"])
    parameters = _parameters(problem.parameter_df, files["parameter_file"])
    ids = tuple(parameters.index)
    conditions = _conditions(problem.condition_df, files["condition_files"], model, ids)
    observables = _observables(problem.observable_df, files["observable_files"], model, ids)
    layout = _layout(problem, files, model, parameters, conditions, observables)
    free = [
        Parameter(
            name=str(name),
            init=_inside(layout.nominal[i], layout.lower[i], layout.upper[i], layout.scales[i]),
            lower=float(layout.lower[i]),
            upper=float(layout.upper[i]),
            transform="log" if layout.scales[i] != "lin" else "none",
        )
        for name, i in zip(np.asarray(ids)[layout.estimated], layout.estimated, strict=True)
    ]
    try:
        space = parameter_space(
            tuple(free), tuple(f"{files['parameter_file']}: {p.name}" for p in free)
        )
    except ValueError as error:
        raise PetabError(str(error)) from None
    priors = _priors(parameters, layout, files["parameter_file"])
    return PetabProblem(
        model=model,
        layout=layout,
        space=space,
        options=options,
        steady=_steady(model, layout),
        priors=priors,
    )


def _steady(model: SbmlModel, layout: Layout) -> SteadyState:
    """How pre-equilibration is differentiated (conservation laws found only when needed)."""
    if not layout.preequilibrated:
        return SteadyState(np.zeros((0, len(model.states))), "implicit", "no pre-equilibration")
    pre = np.unique(layout.experiments[:, 0][layout.experiments[:, 0] >= 0])
    p = np.asarray(resolve(layout.nominal, layout.parameter_index, layout.parameter_const))
    return steady_state_for(model, p[pre])


def _priors(df: pd.DataFrame, layout: Layout, file) -> Priors | None:
    """PEtab's objective priors as the inverse layer's normal / log-normal priors.

    `normal` is normal in `x`, `logNormal` normal in `log x`, `parameterScaleNormal` normal on
    the parameter's scale (log10 becomes log-normal with mean and sd times ln 10); uniform
    priors are the bounds. Laplace priors are refused.
    """
    if "objectivePriorType" not in df.columns:
        return None
    entries = []
    for k, i in enumerate(layout.estimated):
        kind = df["objectivePriorType"].iloc[i]
        if not isinstance(kind, str) or kind in ("", "uniform", "parameterScaleUniform"):
            continue
        place = where(file, int(i) + 1, "objectivePriorType")
        if kind not in ("normal", "logNormal", "parameterScaleNormal"):
            raise PetabError(f"{place}: prior {kind!r} is not supported")
        values = petab.split_parameter_replacement_list(df["objectivePriorParameters"].iloc[i])
        if len(values) != 2 or not all(isinstance(v, float) for v in values) or values[1] <= 0:
            raise PetabError(
                f"{where(file, int(i) + 1, 'objectivePriorParameters')}: need 'mean;sd'"
            )
        mean, sd = values
        scale = layout.scales[i]
        logarithmic = kind == "logNormal" or (kind == "parameterScaleNormal" and scale != "lin")
        if kind == "parameterScaleNormal" and scale == "log10":
            mean, sd = mean * math.log(10), sd * math.log(10)
        entries.append((k, logarithmic, mean, sd))
    if not entries:
        return None
    k, logarithmic, mean, sd = (np.asarray(column) for column in zip(*entries, strict=True))
    return Priors(indices=k, lognormal=logarithmic, mean=mean, sd=sd)


def _inside(value: float, low: float, high: float, scale: str) -> float:
    """A nominal value on a bound moved 1e-6 of the range inside (on the parameter's scale),
    so that a fit can start there; log-likelihoods are still evaluated at the nominal value."""
    if low < value < high:
        return float(value)
    to, back = (np.log10, lambda v: 10.0**v) if scale == "log10" else (np.log, np.exp)
    if scale == "lin":
        to, back = (lambda v: v), (lambda v: v)
    a, b = to(low), to(high)
    return float(back(np.clip(to(value), a + 1e-6 * (b - a), b - 1e-6 * (b - a))))


def table_files(path: Path) -> dict:
    """The table files named in the YAML (exactly one of each kind; v1 only)."""
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except OSError as error:
        raise PetabError(f"{path}: cannot read ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise PetabError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(data, dict) or str(data.get("format_version")) not in ("1", "1.0.0"):
        raise PetabError(f"{path}: format_version: only PEtab version 1 is supported")
    problems = data.get("problems")
    if not isinstance(problems, list) or len(problems) != 1:
        raise PetabError(f"{path}: problems: exactly one problem is supported")
    files = {"parameter_file": data.get("parameter_file")}
    for key in ("sbml_files", "condition_files", "measurement_files", "observable_files"):
        names = problems[0].get(key)
        if not isinstance(names, list) or len(names) != 1:
            raise PetabError(f"{path}: problems[0].{key}: exactly one file is supported")
        files[key] = names[0]
    for key, name in files.items():
        if not isinstance(name, str):
            raise PetabError(f"{path}: {key}: missing")
        files[key] = path.parent / name
        if not files[key].is_file():
            raise PetabError(f"{path}: {key}: table file not found: {files[key]}")
    files["yaml"] = path
    return files


def _number_or_id(value, ids, place: str) -> tuple[int, float]:
    """A reference `(index, constant)` for a table cell: a number or a parameter id."""
    if isinstance(value, str):
        try:
            return -1, float(value)
        except ValueError:
            if value not in ids:
                raise PetabError(f"{place}: {value!r} is not a parameter id") from None
            return ids.index(value), 0.0
    return -1, float(value)


def _parameters(df: pd.DataFrame, file) -> pd.DataFrame:
    for row, (pid, item) in enumerate(df.iterrows(), start=1):
        scale = item.get("parameterScale", "lin")
        if scale not in SCALES:
            raise PetabError(
                f"{where(file, row, 'parameterScale')}: {scale!r} is not one of {SCALES}"
            )
        nominal = float(item.get("nominalValue", math.nan))
        if not math.isfinite(nominal):
            raise PetabError(f"{where(file, row, 'nominalValue')}: {pid!r} has no nominal value")
        if int(item.get("estimate", 0)) == 1:
            low, high = float(item["lowerBound"]), float(item["upperBound"])
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise PetabError(f"{where(file, row, 'lowerBound')}: bounds of {pid!r}: bad bounds")
    return df


def _conditions(df: pd.DataFrame, file, model: SbmlModel, ids) -> dict:
    """For each condition id: `{model quantity: (index, constant)}`."""
    columns = [c for c in df.columns if c != "conditionName"]
    for column in columns:
        if column not in model.parameters and column not in model.states:
            kind = "is set by a rule" if column in model.definitions else "is not in the model"
            raise PetabError(
                f"{where(file, None, column)}: not a parameter, compartment or species ({kind})"
            )
    conditions = {}
    for row, (cid, item) in enumerate(df.iterrows(), start=1):
        values = {}
        for column in columns:
            value = item[column]
            if isinstance(value, float) and math.isnan(value):
                if column in model.parameters:
                    raise PetabError(f"{where(file, row, column)}: empty value for parameter")
                continue
            values[column] = _number_or_id(value, ids, where(file, row, column))
        conditions[cid] = values
    return conditions


def _placeholders(text: str, kind: str, oid: str) -> int:
    found = [int(k) for k in re.findall(rf"\b{kind}(\d+)_{re.escape(oid)}\b", text)]
    return max(found, default=0)


def _observables(df: pd.DataFrame, file, model: SbmlModel, ids) -> dict:
    names = model.names() | set(ids)
    observables = {}
    for row, (oid, item) in enumerate(df.iterrows(), start=1):
        scale = item.get("observableTransformation", "lin")
        scale = "lin" if not isinstance(scale, str) else scale
        noise = item.get("noiseDistribution", "normal")
        noise = "normal" if not isinstance(noise, str) else noise
        if scale not in SCALES:
            raise PetabError(
                f"{where(file, row, 'observableTransformation')}: {scale!r} is not one of {SCALES}"
            )
        if noise not in DISTRIBUTIONS:
            raise PetabError(
                f"{where(file, row, 'noiseDistribution')}: {noise!r} is not one of {DISTRIBUTIONS}"
            )
        exprs = {}
        for column, kind in (
            ("observableFormula", "observableParameter"),
            ("noiseFormula", "noiseParameter"),
        ):
            text = str(item[column])
            count = _placeholders(text, kind, oid)
            known = names | {f"{kind}{k}_{oid}" for k in range(1, count + 1)}
            if column == "noiseFormula":
                known |= {oid} | {f"observableParameter{k}_{oid}" for k in range(1, exprs["n"] + 1)}
            try:
                expr = sp.sympify(petab.math.sympify_petab(text))
                check(expr, known, where(file, row, column))
            except PetabError:
                raise
            except ValueError as error:
                raise PetabError(str(error).splitlines()[0]) from None
            except Exception as error:
                raise PetabError(
                    f"{where(file, row, column)}: cannot parse {text!r} ({error})"
                ) from None
            exprs[column] = expr
            exprs["n" if kind == "observableParameter" else "m"] = count
        observables[oid] = (
            Observable(
                oid, exprs["observableFormula"], exprs["noiseFormula"], scale, noise == "laplace"
            ),
            exprs["n"],
            exprs["m"],
        )
    return observables


def _references(cell, count: int, ids, place: str) -> list[tuple[int, float]]:
    values = petab.split_parameter_replacement_list(cell)
    if len(values) != count and not (count == 0 and not values):
        raise PetabError(
            f"{place}: {len(values)} values given, the formula has {count} placeholders"
        )
    return [_number_or_id(v, ids, place) for v in values]


def _layout(problem, files, model: SbmlModel, parameters, conditions, observables) -> Layout:
    ids = tuple(parameters.index)
    file = files["measurement_files"]
    condition_ids = tuple(conditions)
    df = problem.measurement_df
    n = len(df)
    k_obs = max([o[1] for o in observables.values()] + [1])
    k_noise = max([o[2] for o in observables.values()] + [1])
    obs_ref = np.zeros((n, k_obs, 2))
    noise_ref = np.zeros((n, k_noise, 2))
    obs_ref[..., 0] = noise_ref[..., 0] = -1
    pairs, experiment, times, observable, measurement = [], [], [], [], []
    observable_ids = tuple(observables)
    has_pre = "preequilibrationConditionId" in df.columns
    for row, (_, item) in enumerate(df.iterrows(), start=1):
        oid = item["observableId"]
        if oid not in observables:
            raise PetabError(
                f"{where(file, row, 'observableId')}: {oid!r} is not in the observables table"
            )
        sim = item["simulationConditionId"]
        if sim not in conditions:
            raise PetabError(
                f"{where(file, row, 'simulationConditionId')}: {sim!r} is not a condition"
            )
        pre = item["preequilibrationConditionId"] if has_pre else math.nan
        if isinstance(pre, str) and pre not in conditions:
            raise PetabError(
                f"{where(file, row, 'preequilibrationConditionId')}: {pre!r} is not a condition"
            )
        pair = (condition_ids.index(pre) if isinstance(pre, str) else -1, condition_ids.index(sim))
        if pair not in pairs:
            pairs.append(pair)
        time = float(item["time"])
        if not math.isfinite(time) or time < 0:
            raise PetabError(
                f"{where(file, row, 'time')}: {time} (steady-state measurements are not supported)"
            )
        value = float(item["measurement"])
        if not math.isfinite(value):
            raise PetabError(f"{where(file, row, 'measurement')}: {value} is not a finite number")
        _, n_obs, n_noise = observables[oid]
        for column, count, target in (
            ("observableParameters", n_obs, obs_ref),
            ("noiseParameters", n_noise, noise_ref),
        ):
            refs = _references(item.get(column, math.nan), count, ids, where(file, row, column))
            for k, ref in enumerate(refs):
                target[row - 1, k] = ref
        experiment.append(pairs.index(pair))
        times.append(time)
        observable.append(observable_ids.index(oid))
        measurement.append(value)
    grid = np.unique(np.concatenate([[0.0], times]))

    scales = tuple(parameters.get("parameterScale", pd.Series("lin", index=parameters.index)))
    estimate = np.asarray(parameters["estimate"], int) == 1
    lower = np.asarray(parameters.get("lowerBound", np.nan), float)
    upper = np.asarray(parameters.get("upperBound", np.nan), float)
    p_ref = np.zeros((len(condition_ids), len(model.parameters), 2))
    s_ref = np.zeros((len(condition_ids), len(model.states), 2))
    s_set = np.zeros((len(condition_ids), len(model.states)), bool)
    for c, cid in enumerate(condition_ids):
        for j, name in enumerate(model.parameters):
            if name in conditions[cid]:
                p_ref[c, j] = conditions[cid][name]
            elif name in ids:
                p_ref[c, j] = (ids.index(name), 0.0)
            else:
                p_ref[c, j] = (-1, model.defaults[j])
        for j, name in enumerate(model.states):
            if name in conditions[cid]:
                s_ref[c, j] = conditions[cid][name]
                s_set[c, j] = True
    return Layout(
        source=str(files.get("yaml", file)),
        parameter_ids=ids,
        scales=scales,
        nominal=np.asarray(parameters["nominalValue"], float),
        lower=lower,
        upper=upper,
        estimated=np.flatnonzero(estimate),
        condition_ids=condition_ids,
        parameter_index=p_ref[..., 0].astype(int),
        parameter_const=p_ref[..., 1],
        species_set=s_set,
        species_index=s_ref[..., 0].astype(int),
        species_const=s_ref[..., 1],
        experiments=np.asarray(pairs, int).reshape(-1, 2),
        times=grid,
        observables=tuple(o[0] for o in observables.values()),
        experiment=np.asarray(experiment, int),
        time_index=np.searchsorted(grid, np.asarray(times)),
        observable=np.asarray(observable, int),
        measurement=np.asarray(measurement, float),
        observable_index=obs_ref[..., 0].astype(int),
        observable_const=obs_ref[..., 1],
        noise_index=noise_ref[..., 0].astype(int),
        noise_const=noise_ref[..., 1],
    )
