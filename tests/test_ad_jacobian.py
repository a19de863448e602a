"""diffsim.ad.jacobian: every mode against hand-derived derivatives, layouts, products, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffsim import ad


def f(x):
    return jnp.stack([jnp.sin(x[0]) * x[1], jnp.exp(x[1] ** 2), x[0] ** 3 * x[1]])


def df(x):
    """The Jacobian of `f`, derived by hand."""
    x0, x1 = x
    return jnp.array(
        [
            [jnp.cos(x0) * x1, jnp.sin(x0)],
            [0.0, 2 * x1 * jnp.exp(x1**2)],
            [3 * x0**2 * x1, x0**3],
        ]
    )


X = jnp.array([0.4, -0.7])

# (mode, options, relative tolerance): differences are approximate, the rest exact.
MODES = [
    ("auto", {}, 1e-14),
    ("forward", {}, 1e-14),
    ("reverse", {}, 1e-14),
    ("symbolic", {}, 1e-14),
    ("symbolic", {"simplify": True}, 1e-14),
    ("manual", {"derivative": df}, 1e-14),
    ("numerical", {}, 1e-9),
    ("numerical", {"scheme": "forward"}, 1e-7),
    ("numerical", {"scheme": "complex"}, 1e-14),
]


@pytest.mark.parametrize("mode, options, rtol", MODES)
def test_known_jacobian(mode, options, rtol):
    np.testing.assert_allclose(ad.jacobian(f, X, mode=mode, **options), df(X), rtol=rtol, atol=0)


@pytest.mark.parametrize("mode, options, rtol", MODES)
def test_jvp_and_vjp(mode, options, rtol):
    v = jnp.array([0.3, -1.1])
    u = jnp.array([1.0, 2.0, -0.5])
    jvp = ad.jacobian(f, X, mode=mode, tangent=v, **options)
    vjp = ad.jacobian(f, X, mode=mode, cotangent=u, **options)
    np.testing.assert_allclose(jvp, df(X) @ v, rtol=rtol * 10, atol=0)
    np.testing.assert_allclose(vjp, u @ df(X), rtol=rtol * 10, atol=0)


def pytree_function(p):
    return {"energy": jnp.sum(p["a"] ** 2) * p["b"], "field": jnp.tanh(p["a"]) * p["b"]}


P = {"a": jnp.array([0.5, -0.2, 1.3]), "b": jnp.array(0.7)}


@pytest.mark.parametrize("mode", ["forward", "reverse", "numerical", "symbolic"])
def test_pytree_layout_matches_jax_jacobian(mode):
    expected = jax.jacobian(pytree_function)(P)
    result = ad.jacobian(pytree_function, P, mode=mode)
    assert jax.tree_util.tree_structure(result) == jax.tree_util.tree_structure(expected)
    leaves = zip(
        jax.tree_util.tree_leaves(result), jax.tree_util.tree_leaves(expected), strict=True
    )
    for got, want in leaves:
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10)


def test_gradient_of_scalar_function_is_shaped_like_x():
    gradient = ad.jacobian(lambda p: pytree_function(p)["energy"], P, mode="symbolic")
    np.testing.assert_allclose(gradient["a"], 2 * P["a"] * P["b"], rtol=1e-14)
    np.testing.assert_allclose(gradient["b"], jnp.sum(P["a"] ** 2), rtol=1e-14)


def test_auto_mode_follows_inputs_and_outputs():
    many_in = ad.choose_mode(jnp.sum, jnp.ones(100))
    assert many_in.mode == "reverse" and (many_in.n_inputs, many_in.n_outputs) == (100, 1)
    assert "100" in many_in.reason and "backward" in many_in.reason
    many_out = ad.choose_mode(lambda x: jnp.outer(x, x).ravel(), jnp.ones(3))
    assert many_out.mode == "forward" and many_out.n_outputs == 9
    assert ad.choose_mode(jnp.sum, jnp.ones(100), tangent=jnp.ones(100)).mode == "forward"
    assert ad.choose_mode(f, X, cotangent=jnp.ones(3)).mode == "reverse"


def test_modes_work_under_jit():
    for mode, options in [("numerical", {}), ("symbolic", {}), ("auto", {})]:
        jitted = jax.jit(
            lambda x, mode=mode, options=options: ad.jacobian(f, x, mode=mode, **options)
        )
        np.testing.assert_allclose(jitted(X), df(X), rtol=1e-8)


def test_complex_step_is_exact_with_a_tiny_step():
    np.testing.assert_allclose(
        ad.jacobian(f, X, mode="numerical", scheme="complex", step=1e-100), df(X), rtol=1e-15
    )


def test_manual_mode_rejects_a_wrong_derivative():
    wrong = lambda x: df(x).at[2, 1].multiply(1.001)
    with pytest.raises(ValueError, match="disagrees with automatic differentiation"):
        ad.jacobian(f, X, mode="manual", derivative=wrong)
    with pytest.raises(RuntimeError, match="disagrees with automatic differentiation"):
        jax.jit(lambda x: ad.jacobian(f, x, mode="manual", derivative=wrong))(X)
    with pytest.raises(ValueError, match="layout of jax.jacobian"):
        ad.jacobian(f, X, mode="manual", derivative=lambda x: df(x).T)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"mode": "backprop"}, ValueError, "unknown mode 'backprop'"),
        ({"tangent": X, "cotangent": jnp.ones(3)}, ValueError, "not both"),
        ({"mode": "manual"}, ValueError, "`derivative` is required"),
        ({"mode": "forward", "derivative": df}, ValueError, "`derivative` is required"),
        ({"mode": "forward", "step": 1e-3}, ValueError, "only apply to mode='numerical'"),
        ({"mode": "numerical", "scheme": "backward"}, ValueError, "unknown scheme"),
        ({"tangent": jnp.ones(3)}, ValueError, r"`tangent` has shape \(3,\), expected \(2,\)"),
        ({"cotangent": [1.0, 2.0, 3.0]}, ValueError, "`cotangent` must have the structure"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ad.jacobian(f, X, **kwargs)


def test_bad_inputs_and_outputs():
    with pytest.raises(TypeError, match=r"`x\['n'\]` has dtype int"):
        ad.jacobian(lambda p: p["n"] * 1.0, {"n": jnp.array(3)})
    with pytest.raises(TypeError, match="f must return real floats"):
        ad.jacobian(lambda x: jnp.round(x).astype(jnp.int32), X)
    with pytest.raises(TypeError, match="complex-step differences need"):
        ad.jacobian(lambda x: jnp.abs(x), X, mode="numerical", scheme="complex")


@pytest.mark.parametrize("scheme", ["forward", "central", "complex"])
def test_zero_tangent_gives_zero(scheme):
    jvp = ad.jacobian(f, X, mode="numerical", scheme=scheme, tangent=jnp.zeros(2))
    np.testing.assert_array_equal(jvp, jnp.zeros(3))
