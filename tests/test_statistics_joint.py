"""Joint fits (`experiments:`): several data sets of one model, shared and local unknowns."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml
from problems import assert_validate_fails_in_one_line

from diffsim.config import build_problem, load_config, validate_config
from diffsim.inverse import JointProblem, estimate_uncertainty, fit
from diffsim.run import main

# Exponential decay y' = -k y seen in three experiments: two with known, different starting
# values and the same times (one vmapped group), one whose starting value is estimated.
JOINT = {
    "name": "decay_joint",
    "model": {"equations": {"y": "-k * y"}},
    "parameters": {"k": {"init": 0.5, "true": 0.8, "transform": "log"}},
    "initial_state": {"y": 1.0},
    "observations": {"y": {"sigma": 0.05}},
    "solver": {"name": "rk4", "dt": 0.05},  # fixed steps: quick to compile
    "experiments": [
        {
            "name": "a",
            "initial_state": {"y": 2.0},
            "data": {"synthetic": {"times": {"start": 0, "stop": 4, "num": 9}}},
        },
        {
            "name": "b",
            "initial_state": {"y": 1.0},
            "data": {"synthetic": {"times": {"start": 0, "stop": 4, "num": 9}}},
        },
        {
            "name": "c",
            "initial_state": {"y": {"init": 1.0, "true": 3.0}},
            "data": {"synthetic": {"times": [0.5, 1.0, 2.0, 3.0]}},
        },
    ],
}


@pytest.fixture(scope="module")
def joint():
    problem = build_problem(validate_config(JOINT))
    return problem, fit(problem, "levenberg_marquardt")


def _stderr(problem, result):
    return estimate_uncertainty(problem, result.z, scale_covariance=False).stderr


def test_joint_fit_recovers_the_truth_and_groups_experiments(joint):
    problem, result = joint
    assert isinstance(problem, JointProblem)
    assert problem.space.names == ("k", "y0[c]")
    assert problem.groups == ((0, 1), (2,))  # a and b in one vmapped solve
    assert problem.fixed == {"y0[a]": 2.0, "y0[b]": 1.0}
    assert problem.observed.shape == (22, 1)
    assert result.success, result.message
    stderr = _stderr(problem, result)
    truth = np.asarray([0.8, 3.0])
    assert np.all(np.abs(result.x - truth) <= 4 * stderr), (result.x, stderr)
    assert np.all(stderr < 0.05 * truth)


def test_shared_parameter_is_better_determined_than_from_one_experiment(joint):
    problem, result = joint
    single = {k: v for k, v in JOINT.items() if k != "experiments"}
    single["experiments"] = JOINT["experiments"][:1]
    alone = build_problem(validate_config(single))
    assert alone.space.names == ("k",)
    # the Fisher information of one experiment at the joint estimate of k
    alone_stderr = estimate_uncertainty(alone, result.z[:1], scale_covariance=False).stderr
    ratio = _stderr(problem, result)[0] / alone_stderr[0]
    assert ratio < 0.75, ratio  # three data sets instead of one


def test_vmapped_group_equals_each_experiment_alone_and_gradient_matches_jacfwd(joint):
    problem, _ = joint
    x = jnp.asarray([0.7, 2.5])
    prediction, status = jax.jit(lambda x: problem.predict(x))(x)
    assert int(status) == 0
    alone = [
        np.asarray(e.predict(xe)[0])
        for e, xe in zip(problem.experiments, problem.experiment_values(x), strict=True)
    ]
    np.testing.assert_allclose(prediction, np.concatenate(alone), rtol=1e-12, atol=1e-12)
    assert not np.allclose(alone[0], alone[1])  # different starting values, one compiled solve

    z = problem.space.to_internal(x)
    residuals = jax.jit(lambda z: problem.residuals(z))
    # reverse mode through the vmapped solve against forward mode
    gradient = jax.jit(jax.grad(lambda z: problem.chi_square(z)))(z)
    jacobian = jax.jit(jax.jacfwd(lambda z: problem.residuals(z)))(z)
    np.testing.assert_allclose(gradient, 2 * jacobian.T @ residuals(z), rtol=1e-8)
    step = 1e-6 * jnp.eye(z.size)
    central = jax.vmap(lambda e: (residuals(z + e) - residuals(z - e)) / 2e-6)(step)
    np.testing.assert_allclose(jacobian, central.T, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "change, fragments",
    [
        ({"local": ["q"]}, ("local:", "'q'", "k")),
        ({"experiments": []}, ("experiments:", "empty")),
        ({"experiments": [{"name": "a"}]}, ("experiments.0.data", "missing")),
        ({"data": {"file": "x.csv"}}, ("data:", "experiments[i].data")),
        (
            {"experiments": [{"parameters": {"q": 1.0}, "data": {"file": "x.csv"}}]},
            ("experiments.0.parameters.q", "not a parameter"),
        ),
        (
            {"experiments": [{"initial_state": {"z": 1.0}, "data": {"file": "x.csv"}}]},
            ("experiments.0.initial_state.z", "not a state"),
        ),
        (
            {"experiments": [{"name": "a", "data": {"file": "x.csv"}}] * 2},
            ("experiments.1.name", "two experiments"),
        ),
        (
            {"experiments": [{"solver": {"dt": 0.1}, "data": {"file": "x.csv"}}]},
            ("experiments.0.solver", "share the top-level solver"),
        ),
        (
            {"experiments": [{"observations": {"q": {"sigma": 1.0}}, "data": {"file": "x.csv"}}]},
            ("experiments.0.observations.q", "not an observation"),
        ),
        (
            {
                "observations": {"y": {"sigma": "estimate"}},
                "experiments": [{"observations": {"y": {"sigma": 0.1}}, "data": {"file": "x.csv"}}],
            },
            ("experiments.0.observations.y", "estimated", "shared by all experiments"),
        ),
    ],
)
def test_bad_experiments_exit_2_in_one_line(tmp_path, capsys, change, fragments):
    assert_validate_fails_in_one_line({**JOINT, **change}, tmp_path, capsys, fragments)


def test_a_sweep_of_a_joint_fit_is_refused_before_writing(tmp_path, capsys):
    path, out = tmp_path / "config.yaml", tmp_path / "run"
    path.write_text(yaml.safe_dump({**JOINT, "sweep": {"parameters": {"k": [0.5, 1.0]}}}))
    assert main([str(path), "--out", str(out), "--quiet", "--no-cache"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: sweep: ") and "experiments: are fitted jointly" in error
    assert "\n" not in error and not out.exists()


def test_experiments_with_their_own_noise_levels():
    """An experiment's `observations` set its noise level: its rows are weighted by it, its
    synthetic data scatter by it, its forecast's prediction band uses it."""
    config = {
        **JOINT,
        "experiments": [
            JOINT["experiments"][0],
            {**JOINT["experiments"][1], "observations": {"y": {"sigma": 0.2}}},
            {**JOINT["experiments"][2], "observations": {"y": {"sigma_relative": 0.1}}},
        ],
    }
    problem = build_problem(validate_config(config))
    rows = problem.rows
    assert np.all(problem.sigma[rows[0] : rows[1]] == 0.05)
    assert np.all(problem.sigma[rows[1] : rows[2]] == 0.2)
    third = problem.experiments[2]
    np.testing.assert_allclose(third.sigma[:, 0], np.hypot(0.05, 0.1 * third.observed[:, 0]))
    np.testing.assert_allclose(problem.experiments[1].noise, [[0.2], [0.0]])
    # experiment b's noise is drawn with its own sigma: four times what the same seed
    # gives with the shared one
    plain = build_problem(validate_config(JOINT))
    clean = np.asarray(problem.predict(jnp.asarray([0.8, 3.0]))[0])[rows[1] : rows[2]]
    noise = problem.observed[rows[1] : rows[2]] - clean
    np.testing.assert_allclose(noise, 4 * (plain.observed[rows[1] : rows[2]] - clean), rtol=1e-3)


def test_run_folder_of_a_joint_fit_with_file_data(tmp_path):
    """Data files are copied per experiment, the report draws one panel per experiment (the
    forecast too) and `fitted.yaml` starts each experiment's local unknown at its estimate."""
    ts = np.linspace(0, 3, 7)
    for name, y0 in (("one", 2.0), ("two", 0.5)):
        rows = "\n".join(f"{t},{y0 * np.exp(-0.8 * t):.6f}" for t in ts)
        (tmp_path / f"{name}.csv").write_text("t,y\n" + rows + "\n")
    config = {
        **{k: v for k, v in JOINT.items() if k != "experiments"},
        "initial_state": {"y": {"init": 1.0}},
        "local": ["y0"],
        "experiments": [{"name": n, "data": {"file": f"{n}.csv"}} for n in ("one", "two")],
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "run"
    args = ["--out", str(out), "--quiet", "--no-cache", "--set", "uncertainty.profile=false"]
    args += ["--set", "report.forecast.until=5"]
    assert main([str(tmp_path / "config.yaml"), *args]) == 0
    result = json.loads((out / "result.json").read_text())
    estimates = {n: p["estimate"] for n, p in result["parameters"].items()}
    assert estimates["y0[one]"] == pytest.approx(2.0, rel=1e-4)
    assert estimates["y0[two]"] == pytest.approx(0.5, rel=1e-4)
    assert [e["name"] for e in result["data"]["experiments"]] == ["one", "two"]
    assert (out / "data_one.csv").is_file() and (out / "fit.png").is_file()
    for figure in ("forecast", "states"):  # a panel per experiment and observation/state
        assert f"({figure}.png)" in (out / "report.md").read_text()
    arrays = np.load(out / "arrays.npz")
    assert arrays["e1_forecast_ts"][-1] == 5.0 and arrays["e1_forecast_sd"].shape == (400, 1)
    assert "2 experiments fitted jointly" in (out / "report.md").read_text()
    refit = build_problem(load_config(out / "fitted.yaml"), out)
    starts = dict(zip(refit.space.names, np.asarray(refit.space.initial_values()), strict=True))
    assert starts == pytest.approx({n: estimates[n] for n in ("k", "y0[one]", "y0[two]")})


def test_noise_level_estimated_over_all_experiments(tmp_path):
    """`sigma: estimate` in a joint fit: one shared level; at its maximum the squared
    standardized residuals of all experiments add up to the number of data values."""
    ts = np.linspace(0, 3, 9)
    rng = np.random.default_rng(5)
    for name, y0 in (("one", 2.0), ("two", 1.0)):
        ys = y0 * np.exp(-0.8 * ts) + 0.05 * rng.standard_normal(ts.size)
        rows = "\n".join(f"{t:.17g},{y:.17g}" for t, y in zip(ts, ys, strict=True))
        (tmp_path / f"{name}.csv").write_text("t,y\n" + rows + "\n")
    config = {
        **{k: v for k, v in JOINT.items() if k != "experiments"},
        "observations": {"y": {"sigma": "estimate"}},
        "experiments": [
            {"name": n, "initial_state": {"y": y0}, "data": {"file": f"{n}.csv"}}
            for n, y0 in (("one", 2.0), ("two", 1.0))
        ],
    }
    problem = build_problem(validate_config(config), tmp_path)
    assert problem.space.names == ("k", "sigma_y")
    assert problem.num_residuals == 2 * 9 + 1  # the data, then the noise level's row
    result = fit(problem, ftol=1e-14, xtol=1e-14)
    assert result.success, result.message
    misfit = np.asarray(result.residuals)[:18]
    assert np.sum(misfit**2) == pytest.approx(18, rel=1e-6)
    assert 0.03 < result.x[1] < 0.08


def test_joint_forecast_bands_are_each_experiments_delta_method(joint):
    """y = y0 exp(-k t): an experiment with a known start has `sd = y0 t e^(-kt) sd_k`; one
    with its own start adds that start's variance and covariance with k, and no other
    experiment's local unknown."""
    problem, result = joint
    covariance = np.asarray(estimate_uncertainty(problem, result.z).covariance)
    arrays = problem.forecast_arrays(result.x, covariance, 6.0, points=25)
    k, start_c = result.x
    for e, y0 in ((0, 2.0), (1, 1.0), (2, start_c)):
        ts = arrays[f"e{e}_forecast_ts"]
        assert ts[-1] == 6.0 and arrays[f"e{e}_data_end"] == (4.0 if e < 2 else 3.0)
        ts = ts - ts[0]  # the start value is at the first data time (c: t = 0.5)
        curve = y0 * np.exp(-k * ts)
        np.testing.assert_allclose(arrays[f"e{e}_forecast_fit"][:, 0], curve, rtol=1e-6)
        np.testing.assert_allclose(arrays[f"e{e}_states_fit"][:, 0], curve, rtol=1e-6)
        gradient = np.stack([-ts * curve, curve / y0 * (e == 2)], axis=1)
        expected = np.sqrt(np.einsum("fp,pq,fq->f", gradient, covariance, gradient))
        np.testing.assert_allclose(arrays[f"e{e}_forecast_sd"][:, 0], expected, rtol=1e-5)
    np.testing.assert_allclose(arrays["e0_forecast_noise_sd"], 0.05)
