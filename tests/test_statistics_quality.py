"""The fit-quality verdict: chi-square and runs tests, bounds, non-identifiable directions."""

import json
import math
from pathlib import Path

import equinox as eqx
import numpy as np
import pytest

from diffsim.config import build_problem, validate_config
from diffsim.inverse import estimate_uncertainty, fit, fit_statistics
from diffsim.inverse._quality import assess_fit, lag_one_autocorrelation, runs_test
from diffsim.run import main

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
FAST = ["--quiet", "--no-cache", "--set", "report.plots=false", "--set", "report.taylor_test=false"]


def test_runs_test_against_the_textbook_formulas():
    """10 positive and 10 negative values: E[R] = 1 + 2*10*10/20 = 11, Var = 10*9/19."""
    sorted_signs = np.r_[np.ones(10), -np.ones(10)]
    result = runs_test(sorted_signs)
    assert result["runs"] == 2 and result["expected"] == 11
    z = (2 - 11) / math.sqrt(90 / 19)
    assert result["z"] == pytest.approx(z)
    assert result["pvalue"] == pytest.approx(0.5 * math.erfc(-z / math.sqrt(2)))
    alternating = runs_test(np.tile([1.0, -1.0], 10))
    assert alternating["runs"] == 20 and alternating["pvalue"] > 0.999
    # two series pool their runs and expectations; NaN (missing) values are skipped
    pooled = runs_test(np.stack([sorted_signs, np.r_[np.nan, sorted_signs[1:]]], axis=1))
    assert pooled["runs"] == 4 and pooled["expected"] == pytest.approx(11 + 1 + 2 * 9 * 10 / 19)


def test_lag_one_autocorrelation():
    t = np.arange(200.0)
    smooth, noise = np.sin(t / 20), np.random.default_rng(0).standard_normal(200)
    rho = lag_one_autocorrelation(np.stack([smooth, noise], axis=1))
    assert rho[0] > 0.99 and abs(rho[1]) < 0.15


def _problem(parameters, equations=None, observations=None):
    return build_problem(
        validate_config(
            {
                "model": {"equations": equations or {"y": "-k * y"}},
                "parameters": parameters,
                "initial_state": {"y": 2.0},
                "observations": observations or {"y": {"sigma": 0.02}},
                "data": {"synthetic": {"times": {"start": 0, "stop": 3, "num": 30}, "seed": 3}},
                "solver": {"name": "rk4", "dt": 0.05},  # fixed steps: quick to compile
            }
        )
    )


def _assess(problem, result):
    uncertainty = estimate_uncertainty(
        problem, result.z, jacobian=result.jacobian, residuals=result.residuals
    )
    residuals = (result.residuals[: problem.observed.size]).reshape(problem.observed.shape)
    stats = fit_statistics(result.chi_square, problem.num_points, problem.space.size)
    return assess_fit(stats, residuals, problem.space, result.x, uncertainty)


def test_good_fit_bound_and_random_misfit():
    problem = _problem({"k": {"init": 0.5, "true": 0.8, "transform": "log"}})
    result = fit(problem)
    quality = _assess(problem, result)
    assert quality["verdict"] == "good" and quality["reasons"] == []
    assert 1e-3 < quality["chi_square_pvalue"] < 1

    bounded = _problem({"k": {"init": 0.5, "true": 0.55, "bounds": [0.3, 0.6]}})
    bounded = eqx.tree_at(lambda p: p.data, bounded, problem.data)  # data of k = 0.8
    quality = _assess(bounded, fit(bounded))
    assert quality["verdict"] == "doubtful" and quality["at_bounds"][0].startswith("k = 0.6")
    assert any("Estimates on a bound: k = 0.6" in reason for reason in quality["reasons"])

    # the noise is 0.02, but a sigma ten times smaller is declared: a large, random misfit
    # (the same problem otherwise: its compiled fit is reused)
    tight = eqx.tree_at(lambda p: p.sigma, problem, problem.sigma / 10)
    quality = _assess(tight, fit(tight))
    assert quality["verdict"] == "doubtful"
    assert quality["chi_square_pvalue"] < 1e-6 and quality["runs_test"]["pvalue"] > 1e-3
    assert "the noise levels (sigma) may be too small" in quality["reasons"][0]


def test_non_identifiable_direction_is_named():
    """Only the product a*b is identifiable in y' = -a*b*y."""
    problem = _problem(
        {"a": {"init": 1.0, "true": 1.0}, "b": {"init": 0.5, "true": 0.8}},
        equations={"y": "-a * b * y"},
    )
    quality = _assess(problem, fit(problem))
    (direction,) = quality["weak_directions"]
    assert direction["relative_singular_value"] < 1e-8
    assert set(direction["combination"]) == {"a", "b"}
    assert "Poorly identifiable: the data barely determine the combination" in "".join(
        quality["reasons"]
    )


def test_local_minimum_exits_1_and_the_report_says_why(tmp_path):
    """The multistart config's own guess ends in a local minimum (reduced chi-square ~5800)."""
    out = tmp_path / "run"
    code = main(
        [str(CONFIGS / "lotka_volterra_multistart.yaml"), "--out", str(out), *FAST]
        + ["--set", "fit.multistart.count=1"]
        + ["--set", "solver.name=rk4", "--set", "solver.dt=0.02"]  # quick to compile
    )
    assert code == 1
    result = json.loads((out / "result.json").read_text())
    assert not result["success"] and result["quality"]["verdict"] == "poor"
    assert "Converged to a poor fit" in result["message"]
    report = (out / "report.md").read_text()
    assert "**Status:** converged to a poor fit." in report
    assert "fit.multistart.count: 16" in report
