"""diffsim.ad.trace: the lesson's evaluation trace, exactly, and agreement with JAX's AD."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from matplotlib.axes import Axes

from diffsim import ad


def lesson(x1, x2):
    return x1**2 + x2


LESSON_TABLE = """\
variable  definition  value  tangent (x1=1.0, x2=0.0)  adjoint (y=1.0)
--------  ----------  -----  ------------------------  ---------------
x1        input       2.0    1.0                       4.0
x2        input       3.0    0.0                       1.0
v1        x1**2       4.0    4.0                       1.0
y         v1 + x2     7.0    4.0                       1.0"""


def test_lesson_trace_table_is_exact():
    assert ad.trace(lesson, 2.0, 3.0).table() == LESSON_TABLE


def test_lesson_numbers():
    # Forward mode, seed x1: dy/dx1 = 2 x1 = 4; seed x2: dy/dx2 = 1.
    # Reverse mode, ybar = 1: x1bar = 4, x2bar = 1 (both in one pass).
    by_x1 = ad.trace(lesson, 2.0, 3.0)
    by_x2 = ad.trace(lesson, 2.0, 3.0, tangent=(0.0, 1.0))
    rows = {row.name: row for row in by_x1.rows}
    assert [row.name for row in by_x1.rows] == ["x1", "x2", "v1", "y"]
    assert [row.definition for row in by_x1.rows] == ["input", "input", "x1**2", "v1 + x2"]
    assert [float(row.value) for row in by_x1.rows] == [2.0, 3.0, 4.0, 7.0]
    assert [float(row.tangent) for row in by_x1.rows] == [1.0, 0.0, 4.0, 4.0]
    assert [float(row.tangent) for row in by_x2.rows] == [0.0, 1.0, 0.0, 1.0]
    assert [float(row.adjoint) for row in by_x1.rows] == [4.0, 1.0, 1.0, 1.0]
    assert rows["v1"].operands == ("x1",) and rows["y"].operands == ("v1", "x2")
    assert by_x2.tangent_seed == "x1=0.0, x2=1.0" and by_x1.adjoint_seed == "y=1.0"


def network(x, params):
    hidden = jnp.tanh(params["w"] @ x + params["b"])
    return jnp.sum(jax.nn.relu(hidden) * x[:2]) + jnp.linalg.norm(hidden)


X = jnp.array([0.5, -1.0, 2.0])
PARAMS = {"w": jnp.array([[0.2, -0.4, 0.1], [0.7, 0.3, -0.5]]), "b": jnp.array([0.1, -0.2])}


def test_trace_agrees_with_jax():
    tangent = (jnp.array([0.3, 0.1, -0.2]), {"w": jnp.ones((2, 3)), "b": jnp.array([1.0, 0.0])})
    result = ad.trace(network, X, PARAMS, tangent=tangent)
    _, expected_tangent = jax.jvp(network, (X, PARAMS), tangent)
    gradient = jax.grad(network, argnums=(0, 1))(X, PARAMS)
    np.testing.assert_allclose(result.row("y").tangent, expected_tangent, rtol=1e-14)
    names = ["x", "params['b']", "params['w']"]
    assert [row.name for row in result.rows[:3]] == names
    for name, expected in zip(names, jax.tree_util.tree_leaves(gradient), strict=True):
        np.testing.assert_allclose(result.row(name).adjoint, expected, rtol=1e-14)
    # jit, custom_jvp (relu) and norm are inlined into elementary operations.
    definitions = [row.definition for row in result.rows]
    assert "x @ params['w']" not in definitions and "params['w'] @ x" in definitions
    assert any(d.startswith("max(") for d in definitions)
    assert any(d.startswith("sqrt(") for d in definitions)


def test_vector_output_seed():
    result = ad.trace(lambda x: jnp.sin(x) * x[0], X, cotangent=jnp.array([0.0, 1.0, 0.0]))
    expected = jax.grad(lambda x: (jnp.sin(x) * x[0])[1])(X)
    np.testing.assert_allclose(result.row("x").adjoint, expected, rtol=1e-14)


def test_draw(tmp_path):
    result = ad.trace(lesson, 2.0, 3.0)
    ax = result.draw()
    assert isinstance(ax, Axes)
    labels = [text.get_text() for text in ax.texts if text.get_text()]
    assert "v1 = x1**2\nvalue   4.0\ntangent 4.0\nadjoint 1.0" in labels
    assert len(labels) == 4
    ax.figure.savefig(tmp_path / "trace.png")
    assert (tmp_path / "trace.png").stat().st_size > 1000


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least one argument"):
        ad.trace(lesson)
    with pytest.raises(TypeError, match=r"`args\[0\]` has dtype int"):
        ad.trace(lesson, 2, 3.0)
    with pytest.raises(ValueError, match="`tangent` must have the structure"):
        ad.trace(lesson, 2.0, 3.0, tangent=1.0)
    with pytest.raises(ValueError, match=r"`cotangent` has shape \(2,\)"):
        ad.trace(lesson, 2.0, 3.0, cotangent=jnp.ones(2))
    with pytest.raises(KeyError, match="no variable 'v9'"):
        ad.trace(lesson, 2.0, 3.0).row("v9")
