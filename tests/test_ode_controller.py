"""The public step-size controller and the progress meter."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from problems import LV_P, LV_Y0, lotka_volterra

import diffsim
from diffsim import RESULTS

TS = [0.0, 10.0]


def test_default_controller_is_the_rtol_atol_solve():
    a = diffsim.solve_ode(lotka_volterra, LV_Y0, TS, LV_P, rtol=1e-7, atol=1e-9)
    b = diffsim.solve_ode(
        lotka_volterra, LV_Y0, TS, LV_P, controller=diffsim.PIController(rtol=1e-7, atol=1e-9)
    )
    np.testing.assert_array_equal(a.ys, b.ys)
    assert int(a.stats["num_steps"]) == int(b.stats["num_steps"])


def test_per_component_atol():
    # A huge atol on the second component leaves only the first to control the error.
    loose = diffsim.PIController(rtol=0.0, atol=jnp.array([1e-8, 1e3]))
    tight = diffsim.PIController(rtol=0.0, atol=1e-8)
    steps = {}
    for name, ctrl in (("loose", loose), ("tight", tight)):
        sol = diffsim.solve_ode(lotka_volterra, LV_Y0, TS, LV_P, controller=ctrl)
        steps[name] = int(sol.stats["num_steps"])
    assert steps["loose"] < steps["tight"]


def test_per_component_atol_as_pytree():
    def rhs(t, y, w):
        return {"x": y["v"], "v": -(w**2) * y["x"]}

    y0 = {"x": jnp.array(1.0), "v": jnp.array(0.0)}
    ctrl = diffsim.PIController(rtol=1e-10, atol={"x": 1e-12, "v": 1e-12})
    sol = diffsim.solve_ode(rhs, y0, [0.0, 3.0], 1.3, controller=ctrl)
    np.testing.assert_allclose(sol.ys["x"][-1], np.cos(3.9), atol=1e-8)


def test_dtmax_bounds_the_steps():
    ctrl = diffsim.PIController(rtol=1e-4, atol=1e-6, dtmax=0.05)
    sol = diffsim.solve_ode(lotka_volterra, LV_Y0, TS, LV_P, controller=ctrl)
    assert int(sol.stats["num_accepted"]) >= 200  # 10 / 0.05


def test_dtmin_fails_with_status():
    ctrl = diffsim.PIController(rtol=1e-10, atol=1e-10, dtmin=0.5)
    sol = diffsim.solve_ode(lotka_volterra, LV_Y0, TS, LV_P, controller=ctrl, throw=False)
    assert sol.status == RESULTS.step_size_too_small


def test_controller_gains_change_the_steps_not_the_accuracy():
    ref = diffsim.solve_ode(lotka_volterra, LV_Y0, TS, LV_P, rtol=1e-12, atol=1e-12).ys
    ctrl = diffsim.PIController(rtol=1e-8, atol=1e-8, pcoeff=0.0, icoeff=1.0)
    sol = diffsim.solve_ode(lotka_volterra, LV_Y0, TS, LV_P, controller=ctrl)
    np.testing.assert_allclose(sol.ys, ref, rtol=1e-6)


def test_controller_tolerances_are_traced():
    @jax.jit
    def solve(ctrl):
        return diffsim.solve_ode(lotka_volterra, LV_Y0, TS, LV_P, controller=ctrl).stats

    a = solve(diffsim.PIController(rtol=1e-4, atol=1e-6))
    b = solve(diffsim.PIController(rtol=1e-8, atol=1e-10))
    assert solve._cache_size() == 1
    assert int(b["num_steps"]) > int(a["num_steps"])


def test_bad_controller_arguments():
    with pytest.raises(ValueError, match="not both"):
        diffsim.solve_ode(
            lotka_volterra, LV_Y0, TS, LV_P, rtol=1e-6, controller=diffsim.PIController()
        )
    with pytest.raises(ValueError, match="`rtol`"):
        diffsim.solve_ode(lotka_volterra, LV_Y0, TS, LV_P, rtol=-1.0)


def test_progress_meter_prints_only_when_asked(capfd):
    diffsim.solve_ode(lotka_volterra, LV_Y0, TS, LV_P)
    assert "solve_ode" not in capfd.readouterr().err
    sol = diffsim.solve_ode(lotka_volterra, LV_Y0, TS, LV_P, progress=True)
    jax.block_until_ready(sol.ys)
    jax.effects_barrier()
    assert "solve_ode: 100.0%" in capfd.readouterr().err
