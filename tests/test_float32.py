"""float32 solves and gradients for every solver and strategy, under strict dtype promotion."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from problems import LV_P, LV_Y0, lotka_volterra

import diffsim

TS = np.linspace(0.0, 2.0, 5)
SOLVERS = {
    "euler": dict(dt=0.001),
    "heun": dict(dt=0.01),
    "rk4": dict(dt=0.05),
    "bosh3": dict(rtol=1e-5, atol=1e-5),
    "dopri5": dict(rtol=1e-5, atol=1e-5),
    "tsit5": dict(rtol=1e-5, atol=1e-5),
    "kvaerno5": dict(rtol=1e-5, atol=1e-5),
}
STRATEGIES = ["forward", "direct", "checkpoint", "backsolve"]


def _loss(p, y0, solver, adjoint):
    sol = diffsim.solve_ode(
        lotka_volterra, y0, TS, p, solver=solver, adjoint=adjoint, **SOLVERS[solver]
    )
    return jnp.sum(jnp.sin(sol.ys)), sol.ys


# One explicit solver by default; the others (same code path) with -m slow. The implicit solver
# in float32 with strict promotion runs by default in test_stiff.py.
DEFAULT_FLOAT32 = {"tsit5"}


@pytest.mark.parametrize(
    "solver",
    [
        pytest.param(name, marks=() if name in DEFAULT_FLOAT32 else pytest.mark.slow)
        for name in sorted(SOLVERS)
    ],
)
def test_float32_solve_and_gradients_strict(solver):
    p32, y32 = LV_P.astype(np.float32), LV_Y0.astype(np.float32)
    ref_grad, ref_ys = jax.grad(_loss, has_aux=True)(LV_P, LV_Y0, solver, "forward")
    for adjoint in STRATEGIES:
        if adjoint == "backsolve" and solver == "kvaerno5":
            continue  # refused for implicit solvers (test_failures.py)
        with jax.numpy_dtype_promotion("strict"):
            grad, ys = jax.grad(_loss, has_aux=True)(p32, y32, solver, adjoint)
        assert ys.dtype == jnp.float32 and grad.dtype == jnp.float32, adjoint
        np.testing.assert_allclose(ys, ref_ys, rtol=2e-3, err_msg=adjoint)
        rtol = 2e-2 if adjoint == "backsolve" else 2e-3
        np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=1e-3, err_msg=adjoint)


def test_float32_dense_output_and_events_strict():
    y0 = jnp.array([1.0], jnp.float32)
    event = diffsim.Event(lambda t, y, k: y[0] - 0.5)
    with jax.numpy_dtype_promotion("strict"):
        sol = diffsim.solve_ode(
            lambda t, y, k: -k * y,
            y0,
            np.array([0.0, 5.0], np.float32),
            jnp.float32(0.7),
            rtol=1e-6,
            atol=1e-6,
            event=event,
            saveat=diffsim.SaveAt(dense=True),
        )
        mid = sol.evaluate(jnp.float32(0.5))
    assert sol.event_ts.dtype == jnp.float32 and mid.dtype == jnp.float32
    np.testing.assert_allclose(sol.event_ts[0], np.log(2) / 0.7, rtol=1e-5)
    np.testing.assert_allclose(mid, np.exp(-0.35), rtol=1e-5)
