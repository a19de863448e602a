"""diffsim.ad.taylor_test: rates 1 and 2 for a right gradient, failure for a wrong one."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffsim import ad


def loss(p):
    return jnp.sum(jnp.sin(p["a"]) ** 2) * jnp.exp(p["b"]) + jnp.sum(p["a"] ** 3) / 3


P = {"a": jnp.array([0.3, 0.7, -1.2]), "b": jnp.array(0.4)}


def test_correct_gradient_passes_with_rates_one_and_two():
    result = ad.taylor_test(loss, P)
    assert result.passed
    assert abs(result.rate0 - 1) < 0.05 and abs(result.rate1 - 2) < 0.05
    assert result.steps.shape == result.remainder0.shape == result.remainder1.shape == (12,)
    assert np.all(result.remainder1 < result.remainder0)
    assert "PASSED" in str(result) and str(result) == result.table()


def test_wrong_gradient_fails():
    gradient = jax.grad(loss)(P)
    wrong = {"a": gradient["a"].at[1].multiply(1.05), "b": gradient["b"]}
    result = ad.taylor_test(loss, P, grad=wrong)
    assert not result.passed
    assert abs(result.rate1 - 1) < 0.3
    assert "FAILED" in result.table() and "gradient is wrong" in result.reason


def test_small_gradient_error_in_one_component_fails():
    gradient = jax.grad(loss)(P)
    result = ad.taylor_test(loss, P, grad={"a": gradient["a"], "b": gradient["b"] + 1e-3})
    assert not result.passed


def test_non_finite_function_fails_quietly():
    with np.errstate(all="raise"):  # no NumPy warnings from inf - inf
        result = ad.taylor_test(lambda x: jnp.sum(jnp.log(x - 1.0)), jnp.ones(2), grad=jnp.ones(2))
    assert not result.passed and "not finite" in result.reason
    assert np.isnan(result.rate0) and np.isnan(result.rate1)


def test_linear_function_passes_at_round_off():
    result = ad.taylor_test(lambda x: jnp.dot(jnp.arange(1.0, 4.0), x) + 2.0, jnp.ones(3))
    assert result.passed and "round-off" in result.reason
    assert np.all(result.remainder1 < 1e-12)
    assert abs(result.rate0 - 1) < 1e-6


def test_custom_direction_steps_and_key():
    steps = [1e-1, 1e-2, 1e-3]
    result = ad.taylor_test(jnp.sum, jnp.ones(2), direction=jnp.array([1.0, -1.0]), steps=steps)
    np.testing.assert_array_equal(result.steps, steps)
    np.testing.assert_allclose(result.remainder0, 0.0, atol=1e-15)
    a = ad.taylor_test(loss, P, key=jax.random.key(1))
    b = ad.taylor_test(loss, P, key=jax.random.key(2))
    assert a.passed and b.passed and not np.allclose(a.remainder0, b.remainder0)


def test_custom_adjoint_is_checked():
    @jax.custom_vjp
    def square(x):
        return x**2

    square.defvjp(lambda x: (x**2, x), lambda x, g: (3 * x * g,))  # wrong: should be 2x
    assert not ad.taylor_test(lambda x: jnp.sum(square(x)), jnp.ones(3)).passed


def test_non_finite_values_fail():
    result = ad.taylor_test(lambda x: jnp.sum(jnp.log(x)), jnp.array([1e-6, 1.0]))
    assert not result.passed


def test_bad_arguments():
    with pytest.raises(ValueError, match="return a scalar"):
        ad.taylor_test(lambda x: x * 2, jnp.ones(3))
    with pytest.raises(ValueError, match="at least three positive"):
        ad.taylor_test(jnp.sum, jnp.ones(3), steps=[1e-2, 1e-3])
    with pytest.raises(ValueError, match="`grad` must have the structure"):
        ad.taylor_test(loss, P, grad=jnp.ones(4))
    with pytest.raises(ValueError, match=r"`direction` has shape \(2,\)"):
        ad.taylor_test(jnp.sum, jnp.ones(3), direction=jnp.ones(2))
    with pytest.raises(TypeError, match="dtype int"):
        ad.taylor_test(jnp.sum, jnp.arange(3))
