"""Failures are a status and a message a user can act on, never a silent NaN."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from problems import LV_P, LV_Y0, ROBERTSON_K, lotka_volterra, robertson

import diffsim
from diffsim import RESULTS


def blow_up(t, y, p):
    return y**2  # y(t) = 1 / (1 - t) for y0 = 1: infinite at t = 1


def test_max_steps_raises_with_message():
    with pytest.raises(Exception, match="maximum number of solver steps"):
        diffsim.solve_ode(lotka_volterra, LV_Y0, [0.0, 100.0], LV_P, max_steps=10)


def test_max_steps_status_without_throw():
    sol = diffsim.solve_ode(
        lotka_volterra, LV_Y0, [0.0, 1.0, 100.0], LV_P, max_steps=10, throw=False
    )
    assert sol.status == RESULTS.max_steps_reached
    assert "max_steps" in sol.message
    assert not sol.succeeded
    assert np.all(np.isnan(sol.ys[-1]))


def test_explicit_solver_on_stiff_problem_reports_max_steps():
    sol = diffsim.solve_ode(
        robertson,
        jnp.array([1.0, 0.0, 0.0]),
        [0.0, 1e3],
        ROBERTSON_K,
        solver="dopri5",
        max_steps=500,
        throw=False,
    )
    assert sol.status == RESULTS.max_steps_reached
    assert "stiff" in diffsim.status_message(sol.status)


def test_finite_time_blow_up_adaptive():
    sol = diffsim.solve_ode(blow_up, jnp.array([1.0]), [0.0, 2.0], None, throw=False)
    assert sol.status in (RESULTS.step_size_too_small, RESULTS.max_steps_reached)
    with pytest.raises(Exception, match="step size|maximum number"):
        diffsim.solve_ode(blow_up, jnp.array([1.0]), [0.0, 2.0], None)


def test_unstable_fixed_step_reports_nonfinite_state():
    def fast_decay(t, y, k):
        return -k * y

    sol = diffsim.solve_ode(
        fast_decay,
        jnp.array([1.0]),
        np.linspace(0, 10, 3),
        1e4,
        solver="euler",
        dt=0.05,
        throw=False,
    )
    assert sol.status == RESULTS.nonfinite_state
    with pytest.raises(Exception, match="non-finite"):
        diffsim.solve_ode(
            fast_decay, jnp.array([1.0]), np.linspace(0, 10, 3), 1e4, solver="euler", dt=0.05
        )


def test_status_under_vmap():
    ps = jnp.stack([LV_P, LV_P * 50])  # the second makes the solve need many more steps

    @jax.vmap
    def solve(p):
        return diffsim.solve_ode(lotka_volterra, LV_Y0, [0.0, 5.0], p, max_steps=100, throw=False)

    sol = solve(ps)
    assert sol.status.tolist() == [RESULTS.successful, RESULTS.max_steps_reached]
    assert np.all(np.isfinite(sol.ys[0]))


def test_throw_inside_jit():
    f = jax.jit(
        lambda p: diffsim.solve_ode(lotka_volterra, LV_Y0, [0.0, 100.0], p, max_steps=10).ys
    )
    with pytest.raises(Exception, match="max_steps"):
        f(LV_P).block_until_ready()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(ts=[0.0, 2.0, 1.0]), "strictly increasing"),
        (dict(ts=[[0.0, 1.0]]), "1-D"),
        (dict(ts=[0.0, np.nan]), "finite"),
        (dict(y0=np.array([1, 2])), "floating point"),
        (dict(y0=np.ones(3)), "shapes of y"),
        (dict(solver="rk5"), "unknown solver 'rk5'"),
        (dict(solver="rk4"), "give a fixed step `dt`"),
        (dict(dt=-0.1), "`dt` must be a positive"),
        (dict(rtol=-1.0), "`rtol` must be"),
        (dict(max_steps=0), "`max_steps`"),
        (dict(adjoint="adjointz"), "unknown adjoint"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = dict(rhs=lotka_volterra, y0=LV_Y0, ts=[0.0, 1.0], params=LV_P) | kwargs
    with pytest.raises((ValueError, TypeError), match=match):
        diffsim.solve_ode(**args)


@pytest.mark.parametrize("ts", [[0.0, 2.0, 1.0], [2.0, 1.0, 0.0]])
def test_traced_times_not_increasing_give_status_and_message(ts):
    f = jax.jit(lambda ts: diffsim.solve_ode(lotka_volterra, LV_Y0, ts, LV_P, throw=False))
    sol = f(jnp.array(ts))
    assert sol.status == RESULTS.invalid_times
    # Decreasing times are a backward solve only when concrete: the message says so.
    assert "strictly increasing" in sol.message and "concrete" in sol.message


def test_checkpoint_rejects_bad_snapshots():
    with pytest.raises(ValueError, match="snapshots"):
        diffsim.Checkpoint(snapshots=0)


# -- gradients and failures ------------------------------------------------------------------
BLOW_UP_TS = np.array([0.0, 0.2, 0.4, 0.9, 1.5])


@pytest.mark.parametrize(
    "adjoint", ["forward", "direct", "checkpoint", diffsim.Checkpoint(snapshots=2), "backsolve"]
)
def test_gradients_of_reached_outputs_after_a_failure_are_exact(adjoint):
    # y' = k y², y(0) = 1: y = 1/(1 - k t) blows up at t = 1; the output at 1.5 is never reached.
    # d/dk of sum_{t < 1} y(t) = sum t / (1 - k t)² = 0.2/0.64 + 0.4/0.36 + 0.9/0.01 at k = 1.
    def loss(k):
        sol = diffsim.solve_ode(
            lambda t, y, k: k * y**2,
            jnp.array([1.0]),
            BLOW_UP_TS,
            k,
            rtol=1e-10,
            atol=1e-10,
            max_steps=200,
            throw=False,
            adjoint=adjoint,
        )
        return jnp.sum(jnp.where(jnp.isfinite(sol.ys), sol.ys, 0.0))

    exact = 0.2 / 0.64 + 0.4 / 0.36 + 0.9 / 0.01
    rtol = 1e-4 if adjoint == "backsolve" else 1e-6
    np.testing.assert_allclose(jax.grad(loss)(1.0), exact, rtol=rtol)


@pytest.mark.parametrize("adjoint", ["direct", "checkpoint", "backsolve"])
def test_reverse_strategies_refuse_forward_mode_by_name(adjoint):
    def final(p):
        return diffsim.solve_ode(lotka_volterra, LV_Y0, [0.0, 1.0], p, adjoint=adjoint).ys[-1]

    with pytest.raises(TypeError, match=f"adjoint='{adjoint}'.*adjoint='forward'"):
        jax.jacfwd(final)(LV_P)


def test_auto_above_100_inputs_names_forward_for_jacfwd():
    a = -jnp.eye(101)

    def final(a):
        return diffsim.solve_ode(lambda t, y, a: a @ y, jnp.ones(101), [0.0, 1.0], a).ys[-1]

    with pytest.raises(TypeError, match="adjoint='forward'"):
        jax.jacfwd(final)(a)


def test_backsolve_refuses_implicit_solvers():
    # Integrating this stiff state backwards overflows (the 1e4 mode grows): refused up front.
    def rhs(t, y, p):
        return jnp.stack([-1e4 * (y[0] - y[1]), -y[1]])

    def loss(y0):
        return diffsim.solve_ode(rhs, y0, [0.0, 1.0], None, solver="stiff", adjoint="backsolve").ys[
            -1, 0
        ]

    with pytest.raises(ValueError, match="backsolve.*stiff.*checkpoint"):
        jax.grad(loss)(jnp.array([1.0, 2.0]))


def test_backsolve_without_params():
    def loss(y0, adjoint):
        ys = diffsim.solve_ode(
            lambda t, y, p: -y + jnp.sin(t),
            y0,
            [0.0, 1.0, 2.0],
            None,
            adjoint=adjoint,
            rtol=1e-10,
            atol=1e-10,
        ).ys
        return jnp.sum(ys**2)

    y0 = jnp.array([1.0, 2.0])
    np.testing.assert_allclose(
        jax.grad(loss)(y0, "backsolve"), jax.grad(loss)(y0, "direct"), rtol=1e-7
    )


def test_backsolve_reports_a_failed_adjoint_solve():
    # f = -y + p sin(50 t) with p = 1e-12: the forcing is far below atol, so the forward solve
    # takes few steps, but the parameter gradient g' = -sin(50 t) a oscillates at full size
    # and the adjoint solve runs out of steps.
    def rhs(t, y, p):
        return -y + p * jnp.sin(50 * t)

    ts = np.array([0.0, 10.0])
    y0 = jnp.array([1.0])
    forward = diffsim.solve_ode(rhs, y0, ts, 1e-12)
    n = 2 * int(forward.stats["num_steps"])

    def loss(p):
        return diffsim.solve_ode(rhs, y0, ts, p, max_steps=n, adjoint="backsolve").ys[-1, 0]

    with pytest.raises(Exception, match="backsolve.*adjoint ODE"):
        jax.grad(loss)(1e-12).block_until_ready()


def test_fixed_step_single_output_time():
    sol = diffsim.solve_ode(lotka_volterra, LV_Y0, [0.5], LV_P, solver="rk4", dt=0.1)
    np.testing.assert_array_equal(sol.ys, LV_Y0[None])
    adaptive = diffsim.solve_ode(lotka_volterra, LV_Y0, [0.5], LV_P)
    np.testing.assert_array_equal(adaptive.ys, LV_Y0[None])


def test_fixed_grid_gradients_of_reached_outputs_after_a_blow_up():
    def loss(k, adjoint):
        sol = diffsim.solve_ode(
            lambda t, y, k: k * y**2,
            jnp.array([1.0]),
            BLOW_UP_TS,
            k,
            solver="rk4",
            dt=1e-3,
            throw=False,
            adjoint=adjoint,
        )
        return jnp.sum(jnp.where(jnp.isfinite(sol.ys), sol.ys, 0.0)), sol.status

    (g_fwd, status) = jax.grad(loss, has_aux=True)(1.0, "forward")
    assert status == RESULTS.nonfinite_state
    g_ckpt, _ = jax.grad(loss, has_aux=True)(1.0, "checkpoint")
    np.testing.assert_allclose(g_ckpt, g_fwd, rtol=1e-10)
    np.testing.assert_allclose(g_fwd, 0.2 / 0.64 + 0.4 / 0.36 + 0.9 / 0.01, rtol=1e-4)
