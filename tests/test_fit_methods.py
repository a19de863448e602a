"""Optimizers, error bars and statistics on problems with known answers."""

import jax
import numpy as np
import pytest
import scipy.optimize

import diffsim.inverse._fit as fit_module
from diffsim.config import build_problem, validate_config
from diffsim.inverse import (
    choose_gradient_mode,
    estimate_uncertainty,
    fit,
    fit_statistics,
    multistart_points,
    taylor_test_flat,
    with_box_bounds,
)


def _decay_problem(noise=True, **parameters):
    """y' = -k y with y(0) = A unknown: y = A exp(-k t), data with 2 % noise."""
    config = validate_config(
        {
            "model": {"equations": {"y": "-k * y"}},
            "parameters": {"k": {"init": 0.5, "true": 0.8, "transform": "log", **parameters}},
            "initial_state": {"y": {"init": 1.5, "true": 2.0}},
            "observations": {"y": {"sigma": 0.04}},
            "data": {
                "synthetic": {
                    "times": {"start": 0, "stop": 4, "num": 20},
                    "seed": 7,
                    "noise": noise,
                }
            },
            "solver": {"rtol": 1e-10, "atol": 1e-12},
        }
    )
    return build_problem(config)


@pytest.fixture(scope="module")
def decay():
    return _decay_problem()


def _curve_fit(problem):
    ts, ys = problem.data.ts, problem.data.values[:, 0]
    popt, pcov = scipy.optimize.curve_fit(
        lambda t, k, a: a * np.exp(-k * t),
        ts,
        ys,
        p0=[0.5, 1.5],
        sigma=problem.sigma[:, 0],
        xtol=1e-14,
        ftol=1e-14,
    )
    return popt, pcov


@pytest.fixture(scope="module")
def reference(decay):
    return fit(decay, "levenberg_marquardt")


def test_levenberg_marquardt_matches_curve_fit(decay, reference):
    result = reference
    popt, pcov = _curve_fit(decay)
    assert result.success, result.message
    np.testing.assert_allclose(result.x, popt, rtol=1e-6)
    uncertainty = estimate_uncertainty(
        decay, result.z, jacobian=result.jacobian, residuals=result.residuals
    )
    np.testing.assert_allclose(uncertainty.covariance, pcov, rtol=1e-4)
    assert not uncertainty.singular
    assert result.gradient_mode == "forward"


@pytest.mark.parametrize("method", ["gauss_newton", "lbfgs"])
def test_other_methods_reach_the_same_minimum(decay, reference, method):
    result = fit(decay, method, max_steps=200, gradient_mode="reverse")
    np.testing.assert_allclose(result.x, reference.x, rtol=1e-5)
    assert result.gradient_mode == "reverse"


def test_adam_decreases_the_loss_and_refits_without_compiling(decay):
    result = fit(decay, "adam", max_steps=30, learning_rate=0.05)
    assert result.loss_history[-1, 0] < 0.1 * result.loss_history[0, 0]
    assert not result.success  # Adam does not converge to 1e-8 in 30 steps
    assert "maximum number of steps" in result.message
    again = fit(decay, "adam", max_steps=30, learning_rate=0.05)  # a new optax object
    assert again.compile_seconds < 0.05 * result.compile_seconds
    np.testing.assert_array_equal(again.x, result.x)


def test_any_optax_optimizer_by_name(decay):
    result = fit(decay, "optax.sgd", max_steps=5, learning_rate=1e-4, options={"momentum": 0.5})
    assert result.loss_history[-1, 0] < result.loss_history[0, 0]
    with pytest.raises(ValueError, match="fit.method: optax has no optimizer named 'nope'"):
        fit(decay, "optax.nope")


def test_clean_data_recovered_to_1e_minus_8():
    problem = _decay_problem(noise=False)
    result = fit(problem, ftol=1e-14, xtol=1e-14)
    np.testing.assert_allclose(result.x, [0.8, 2.0], rtol=1e-8)


def test_multistart_batch_equals_single_fits(decay, monkeypatch):
    """Each start of a batch gives the fit it gives alone, also once the batch continues with
    its running starts only (normally from `NARROW_FROM` starts; here from 3)."""
    monkeypatch.setattr(fit_module, "NARROW_FROM", 2)
    compiled, compile_for = [], fit_module._compiled

    def recording(problem, optimizer, settings, kind, example):
        compiled.append((kind, jax.tree.leaves(example)[0].shape[0]))
        return compile_for(problem, optimizer, settings, kind, example)

    monkeypatch.setattr(fit_module, "_compiled", recording)
    starts = multistart_points(decay.space, 3, spread=0.3, seed=1)
    batch = fit(decay, starts=starts)
    assert ("step", 1) in compiled  # the last running start went on alone
    for i, start in enumerate(starts):
        single = fit(decay, starts=start)
        np.testing.assert_allclose(batch.starts_x[i], single.x, rtol=1e-10)
        steps = len(single.loss_history)
        np.testing.assert_allclose(batch.loss_history[:steps, i], single.loss_history[:, 0])
    np.testing.assert_allclose(batch.starts_x[0], batch.starts_x[1], rtol=1e-6)
    assert batch.starts_x.shape == (3, 2)
    np.testing.assert_allclose(starts[0], decay.space.initial_values())


def test_solver_failure_is_rejected_not_fatal():
    """y' = k y^2 blows up at t = 1/k: trial steps with k >= 2 fail to solve (t up to 0.5)."""
    config = validate_config(
        {
            "model": {"equations": {"y": "k * y**2"}},
            "parameters": {"k": {"init": 0.1, "true": 1.0}},
            "initial_state": {"y": 1.0},
            "observations": {"y": {"sigma": 0.01}},
            "data": {"synthetic": {"times": {"start": 0, "stop": 0.5, "num": 11}, "noise": False}},
            "solver": {"rtol": 1e-9, "atol": 1e-12, "max_steps": 200},
        }
    )
    problem = build_problem(config)
    steps = []
    result = fit(problem, "gauss_newton", callback=steps.append)  # its first step: k > 2
    assert result.success, result.message
    np.testing.assert_allclose(result.x, [1.0], rtol=1e-7)
    assert not steps[0].accepted and steps[-1].accepted  # the failing step was rejected
    assert np.isinf(result.loss_history).sum() == 0  # rejected points never become the state

    failed = fit(problem, "gauss_newton", starts=np.array([3.0]))
    assert failed.code == -2 and "starting point" in failed.message
    assert failed.best_start == 0 and np.isinf(failed.chi_square)
    uncertainty = estimate_uncertainty(
        problem, failed.z, jacobian=failed.jacobian, residuals=failed.residuals
    )
    assert uncertainty.singular and "cannot be simulated" in uncertainty.message


def test_singular_jacobian_is_reported():
    """Only the product a*b is identifiable in y' = -a*b*y."""
    config = validate_config(
        {
            "model": {"equations": {"y": "-a * b * y"}},
            "parameters": {"a": {"init": 1.0, "true": 1.0}, "b": {"init": 0.5, "true": 0.8}},
            "initial_state": {"y": 1.0},
            "observations": ["y"],
            "data": {"synthetic": {"times": {"start": 0, "stop": 2, "num": 10}}},
        }
    )
    problem = build_problem(config)
    result = fit(problem)
    uncertainty = estimate_uncertainty(
        problem, result.z, jacobian=result.jacobian, residuals=result.residuals
    )
    assert uncertainty.singular
    assert "cannot separate a, b" in uncertainty.message
    assert np.all(np.isnan(uncertainty.stderr))


def test_gradient_mode_follows_sizes_and_adjoint():
    assert choose_gradient_mode(4, 100)[0] == "forward"
    mode, reason = choose_gradient_mode(100, 4)
    assert mode == "reverse" and "100 inputs to 4 outputs" in reason
    assert choose_gradient_mode(4, 100, adjoint="checkpoint")[0] == "reverse"
    assert choose_gradient_mode(100, 4, adjoint="forward")[0] == "forward"
    mode, reason = choose_gradient_mode(100, 4, "reverse", adjoint="forward")
    assert mode == "reverse" and "still computes forward sensitivities" in reason
    with pytest.raises(ValueError, match="gradient.mode: forward mode cannot .* 'backsolve'"):
        choose_gradient_mode(4, 100, "forward", adjoint="backsolve")
    with pytest.raises(ValueError, match="gradient.mode: unknown mode 'sideways'"):
        choose_gradient_mode(4, 100, "sideways")


def test_statistics_definitions():
    stats = fit_statistics(12.0, 20, 3)
    assert stats["reduced_chi_square"] == pytest.approx(12 / 17)
    assert stats["aic"] == pytest.approx(20 * np.log(12 / 20) + 6)
    assert stats["bic"] == pytest.approx(20 * np.log(12 / 20) + 3 * np.log(20))


# -- trust_region_reflective: bounds kept by the method -------------------------------------


def _offset_decay(bounds):
    """y' = -k y + c, y(0) = 1, with c truly 0: the seed-0 data put the unconstrained optimum
    at c < 0, so with c in [0, 1] the constrained optimum lies ON the lower bound."""
    c = {"init": 0.1, "true": 0.0, **({"bounds": bounds} if bounds else {})}
    config = validate_config(
        {
            "model": {"equations": {"y": "-k * y + c"}},
            "parameters": {"k": {"init": 0.5, "true": 0.8, "transform": "log"}, "c": c},
            "initial_state": {"y": 1.0},
            "observations": {"y": {"sigma": 0.01}},
            "data": {"synthetic": {"times": {"start": 0, "stop": 2, "num": 5}, "seed": 0}},
            "solver": {"name": "rk4", "dt": 0.01},
        }
    )
    return build_problem(config)


@pytest.fixture(scope="module")
def on_bound():
    problem = with_box_bounds(_offset_decay([0.0, 1.0]))
    starts = np.array([[0.5, 0.1], [1.5, 0.9]])
    return problem, fit(problem, "trust_region_reflective", starts=starts)


def test_trust_region_reflective_stops_exactly_on_a_bound(on_bound):
    """The constrained optimum against scipy's bounded fit of the closed-form solution
    y = c/k + (1 - c/k) exp(-k t); the free optimum has c < 0."""
    problem, result = on_bound
    ts, ys = problem.data.ts, problem.data.values[:, 0]
    model = lambda p: (p[1] / p[0] + (1 - p[1] / p[0]) * np.exp(-p[0] * ts) - ys) / 0.01
    free = scipy.optimize.least_squares(model, [0.5, 0.1], xtol=1e-14, ftol=1e-14)
    assert free.x[1] < -1e-3  # the bound is active
    bounded = scipy.optimize.least_squares(
        model, [0.5, 0.1], bounds=([0, 0], [np.inf, 1]), xtol=1e-14, ftol=1e-14
    )
    assert result.success and (result.starts_code > 0).all(), result.message
    assert result.method == "trust_region_reflective"
    np.testing.assert_array_equal(result.starts_x[:, 1], [0.0, 0.0])  # exactly the bound
    np.testing.assert_allclose(result.starts_x[:, 0], bounded.x[0], rtol=1e-7)
    np.testing.assert_allclose(result.chi_square, 2 * bounded.cost, rtol=1e-7)
    # every recorded point is feasible and chi-square never rises
    assert (result.x_history[..., 1] >= 0).all() and (result.x_history[..., 1] <= 1).all()
    assert (np.diff(result.loss_history, axis=0) <= 1e-12).all()


def test_trust_region_reflective_jacobian_and_gradient(on_bound):
    """The Jacobian it returns (forward mode) equals jax.jacrev at the estimate ON the bound,
    and one-sided finite differences into the box; its chi-square gradient passes a Taylor
    test at the start."""
    problem, result = on_bound
    z = jax.numpy.asarray(result.z)
    residuals = jax.jit(lambda z: problem.residuals(z))
    np.testing.assert_allclose(result.jacobian, jax.jit(jax.jacrev(residuals))(z), rtol=1e-9)
    h = 1e-6
    for i in range(2):
        fd = (residuals(z + np.eye(2)[i] * h) - residuals(z)) / h
        np.testing.assert_allclose(result.jacobian[:, i], fd, rtol=1e-4, atol=1e-4)
    z0 = problem.space.to_internal(result.starts_x0[0])
    check = taylor_test_flat(problem.chi_square, z0, result.initial_gradient, jax.numpy.ones(2))
    assert check.passed, check.reason


def test_trust_region_reflective_interior_optimum_matches_curve_fit(decay, reference):
    result = fit(with_box_bounds(decay), "trust_region_reflective", gradient_mode="reverse")
    assert result.success and result.gradient_mode == "reverse"
    np.testing.assert_allclose(result.x, reference.x, rtol=1e-6)
    assert result.jacobian.shape == reference.jacobian.shape


def test_trust_region_reflective_bad_settings(decay):
    problem = _offset_decay([0.0, 1.0])
    with pytest.raises(ValueError, match="fit.method: trust_region_reflective keeps the bounds"):
        fit(problem, "trust_region_reflective")
    with pytest.raises(ValueError, match="fit.options: trust_region_reflective takes only x_scale"):
        fit(with_box_bounds(decay), "trust_region_reflective", options={"momentum": 0.5})
