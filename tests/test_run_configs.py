"""Every shipped config runs (plots and Taylor test off) and recovers its parameters."""

import json
from pathlib import Path

import pytest
import yaml

from diffsim.run import main
from diffsim.runner import DEFAULT_CONFIG

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
FAST = [
    "--quiet",
    "--no-cache",
    "--set",
    "report.plots=false",
    "--set",
    "report.taylor_test=false",
    "--set",
    "uncertainty.profile=false",
]

# Published estimates for the real data sets (not true values: the checks allow 2 standard errors).
# Boarding school: beta = 1.66/day, gamma = 1/2.2 days (Keeling & Rohani 2008, sec. 2.1).
# Lynx-hare: posterior means of the Stan case study (Carpenter 2018).
REFERENCE = {
    "sir_boarding_school": {"beta": 1.66, "gamma": 1 / 2.2},
    "lynx_hare": {
        "alpha": 0.55,
        "beta": 0.028,
        "gamma": 0.80,
        "delta": 0.024,
        "x0": 33.9,
        "y0": 5.9,
    },
}


def _run(name, tmp_path, *extra):
    out = tmp_path / name
    code = main([str(CONFIGS / f"{name}.yaml"), "--out", str(out), *FAST, *extra])
    return code, json.loads((out / "result.json").read_text())


def _free(result):
    return {n: p for n, p in result["parameters"].items() if not p["fixed"]}


def test_default_config_is_the_shipped_lotka_volterra():
    shipped = yaml.safe_load((CONFIGS / "lotka_volterra.yaml").read_text())
    assert shipped == yaml.safe_load(DEFAULT_CONFIG)


def test_clean_lotka_volterra_to_1e_minus_6(tmp_path):
    code, result = _run("lotka_volterra_clean", tmp_path)
    assert code == 0, result["message"]
    for name, p in _free(result).items():
        assert abs(p["estimate"] - p["true"]) <= 1e-6 * abs(p["true"]), name


@pytest.mark.parametrize(
    "name",
    [
        "lorenz",
        "fitzhugh_nagumo",
        "robertson_log",
        "brusselator_equations",
        "pendulum_partial",
        "sir_experiments",
    ],
)
def test_synthetic_configs_recover_truth_within_two_stderr(name, tmp_path):
    code, result = _run(name, tmp_path)
    assert code == 0, result["message"]
    assert result["statistics"]["reduced_chi_square"] < 2
    for pname, p in _free(result).items():
        assert abs(p["estimate"] - p["true"]) <= 2.5 * p["stderr"], (pname, p)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_real_data_configs_agree_with_published_fits(name, tmp_path):
    code, result = _run(name, tmp_path)
    assert code == 0, result["message"]
    assert result["data"]["source"].endswith(".csv")
    for pname, value in REFERENCE[name].items():
        p = result["parameters"][pname]
        assert abs(p["estimate"] - value) <= 2 * p["stderr"], (pname, p)


def test_multistart_config_finds_the_global_minimum(tmp_path):
    code, result = _run("lotka_volterra_multistart", tmp_path)
    assert code == 0, result["message"]
    losses = result["multistart"]["chi_square"]
    assert len(losses) == 16 and result["statistics"]["chi_square"] == min(losses)
    assert losses[result["multistart"]["best"]] == min(losses)
    assert losses[0] > 100 * min(losses)  # the configured guess alone ends in a local minimum
    for pname, p in _free(result).items():
        assert abs(p["estimate"] - p["true"]) <= 0.005 * p["true"], pname


def test_boarding_school_counts_has_asymmetric_profile_intervals(tmp_path):
    """Negative-binomial counts: the profile interval of I0 lies above the linearized one
    (I0 is bounded below by 0 and the likelihood is skewed), and every interval holds its
    estimate."""
    code, result = _run("sir_boarding_school_counts", tmp_path, "--set", "uncertainty.profile=true")
    assert code == 0, result["message"]
    assert result["statistics"]["likelihood"] == "negative_binomial"
    assert result["quality"]["verdict"] != "poor"
    for name, p in _free(result).items():
        low, high = p["intervals"]["profile"]
        assert low < p["estimate"] < high, name
    i0 = result["parameters"]["I0"]["intervals"]
    assert i0["profile"][0] > i0["linearized"][0] and i0["profile"][1] > i0["linearized"][1]
