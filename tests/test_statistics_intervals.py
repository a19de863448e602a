"""Profile-likelihood and bootstrap intervals, covariance and fitted.yaml in the run folder."""

import json

import numpy as np
import pytest
import scipy.optimize
import scipy.stats
import yaml

from diffsim.config import build_problem, validate_config
from diffsim.inverse import (
    bootstrap,
    confidence_intervals,
    estimate_uncertainty,
    fit,
    profile_intervals,
)
from diffsim.run import main

Q95 = scipy.stats.chi2.ppf(0.95, 1)


def _problem(config):
    """The problem of `config`, by default with fixed rk4 steps (quick to compile)."""
    return build_problem(validate_config({"solver": {"name": "rk4", "dt": 0.05}, **config}))


def _fit(problem):
    result = fit(problem, ftol=1e-14, xtol=1e-14)
    uncertainty = estimate_uncertainty(
        problem,
        result.z,
        jacobian=result.jacobian,
        residuals=result.residuals,
        scale_covariance=False,
    )
    return result, uncertainty


@pytest.fixture(scope="module")
def linear():
    """An observable linear in its parameters, a + b t (the state y = exp(-t) unobserved)."""
    problem = _problem(
        {
            "model": {"equations": {"y": "-y"}},
            "parameters": {"a": {"init": 0.5, "true": 1.0}, "b": {"init": 0.1, "true": 0.3}},
            "initial_state": {"y": 1.0},
            "observations": {"obs": {"expression": "a + b * t", "sigma": 0.1}},
            "data": {"synthetic": {"times": {"start": 0, "stop": 3, "num": 20}, "seed": 2}},
        }
    )
    return problem, *_fit(problem)


def test_profile_of_a_linear_model_is_the_linearized_interval_and_bootstrap_agrees(linear):
    problem, result, uncertainty = linear
    intervals = confidence_intervals(problem, result, uncertainty, bootstrap_samples=400)
    half = scipy.stats.norm.ppf(0.975) * uncertainty.stderr
    for i, name in enumerate(problem.space.names):
        profile = intervals["profile"][name]
        np.testing.assert_allclose(
            [profile["lower"], profile["upper"]],
            [result.x[i] - half[i], result.x[i] + half[i]],
            rtol=1e-7,
        )
    boot = intervals["bootstrap"]
    assert boot["converged"] == 400
    # 400 samples: the standard deviation is known to about 4 %
    np.testing.assert_allclose(boot["std"], uncertainty.stderr, rtol=0.15)
    assert np.all(np.abs(np.asarray(boot["lower"]) - (result.x - half)) < 0.3 * half)
    assert np.all(np.abs(np.asarray(boot["upper"]) - (result.x + half)) < 0.3 * half)


def _decay():
    """y = A exp(-k t) with few noisy values: the profile of k is clearly asymmetric."""
    return _problem(
        {
            "model": {"equations": {"y": "-k * y"}},
            "parameters": {"k": {"init": 1.0, "true": 1.5, "transform": "log"}},
            "initial_state": {"y": {"init": 1.0, "true": 1.2}},
            "observations": {"y": {"sigma": 0.08}},
            "data": {"synthetic": {"times": {"start": 0, "stop": 2, "num": 6}, "seed": 4}},
            "solver": {"name": "rk4", "dt": 0.01},
        }
    )


@pytest.fixture(scope="module")
def decay():
    problem = _decay()
    return problem, *_fit(problem)


def test_profile_matches_the_exact_profile_and_is_asymmetric(decay):
    """With k fixed the best A is linear least squares, so the profile of k is exact."""
    problem, result, uncertainty = decay
    ts, ys = problem.data.ts, problem.data.values[:, 0]
    w = 1 / problem.sigma[:, 0] ** 2

    def exact_profile(k):
        e = np.exp(-k * ts)
        a = np.sum(w * ys * e) / np.sum(w * e * e)
        return np.sum(w * (a * e - ys) ** 2) - result.chi_square - Q95

    k_hat = result.x[0]
    lower = scipy.optimize.brentq(exact_profile, 1e-3, k_hat)
    upper = scipy.optimize.brentq(exact_profile, k_hat, 50.0)
    slope = np.asarray(problem.space.derivative(result.z))
    found = profile_intervals(
        problem, result.z, result.chi_square, stderr_z=uncertainty.stderr / slope
    )["k"]
    np.testing.assert_allclose([found["lower"], found["upper"]], [lower, upper], rtol=2e-3)
    assert (upper - k_hat) > 1.2 * (k_hat - lower)  # asymmetric, unlike k_hat +/- 1.96 stderr
    assert not found["better_fit"] and not found["lower_open"]
    # each side stops at its first point above the threshold (the walk is bounded)
    rise = np.asarray(found["rise"])
    assert np.sum(rise > found["threshold"]) == 2 and np.all(np.isfinite(rise))


def test_non_identifiable_parameter_has_an_open_profile():
    """Only a*b is determined by y' = -a*b*y: along a, b compensates and chi-square is flat."""
    problem = _problem(
        {
            "model": {"equations": {"y": "-a * b * y"}},
            "parameters": {
                "a": {"init": 1.0, "true": 1.0, "transform": "log"},
                "b": {"init": 0.5, "true": 0.8, "transform": "log"},
            },
            "initial_state": {"y": 1.0},
            "observations": {"y": {"sigma": 0.01}},
            "data": {"synthetic": {"times": {"start": 0, "stop": 2, "num": 10}}},
        }
    )
    result, _ = _fit(problem)
    found = profile_intervals(problem, result.z, result.chi_square)
    for name in ("a", "b"):
        assert found[name]["lower_open"] and found[name]["upper_open"]
        assert max(found[name]["rise"]) < 1e-6


def test_forecast_band_is_the_delta_method(linear):
    """a + b t: the band's variance is [1, t] C [1, t]^T exactly, beyond the data too."""
    problem, result, uncertainty = linear
    arrays = problem.forecast_arrays(result.x, uncertainty.covariance, 6.0, points=31)
    ts = arrays["forecast_ts"]
    design = np.stack([np.ones_like(ts), ts], axis=1)
    expected = np.sqrt(np.einsum("fp,pq,fq->f", design, uncertainty.covariance, design))
    np.testing.assert_allclose(arrays["forecast_sd"][:, 0], expected, rtol=1e-10)
    np.testing.assert_allclose(arrays["forecast_fit"][:, 0], design @ result.x, rtol=1e-10)
    np.testing.assert_allclose(arrays["states_fit"][:, 0], np.exp(-ts), rtol=1e-5)
    assert ts[-1] == 6.0


def test_bootstrap_of_a_failed_refit_is_left_out(decay):
    problem, result, _ = decay
    boot = bootstrap(problem, result.z, result.residuals, samples=64, seed=1)
    assert boot["converged"] == 64 and boot["estimates"].shape == (64, 2)
    assert np.all(np.asarray(boot["lower"]) < result.x) and np.all(result.x < boot["upper"])


CONFIG = {
    "name": "intervals",
    "model": {"equations": {"y": "-k * y"}},
    "parameters": {"k": {"init": 1.0, "true": 1.5, "transform": "log"}},
    "initial_state": {"y": {"init": 1.0, "true": 1.2}},
    "observations": {"y": {"sigma": 0.08}},
    "data": {"synthetic": {"times": {"start": 0, "stop": 2, "num": 12}, "seed": 4}},
    "solver": {"name": "rk4", "dt": 0.05},  # fixed steps: quick to compile
    "fit": {"ftol": 1e-12, "xtol": 1e-12},
    "uncertainty": {"bootstrap": 50},
    "report": {"taylor_test": False, "points": 40, "dpi": 40, "forecast": {"until": 4.0}},
}


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("intervals")
    (folder / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    assert main([str(folder / "config.yaml"), "--out", str(folder / "run"), "--quiet"]) == 0
    return folder


def test_run_folder_has_intervals_covariance_and_profiles(run_folder):
    result = json.loads((run_folder / "run" / "result.json").read_text())
    k = result["parameters"]["k"]
    intervals = k["intervals"]
    assert intervals["level"] == 0.95
    for kind in ("linearized", "profile", "bootstrap"):
        low, high = intervals[kind]
        assert low < k["estimate"] < high, kind
    covariance = np.asarray(result["covariance"]["matrix"])
    assert covariance.shape == (2, 2) and result["covariance"]["names"] == ["k", "y0"]
    assert result["bootstrap"]["converged"] == 50
    assert set(result["profiles"]) == {"k", "y0"}
    report = (run_folder / "run" / "report.md").read_text()
    assert "95% profile" in report and "95% bootstrap" in report
    for figure in ("profiles", "forecast", "states"):
        assert f"({figure}.png)" in report and (run_folder / "run" / f"{figure}.png").is_file()
    arrays = np.load(run_folder / "run" / "arrays.npz")
    assert arrays["forecast_ts"][-1] == 4.0 and arrays["states_fit"].shape == (40, 1)


def test_fitted_yaml_reruns_from_the_estimates(run_folder):
    first = json.loads((run_folder / "run" / "result.json").read_text())
    fitted = yaml.safe_load((run_folder / "run" / "fitted.yaml").read_text())
    assert fitted["parameters"]["k"]["init"] == first["parameters"]["k"]["estimate"]
    assert fitted["initial_state"]["y"]["init"] == first["parameters"]["y0"]["estimate"]
    out = run_folder / "rerun"
    code = main(
        [str(run_folder / "run" / "fitted.yaml"), "--out", str(out), "--quiet"]
        + ["--set", "report.plots=false", "--set", "uncertainty.profile=false"]
        + ["--set", "uncertainty.bootstrap.samples=0"]
    )
    again = json.loads((out / "result.json").read_text())
    assert code == 0 and again["num_steps"] <= 2
    for name in ("k", "y0"):
        assert again["parameters"][name]["estimate"] == pytest.approx(
            first["parameters"][name]["estimate"], rel=1e-8
        )
