"""Every gradient strategy against jax.jacfwd, finite differences (Taylor test) and each other."""

import functools
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from problems import LV_P, LV_Y0, lotka_volterra

import diffsim
from diffsim._revolve import max_steps_reversible, repetitions, reverse_sweep

EXACT = ["direct", "forward", diffsim.Checkpoint(snapshots=3)]
SETUPS = {
    "adaptive": dict(solver="tsit5", rtol=1e-10, atol=1e-10),
    "fixed": dict(solver="rk4", dt=0.05),
    "stiff": dict(solver="stiff", rtol=1e-8, atol=1e-10),
    "stiff-fixed": dict(solver="stiff", dt=0.1, rtol=1e-10, atol=1e-12),
}
TS = np.linspace(0.0, 3.0, 7)


def _loss(p, y0, adjoint, setup):
    ys = diffsim.solve_ode(lotka_volterra, y0, TS, p, adjoint=adjoint, **SETUPS[setup]).ys
    return jnp.sum(jnp.sin(ys))


@functools.cache
def _reference(setup):
    """jax.jacfwd of the loss (forward mode), computed once per set-up for the module."""
    return jax.jacfwd(_loss, argnums=(0, 1))(LV_P, LV_Y0, "forward", setup)


@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_exact_strategies_agree_with_jacfwd(setup):
    ref = _reference(setup)
    # The implicit solver compiles slowly: its forward rule is the jacfwd reference itself.
    for adjoint in EXACT if "stiff" not in setup else EXACT[::2]:
        grads = jax.grad(_loss, argnums=(0, 1))(LV_P, LV_Y0, adjoint, setup)
        for g, r in zip(grads, ref, strict=True):
            np.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12, err_msg=str(adjoint))


@pytest.mark.parametrize("setup", ["adaptive", "fixed"])
def test_backsolve_is_close(setup):
    ref = _reference(setup)
    grads = jax.grad(_loss, argnums=(0, 1))(LV_P, LV_Y0, "backsolve", setup)
    for g, r in zip(grads, ref, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("adjoint", ["direct", "checkpoint", "forward"])
@pytest.mark.parametrize("setup", ["fixed", "stiff-fixed"])
def test_taylor_remainder_shrinks_at_rate_two(adjoint, setup):
    x = {"p": jnp.asarray(LV_P), "y0": jnp.asarray(LV_Y0)}

    def f(x):
        return _loss(x["p"], x["y0"], adjoint, setup)

    result = diffsim.ad.taylor_test(f, x, grad=jax.grad(f)(x))
    assert result.passed, result.table()
    assert abs(result.rate1 - 2.0) < 0.2, result.table()


def test_central_differences_on_adaptive_solve():
    g = jax.grad(_loss)(LV_P, LV_Y0, "checkpoint", "adaptive")
    h = 1e-6
    for i in range(4):
        e = np.zeros(4)
        e[i] = h
        fd = (
            _loss(LV_P + e, LV_Y0, "forward", "adaptive")
            - _loss(LV_P - e, LV_Y0, "forward", "adaptive")
        ) / (2 * h)
        np.testing.assert_allclose(g[i], fd, rtol=1e-5)


@pytest.mark.parametrize("adjoint", ["direct", "checkpoint", "backsolve", "forward"])
def test_vmap_of_grad_and_grad_of_vmap(adjoint):
    ps = jnp.stack([LV_P, LV_P * 1.05, LV_P * 0.95])
    loss = functools.partial(_loss, y0=LV_Y0, adjoint=adjoint, setup="fixed")
    per_sample = jax.vmap(jax.grad(loss))(ps)
    for i in range(3):
        np.testing.assert_allclose(per_sample[i], jax.grad(loss)(ps[i]), rtol=1e-10)
    total = jax.grad(lambda ps: jnp.sum(jax.vmap(loss)(ps)))(ps)
    np.testing.assert_allclose(total, per_sample, rtol=1e-10)


@pytest.mark.parametrize("snapshots", [1, 2, 3, 5, 8, 200])
def test_checkpointed_equals_direct_when_outputs_lie_on_the_step_grid(snapshots):
    # 60 steps of dt = 0.05 with outputs every 0.5: outputs on the grid, fewer snapshots
    # than steps. A peer recomputing step times in floating point gets this case wrong.
    ts = np.linspace(0.0, 3.0, 7)

    def loss(p, adjoint):
        ys = diffsim.solve_ode(
            lotka_volterra, LV_Y0, ts, p, solver="rk4", dt=0.05, adjoint=adjoint
        ).ys
        return jnp.sum(ys**2)

    direct = jax.grad(loss)(LV_P, "direct")
    ckpt = jax.grad(loss)(LV_P, diffsim.Checkpoint(snapshots=snapshots))
    np.testing.assert_allclose(ckpt, direct, rtol=1e-12)


def test_checkpointed_equals_direct_adaptive_memory_budget():
    ts = np.linspace(0.0, 3.0, 4)

    def loss(p, adjoint):
        ys = diffsim.solve_ode(
            lotka_volterra, LV_Y0, ts, p, rtol=1e-8, atol=1e-8, adjoint=adjoint
        ).ys
        return jnp.sum(ys**2)

    direct = jax.grad(loss)(LV_P, "direct")
    budget = diffsim.Checkpoint(memory=4 * 2 * 8)  # four 2-state float64 snapshots
    np.testing.assert_allclose(jax.grad(loss)(LV_P, budget), direct, rtol=1e-12)


def test_auto_chooses_by_number_of_inputs():
    small = diffsim.solve_ode(lotka_volterra, LV_Y0, TS, LV_P)
    assert small.adjoint == "forward" and "6 inputs" in small.adjoint_reason
    a = -jnp.eye(150) + 0.01 * jnp.ones((150, 150)) / 150
    big = diffsim.solve_ode(lambda t, y, a: a @ y, jnp.ones(150), TS, a)
    assert big.adjoint == "direct" and "reverse" in big.adjoint_reason
    # jacrev and jacfwd both work through the automatic choice.
    jr = jax.jacrev(lambda p: diffsim.solve_ode(lotka_volterra, LV_Y0, TS, p).ys[-1])(LV_P)
    jf = jax.jacfwd(lambda p: diffsim.solve_ode(lotka_volterra, LV_Y0, TS, p).ys[-1])(LV_P)
    np.testing.assert_allclose(jr, jf, rtol=1e-12)


def test_forward_mode_sweeps_only_the_inputs_that_are_differentiated():
    """A constant table among the parameters and a fixed `y0` carry no sweep: 1 column,
    not 1 + 397 + 2 (the basis `f64[400,400]` is gone), with the Jacobian unchanged."""
    grid = jnp.linspace(0.0, 3.0, 397)
    table = jnp.sin(grid)

    def ys(k, table, adjoint):
        def rhs(t, y, args):
            rate, forcing = args
            return -rate * y + jnp.interp(t, grid, forcing)

        y0 = jnp.array([1.0, 2.0])
        return diffsim.solve_ode(rhs, y0, TS, (k, table), adjoint=adjoint, rtol=1e-10).ys

    @jax.jit  # one compilation for the three derivatives
    def derivatives(k):
        total = lambda k: jnp.sum(ys(k, table, "forward"))
        return (
            jax.jacfwd(ys)(k, table, "forward"),
            jax.jacrev(ys)(k, table, "direct"),
            jax.grad(total)(k),
        )

    k = jnp.asarray(0.7)
    forward, reverse, grad = derivatives(k)
    np.testing.assert_allclose(forward, reverse, rtol=1e-9)
    np.testing.assert_allclose(grad, jnp.sum(forward), rtol=1e-12)
    program = str(jax.make_jaxpr(jax.jacfwd(ys), static_argnums=2)(k, table, "forward"))
    assert "f64[400,400]" not in program and "f64[1,1]" in program
    # Differentiated with respect to the table too, it carries its columns.
    both = str(
        jax.make_jaxpr(jax.jacfwd(ys, argnums=(0, 1)), static_argnums=2)(k, table, "forward")
    )
    assert "f64[398,398]" in both


def test_gradient_through_closed_over_array_and_pytree_state():
    def loss(w):
        def rhs(t, y, params):
            return {"x": y["v"], "v": -(w**2) * y["x"]}

        y0 = {"x": jnp.array(1.0), "v": jnp.array(0.0)}
        ys = diffsim.solve_ode(
            rhs, y0, jnp.array([0.0, 1.0]), None, rtol=1e-11, atol=1e-12, adjoint="direct"
        ).ys
        return ys["x"][-1]

    w = 1.3
    np.testing.assert_allclose(jax.grad(loss)(w), -np.sin(w) * 1.0, rtol=1e-8)


@pytest.mark.parametrize("snapshots", [1, 2, 4, 16])
def test_reverse_sweep_on_a_product_of_scalars(snapshots):
    # y_{k+1} = a_k y_k: y_N = prod(a) y0, so d y_N / d a_k = y_N / a_k. The output at the
    # middle of step 20 (linear interpolation) adds (y_20 + y_21) / 2.
    a = jnp.linspace(0.9, 1.1, 37)

    def step(k, y, a):
        y1 = a[k] * y
        return SimpleNamespace(y1=y1, dense=(y, y1))

    def emit(y1, dense, theta):
        return jnp.where(theta == 1, y1, (1 - theta) * dense[0] + theta * dense[1])

    outputs = (
        jnp.array([-1, 9, 36, 20], jnp.int32),  # in any order
        jnp.array([0.0, 1.0, 1.0, 0.5]),
        jnp.array([[0.0], [0.0], [1.0], [1.0]]),
    )
    y0 = jnp.array([2.0])
    y0_bar, a_bar = reverse_sweep(step, emit, 37, outputs, y0, a, snapshots)

    def loss(y0, a):
        ys = y0[0] * jnp.concatenate([jnp.ones(1), jnp.cumprod(a)])
        return ys[37] + 0.5 * (ys[20] + ys[21])

    ref = jax.grad(loss, argnums=(0, 1))(y0, a)
    np.testing.assert_allclose(a_bar, ref[1], rtol=1e-12)
    np.testing.assert_allclose(y0_bar, ref[0], rtol=1e-12)


def test_revolve_recompute_factor():
    assert max_steps_reversible(3, 2) == 10
    assert repetitions(5151, 100) == 2  # C(102, 2) = 5151
    assert repetitions(5152, 100) == 3
    assert diffsim.Checkpoint().recompute_factor(100_000) == 2  # default sqrt(2N) snapshots
    assert diffsim.Checkpoint(snapshots=20).recompute_factor(10_000) == 4


def test_auto_is_bounded_by_memory_on_fixed_grids_too():
    # 16k states x 10^4 fixed steps would store 1.3 GB: checkpointed, and the reason says so.
    def solve(y0):
        return diffsim.solve_ode(
            lambda t, y, p: -y, y0, np.array([0.0, 1.0]), None, solver="rk4", dt=1e-4
        )

    big = jax.eval_shape(solve, jnp.ones(16_384))
    assert big.adjoint == "checkpoint" and "bytes" in big.adjoint_reason
    small = jax.eval_shape(solve, jnp.ones(128))
    assert small.adjoint == "direct" and "all steps stored" in small.adjoint_reason


@pytest.mark.parametrize("adjoint", ["auto", "forward", "direct", "checkpoint"])
def test_complex_state_gradients(adjoint):
    # y' = (a + i b) y, y(0) = y0 (complex): Re y(1) = Re(y0 e^{a + ib}).
    def loss(p, y0):
        sol = diffsim.solve_ode(
            lambda t, y, p: (p[0] + 1j * p[1]) * y,
            y0,
            [0.0, 1.0],
            p,
            rtol=1e-11,
            atol=1e-11,
            adjoint=adjoint,
        )
        return jnp.real(sol.ys[-1, 0])

    p, y0 = jnp.array([0.3, 2.0]), jnp.array([1.0 + 0.5j])
    z = (1.0 + 0.5j) * np.exp(0.3 + 2.0j)
    np.testing.assert_allclose(jax.grad(loss)(p, y0), [z.real, -z.imag], rtol=1e-8)
    # As JAX differentiates Re(y0 e^c) directly (its convention for complex inputs): e^c.
    g = jax.grad(loss, argnums=1)(p, y0)
    np.testing.assert_allclose(g, [np.exp(0.3 + 2.0j)], rtol=1e-8)


def test_direct_on_a_fixed_grid_supports_jacfwd():
    def final(p, adjoint):
        return diffsim.solve_ode(
            lotka_volterra, LV_Y0, TS, p, solver="rk4", dt=0.05, adjoint=adjoint
        ).ys[-1]

    np.testing.assert_allclose(
        jax.jacfwd(final)(LV_P, "direct"), jax.jacfwd(final)(LV_P, "forward"), rtol=1e-12
    )
