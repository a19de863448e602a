"""YAML universal ODEs: `nn(inputs)[i]` in equations, the shipped config run by the runner,
and bad input (one line naming the key, exit status 2)."""

import json
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml

from diffsim import nn
from diffsim.neural import ude_from_equations
from diffsim.run import main

CONFIG = Path("configs/ude_lotka_volterra.yaml")


def test_equations_call_the_network_output_by_index():
    equations = {"x": "alpha*x + nn(x, y)[0]", "y": "-delta*y + nn(x, y)[1]"}
    ude = ude_from_equations(equations, ["alpha", "delta"], inputs=["x", "y"], outputs=2)
    network = nn.MLP(2, 2, 5, 3, "rbf", dtype="float64", key=jax.random.key(0))
    y = jnp.array([0.7, 1.9])
    out = ude(0.0, y, {"physical": {"alpha": 1.3, "delta": 1.8}, "network": network})
    u = network(y)
    np.testing.assert_allclose(out, [1.3 * 0.7 + u[0], -1.8 * 1.9 + u[1]], rtol=1e-15)
    assert ude.inputs == (0, 1)


def test_smoke_config_runs_and_fits_to_the_noise_level(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            str(CONFIG),
            "--out",
            str(out),
            "--quiet",
            "--no-cache",
            "--set",
            "fit.max_steps=100",
            "--set",
            "report.html=false",
            "--set",
            "report.forecast=null",  # the extrapolation costs two more compilations
        ]
    )
    assert code == 1, capsys.readouterr().err  # stopped at max_steps, not converged
    result = json.loads((out / "result.json").read_text())
    assert result["num_steps"] == 100
    # 62 data values: chi-square near 62 is the noise level (40 measured).
    assert result["statistics"]["chi_square"] < 2 * 62
    assert result["gradient"]["taylor_test"]["passed"]
    arrays = np.load(out / "arrays.npz")
    states, learned = arrays["states_fit"], arrays["learned_fit"]
    x, y = states.T
    truth = np.stack([-0.9 * x * y, 0.8 * x * y], axis=1)
    assert np.linalg.norm(learned - truth) / np.linalg.norm(truth) < 0.5
    # neural.truth of the config: the true interactions along the fitted trajectory.
    np.testing.assert_allclose(arrays["truth_fit"], truth, rtol=1e-12)
    assert "extrapolation_ts" not in arrays
    assert (out / "report.md").exists()


def _bad(tmp_path, change):
    data = yaml.safe_load(CONFIG.read_text())
    change(data)
    (tmp_path / "data").mkdir()
    shutil.copy(CONFIG.parent / "data" / "ude_lotka_volterra.csv", tmp_path / "data")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.pop("neural"), "model.equations.x: nn(...) needs a `neural:` block"),
        (
            lambda d: d["model"]["equations"].update(y="-delta*y + nn(x, y)[2]"),
            "model.equations.y: output index 2 of nn(...) is out of range",
        ),
        (lambda d: d["neural"].update(activation="sigmoidal"), "neural.activation"),
        (
            lambda d: d["model"]["equations"].update(x="alpha*x + nn(y, x)[0]"),
            "model.equations.x: nn(...) must be called with the network inputs nn(x, y)",
        ),
        (lambda d: d["neural"].update(inputs=["x", "z"]), "neural.inputs: 'z' is not a state"),
        (lambda d: d["neural"].update(truth=["x*y"]), "neural.truth: give one expression per"),
    ],
)
def test_bad_input_is_one_line_naming_the_key(tmp_path, capsys, change, message):
    path = _bad(tmp_path, change)
    out = tmp_path / "out"
    assert main([str(path), "--out", str(out), "--quiet", "--no-cache"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not out.exists()
