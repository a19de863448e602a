"""Estimated negative-binomial dispersion, and the parametric bootstrap of count and
log-normal likelihoods (samples drawn from the fitted likelihood)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
import scipy.stats
import yaml

from diffsim.config import build_problem, validate_config
from diffsim.inverse import ErrorModel, bootstrap, estimate_uncertainty, fit
from diffsim.inverse._bootstrap import _likelihood_samples
from diffsim.inverse._likelihood import KINDS
from diffsim.report._interval_plots import prediction_band
from diffsim.run import main

TS = np.linspace(0, 6, 30)
GROWTH = {
    "model": {"equations": {"y": "r * y"}},
    "parameters": {"r": {"init": 0.3, "transform": "log"}},
    "initial_state": {"y": {"init": 4.0, "transform": "log"}},
    "data": {"file": "counts.csv"},
    "solver": {"name": "rk4", "dt": 0.01},  # fixed steps: quick to compile, error ~1e-11
}


def _counts(tmp_path, k=4.0):
    mean = 5.0 * np.exp(0.35 * TS)
    ys = np.random.default_rng(7).negative_binomial(k, k / (k + mean))
    rows = "\n".join(f"{t:.17g},{y}" for t, y in zip(TS, ys, strict=True))
    (tmp_path / "counts.csv").write_text("t,y\n" + rows + "\n")
    return ys.astype(float)


def test_estimated_dispersion_is_the_maximum_likelihood_one(tmp_path):
    """Rate, start and dispersion against a direct maximization of the negative-binomial
    log-likelihood; `-2 log L` in the statistics is the likelihood's own."""
    ys = _counts(tmp_path)
    observation = {"likelihood": "negative_binomial", "dispersion": "estimate"}
    config = validate_config({**GROWTH, "observations": {"y": observation}})
    problem = build_problem(config, tmp_path)
    assert problem.space.names == ("r", "y0", "dispersion_y")
    result = fit(problem, ftol=1e-14, xtol=1e-14)
    assert result.success, result.message

    def nll(p):
        r, y0, k = p
        mean = y0 * np.exp(r * TS)
        return -np.sum(scipy.stats.nbinom.logpmf(ys, k, k / (k + mean)))

    reference = scipy.optimize.minimize(
        nll, [0.3, 5.0, 4.0], method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12}
    )
    np.testing.assert_allclose(result.x, reference.x, rtol=1e-5)
    constant = problem.errors.constant(problem.observed, problem.sigma)
    assert result.chi_square + constant == pytest.approx(2 * reference.fun, rel=1e-9)
    # at any point, not only the optimum: chi-square + constant = -2 log L
    z = problem.space.to_internal(jnp.asarray([0.3, 6.0, 2.5]))
    assert float(jax.jit(lambda z: problem.chi_square(z))(z)) + constant == pytest.approx(
        2 * nll([0.3, 6.0, 2.5]), rel=1e-10
    )
    stderr = estimate_uncertainty(problem, result.z).stderr
    assert np.all(np.isfinite(stderr)) and stderr[2] > 0


def test_estimated_dispersion_on_synthetic_data_is_refused_in_one_line(tmp_path, capsys):
    observation = {"likelihood": "negative_binomial", "dispersion": "estimate"}
    synthetic = {"synthetic": {"times": [0.0, 1.0, 2.0]}}
    config = {**GROWTH, "observations": {"y": observation}, "data": synthetic}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    assert main([str(tmp_path / "c.yaml"), "--validate"]) == 2
    error = capsys.readouterr().err.strip()
    assert "observations.y.dispersion: estimate needs data from a file" in error
    assert "\n" not in error


def test_draws_follow_each_likelihood():
    """Moments of `ErrorModel.draw` against the likelihoods (20000 values each)."""
    n = 20000
    kinds = np.repeat([KINDS.index(k) for k in KINDS], n)
    errors = ErrorModel(kinds=kinds, dispersion=np.full(kinds.shape, 3.0))
    mean = np.full(kinds.shape, 12.0)
    values = errors.draw(mean, np.full(kinds.shape, 0.4), seed=0).reshape(4, n)
    gaussian, poisson, negative_binomial, lognormal = values
    assert np.all(poisson == np.round(poisson)) and np.all(negative_binomial >= 0)
    tolerance = 4 / np.sqrt(n)  # relative, about 4 standard errors
    assert np.std(gaussian) == pytest.approx(0.4, rel=tolerance)
    assert np.var(poisson) == pytest.approx(12.0, rel=3 * tolerance)
    assert np.var(negative_binomial) == pytest.approx(12.0 + 144.0 / 3.0, rel=4 * tolerance)
    assert np.std(np.log(lognormal / 12.0)) == pytest.approx(0.4, rel=tolerance)


def test_bootstrap_of_counts_draws_counts_and_agrees_with_the_stderr(tmp_path):
    _counts(tmp_path)
    config = validate_config({**GROWTH, "observations": {"y": {"likelihood": "poisson"}}})
    problem = build_problem(config, tmp_path)
    result = fit(problem)
    samples = _likelihood_samples(problem, result.z, 3, seed=1)
    assert samples.shape == (3, *problem.observed.shape)
    assert np.all(samples == np.round(samples)) and not np.all(samples[0] == samples[1])
    boot = bootstrap(problem, np.asarray(result.z), result.residuals, samples=200, seed=3)
    assert boot["converged"] >= 195
    # the data are over-dispersed for Poisson; compare with the unscaled (Poisson) stderr
    stderr = estimate_uncertainty(problem, result.z, scale_covariance=False).stderr
    np.testing.assert_allclose(boot["std"], stderr, rtol=0.25)
    low, high = np.asarray(boot["lower"]), np.asarray(boot["upper"])
    assert np.all((low < result.x) & (result.x < high))


def test_prediction_band_holds_new_observations_and_the_confidence_band_does_not(tmp_path):
    """Gaussian noise of known level: new data drawn at the true curve fall in the 95 %
    prediction band about 95 % of the time, far less often in the curve's confidence band."""
    config = validate_config(
        {
            "model": {"equations": {"y": "-k * y"}},
            "parameters": {"k": {"init": 0.5, "true": 0.8, "transform": "log"}},
            "initial_state": {"y": {"init": 1.5, "true": 2.0}},
            "observations": {"y": {"sigma": 0.05, "sigma_relative": 0.02}},
            "data": {"synthetic": {"times": {"start": 0, "stop": 3, "num": 40}, "seed": 2}},
            "solver": {"name": "rk4", "dt": 0.01},
        }
    )
    problem = build_problem(config)
    result = fit(problem)
    covariance = estimate_uncertainty(problem, result.z, scale_covariance=False).covariance
    arrays = problem.forecast_arrays(result.x, covariance, 5.0, points=50)
    ts, fit_values = arrays["forecast_ts"], arrays["forecast_fit"]
    expected_noise = np.sqrt(0.05**2 + (0.02 * fit_values) ** 2)
    np.testing.assert_allclose(arrays["forecast_noise_sd"], expected_noise, rtol=1e-12)
    truth = 2.0 * np.exp(-0.8 * ts)[:, None]
    noise_sd = np.sqrt(0.05**2 + (0.02 * truth) ** 2)
    new = truth + noise_sd * np.random.default_rng(0).standard_normal((400, *truth.shape))
    lower, upper = prediction_band(
        fit_values, arrays["forecast_sd"], arrays["forecast_noise_sd"], np.array([False]), 1.96
    )
    inside = np.mean((lower <= new) & (new <= upper))
    assert 0.93 <= inside <= 0.97, inside
    confidence = np.abs(new - fit_values) <= 1.96 * arrays["forecast_sd"]
    assert np.mean(confidence) < 0.6
