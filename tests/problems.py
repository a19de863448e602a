"""Test problems shared by the test files: ODE right-hand sides and a small runner config."""

import jax.numpy as jnp
import numpy as np
import yaml

from diffsim.run import main


def lotka_volterra(t, y, p):
    a, b, c, d = p
    return jnp.stack([a * y[0] - b * y[0] * y[1], -c * y[1] + d * y[0] * y[1]])


LV_Y0 = np.array([10.0, 5.0])
LV_P = np.array([1.1, 0.4, 0.4, 0.1])


def lorenz(t, y, p):
    s, r, b = p
    return jnp.stack([s * (y[1] - y[0]), y[0] * (r - y[2]) - y[1], y[0] * y[1] - b * y[2]])


def van_der_pol(t, y, mu):
    return jnp.stack([y[1], mu * (1 - y[0] ** 2) * y[1] - y[0]])


def robertson(t, y, k):
    k1, k2, k3 = k
    r1 = k1 * y[0]
    r2 = k2 * y[1] ** 2
    r3 = k3 * y[1] * y[2]
    return jnp.stack([-r1 + r3, r1 - r2 - r3, r2])


ROBERTSON_K = np.array([0.04, 3e7, 1e4])


def linear(t, y, a):
    return a @ y


# The smallest runner config (exponential decay, one parameter, a three-row CSV beside it):
# the good input that the bad-input tests change one key of.
DECAY_CONFIG = """\
name: decay
model: {equations: {y: "-k * y"}}
parameters:
  k: {init: 0.5, true: 0.8, bounds: [0.01, 10]}
initial_state: {y: 1.0}
observations: {y: {sigma: 0.01}}
data: {file: {path: data.csv}}
"""
DECAY_CSV = "# decay\nt,y\n0,1.0\n1,0.45\n2,0.2\n"


def heat_rod(times=(0.1, 0.2), **changes) -> dict:
    """The small PDE runner config the PDE statistics tests share: a rod of 12 cells with
    zero ends and `u(0, x) = sin(pi x)`, one unknown diffusivity (log; true 0.2, start 0.3),
    synthetic sensors at x = 0.25 and 0.5 at `times` with 1 % noise, fixed-step rk4; keys in
    `changes` replace the top-level ones."""
    config = {
        "model": {
            "equation": "heat",
            "grid": {"cells": 12},
            "boundary": {"left": {"dirichlet": 0.0}, "right": {"dirichlet": 0.0}},
            "initial_condition": "sin(pi*x)",
        },
        "parameters": {"diffusivity": {"init": 0.3, "true": 0.2, "transform": "log"}},
        "data": {"synthetic": {"times": list(times), "sensors": {"x": [0.25, 0.5]}, "noise": 0.01}},
        "solver": {"name": "rk4", "dt": 0.005},
    }
    return {**config, **changes}


def assert_validate_fails_in_one_line(settings: dict, tmp_path, capsys, fragments) -> None:
    """`--validate` of the config `settings` exits 2 with one error line holding `fragments`."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(settings))
    code = main([str(path), "--validate", "--no-cache"])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
