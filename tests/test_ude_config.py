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


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """The shipped config through the runner, once for the module: 150 L-BFGS iterations
    (no Adam), equations recovered from a degree-2 library, extrapolated to t = 10, the
    report's curves on 60 times."""
    out = tmp_path_factory.mktemp("ude") / "run"
    code = main(
        [
            str(CONFIG),
            "--out",
            str(out),
            "--quiet",
            "--no-cache",
            "--set",
            "neural.adam.steps=0",
            "--set",
            "neural.lbfgs.steps=150",
            "--set",
            "neural.recover.degree=2",
            "--set",
            "report.forecast.until=10",
            "--set",
            "report.html=false",
            "--set",
            "report.dpi=40",
            "--set",
            "report.points=60",
            "--set",
            "uncertainty.level=0.9",
        ]
    )
    return code, out, json.loads((out / "result.json").read_text()), np.load(out / "arrays.npz")


def test_smoke_config_trains_to_the_noise_level(smoke_run):
    code, out, result, arrays = smoke_run
    assert code == 0, result["message"]
    assert result["num_steps"] == 150 and result["method"].startswith("universal ODE")
    # 62 data values: chi-square near 62 is the noise level (71.5 measured after 150 steps).
    assert result["statistics"]["chi_square"] < 1.5 * 62
    assert result["gradient"]["taylor_test"]["passed"]
    # adjoint: auto trains in reverse mode (87 weights + 2 states would pick forward mode,
    # 1.8x slower per gradient of the training loss, docs/neural.md).
    assert result["gradient"]["adjoint"] == "checkpoint", result["gradient"]
    states, learned = arrays["states_fit"], arrays["learned_fit"]
    x, y = states.T
    truth = np.stack([-0.9 * x * y, 0.8 * x * y], axis=1)
    assert np.linalg.norm(learned - truth) / np.linalg.norm(truth) < 0.5
    # neural.truth of the config: the true interactions along the fitted trajectory.
    np.testing.assert_allclose(arrays["truth_fit"], truth, rtol=1e-12)
    assert arrays["loss_history"].shape == (151, 1) and (out / "network.eqx").exists()


def test_smoke_config_recovers_the_equation(smoke_run):
    code, out, result, arrays = smoke_run
    recovered = result["model"]["ude"]["recovered"]
    # The refits to the data choose exactly x*y in both equations.
    assert recovered["exact_terms"], recovered["terms"]
    terms = recovered["terms"]
    beta, gamma = -terms["nn(x, y)[0]"]["x*y"]["estimate"], terms["nn(x, y)[1]"]["x*y"]["estimate"]
    assert abs(beta - 0.9) < 0.05 * 0.9 and abs(gamma - 0.8) < 0.05 * 0.8, (beta, gamma)
    assert 0 < terms["nn(x, y)[1]"]["x*y"]["stderr"] < 0.1
    # Extrapolated to t = 10 with its band, scored against the true model.
    extrapolation = recovered["extrapolation"]
    assert extrapolation["until"] == 10.0 and extrapolation["rel_l2"] < 0.1
    assert extrapolation["level"] == 0.9  # uncertainty.level, not a fixed 0.95
    assert 0 < extrapolation["expected_rel_l2"] < 1 and 0 <= extrapolation["truth_inside_band"]
    # Every curve of the report on report.points times (not a fixed 400).
    assert arrays["fine_ts"].shape == arrays["extrapolation_ts"].shape == (60,)
    for key in ("learned_fit", "states_fit", "extrapolation_fit", "extrapolation_recovered"):
        assert arrays[key].shape == (60, 2), key
    assert np.all(np.isfinite(arrays["extrapolation_recovered_sd"]))
    report = (out / "report.md").read_text()
    assert "## Recovered terms" in report and "nn1_x_y" in report
    assert (out / "ude_extrapolation.png").exists()


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
        (lambda d: d["neural"].update(recover={"criterion": "cv"}), "neural.recover.criterion"),
        (lambda d: d["neural"].update(adam={"steps": -1}), "neural.adam.steps"),
    ],
)
def test_bad_input_is_one_line_naming_the_key(tmp_path, capsys, change, message):
    path = _bad(tmp_path, change)
    out = tmp_path / "out"
    assert main([str(path), "--out", str(out), "--quiet", "--no-cache"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not out.exists()
