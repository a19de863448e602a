"""Neural ODEs: windows, losses and their gradients with every gradient strategy (Taylor test
and jacfwd), float32 under strict promotion, training, multiple shooting, UDE error bars."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim
from diffsim import neural, nn
from diffsim.ad import taylor_test
from diffsim.inverse import SolverOptions

A = jnp.array([[-0.1, 2.0], [-2.0, -0.1]])


def spiral(t, y, params):
    return (y**3) @ A.T


def neural_rhs(t, y, network):
    return network(y**3)


def spiral_data(num=41, dtype=jnp.float64):
    ts = jnp.linspace(0.0, 4.0, num)
    ys = diffsim.solve_ode(spiral, jnp.array([2.0, 0.0]), ts, rtol=1e-10, atol=1e-10).ys
    return ts.astype(dtype), ys.astype(dtype)


def network(dtype="float64"):
    return nn.MLP(2, 2, 8, 1, "tanh", dtype=dtype, key=jax.random.key(0))


def test_windows_cover_and_sample():
    ts = jnp.arange(10.0)
    ys = jnp.stack([ts, -ts], axis=1)
    windows = neural.all_windows(ts, ys, 4)
    assert windows.ts.tolist() == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]
    np.testing.assert_array_equal(windows.ys[..., 1], -windows.ts)
    batch = neural.sample_windows(ts, ys, 3, 50, key=jax.random.key(1))
    assert batch.ts.shape == (50, 3) and batch.ys.shape == (50, 3, 2)
    np.testing.assert_array_equal(jnp.diff(batch.ts, axis=1), 1.0)
    np.testing.assert_array_equal(batch.ys[..., 0], batch.ts)
    assert set(np.asarray(batch.ts[:, 0]).tolist()) == set(range(8))
    with pytest.raises(ValueError, match="`length` must be between 2 and 10"):
        neural.sample_windows(ts, ys, 11, 2, key=jax.random.key(0))


def _loss(adjoint, rtol=1e-9):
    options = SolverOptions(solver="dopri5", rtol=rtol, atol=rtol, adjoint=adjoint)
    ts, ys = spiral_data()
    windows = neural.all_windows(ts, ys, 11)
    dynamic, static = eqx.partition(network(), eqx.is_inexact_array)
    flat, unravel = jax.flatten_util.ravel_pytree(dynamic)

    def loss(w):
        return neural.window_loss(neural_rhs, eqx.combine(unravel(w), static), windows, options)

    return loss, flat


@pytest.fixture(scope="module")
def reference_gradient():
    """The loss gradient by `jax.jacfwd` through forward-mode sensitivities (computed once)."""
    loss, w = _loss("forward")
    return jax.jit(jax.jacfwd(loss))(w)


@pytest.mark.parametrize("adjoint", ["direct", "checkpoint", "backsolve", "forward"])
def test_loss_gradient_taylor_and_jacfwd(adjoint, reference_gradient):
    loss, w = _loss(adjoint)
    gradient = jax.jit(jax.grad(loss))(w)
    reference = reference_gradient
    # Backsolve differentiates the continuous problem: agreement to the solver tolerance.
    rtol = 1e-5 if adjoint == "backsolve" else 1e-9
    np.testing.assert_allclose(gradient, reference, rtol=rtol, atol=rtol * np.abs(reference).max())
    check = taylor_test(loss, w, grad=gradient)
    assert check.passed, check.table()


def test_wrong_gradient_fails_the_taylor_test(reference_gradient):
    loss, w = _loss("checkpoint")
    assert not taylor_test(loss, w, grad=reference_gradient * 1.01).passed


def test_float32_gradient_under_strict_promotion():
    ts, ys = spiral_data(dtype=jnp.float32)
    windows = neural.all_windows(ts, ys, 11)
    options = SolverOptions(solver="dopri5", rtol=1e-5, atol=1e-5, adjoint="checkpoint")
    with jax.numpy_dtype_promotion("strict"):
        value, grads = eqx.filter_value_and_grad(
            lambda net: neural.window_loss(neural_rhs, net, windows, options)
        )(network("float32"))
    # The same weights in float64 (a float64 network from the same key draws other weights).
    net64 = jax.tree.map(
        lambda a: a.astype(jnp.float64) if eqx.is_inexact_array(a) else a, network("float32")
    )
    assert value.dtype == jnp.float32
    assert all(g.dtype == jnp.float32 for g in jax.tree.leaves(grads))
    reference = eqx.filter_grad(
        lambda net: neural.window_loss(
            neural_rhs,
            net,
            neural.all_windows(*spiral_data(), 11),
            options.replace(rtol=1e-9, atol=1e-9),
        )
    )(net64)
    for g32, g64 in zip(jax.tree.leaves(grads), jax.tree.leaves(reference), strict=True):
        np.testing.assert_allclose(g32, g64, rtol=2e-3, atol=2e-3 * float(jnp.abs(g64).max()))


def test_training_adam_then_lbfgs_fits_the_spiral():
    ts, ys = spiral_data()
    options = SolverOptions(solver="dopri5", rtol=1e-7, atol=1e-7, adjoint="checkpoint")
    full = neural.all_windows(ts, ys, 11)
    loss = lambda net, batch: neural.window_loss(neural_rhs, net, batch, options)
    training = neural.train(
        loss,
        network(),
        batches=lambda key: neural.sample_windows(ts, ys, 6, 8, key=key),
        full_batch=full,
        adam_steps=150,
        learning_rate=2e-2,
        lbfgs_steps=150,
    )
    assert training.phases == ("adam",) * 150 + ("lbfgs",) * (len(training.losses) - 150)
    start = float(loss(network(), full))
    final = float(loss(training.params, full))
    assert final < 1e-3 * start, (start, final)
    assert training.skipped == 0


def test_multiple_shooting_gradient_and_continuity():
    ts, ys = spiral_data()
    segments = neural.shooting_segments(ts, ys, 11)
    assert segments.per_run == 4
    options = SolverOptions(solver="dopri5", rtol=1e-9, atol=1e-9, adjoint="checkpoint")
    exact_loss = jax.jit(  # compiled once for the three evaluations
        lambda starts, continuity: neural.shooting_loss(
            spiral, None, starts, segments, options, continuity=continuity
        )
    )
    # With the true vector field and the data's states as starts, the loss is round-off.
    assert float(exact_loss(segments.initial_states(), 1.0)) < 1e-14
    # Moving one start shows in the misfit and in the continuity penalty.
    moved = segments.initial_states().at[2, 0].add(0.1)
    assert float(exact_loss(moved, 0.0)) < float(exact_loss(moved, 1.0))
    loss = jax.jit(
        lambda starts: neural.shooting_loss(neural_rhs, network(), starts, segments, options)
    )
    check = taylor_test(loss, segments.initial_states())
    assert check.passed, check.table()
    with pytest.raises(ValueError, match="must divide the number of intervals 40"):
        neural.shooting_segments(ts, ys, 8)


class _TrueInteraction(eqx.Module):
    beta: jax.Array
    gamma: jax.Array

    def __call__(self, u):
        return jnp.stack([-self.beta * u[0] * u[1], self.gamma * u[0] * u[1]])


def test_physical_uncertainty_is_the_gauss_newton_covariance():
    def hybrid(t, u, physical, network):
        learned = network(u)
        return jnp.stack(
            [physical["alpha"] * u[0] + learned[0], -physical["delta"] * u[1] + learned[1]]
        )

    ude = neural.UniversalODE(hybrid, states=("x", "y"), physical=("alpha", "delta"))
    params = {
        "physical": {"alpha": jnp.asarray(1.3), "delta": jnp.asarray(1.8)},
        "network": _TrueInteraction(jnp.asarray(0.9), jnp.asarray(0.8)),
    }
    ts = np.linspace(0.0, 3.0, 31)
    u0 = np.array([0.44249296, 4.6280594])
    ys = np.asarray(diffsim.solve_ode(ude, jnp.asarray(u0), ts, params, rtol=1e-12, atol=1e-12).ys)
    sigma = np.array([0.1, 0.2])
    result = neural.physical_uncertainty(ude, params, ts, ys, u0, sigma=sigma)

    # Independent: central finite differences of the weighted residuals.
    @jax.jit  # compiled once for the four evaluations
    def residuals(alpha, delta):
        p = {"physical": {"alpha": alpha, "delta": delta}, "network": params["network"]}
        sol = diffsim.solve_ode(ude, jnp.asarray(u0), ts, p, rtol=1e-12, atol=1e-12)
        return ((sol.ys - ys) / sigma).ravel()

    h = 1e-6
    jac = np.stack(
        [
            (residuals(1.3 + h, 1.8) - residuals(1.3 - h, 1.8)) / (2 * h),
            (residuals(1.3, 1.8 + h) - residuals(1.3, 1.8 - h)) / (2 * h),
        ],
        axis=1,
    )
    expected = np.sqrt(np.diag(np.linalg.inv(jac.T @ jac)))
    np.testing.assert_allclose(result.stderr, expected, rtol=1e-5)
