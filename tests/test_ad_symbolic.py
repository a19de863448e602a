"""diffsim.ad.to_sympy and mode="symbolic": expressions, agreement with reverse mode, refusals."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy

from diffsim import ad


def test_lesson_expression():
    symbols, expressions = ad.to_sympy(lambda x1, x2: x1**2 + x2, 2.0, 3.0)
    x1, x2 = symbols
    assert (str(x1), str(x2)) == ("x1", "x2")
    assert expressions == [x1**2 + x2]
    assert [sympy.diff(expressions[0], s) for s in symbols] == [2 * x1, 1]


W = jnp.array([[0.3, -0.5], [0.8, 0.1], [-0.2, 0.4]])

FUNCTIONS = {
    "polynomial": lambda x: x[0] ** 3 * x[1] - 2.5 * x[1] ** 2 + x[0] / 4,
    "trigonometric": lambda x: jnp.sin(x[0]) * jnp.cos(x[1]) + jnp.tan(x[0] * x[1]),
    "exp-log": lambda x: jnp.log1p(jnp.exp(x[0])) + jnp.expm1(x[1]) * jnp.log(2 + x[0] ** 2),
    "network": lambda x: jnp.sum(jnp.tanh(W @ x) ** 2),
    "vector output": lambda x: jnp.concatenate([jnp.sqrt(1 + x**2), jax.nn.sigmoid(x[::-1])]),
    "reductions": lambda x: jnp.linalg.norm(x) + jnp.prod(x) + jnp.mean(jnp.outer(x, x)),
    "reshapes": lambda x: jnp.sum(jnp.reshape(jnp.tile(x, 3), (3, 2)).T * W.T),
    "powers": lambda x: jnp.power(1.5 + x[0] ** 2, x[1]) + jnp.arctan2(x[0], 2.0),
}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_symbolic_equals_reverse(name):
    function = FUNCTIONS[name]
    x = jnp.array([0.6, -0.35])
    np.testing.assert_allclose(
        ad.jacobian(function, x, mode="symbolic"),
        ad.jacobian(function, x, mode="reverse"),
        rtol=1e-12,
        atol=1e-14,
    )


@pytest.mark.parametrize(
    "function, operation",
    [
        (lambda x: jnp.sum(jnp.where(x > 0, x, 0.0)), "gt"),
        (lambda x: jax.lax.fori_loop(0, 3, lambda i, y: y * x, x)[0], None),
        (lambda x: x[jnp.argmax(x)], None),
        (lambda x: jnp.sum(jnp.floor(x)), "floor"),
    ],
)
def test_unsupported_functions_are_refused_by_name(function, operation):
    with pytest.raises(ValueError, match="symbolic mode cannot") as info:
        ad.jacobian(function, jnp.array([0.5, 1.5]), mode="symbolic")
    if operation is not None:
        assert f"`{operation}`" in str(info.value)
    assert "mode='forward' or 'reverse'" in str(info.value)


def test_array_inputs_get_indexed_names():
    symbols, expressions = ad.to_sympy(lambda x, w: jnp.dot(w, x), jnp.ones(2), jnp.ones((1, 2)))
    assert [str(s) for s in symbols] == ["x[0]", "x[1]", "w[0,0]", "w[0,1]"]
    x0, x1, w00, w01 = symbols
    assert expressions == [w00 * x0 + w01 * x1]


def test_traced_closure_is_refused_clearly():
    def jacobian(x, w):
        return ad.jacobian(lambda x: jnp.sum(jnp.sin(x) * w), x, mode="symbolic")

    with pytest.raises(ValueError, match="closes over to be concrete"):
        jax.jit(jacobian)(jnp.ones(2), jnp.ones(2))
    np.testing.assert_allclose(jacobian(jnp.zeros(2), jnp.array([2.0, 3.0])), [2.0, 3.0])
