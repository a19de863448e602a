"""Likelihoods as deviance residuals, priors as residual rows (MAP), statistics from them."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
import scipy.stats
import yaml
from problems import heat_rod

from diffsim.config import build_problem, validate_config
from diffsim.inverse import ErrorModel, estimate_uncertainty, fit
from diffsim.inverse._likelihood import KINDS
from diffsim.run import main


def _model(kind, shape, k=3.0):
    return ErrorModel(
        kinds=np.full(shape, KINDS.index(kind)), dispersion=np.full(shape, k, dtype=float)
    )


@pytest.mark.parametrize("kind", ["gaussian", "poisson", "negative_binomial", "lognormal"])
def test_squared_residuals_plus_constant_are_minus_two_log_likelihood(kind):
    rng = np.random.default_rng(1)
    m = rng.uniform(0.5, 30.0, 40)
    y = rng.poisson(m).astype(float) if kind != "lognormal" else m * rng.lognormal(0, 0.3, 40)
    y[0] = 0.0 if kind in ("poisson", "negative_binomial") else y[0]
    sigma = np.full(40, 0.7)
    errors = _model(kind, y.shape)
    r = np.asarray(errors.residuals(jnp.asarray(m), jnp.asarray(y), jnp.asarray(sigma)))
    reference = {
        "gaussian": scipy.stats.norm.logpdf(y, m, sigma),
        "poisson": scipy.stats.poisson.logpmf(y, m),
        "negative_binomial": scipy.stats.nbinom.logpmf(y, 3.0, 3.0 / (3.0 + m)),
        "lognormal": scipy.stats.lognorm.logpdf(y, 0.7, scale=m),
    }[kind]
    total = np.sum(r**2) + errors.constant(y, sigma)
    assert total == pytest.approx(-2 * np.sum(reference), rel=1e-12)
    assert np.all(np.sign(r[m != y]) == np.sign((m - y)[m != y]))


@pytest.mark.parametrize("kind", ["poisson", "negative_binomial"])
def test_deviance_residual_gradients_are_finite_and_agree(kind):
    """Including a mean equal to its count, where sqrt(deviance) is not differentiable."""
    y = jnp.asarray([0.0, 3.0, 7.0, 7.0])
    errors = _model(kind, y.shape)
    f = lambda m: errors.residuals(m, y, jnp.ones(4))
    m = jnp.asarray([0.5, 2.0, 7.0, 9.0])
    forward, reverse = jax.jacfwd(f)(m), jax.jacrev(f)(m)
    assert np.all(np.isfinite(forward))
    np.testing.assert_allclose(forward, reverse, rtol=1e-12)
    # d r / d m = (d/dm deviance / 2) / r away from m = y; 1 / sd at m = y
    variance = 7.0 if kind == "poisson" else 7.0 + 49.0 / 3.0
    assert forward[2, 2] == pytest.approx(1 / np.sqrt(variance))
    h = 1e-6
    fd = (f(m.at[3].add(h))[3] - f(m.at[3].add(-h))[3]) / (2 * h)
    assert forward[3, 3] == pytest.approx(float(fd), rel=1e-7)


GROWTH = {
    "model": {"equations": {"y": "r * y"}},
    "parameters": {"r": {"init": 0.2, "true": 0.35, "transform": "log"}},
    "initial_state": {"y": {"init": 3.0, "true": 5.0, "transform": "log"}},
    "data": {"synthetic": {"times": {"start": 0, "stop": 6, "num": 13}, "seed": 5}},
    "solver": {"rtol": 1e-11, "atol": 1e-11},
}


@pytest.mark.parametrize(
    ("observation", "logpmf"),
    [
        ({"likelihood": "poisson"}, lambda y, m: scipy.stats.poisson.logpmf(y, m)),
        (
            {"likelihood": "negative_binomial", "dispersion": 4.0},
            lambda y, m: scipy.stats.nbinom.logpmf(y, 4.0, 4.0 / (4.0 + m)),
        ),
    ],
)
def test_count_fits_are_maximum_likelihood(observation, logpmf):
    problem = build_problem(validate_config({**GROWTH, "observations": {"y": observation}}))
    ys = problem.data.values[:, 0]
    assert np.all(ys == np.round(ys))  # synthetic counts are drawn from the likelihood
    result = fit(problem, ftol=1e-14, xtol=1e-14)
    assert result.success, result.message
    ts = problem.data.ts
    nll = lambda p: -np.sum(logpmf(ys, p[1] * np.exp(p[0] * ts)))
    reference = scipy.optimize.minimize(
        nll, [0.3, 4.0], method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12}
    )
    np.testing.assert_allclose(result.x, reference.x, rtol=1e-6)
    assert result.chi_square == pytest.approx(
        2 * reference.fun - problem.errors.constant(problem.observed, problem.sigma), rel=1e-8
    )


def test_normal_prior_gives_the_map_of_the_augmented_least_squares():
    """a + b t with a normal prior on a: the MAP solves least squares with one extra row."""
    config = {
        "model": {"equations": {"y": "0 * y"}},
        "parameters": {
            "a": {"init": 0.0, "true": 1.0, "prior": {"normal": [0.7, 0.05]}},
            "b": {"init": 0.0, "true": 0.3},
        },
        "initial_state": {"y": 0.0},
        "observations": {"obs": {"expression": "a + b * t", "sigma": 0.2}},
        "data": {"synthetic": {"times": {"start": 0, "stop": 3, "num": 10}, "seed": 2}},
    }
    problem = build_problem(validate_config(config))
    result = fit(problem)
    ts, ys = problem.data.ts, problem.data.values[:, 0]
    design = np.vstack([np.stack([np.ones_like(ts), ts], axis=1) / 0.2, [[1 / 0.05, 0.0]]])
    target = np.concatenate([ys / 0.2, [0.7 / 0.05]])
    expected, *_ = np.linalg.lstsq(design, target, rcond=None)
    np.testing.assert_allclose(result.x, expected, rtol=1e-10)
    uncertainty = estimate_uncertainty(
        problem,
        result.z,
        jacobian=result.jacobian,
        residuals=result.residuals,
        scale_covariance=False,
    )
    np.testing.assert_allclose(uncertainty.covariance, np.linalg.inv(design.T @ design), rtol=1e-8)


def test_lognormal_prior_and_uniform_prior_as_bounds():
    config = {
        **GROWTH,
        "parameters": {
            "r": {
                "init": 0.2,
                "true": 0.35,
                "prior": {"lognormal": [-1.0, 0.5]},
                "transform": "log",
            },
            "y0": {"init": 3.0, "true": 5.0, "prior": {"uniform": [1.0, 10.0]}},
        },
        "initial_state": {"y": "y0"},
        "observations": {"y": {"sigma": 1.0}},
    }
    problem = build_problem(validate_config(config))
    (r, y0) = problem.space.parameters
    assert (y0.lower, y0.upper) == (1.0, 10.0)
    z = problem.space.to_internal(jnp.asarray([0.4, 4.0]))
    prior_row = problem.residuals(z)[-1]
    assert float(prior_row) == pytest.approx((np.log(0.4) + 1.0) / 0.5)


def _write(tmp_path, config):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.mark.parametrize(
    ("observation", "message"),
    [
        ({"likelihood": "poisson", "sigma": 2.0}, "the poisson likelihood sets the noise"),
        ({"likelihood": "negative_binomial"}, "dispersion: give it with likelihood"),
        ({"likelihood": "lognormal"}, "the lognormal likelihood needs sigma > 0"),
    ],
)
def test_bad_likelihood_settings_are_one_line(tmp_path, capsys, observation, message):
    path = _write(tmp_path, {**GROWTH, "observations": {"y": observation}})
    assert main([path, "--validate"]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and "\n" not in error


def test_negative_counts_are_refused(tmp_path, capsys):
    data = tmp_path / "counts.csv"
    data.write_text("t,y\n0,3\n1,-1\n2,5\n")
    config = {
        **GROWTH,
        "observations": {"y": {"likelihood": "poisson"}},
        "data": {"file": "counts.csv"},
    }
    config["parameters"] = {"r": {"init": 0.2}}
    config["initial_state"] = {"y": 3.0}
    assert main([_write(tmp_path, config), "--validate"]) == 2
    assert "observations.y: likelihood poisson needs counts >= 0" in capsys.readouterr().err


def test_estimated_noise_level_is_the_maximum_likelihood_one(tmp_path):
    """Gaussian noise of unknown level: sigma_hat^2 = RSS / n, the rate is the least-squares
    one, and the Hessian gives stderr(sigma_hat) = sigma_hat / sqrt(2 n) (the parameters are
    orthogonal to sigma at the optimum)."""
    ts = np.linspace(0, 3, 25)
    ys = 2.0 * np.exp(-0.8 * ts) + 0.05 * np.random.default_rng(3).standard_normal(25)
    (tmp_path / "decay.csv").write_text(
        "t,y\n" + "\n".join(f"{t:.17g},{y:.17g}" for t, y in zip(ts, ys, strict=True))
    )
    config = {
        "model": {"equations": {"y": "-k * y"}},
        "parameters": {"k": {"init": 0.5, "transform": "log"}},
        "initial_state": {"y": {"init": 1.5}},
        "observations": {"y": {"sigma": "estimate"}},
        "data": {"file": "decay.csv"},
        # both fits see the same smooth discretized model: the identities below hold for it
        "solver": {"name": "rk4", "dt": 0.0125},
    }
    estimated = build_problem(validate_config(config), tmp_path)
    assert estimated.space.names == ("k", "y0", "sigma_y")
    result = fit(estimated, ftol=1e-14, xtol=1e-14)
    known = build_problem(
        validate_config({**config, "observations": {"y": {"sigma": 1.0}}}), tmp_path
    )
    least_squares = fit(known, ftol=1e-14, xtol=1e-14)
    np.testing.assert_allclose(result.x[:2], least_squares.x, rtol=1e-7)
    sigma_hat = np.sqrt(least_squares.chi_square / 25)
    assert result.x[2] == pytest.approx(sigma_hat, rel=1e-7)
    errors = estimate_uncertainty(
        estimated, result.z, jacobian=result.jacobian, residuals=result.residuals
    )
    assert errors.scale == 1.0
    assert errors.stderr[2] == pytest.approx(sigma_hat / np.sqrt(50), rel=1e-4)


HEAT = heat_rod()


def test_prior_of_a_pde_parameter_is_one_more_residual_row():
    """A PDE run's priors enter as in an ODE run: `(x - mean) / sd` after the data rows."""
    prior = {"normal": [0.25, 0.01]}
    config = {
        **HEAT,
        "parameters": {"diffusivity": {**HEAT["parameters"]["diffusivity"], "prior": prior}},
    }
    problem = build_problem(validate_config(config))
    plain = build_problem(validate_config(HEAT))
    assert problem.num_residuals == plain.num_residuals + 1 == 5
    z = problem.space.to_internal(jnp.asarray([0.22]))
    residuals = np.asarray(jax.jit(lambda z: problem.residuals(z))(z))
    np.testing.assert_allclose(
        residuals[:4], np.asarray(jax.jit(lambda z: plain.residuals(z))(z)), rtol=1e-12
    )
    assert residuals[4] == pytest.approx((0.22 - 0.25) / 0.01, rel=1e-10)
