"""The whitelist expression parser: values, derivatives, and every forbidden construct."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffsim.inverse import ExpressionError, model_from_equations, parse_expression


def test_values_match_numpy():
    e = parse_expression("a*x**2 - sin(t)/b + exp(-x) + max(x, 1) + pi", ["a", "b", "x", "t"])
    env = {"a": 2.0, "b": 4.0, "x": 0.5, "t": 1.2}
    expected = 2 * 0.25 - np.sin(1.2) / 4 + np.exp(-0.5) + 1.0 + np.pi
    assert float(e(env)) == pytest.approx(expected, rel=1e-14)
    assert e.symbols == ("a", "b", "t", "x")


def test_conditionals_and_broadcasting():
    e = parse_expression("where(t < 1, x, -x) + (1 if x > 0 else 2)", ["x", "t"])
    out = e({"x": 3.0, "t": jnp.array([0.0, 2.0])})
    np.testing.assert_allclose(out, [4.0, -2.0])


def test_gradient_matches_analytic():
    e = parse_expression("k * x * (1 - x / K)", ["k", "x", "K"])
    grad = jax.grad(lambda x: e({"k": 2.0, "x": x, "K": 10.0}))(3.0)
    assert float(grad) == pytest.approx(2.0 * (1 - 2 * 3.0 / 10.0), rel=1e-14)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("x + y", "unknown symbol 'y'"),
        ("x.__class__", "attribute access"),
        ("__import__('os')", "call of '__import__' is not allowed"),
        ("eval('1')", "call of 'eval' is not allowed"),
        ("x[0]", "indexing"),
        ("(lambda: 1)()", "only calls of whitelisted functions"),
        ("lambda: 1", "lambda"),
        ("'text'", "only numbers"),
        ("sin(x, x)", "takes 1 argument"),
        ("sin(x=x)", "argument"),
        ("x and x", "'and'/'or'"),
        ("x // 2", "operator FloorDiv"),
        ("x +", "invalid syntax"),
        ("", "empty"),
        ("[x for x in x]", "comprehensions"),
        ("sin", "used without calling"),
        ("(x := 1)", "assignment"),
    ],
)
def test_rejects_bad_expressions(text, fragment):
    with pytest.raises(ExpressionError, match="^model.equations.x: ") as error:
        parse_expression(text, ["x"], where="model.equations.x")
    assert fragment in str(error.value)
    assert "\n" not in str(error.value)


def test_rejects_huge_nesting():
    with pytest.raises(ExpressionError, match="nested|longer"):
        parse_expression("(" * 1000 + "x" + ")" * 1000, ["x"])


def test_equation_model_matches_builtin():
    from diffsim.models import lotka_volterra

    model = model_from_equations(
        {"x": "alpha*x - beta*x*y", "y": "delta*x*y - gamma*y"},
        ["alpha", "beta", "gamma", "delta"],
    )
    builtin = lotka_volterra()
    p = builtin.default_parameters
    y = jnp.array([2.0, 3.0])
    np.testing.assert_allclose(model(0.0, y, p), builtin(0.0, y, p), rtol=1e-15)


def test_equation_model_rejects_bad_names():
    with pytest.raises(ValueError, match="reserved"):
        model_from_equations({"t": "1"}, [])
    with pytest.raises(ValueError, match="both a state and a parameter"):
        model_from_equations({"x": "a"}, ["x"])
