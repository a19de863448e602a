"""diffsim.nn: shapes, dtypes, determinism, embeddings, weight factorization, gradients."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffsim import nn

KEY = jax.random.PRNGKey(0)


@pytest.mark.parametrize("cls", [nn.MLP, nn.ModifiedMLP])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", sorted(nn.ACTIVATIONS))
def test_shapes_and_dtype(cls, dtype, activation):
    net = cls(3, 2, 16, 3, activation, dtype=dtype, key=KEY)
    x = jnp.ones((5, 3), dtype)
    with jax.numpy_dtype_promotion("strict"):
        y = jax.vmap(net)(x)
    assert y.shape == (5, 2) and y.dtype == jnp.dtype(dtype)
    scalar = cls(3, "scalar", 8, 2, activation, dtype=dtype, key=KEY)
    with jax.numpy_dtype_promotion("strict"):
        assert scalar(x[0]).shape == () and scalar(x[0]).dtype == jnp.dtype(dtype)
    leaves = jax.tree_util.tree_leaves(net)
    assert all(leaf.dtype == jnp.dtype(dtype) for leaf in leaves if hasattr(leaf, "dtype"))


def test_layer_count_and_sizes():
    net = nn.MLP(2, 1, 20, 8, key=KEY)
    assert len(net.layers) == 9
    assert net.layers[0].weight.shape == (20, 2) and net.layers[-1].weight.shape == (1, 20)
    # Raissi's 2-20x8-1 network has 3021 parameters.
    count = sum(leaf.size for leaf in jax.tree_util.tree_leaves(net))
    assert count == 2 * 20 + 20 + 7 * (20 * 20 + 20) + 20 + 1


def test_same_key_same_weights_other_key_differs():
    x = jnp.array([0.3, -0.2])
    a = nn.MLP(2, 1, 10, 2, key=jax.random.PRNGKey(1))
    b = nn.MLP(2, 1, 10, 2, key=jax.random.PRNGKey(1))
    c = nn.MLP(2, 1, 10, 2, key=jax.random.PRNGKey(2))
    assert np.array_equal(a(x), b(x))
    assert not np.allclose(a(x), c(x))


@pytest.mark.parametrize(
    "init, variance",
    [
        ("glorot", lambda i, o: 2 / (i + o)),
        ("he", lambda i, o: 2 / i),
        ("normal", lambda i, o: 1 / i),
    ],
)
def test_initialization_variance(init, variance):
    layer = nn.Linear(400, 300, init=init, dtype="float64", key=KEY)
    # jax's *_normal initializers use a truncated normal rescaled to the target variance.
    assert np.var(layer.weight) == pytest.approx(variance(400, 300), rel=0.02)
    assert np.all(layer.bias == 0)


def test_factorized_layer_reproduces_plain_layer_at_init():
    for dtype, tol in (("float64", 1e-14), ("float32", 1e-6)):
        plain = nn.Linear(7, 5, dtype=dtype, key=KEY)
        factored = nn.FactorizedLinear(7, 5, mean=1.0, std=0.1, dtype=dtype, key=KEY)
        np.testing.assert_allclose(factored.weight_matrix(), plain.weight, rtol=tol, atol=0)
        assert np.std(factored.log_scale) > 0  # the scales are random, not all equal
    net = nn.MLP(2, 1, 10, 3, factorization=(1.0, 0.1), dtype="float64", key=KEY)
    ref = nn.MLP(2, 1, 10, 3, dtype="float64", key=KEY)
    x = jnp.array([0.1, 0.7])
    np.testing.assert_allclose(net(x), ref(x), rtol=1e-13)


def test_periodic_embedding_is_periodic():
    period = 2.0
    emb = nn.PeriodicEmbedding({1: period}, harmonics=3)
    net = nn.MLP(2, 1, 16, 2, "tanh", embedding=emb, dtype="float64", key=KEY)
    t = jnp.linspace(0, 1, 7)
    x = jnp.linspace(-1, 1, 7)
    z = jnp.stack([t, x], axis=1)
    shifted = z.at[:, 1].add(period)
    np.testing.assert_allclose(jax.vmap(net)(shifted), jax.vmap(net)(z), rtol=0, atol=1e-13)
    # ... and derivatives of every order match at both ends.
    dx = jax.grad(lambda p: net(p)[0])
    np.testing.assert_allclose(dx(z[0].at[1].set(-1.0)), dx(z[0].at[1].set(1.0)), atol=1e-12)
    assert emb.out_size(2) == 1 + 2 * 3
    assert not np.allclose(jax.vmap(net)(z.at[:, 0].add(period)), jax.vmap(net)(z))


def test_fourier_features_sized():
    emb = nn.FourierFeatures(2, 32, scale=2.0, dtype="float64", key=KEY)
    net = nn.MLP(2, 1, 16, 2, embedding=emb, dtype="float64", key=KEY)
    assert net.layers[0].weight.shape == (16, 64)
    assert emb(jnp.zeros(2)).shape == (64,)
    np.testing.assert_allclose(emb(jnp.zeros(2)), np.r_[np.ones(32), np.zeros(32)])
    assert np.std(emb.matrix) == pytest.approx(2.0, rel=0.2)


@pytest.mark.parametrize("cls, factorization", [(nn.MLP, None), (nn.ModifiedMLP, (1.0, 0.1))])
def test_gradients_against_finite_differences(cls, factorization):
    emb = nn.FourierFeatures(2, 4, dtype="float64", key=jax.random.PRNGKey(3))
    net = cls(
        2, 1, 8, 2, "sin", embedding=emb, factorization=factorization, dtype="float64", key=KEY
    )
    x = jnp.array([0.4, -0.3])
    flat, unravel = jax.flatten_util.ravel_pytree(net)

    def loss(theta):
        return jnp.sum(jnp.tanh(unravel(theta)(x)))

    g = jax.grad(loss)(flat)
    np.testing.assert_allclose(g, jax.jacfwd(loss)(flat), rtol=1e-12, atol=1e-14)
    direction = jax.random.normal(jax.random.PRNGKey(4), flat.shape, flat.dtype)
    remainders = []
    for h in (1e-2, 5e-3, 2.5e-3):
        remainders.append(abs(loss(flat + h * direction) - loss(flat) - h * g @ direction))
    rates = [math.log2(a / b) for a, b in zip(remainders, remainders[1:], strict=False)]
    assert all(abs(r - 2) < 0.1 for r in rates), rates
    # The derivative with respect to the input too (what a PINN differentiates).
    dx = jax.grad(lambda p: net(p)[0])(x)
    fd = [(net(x.at[i].add(1e-6))[0] - net(x.at[i].add(-1e-6))[0]) / 2e-6 for i in range(2)]
    np.testing.assert_allclose(dx, fd, rtol=1e-7)


def test_bad_input():
    with pytest.raises(ValueError, match="unknown activation 'swishy'"):
        nn.MLP(2, 1, 8, 2, "swishy", key=KEY)
    with pytest.raises(ValueError, match="unknown initialization 'xavier'"):
        nn.MLP(2, 1, 8, 2, init="xavier", key=KEY)
    with pytest.raises(ValueError, match="width must be at least 1"):
        nn.MLP(2, 1, 0, 2, key=KEY)
    with pytest.raises(ValueError, match="periods"):
        nn.PeriodicEmbedding({0: 0.0})


def test_casting_the_leaves_changes_the_dtype():
    net = nn.ModifiedMLP(2, 1, 8, 2, embedding=nn.FourierFeatures(2, 4, key=KEY), key=KEY)
    wide = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), net)
    x = jnp.array([0.1, 0.2], jnp.float64)
    with jax.numpy_dtype_promotion("strict"):
        assert net(x).dtype == jnp.float32 and wide(x).dtype == jnp.float64
    np.testing.assert_allclose(wide(x), net(x), rtol=1e-5)


def _nested_jvp_jet(net, points, m):
    """Value, first derivatives along every input axis and second along the first `m`, by
    nested jax.jvp of the network at each point (the reference for `Jet`)."""
    eye = jnp.eye(points.shape[1], dtype=points.dtype)

    def at(p):
        first = jnp.stack([jax.jvp(net, (p,), (e,))[1] for e in eye])
        second = [
            jax.jvp(lambda q, e=e: jax.jvp(net, (q,), (e,))[1], (p,), (e,))[1] for e in eye[:m]
        ]
        return net(p), first, jnp.stack(second)

    value, first, second = jax.vmap(at)(points)
    return value, jnp.moveaxis(first, 1, 0), jnp.moveaxis(second, 1, 0)


def test_jet_equals_nested_jvp():
    """Taylor mode through every kind of layer (plain and modified MLP, Fourier and periodic
    embeddings, weight factorization, scalar and vector outputs) against nested jax.jvp in
    float64; and in float32 under strict promotion."""
    key = jax.random.PRNGKey(5)
    nets = [
        nn.MLP(3, "scalar", 6, 3, "tanh", dtype="float64", key=key),
        nn.MLP(
            3, 2, 6, 2, "sin", factorization=(1.0, 0.1), dtype="float64", key=key,
            embedding=nn.FourierFeatures(3, 3, 2.0, dtype="float64", key=key),
        ),
        nn.ModifiedMLP(
            3, "scalar", 6, 2, "gelu", dtype="float64", key=key,
            embedding=nn.PeriodicEmbedding({1: 2.0}, harmonics=2),
        ),
    ]  # fmt: skip
    points = jax.random.uniform(jax.random.PRNGKey(6), (5, 3), jnp.float64, -1.0, 1.0)

    @jax.jit
    def jets(nets, points):
        narrow = jax.tree_util.tree_map(lambda a: a.astype(jnp.float32), (nets[2], points))
        with jax.numpy_dtype_promotion("strict"):
            jet32 = narrow[0].jet(nn.Jet.of_points(narrow[1], jnp.eye(3, dtype=jnp.float32), 2))
        return [n.jet(nn.Jet.of_points(points, jnp.eye(3), m=2)) for n in nets], jet32

    got64, jet32 = jets(nets, points)
    reference = jax.jit(lambda nets, p: [_nested_jvp_jet(n, p, 2) for n in nets])
    for jet, wanted in zip(got64, reference(nets, points), strict=True):
        for got, want in zip((jet.value, jet.first, jet.second), wanted, strict=True):
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.max(np.abs(want)))
    assert jet32.second.dtype == jnp.float32
    np.testing.assert_allclose(jet32.second, got64[2].second, rtol=1e-4, atol=1e-5)
    # A wrong second-derivative rule would show: tanh's jet along a scaled direction.
    jet = nn.Jet.of_points(jnp.array([[0.3]]), jnp.array([[2.0]]), m=1).elementwise(jnp.tanh)
    y = np.tanh(0.3)
    np.testing.assert_allclose(jet.second[0, 0, 0], 4 * -2 * y * (1 - y**2), rtol=1e-14)
