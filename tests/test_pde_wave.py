"""Wave equation: d'Alembert, energy, reflecting and absorbing ends, gradients, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffsim import pde
from diffsim.ad import taylor_test


def _pulse(x):
    return np.exp(-(((x - 5.0) / 0.5) ** 2))


def _dalembert(x, t, c=1.0):
    return 0.5 * (_pulse(x - c * t) + _pulse(x + c * t))


def _run(n, bc, ts, speed=1.0):
    grid = pde.uniform_grid(n, 0, 10)
    model = pde.Wave(grid, bc)
    state = (jnp.asarray(_pulse(grid.x)), jnp.zeros(n))
    sol = pde.solve(model, state, jnp.asarray(ts), {"speed": speed}, solver="rk4", dt=0.025)
    return grid, model, sol


def test_dalembert_order_and_energy_conservation():
    errors = []
    for n in (100, 200):
        grid, model, sol = _run(n, pde.Dirichlet(0.0), [0.0, 2.0])
        errors.append(float(grid.norm(sol.ys[0][-1] - _dalembert(grid.x, 2.0))))
        energies = [model.energy((sol.ys[0][i], sol.ys[1][i]), {"speed": 1.0}) for i in (0, 1)]
        assert energies[1] == pytest.approx(float(energies[0]), rel=1e-5)
    assert errors[1] < 5e-3
    assert 1.9 < np.log2(errors[0] / errors[1]) < 2.1


def test_reflecting_and_absorbing_ends():
    ts = [0.0, 8.0]  # both halves of the pulse have hit the ends (at t = 5) by then
    grid, model, fixed = _run(200, pde.Dirichlet(0.0), ts)
    # a fixed end reflects each half inverted (method of images): at t = 8 they are centred at
    # 7 and 3, upside down
    images = -0.5 * (_pulse(grid.x - 2.0) + _pulse(grid.x + 2.0))
    assert float(grid.norm(fixed.ys[0][-1] - images)) < 2e-2  # 4x the t = 2 error: O(dx² t)
    grid, model, open_ends = _run(200, pde.Absorbing(), ts)
    energies = [
        model.energy((open_ends.ys[0][i], open_ends.ys[1][i]), {"speed": 1.0}) for i in (0, 1)
    ]
    assert float(energies[1]) < 5e-3 * float(energies[0])


def test_gradient_with_respect_to_the_speed_profile():
    grid = pde.uniform_grid(40, 0, 10)
    model = pde.Wave(grid, pde.Absorbing())
    state = (jnp.asarray(_pulse(grid.x)), jnp.zeros(40))
    receiver = 30
    ts = np.linspace(0, 2.0, 5)  # concrete, so the step grid is fixed at trace time

    @jax.jit
    def loss(speed):
        sol = pde.solve(
            model,
            state,
            ts,
            {"speed": speed},
            solver="rk4",
            dt=0.05,
            adjoint="direct",
        )
        return jnp.sum(sol.ys[0][:, receiver] ** 2)

    speed = jnp.asarray(1.0 + 0.3 * (grid.x > 6))
    reverse = jax.grad(loss)(speed)
    assert np.allclose(reverse, jax.jacfwd(loss)(speed), rtol=1e-9, atol=1e-13)
    check = taylor_test(loss, speed, grad=reverse)
    assert check.passed, check.table()


def test_bad_input():
    grid = pde.uniform_grid(20, 0, 10)
    model = pde.Wave(grid)
    state = (jnp.zeros(20), jnp.zeros(20))
    ts = jnp.array([0.0, 1.0])
    with pytest.raises(ValueError, match="the state must be a tuple"):
        pde.solve(model, jnp.zeros(20), ts, {"speed": 1.0})
    with pytest.raises(ValueError, match=r"state 'v' has shape \(21,\)"):
        pde.solve(model, (jnp.zeros(20), jnp.zeros(21)), ts, {"speed": 1.0})
    with pytest.raises(ValueError, match="unstable for this problem at any step"):
        pde.solve(model, state, ts, {"speed": 1.0}, solver="euler", dt=1e-3)
    with pytest.raises(ValueError, match="beyond the stability limit of solver 'rk4'"):
        pde.solve(model, state, ts, {"speed": 1.0}, solver="rk4", dt=1.0)
