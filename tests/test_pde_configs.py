"""PDE inverse problems written as configs, run through the one runner.

The acceptance case (Raissi et al. 2019): Burgers' advection and viscosity coefficients from
2000 noisy samples of the exact Cole-Hopf solution, data the config has never seen included.
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from diffsim.config import build_problem, load_config
from diffsim.run import main

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
QUIET = ["--quiet", "--no-cache"]
SHIPPED = [
    "pde_heat_diffusivity",
    "pde_heat_diffusivity_field",
    "pde_heat_initial_condition",
    "pde_burgers_viscosity",
    "pde_wave_speed",
    "pde_advection_diffusion_source",
    "burgers_identification",
]


def _cole_hopf():
    spec = importlib.util.spec_from_file_location(
        "burgers_cole_hopf", ROOT / "experiments" / "burgers_cole_hopf.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(config, out, *overrides):
    code = main(
        [str(config), "--out", str(out), *QUIET, *sum((["--set", o] for o in overrides), [])]
    )
    return code, json.loads((out / "result.json").read_text())


@pytest.fixture(scope="module")
def heat(tmp_path_factory):
    """The result of one default run of pde_heat_diffusivity.yaml, shared by the tests that
    read it."""
    code, result = _run(CONFIGS / "pde_heat_diffusivity.yaml", tmp_path_factory.mktemp("heat"))
    assert code == 0
    return result


def _check_burgers(result, lambda2):
    """Both coefficients within 0.5 % / 1 % of the truth and within 3 reported stderr."""
    truth = {"lambda1": 1.0, "lambda2": lambda2}
    for name, limit in (("lambda1", 0.005), ("lambda2", 0.01)):
        p = result["parameters"][name]
        error = abs(p["estimate"] - truth[name])
        assert error < limit * truth[name], (name, p["estimate"])
        assert 0 < p["stderr"] and error < 3 * p["stderr"], (name, error, p["stderr"])


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_configs_validate(name, capsys):
    assert main([str(CONFIGS / f"{name}.yaml"), "--validate"]) == 0
    assert "config OK" in capsys.readouterr().out


def test_burgers_identification_from_the_shipped_data(tmp_path):
    code, result = _run(CONFIGS / "burgers_identification.yaml", tmp_path / "run")
    assert code == 0
    _check_burgers(result, 0.01 / np.pi)
    assert result["kind"] == "pde" and result["covariance"]["names"] == ["lambda1", "lambda2"]
    assert (tmp_path / "run" / "space_time.png").is_file()
    assert "lambda2:" in (tmp_path / "run" / "report.md").read_text()


@pytest.mark.slow  # the shipped-data test above runs the same pipeline by default
def test_burgers_identification_on_unseen_data(tmp_path):
    """Another seed and another viscosity, generated independently of diffsim."""
    lambda2 = 0.02 / np.pi
    data = _cole_hopf().samples(lambda2=lambda2, seed=7, n=2000, noise=0.01)
    path = tmp_path / "unseen.csv"
    np.savetxt(
        path,
        np.column_stack([data["t"], data["x"], data["u"]]),
        delimiter=",",
        header="t,x,u",
        comments="",
    )
    code, result = _run(
        CONFIGS / "burgers_identification.yaml",
        tmp_path / "run",
        f"data.file={path}",
        f"parameters.lambda2.true={lambda2}",
        "report.plots=false",
    )
    assert code == 0
    _check_burgers(result, lambda2)


def test_constant_diffusivity_and_source_are_recovered(heat, tmp_path):
    p = heat["parameters"]["diffusivity"]
    assert abs(p["estimate"] - 0.05) < 3 * p["stderr"] < 0.005
    code, result = _run(
        CONFIGS / "pde_advection_diffusion_source.yaml", tmp_path / "source", "report.plots=false"
    )
    assert code == 0
    for name, true in (("location", 3.3), ("strength", 1.0)):
        p = result["parameters"][name]
        assert abs(p["estimate"] - true) < 3 * p["stderr"], name


@pytest.mark.slow
def test_fields_are_recovered_with_bands(tmp_path):
    code, result = _run(CONFIGS / "pde_heat_diffusivity_field.yaml", tmp_path / "field")
    field = result["fields"]["diffusivity"]
    estimate, stderr, true = (np.asarray(field[k], float) for k in ("estimate", "stderr", "true"))
    assert code == 0 and np.linalg.norm(estimate - true) / np.linalg.norm(true) < 0.1
    assert np.mean(np.abs(estimate - true) <= 2 * stderr) > 0.8
    assert (tmp_path / "field" / "fields.png").is_file()
    code, result = _run(CONFIGS / "pde_wave_speed.yaml", tmp_path / "wave", "report.plots=false")
    speed = result["fields"]["speed"]
    error = np.linalg.norm(np.subtract(speed["estimate"], speed["true"]))
    assert code == 0 and error / np.linalg.norm(speed["true"]) < 0.05


def test_wide_and_long_sensor_files_give_the_same_problem(tmp_path):
    t = np.array([0.1, 0.1, 0.2, 0.2])
    x = np.array([0.25, 0.75, 0.25, 0.75])
    u = np.array([0.5, np.nan, 0.4, 0.3])  # one missing value
    (tmp_path / "wide.csv").write_text(
        "t,x,u\n"
        + "\n".join(f"{a},{b},{'' if np.isnan(c) else c}" for a, b, c in zip(t, x, u, strict=True))
    )
    (tmp_path / "long.csv").write_text(
        "t,x,variable,value,sigma\n"
        + "\n".join(
            f"{a},{b},u,{c},0.01" for a, b, c in zip(t, x, u, strict=True) if np.isfinite(c)
        )
    )
    problems = []
    for name in ("wide", "long"):
        config = load_config(
            CONFIGS / "pde_heat_diffusivity.yaml",
            ["data.synthetic=null", f"data.file.path={tmp_path / name}.csv"],
        )
        problems.append(build_problem(config, CONFIGS))
    wide, long = problems
    np.testing.assert_array_equal(wide.observed, long.observed)
    np.testing.assert_array_equal(wide.coordinates, long.coordinates)
    assert wide.num_points == 3 and np.all(long.sigma == 0.01)


def test_pde_runs_use_every_fit_method_and_multistart(heat, tmp_path):
    """The same estimate by L-BFGS from two vmapped starts as by Levenberg-Marquardt."""
    reference = heat
    code, result = _run(
        CONFIGS / "pde_heat_diffusivity.yaml",
        tmp_path / "lbfgs",
        "fit.method=lbfgs",
        "fit.max_steps=100",
        "fit.multistart.count=2",
        "report.plots=false",
    )
    assert code == 0 and result["multistart"]["count"] == 2
    expected = reference["parameters"]["diffusivity"]
    got = result["parameters"]["diffusivity"]
    assert abs(got["estimate"] - expected["estimate"]) < 0.01 * expected["stderr"]
    assert got["stderr"] == pytest.approx(expected["stderr"], rel=1e-3)


def test_ode_and_pde_runs_share_one_result_schema(heat, tmp_path):
    extras = ("report.plots=false", "report.taylor_test=false")
    _, ode = _run(CONFIGS / "lotka_volterra.yaml", tmp_path / "ode", *extras)
    pde = heat
    assert set(ode) == set(pde) and (ode["kind"], pde["kind"]) == ("ode", "pde")
    for result in (ode, pde):
        names = result["covariance"]["names"]
        covariance = np.asarray(result["covariance"]["matrix"], float)
        stderr = [result["parameters"][n]["stderr"] for n in names]
        np.testing.assert_allclose(np.sqrt(np.diag(covariance)), stderr, rtol=1e-12)
        assert set(result["parameters"][names[0]]) == set(ode["parameters"]["alpha"])
