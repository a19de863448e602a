"""Events: roots of g(t, y, p) located on the dense output, and their time derivatives."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import diffsim
from diffsim import RESULTS

LN2 = np.log(2.0)


def decay(t, y, k):
    return -k * y


def _threshold_time(k, adjoint="forward", **kwargs):
    # y' = -k y, y(0) = 1 reaches 1/2 at t* = ln 2 / k.
    event = diffsim.Event(lambda t, y, k: y[0] - 0.5)
    sol = diffsim.solve_ode(
        decay,
        jnp.array([1.0]),
        [0.0, 10.0],
        k,
        event=event,
        adjoint=adjoint,
        **(dict(rtol=1e-10, atol=1e-12) | kwargs),
    )
    return sol


def test_terminal_event_time_and_state():
    sol = _threshold_time(0.7)
    assert sol.status == RESULTS.event_occurred and bool(sol.succeeded)
    assert int(sol.num_events) == 1
    np.testing.assert_allclose(sol.event_ts[0], LN2 / 0.7, rtol=1e-10)
    np.testing.assert_allclose(sol.event_ys[0], [0.5], rtol=1e-10)
    assert np.all(np.isnan(sol.ys[-1]))  # t = 10 lies beyond the event


@pytest.mark.parametrize(
    "adjoint",
    [
        "forward",
        "direct",
        # The default checkpoint schedule: the same code as Checkpoint(snapshots=2), which
        # recomputes more; -m slow.
        pytest.param("checkpoint", marks=pytest.mark.slow),
        diffsim.Checkpoint(snapshots=2),
    ],
)
def test_event_time_gradient_is_analytic(adjoint):
    def t_star(k):
        return _threshold_time(k, adjoint).event_ts[0]

    k = 0.7
    np.testing.assert_allclose(jax.grad(t_star)(k), -LN2 / k**2, rtol=1e-8)
    h = 1e-5
    fd = (t_star(k + h) - t_star(k - h)) / (2 * h)
    np.testing.assert_allclose(jax.grad(t_star)(k), fd, rtol=1e-6)


def test_event_time_gradient_taylor():
    def t_star(k):
        return _threshold_time(k, "direct").event_ts[0]

    result = diffsim.ad.taylor_test(t_star, jnp.asarray(0.7), grad=jax.grad(t_star)(0.7))
    assert result.passed, result.table()


def test_event_state_gradient_with_a_parameter_in_the_condition():
    # y = exp(-t) meets the level c at t* = -ln c: dt*/dc = -1/c; the state there is c.
    def solve(c):
        event = diffsim.Event(lambda t, y, c: y[0] - c)
        return diffsim.solve_ode(
            lambda t, y, c: -y,
            jnp.array([1.0]),
            [0.0, 5.0],
            c,
            event=event,
            rtol=1e-10,
            atol=1e-12,
            adjoint="direct",
        )

    c = 0.3
    np.testing.assert_allclose(jax.grad(lambda c: solve(c).event_ts[0])(c), -1 / c, rtol=1e-8)
    np.testing.assert_allclose(jax.grad(lambda c: solve(c).event_ys[0, 0])(c), 1.0, rtol=1e-8)


def test_bouncing_ball_with_restitution():
    # Dropped from height 1 (g = 9.81), restitution e = 0.8: first impact at t1 = sqrt(2/g),
    # then flights of 2 e^j t1.
    g, e = 9.81, 0.8

    def fall(t, y, g):
        return jnp.stack([y[1], -g])

    ground = diffsim.Event(lambda t, y, g: y[0], direction=-1)
    t, y, times = 0.0, jnp.array([1.0, 0.0]), []
    for _ in range(4):
        sol = diffsim.solve_ode(fall, y, [t, t + 10.0], g, event=ground, rtol=1e-10, atol=1e-12)
        t = float(sol.event_ts[0])
        y = sol.event_ys[0] * jnp.array([0.0, -e])  # on the ground, velocity reversed
        times.append(t)
    t1 = np.sqrt(2 / g)
    exact = t1 + np.concatenate([[0.0], np.cumsum([2 * e**j * t1 for j in range(1, 4)])])
    np.testing.assert_allclose(times, exact, rtol=1e-9)


@pytest.mark.parametrize("adjoint", ["forward", "direct"])
def test_non_terminal_events_are_recorded_with_gradients(adjoint):
    # x = cos(w t) crosses zero at (π/2 + jπ)/w.
    def solve(w):
        event = diffsim.Event(lambda t, y, w: y[0], terminal=False, max_events=5)
        return diffsim.solve_ode(
            lambda t, y, w: jnp.stack([y[1], -(w**2) * y[0]]),
            jnp.array([1.0, 0.0]),
            [0.0, 10.0],
            w,
            event=event,
            rtol=1e-10,
            atol=1e-12,
            adjoint=adjoint,
        )

    w = 1.7
    sol = solve(w)
    roots = (np.pi / 2 + np.pi * np.arange(5)) / w
    assert sol.status == RESULTS.successful and int(sol.num_events) == 5
    np.testing.assert_allclose(sol.event_ts, roots, rtol=1e-9)
    grads = (
        jax.jacrev(lambda w: solve(w).event_ts)(w)
        if adjoint == "direct"
        else (jax.jacfwd(lambda w: solve(w).event_ts)(w))
    )
    np.testing.assert_allclose(grads, -roots / w, rtol=1e-7)


def test_unused_event_rows_are_nan():
    event = diffsim.Event(lambda t, y, k: y[0] - 0.5, terminal=False, max_events=3)
    sol = diffsim.solve_ode(decay, jnp.array([1.0]), [0.0, 2.0], 0.7, event=event)
    assert int(sol.num_events) == 1
    assert np.all(np.isnan(sol.event_ts[1:]))
    np.testing.assert_allclose(sol.ys[-1], np.exp(-1.4), rtol=1e-6)  # the solve carried on


def test_bad_events():
    with pytest.raises(ValueError, match="direction"):
        diffsim.Event(lambda t, y, p: y[0], direction=2)
    with pytest.raises(ValueError, match="max_events"):
        diffsim.Event(lambda t, y, p: y[0], max_events=2)
    with pytest.raises(ValueError, match="scalar"):
        diffsim.solve_ode(
            decay, jnp.array([1.0, 2.0]), [0.0, 1.0], 0.7, event=diffsim.Event(lambda t, y, k: y)
        )
