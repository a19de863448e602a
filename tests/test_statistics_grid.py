"""Every optimizer with every gradient strategy writes the full run folder and report, for a
single data set and for a joint fit of two experiments.

A small model (two linear states, one rate and one initial value unknown), a fixed-step
solver (cheap to compile) and few steps: the grid checks that nothing between the fit and the
report breaks (issue: Adam/L-BFGS/optax fits crashed in the report; Adam with the checkpoint
adjoint crashed in the error bars).
"""

import json

import numpy as np
import pytest
import yaml

from diffsim.run import main

CONFIG = {
    "name": "grid",
    "model": {"equations": {"y": "-k * y", "z": "k * y - 0.3 * z"}},
    "parameters": {"k": {"init": 0.6, "true": 0.8, "transform": "log"}},
    "initial_state": {"y": {"init": 1.7, "true": 2.0}, "z": 0.0},
    "observations": {"y": {"sigma": 0.04}, "z": {"sigma": 0.04}},
    "data": {"synthetic": {"times": {"start": 0, "stop": 4, "num": 16}, "seed": 7}},
    "solver": {"name": "rk4", "dt": 0.25},
    "fit": {"max_steps": 25, "learning_rate": 0.05},
    "uncertainty": {"profile": False},
    "report": {"points": 40, "dpi": 40},
}
# The same model seen in two experiments: k shared, y0 local, z0 known and different.
JOINT = {
    **{key: value for key, value in CONFIG.items() if key != "data"},
    "name": "grid_joint",
    "local": ["y0"],
    "experiments": [
        {"name": "a", "data": CONFIG["data"]},
        {
            "name": "b",
            "initial_state": {"z": 0.5},
            "data": {"synthetic": {**CONFIG["data"]["synthetic"], "seed": 8}},
        },
    ],
}
METHODS = [
    "levenberg_marquardt",
    "gauss_newton",
    "trust_region_reflective",
    "lbfgs",
    "adam",
    "optax.adabelief",
]
ADJOINTS = ["auto", "direct", "checkpoint", "forward", "backsolve"]
# Each method and each adjoint at least once, and the joint problem once (the reported
# crashes included); the full grid, for both problems, is marked slow.
FAST = [
    ("levenberg_marquardt", "direct", CONFIG),
    ("gauss_newton", "backsolve", CONFIG),
    ("trust_region_reflective", "auto", CONFIG),
    ("lbfgs", "auto", CONFIG),
    ("adam", "checkpoint", CONFIG),
    ("optax.adabelief", "forward", CONFIG),
    ("lbfgs", "direct", JOINT),
]
FILES = [
    "config.yaml",
    "fitted.yaml",
    "env.json",
    "metrics.jsonl",
    "result.json",
    "arrays.npz",
    "report.md",
    "report.html",
    "fit.png",
    "residuals.png",
    "loss.png",
    "parameters.png",
]


def _run(tmp_path, method, adjoint, config, *extra):
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "run"
    code = main(
        [
            str(path),
            "--out",
            str(out),
            "--quiet",
            "--no-cache",
            "--set",
            f"fit.method={method}",
            "--set",
            f"gradient.adjoint={adjoint}",
            *extra,
        ]
    )
    return code, out


def _check_run_folder(code, out, method, config):
    for name in FILES:
        assert (out / name).is_file(), name
    result = json.loads((out / "result.json").read_text())
    names = ["k", "y0[a]", "y0[b]"] if config is JOINT else ["k", "y0"]
    assert [n for n, p in result["parameters"].items() if not p["fixed"]] == names
    assert code == (0 if result["success"] else 1)
    assert result["method"] == method
    stderr = [p["stderr"] for p in result["parameters"].values() if not p["fixed"]]
    assert np.all(np.isfinite(stderr)) and np.all(np.asarray(stderr) > 0)
    covariance = np.asarray(result["covariance"]["matrix"], float)
    np.testing.assert_allclose(covariance, covariance.T)
    np.testing.assert_allclose(np.sqrt(np.diag(covariance)), stderr)
    assert result["gradient"]["taylor_test"]["passed"]
    losses = np.load(out / "arrays.npz")["loss_history"][:, 0]
    assert losses[-1] < 0.5 * losses[0]
    report = (out / "report.md").read_text()
    assert "## Parameters" in report and "![Data and fitted model](fit.png)" in report
    return result


@pytest.mark.parametrize(
    ("method", "adjoint", "config"), FAST, ids=[f"{m}-{a}-{c['name']}" for m, a, c in FAST]
)
def test_method_and_adjoint_write_the_full_report(tmp_path, method, adjoint, config):
    # profiles refit through the adjoint too: once through a reverse-only one
    profile = (method, adjoint) == ("adam", "checkpoint")
    extra = ["--set", "uncertainty.profile=true"] if profile else []
    code, out = _run(tmp_path, method, adjoint, config, *extra)
    result = _check_run_folder(code, out, method, config)
    assert bool(result["profiles"]) == profile
    if adjoint != "auto":
        assert result["gradient"]["adjoint"] == adjoint


@pytest.mark.slow
@pytest.mark.parametrize("config", [CONFIG, JOINT], ids=["single", "joint"])
@pytest.mark.parametrize("adjoint", ADJOINTS)
@pytest.mark.parametrize("method", METHODS)
def test_full_grid_writes_the_full_report(tmp_path, method, adjoint, config):
    _check_run_folder(*_run(tmp_path, method, adjoint, config), method, config)


def test_sigma_zero_is_refused_in_one_line(tmp_path, capsys):
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, "observations": {"y": {"sigma": 0}}}))
    assert main([str(path), "--validate"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: observations.y: sigma: 0 means noise-free data")
    assert "\n" not in error
