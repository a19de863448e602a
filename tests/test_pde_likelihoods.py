"""PDE runs take the ODE runs' likelihoods: chi-square is `-2 log L` up to a constant."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
import yaml

from diffsim.config import build_problem, validate_config
from diffsim.inverse import fit
from diffsim.run import main

HEAT = {
    "model": {
        "equation": "heat",
        "grid": {"cells": 12},
        "boundary": {"left": {"dirichlet": 0.0}, "right": {"dirichlet": 0.0}},
        "initial_condition": "40*sin(pi*x)",
    },
    "parameters": {"diffusivity": {"init": 0.3, "true": 0.2, "transform": "log"}},
    "data": {
        "synthetic": {
            "times": {"start": 0.05, "stop": 0.2, "num": 4},
            "sensors": {"x": {"start": 0.2, "stop": 0.8, "num": 7}},
            "noise": 0.02,
        }
    },
    "solver": {"name": "rk4", "dt": 0.005},
}


def _problem(observation):
    return build_problem(validate_config({**HEAT, "observations": {"u": observation}}))


def _chi_square_and_prediction(problem, x):
    z = problem.space.to_internal(jnp.asarray(x))
    chi_square = float(jax.jit(lambda z: problem.chi_square(z))(z))
    prediction, status = jax.jit(lambda x: problem.predict(x))(jnp.asarray(x))
    assert int(status) == 0
    return chi_square, np.asarray(prediction)


@pytest.mark.parametrize(
    "observation, logpdf",
    [
        ({"likelihood": "poisson"}, lambda y, m, x: scipy.stats.poisson.logpmf(y, m)),
        (
            {"likelihood": "lognormal", "sigma": 0.1},
            lambda y, m, x: scipy.stats.lognorm.logpdf(y, 0.1, scale=m),
        ),
        (
            {"sigma": "estimate"},
            lambda y, m, x: scipy.stats.norm.logpdf(y, m, x[1]),
        ),
        (
            {"likelihood": "lognormal", "sigma": "estimate"},
            lambda y, m, x: scipy.stats.lognorm.logpdf(y, x[1], scale=m),
        ),
        (
            {"likelihood": "negative_binomial", "dispersion": "estimate"},
            lambda y, m, x: scipy.stats.nbinom.logpmf(y, x[1], x[1] / (x[1] + m)),
        ),
    ],
)
def test_chi_square_is_minus_twice_the_log_likelihood(observation, logpdf):
    """Away from the optimum (diffusivity 0.23, an estimated sigma or dispersion 0.7),
    chi-square plus the error model's constant is `-2 sum log p(y | prediction)` by
    scipy.stats."""
    problem = _problem(observation)
    estimated = [f"{key}_u" for key, value in observation.items() if value == "estimate"]
    assert problem.space.names == ("diffusivity", *estimated)
    x = np.array([0.23, 0.7]) if estimated else np.array([0.23])
    y = problem.observed
    assert problem.errors is not None and y.shape == (28,)
    if "poisson" in observation.values() or "negative_binomial" in observation.values():
        assert np.all(y == np.round(y)) and np.all(y >= 0)  # drawn as counts
    chi_square, m = _chi_square_and_prediction(problem, x)
    expected = -2 * np.sum(logpdf(y, m, x))
    constant = problem.errors.constant(problem.observed, problem.sigma)
    assert chi_square + constant == pytest.approx(expected, rel=1e-10)


def test_estimated_sigma_recovers_the_noise_level_of_the_data():
    """Gaussian data of noise `0.02 * max|u|` (the peak at the first time): the fitted
    `sigma_u` is within three of its standard errors `sigma / sqrt(2 N)` of it."""
    problem = _problem({"sigma": "estimate"})
    truth = float(problem.sigma[0])
    peak = 40 * np.exp(-0.2 * 0.05 * np.pi**2)
    assert np.all(problem.sigma == truth) and truth == pytest.approx(0.02 * peak, rel=0.01)
    result = fit(problem)
    assert result.success
    diffusivity, sigma = np.asarray(result.x)
    n = problem.observed.size
    assert abs(sigma - truth) < 3 * truth / np.sqrt(2 * n)
    assert sigma != pytest.approx(float(problem.space.initial_values()[1]), rel=0.05)
    assert diffusivity == pytest.approx(0.2, rel=0.05)  # 12 cells: about 2 % below


def _run(tmp_path, capsys, config):
    path = tmp_path / "pde.yaml"
    path.write_text(yaml.safe_dump(config))
    code = main([str(path), "--validate", "--no-cache"])
    return code, capsys.readouterr().err.strip()


def test_log_normal_sensor_values_must_be_positive(tmp_path, capsys):
    """A non-positive value in a file of log-normal sensor data: one line naming the
    observation, exit 2."""
    rows = ["t,x,u", "0.1,0.25,0.5", "0.1,0.5,-0.1", "0.2,0.5,0.4"]
    (tmp_path / "sensors.csv").write_text("\n".join(rows) + "\n")
    config = {
        **HEAT,
        "data": {"file": {"path": "sensors.csv"}},
        "observations": {"u": {"likelihood": "lognormal", "sigma": 0.1}},
    }
    code, err = _run(tmp_path, capsys, config)
    assert code == 2 and "\n" not in err and "Traceback" not in err, err
    assert err.startswith("error: observations.u: likelihood lognormal needs values > 0"), err


def test_pinn_run_still_refuses_other_likelihoods_in_one_line(tmp_path, capsys):
    config = {
        **HEAT,
        "model": {**HEAT["model"], "solve_with": "pinn"},
        "observations": {"u": {"likelihood": "poisson"}},
    }
    config.pop("solver")
    code, err = _run(tmp_path, capsys, config)
    assert code == 2 and "\n" not in err, err
    assert err.startswith("error: observations.u.likelihood: a PINN"), err


def test_forecast_noise_follows_the_likelihood():
    """New log-normal values scatter by the estimated `sigma` (0.7 here) in `log y`, not by
    the data's `sigma`."""
    problem = _problem({"likelihood": "lognormal", "sigma": "estimate"})
    x = np.array([0.2, 0.7])
    arrays = problem.forecast_arrays(x, 1e-6 * np.eye(2), 0.3, points=7)
    assert arrays["forecast_fit"].shape == (7, 7) and np.all(np.isfinite(arrays["forecast_fit"]))
    np.testing.assert_allclose(arrays["forecast_noise_sd"], 0.7, rtol=1e-12)
    assert np.all(arrays["forecast_log_noise"])
