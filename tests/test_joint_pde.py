"""Joint fits of PDE problems (`experiments:` in a PDE config): several sensor data sets of
one rod, each with its own initial field, sharing the diffusivity, fitted as one problem."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml
from problems import assert_validate_fails_in_one_line

from diffsim.config import build_problem, load_config, validate_config
from diffsim.inverse import JointProblem, taylor_test_flat
from diffsim.run import main

ROOT = Path(__file__).resolve().parent.parent


def _synthetic(seed):
    return {
        "synthetic": {
            "times": [0.05, 0.15],
            "sensors": {"x": [0.25, 0.5, 0.75]},
            "noise": 0.01,
            "refine": 1,
            "seed": seed,
        }
    }


# u_t = D u_xx with zero ends and u(0, x) = A sin(pi x): exactly A exp(-D pi^2 t) sin(pi x).
# The diffusivity D is shared; the amplitude A is local (experiment a through `local`,
# experiment b through its own mapping), so the two initial fields differ.
HEAT_JOINT = {
    "name": "heat_joint",
    "model": {
        "equation": "heat",
        "grid": {"cells": 10},
        "boundary": {"left": {"dirichlet": 0.0}, "right": {"dirichlet": 0.0}},
        "initial_condition": "amplitude*sin(pi*x)",
    },
    "parameters": {
        "diffusivity": {"init": 0.3, "true": 0.2, "transform": "log"},
        "amplitude": {"init": 1.0, "true": 1.0},
    },
    "local": ["amplitude"],
    "solver": {"name": "rk4", "dt": 0.005},
    "report": {"dpi": 30, "points": 21, "taylor_test": False, "forecast": {"until": 0.3}},
    "experiments": [
        {"name": "a", "data": _synthetic(0)},
        {
            "name": "b",
            "parameters": {"amplitude": {"init": 1.0, "true": 2.5}},
            "data": _synthetic(1),
        },
    ],
}
TRUE = {"diffusivity": 0.2, "amplitude[a]": 1.0, "amplitude[b]": 2.5}


def _exact(t, x, diffusivity, amplitude):
    return amplitude * np.exp(-diffusivity * np.pi**2 * t) * np.sin(np.pi * x)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The whole run (fit, error bars, profiles, forecast, report) through the CLI."""
    folder = tmp_path_factory.mktemp("heat_joint")
    (folder / "config.yaml").write_text(yaml.safe_dump(HEAT_JOINT))
    out = folder / "run"
    assert main([str(folder / "config.yaml"), "--out", str(out), "--quiet", "--no-cache"]) == 0
    return json.loads((out / "result.json").read_text()), dict(np.load(out / "arrays.npz")), out


@pytest.fixture(scope="module")
def problem():
    return build_problem(validate_config(HEAT_JOINT))


def test_joint_pde_fit_recovers_the_truth_with_profile_intervals(run):
    result, _, _ = run
    assert result["kind"] == "pde" and result["success"]
    assert [e["name"] for e in result["data"]["experiments"]] == ["a", "b"]
    parameters = result["parameters"]
    assert list(parameters) == list(TRUE)
    for name, true in TRUE.items():
        p = parameters[name]
        assert p["stderr"] < 0.05 * true  # well determined, so the next line can fail
        assert abs(p["estimate"] - true) < 3 * p["stderr"], (name, p)
        lower, upper = p["intervals"]["profile"]
        assert lower < p["estimate"] < upper
    covariance = result["covariance"]
    assert covariance["names"] == list(TRUE)
    stderr = np.sqrt(np.diag(covariance["matrix"]))
    np.testing.assert_allclose(stderr, [parameters[n]["stderr"] for n in TRUE], rtol=1e-6)


def test_report_forecast_has_each_experiments_sensors_and_field(run):
    """The forecast of experiment k follows the exact solution with its own amplitude (the
    fitted diffusivity shared); the report draws one panel set per experiment."""
    result, arrays, out = run
    for name in ("space_time", "forecast", "states"):
        assert (out / f"{name}.png").is_file(), name
    assert "2 experiments fitted jointly" in (out / "report.md").read_text()
    estimate = {n: p["estimate"] for n, p in result["parameters"].items()}
    for k, name in enumerate(("a", "b")):
        ts = arrays[f"e{k}_forecast_ts"]
        assert ts[-1] == 0.3 and arrays[f"e{k}_data_end"] == 0.15
        x = arrays[f"e{k}_forecast_sensor_coordinates"][:, 0]
        np.testing.assert_allclose(x, [0.25, 0.5, 0.75])
        exact = _exact(ts[:, None], x, estimate["diffusivity"], estimate[f"amplitude[{name}]"])
        np.testing.assert_allclose(arrays[f"e{k}_forecast_fit"], exact, rtol=2e-2)
        assert np.all(arrays[f"e{k}_forecast_sd"][1:] > 0)
        assert arrays[f"e{k}_forecast_field"].shape == (1, 10)


def test_fitted_yaml_reruns_from_the_estimates(run, capsys):
    result, _, out = run
    fitted = load_config(out / "fitted.yaml")
    estimate = {n: p["estimate"] for n, p in result["parameters"].items()}
    assert fitted.parameters["diffusivity"].init == estimate["diffusivity"]
    for experiment in fitted.experiments:
        init = experiment.parameters["amplitude"].init
        assert init == estimate[f"amplitude[{experiment.name}]"]
    assert main([str(out / "fitted.yaml"), "--validate", "--no-cache"]) == 0
    assert "3 free parameters" in capsys.readouterr().out


def test_vmapped_experiments_follow_the_exact_solution(problem):
    """One vmapped solve serves both experiments (same structure, other numbers); each sees
    its own amplitude: its sensors follow the exact solution within the discretization
    error (about 1 % on 10 cells), far from the other experiment's amplitude."""
    assert isinstance(problem, JointProblem) and problem.groups == ((0, 1),)
    assert problem.space.names == tuple(TRUE) and problem.fixed == {}
    x = jnp.array([0.25, 1.5, 3.0])
    prediction, status = jax.jit(lambda x: problem.predict(x))(x)
    assert int(status) == 0 and prediction.shape == (12,)
    rows = problem.rows
    for k, amplitude in enumerate((1.5, 3.0)):
        e = problem.experiments[k]
        exact = _exact(e.times, e.coordinates[:, 0], 0.25, amplitude)
        np.testing.assert_allclose(prediction[rows[k] : rows[k + 1]], exact, rtol=2e-2)


def test_joint_gradient_matches_jacfwd_and_passes_the_taylor_test(problem):
    """Reverse-mode gradient of chi-square through the vmapped solves against forward mode
    (jacfwd), and the Taylor test: the corrected remainder shrinks like h^2 (float64)."""
    z = problem.space.to_internal(jnp.array([0.25, 1.5, 3.0]))
    gradient = jax.jit(jax.grad(problem.chi_square))(z)
    forward = jax.jit(jax.jacfwd(problem.chi_square))(z)
    assert gradient.dtype == jnp.float64 and np.all(np.abs(gradient) > 1.0)
    np.testing.assert_allclose(gradient, forward, rtol=1e-10)
    check = taylor_test_flat(problem.chi_square, z, gradient, jnp.array([0.3, -0.2, 0.5]))
    assert check.passed and abs(check.rate1 - 2) < 0.2, check.table()


PINN = {"solve_with": "pinn"}


@pytest.mark.parametrize(
    "change, fragments",
    [
        (
            {"experiments": [{"name": "a", "initial_state": {"u": 1.0}, "data": _synthetic(0)}]},
            ("experiments.0.initial_state", "unknown key"),
        ),
        ({"local": ["q"]}, ("local:", "'q'", "diffusivity")),
        (
            {"experiments": [{"parameters": {"q": 1.0}, "data": _synthetic(0)}]},
            ("experiments.0.parameters.q", "not a parameter"),
        ),
        (
            {"experiments": [{"name": "a", "data": _synthetic(0)}] * 2},
            ("experiments.1.name", "two experiments"),
        ),
        (
            {"experiments": [{"boundary": {"middle": "periodic"}, "data": _synthetic(0)}]},
            ("experiments.0.boundary", "middle"),
        ),
        ({"data": _synthetic(0)}, ("data:", "experiments[i].data")),
        ({"model": {**HEAT_JOINT["model"], **PINN}, "report": {}}, ("experiments:", "pinn")),
        (
            {"fields": {"k": {"init": 1.0}}},
            ("fields.k", "scalar parameters only"),
        ),
        (
            {"experiments": [{"name": "a", "data": {"file": "missing.csv"}}]},
            ("missing.csv",),
        ),
        (
            {"experiments": [{"initial_condition": "sin(2*pi*x)", "data": _synthetic(0)}]},
            ("experiments.0.parameters.amplitude", "not used"),
        ),
    ],
)
def test_bad_pde_experiments_exit_2_in_one_line(tmp_path, capsys, change, fragments):
    assert_validate_fails_in_one_line({**HEAT_JOINT, **change}, tmp_path, capsys, fragments)


def test_shipped_joint_config_validates(capsys):
    """`configs/pde_heat_joint.yaml`: two rods' sensor files, different initial fields."""
    config = ROOT / "configs" / "pde_heat_joint.yaml"
    assert main([str(config), "--validate", "--no-cache"]) == 0
    assert "3 free parameters, 180 data values" in capsys.readouterr().out
