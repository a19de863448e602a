"""Sweeps and ensembles (`sweep:`, `ensemble:`) against the analytic solution of decay.

The model `y' = -k y`, `y(0) = y0` has `y(t) = y0 exp(-k t)`: a simulated sweep's summaries
and chi-square, a fit sweep's estimate of `y0` at each held `k` (linear least squares) and an
ensemble's quantile bands (order statistics of the drawn `k`) are all known in closed form.
"""

import csv
import json
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest
import yaml

from diffsim.config import ConfigError, build_problem, validate_config
from diffsim.inverse._sweep import series_of
from diffsim.run import main
from diffsim.runner._study import check_study

DECAY = {
    "name": "decay",
    "model": {"equations": {"y": "-k * y"}},
    "parameters": {
        "k": {"init": 0.5, "true": 0.5, "transform": "log"},
        "y0": {"init": 2.0, "true": 2.0},
    },
    "initial_state": {"y": "y0"},
    "observations": {"y": {"sigma": 0.01}},
    "data": {"synthetic": {"times": {"start": 0.0, "stop": 4.0, "num": 9}, "seed": 2}},
    "solver": {"name": "rk4", "dt": 0.005},  # cheap to compile; 1e-11 from the exact curve
    "fit": {"ftol": 1e-12, "xtol": 1e-12, "gtol": 1e-12},
    "report": {"points": 41},
}
RTOL = 1e-7  # the solver is 1e-11 from the exact curve; a wrong point or column is off by far more


def _run(tmp_path, settings: dict, *extra) -> tuple[int, dict, str]:
    config = tmp_path / "decay.yaml"
    config.write_text(yaml.safe_dump(DECAY | settings))
    out = tmp_path / "run"
    code = main([str(config), "--out", str(out), "--quiet", "--no-cache", *extra])
    return code, json.loads((out / "result.json").read_text()), out


def _table(path) -> dict[str, np.ndarray]:
    with open(path) as file:
        rows = list(csv.DictReader(file))
    return {key: np.array([float(row[key]) for row in rows]) for key in rows[0]}


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    return build_problem(validate_config(DECAY), tmp_path_factory.mktemp("decay"))


def _data(problem):
    return np.asarray(problem.data.ts), np.asarray(problem.observed)[:, 0]


def test_grid_points_vary_the_last_parameter_fastest():
    sweep = validate_config(
        DECAY
        | {
            "sweep": {
                "parameters": {
                    "k": {"low": 0.1, "high": 1.0, "num": 3, "scale": "log"},
                    "y0": [1.0, 2.0],
                }
            }
        }  # fmt: skip
    ).sweep
    names, points = sweep.points()
    assert names == ("k", "y0") and sweep.size == 6
    np.testing.assert_allclose(points[:, 0], np.repeat([0.1, 10**-0.5, 1.0], 2), rtol=1e-14)
    np.testing.assert_array_equal(points[:, 1], [1.0, 2.0] * 3)


def test_random_points_are_seeded_and_inside_the_range():
    def points(seed):
        spec = {"k": {"low": 0.1, "high": 1.0, "scale": "log"}, "y0": [1.0, 3.0]}
        return validate_config(
            DECAY | {"sweep": {"parameters": spec, "mode": "random", "samples": 400, "seed": seed}}
        ).sweep.points()[1]

    first = points(3)
    np.testing.assert_array_equal(first, points(3))
    assert not np.array_equal(first, points(4))
    assert first.shape == (400, 2) and set(first[:, 1]) == {1.0, 3.0}
    assert 0.1 <= first[:, 0].min() and first[:, 0].max() <= 1.0
    # log-uniform: log k is uniform on [log 0.1, 0], mean log(0.1) / 2 (sd 0.66 / sqrt(400))
    assert abs(np.log(first[:, 0]).mean() - np.log(0.1) / 2) < 4 * 0.665 / 20


def test_ensemble_draws_follow_their_distributions():
    spec = {"a": {"normal": [1.0, 0.1]}, "b": {"lognormal": [0.5, 0.2]}, "c": {"uniform": [2, 4]}}
    ensemble = validate_config(
        DECAY | {"ensemble": {"parameters": spec, "members": 40000}}
    ).ensemble
    names, draws = ensemble.draws()
    assert names == ("a", "b", "c") and draws.shape == (40000, 3)
    error = 4 / np.sqrt(40000)  # four standard errors, in units of each standard deviation
    assert abs(draws[:, 0].mean() - 1.0) < error * 0.1
    assert abs(np.log(draws[:, 1]).mean() - 0.5) < error * 0.2
    assert abs(np.log(draws[:, 1]).std() - 0.2) < error * 0.2
    assert 2 <= draws[:, 2].min() and draws[:, 2].max() <= 4
    assert abs(draws[:, 2].mean() - 3.0) < error * 2 / np.sqrt(12)


def test_simulated_sweep_and_ensemble_match_the_analytic_solution(tmp_path, problem):
    """`run: simulate` summaries and chi-square, and ensemble bands, in closed form; the run
    folder has the tables, figures and report."""
    sweep = {"parameters": {"k": [0.3, 0.5], "y0": [1.5, 2.0, 2.5]}}
    ensemble = {
        "parameters": {"k": {"lognormal": [float(np.log(0.5)), 0.2]}},
        "members": 101,  # the 5, 50 and 95 % quantiles are order statistics 5, 50 and 95
        "seed": 7,
        "until": 6.0,
    }
    code, result, out = _run(tmp_path, {"sweep": sweep, "ensemble": ensemble})
    assert code == 0 and result["success"], result["message"]
    table = _table(out / "sweep.csv")
    k, y0 = table["k"], table["y0"]
    np.testing.assert_array_equal(k, np.repeat([0.3, 0.5], 3))
    ts, data = _data(problem)
    np.testing.assert_allclose(table["y_peak"], y0, rtol=RTOL)
    np.testing.assert_array_equal(table["y_peak_time"], 0.0)
    np.testing.assert_allclose(table["y_final"], y0 * np.exp(-4 * k), rtol=RTOL)
    model = y0[:, None] * np.exp(-k[:, None] * ts)
    chi_square = (((model - data) / 0.01) ** 2).sum(axis=1)
    np.testing.assert_allclose(table["chi_square"], chi_square, rtol=1e-5)
    assert set(table["status"]) == {0.0}

    bands = _table(out / "ensemble.csv")
    draws = np.sort(validate_config(DECAY | {"ensemble": ensemble}).ensemble.draws()[1][:, 0])
    t = bands["t"]
    np.testing.assert_allclose(t, np.linspace(0, 6, 41))
    for level, rank in ((0.05, 95), (0.5, 50), (0.95, 5)):  # y falls as k grows
        np.testing.assert_allclose(bands[f"y_q{level:g}"], 2 * np.exp(-draws[rank] * t), rtol=RTOL)

    assert {"sweep.png", "ensemble.png", "report.md", "report.html", "arrays.npz"} <= {
        p.name for p in out.iterdir()
    }
    report = (out / "report.md").read_text()
    assert "| k | y0 | chi_square |" in report and "| t | y 5% | y 50% | y 95% |" in report


def test_fit_sweep_holds_k_and_fits_y0_as_linear_least_squares(tmp_path, problem):
    """`run: fit`: at each held `k`, the best `y0` is `sum(d e) / sum(e e)`, `e = exp(-k t)`."""
    sweep = {"run": "fit", "parameters": {"k": {"low": 0.3, "high": 0.7, "num": 5}}}
    code, result, out = _run(tmp_path, {"sweep": sweep}, "--set", "report.plots=false")
    assert code == 0, result["message"]
    table = _table(out / "sweep.csv")
    assert list(table) == ["k", "y0", "chi_square", "code", "steps"]
    np.testing.assert_allclose(table["k"], np.linspace(0.3, 0.7, 5), rtol=1e-14)
    ts, data = _data(problem)
    e = np.exp(-table["k"][:, None] * ts)
    y0 = (e * data).sum(axis=1) / (e * e).sum(axis=1)
    np.testing.assert_allclose(table["y0"], y0, rtol=1e-8)
    chi_square = (((y0[:, None] * e - data) / 0.01) ** 2).sum(axis=1)
    np.testing.assert_allclose(table["chi_square"], chi_square, rtol=1e-8)
    assert (table["code"] > 0).all()
    best = result["sweep"]["best"]
    assert best["k"] == 0.5 and best["chi_square"] == pytest.approx(chi_square.min(), rel=1e-8)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"sweep": {"parameters": {"k": {"low": 1, "high": 2, "num": 0}}}}, "parameters.k.num"),
        ({"sweep": {"parameters": {"k": {"low": 1, "high": 2}}}}, "parameters.k.num: a grid range"),
        ({"sweep": {"parameters": {"k": [1]}, "mode": "random", "samples": 0}}, "sweep.samples"),
        ({"sweep": {"parameters": {"k": {"low": 2, "high": 1, "num": 3}}}}, "low < high"),
        ({"sweep": {"parameters": {"k": {"low": 0, "high": 1, "num": 3, "scale": "log"}}}}, "log"),
        ({"ensemble": {"parameters": {"k": {"normal": [1, 0]}}}}, "ensemble.parameters.k.normal.1"),
        ({"ensemble": {"parameters": {"k": {"gamma": [1, 1]}}}}, "k.gamma: unknown"),
        ({"ensemble": {"parameters": {"k": {"uniform": [1, 1]}}}}, "needs low < high"),
        ({"ensemble": {"parameters": {"k": {"normal": [1, 1]}}, "members": 0}}, "ensemble.members"),
        ({"ensemble": {"parameters": {}}}, "ensemble.parameters: give at least one"),
        ({"sweep": {"parameters": {"k": [1]}, "run": "fit", "until": 9}}, "until: only with"),
    ],
)  # fmt: skip
def test_bad_sections_name_the_key(settings, message):
    with pytest.raises(ConfigError) as error:
        validate_config(DECAY | settings)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"sweep": {"parameters": {"beta": [1.0]}}}, "sweep.parameters.beta: not a parameter"),
        ({"ensemble": {"parameters": {"y": {"normal": [1, 1]}}}}, "ensemble.parameters.y: not a"),
        ({"sweep": {"parameters": {"k": [1.0]}, "until": -1.0}}, "sweep.until: must be after"),
        ({"sweep": {"run": "fit", "parameters": {"k": [-1.0]}}}, "the value -1 is outside"),
        (
            {"sweep": {"run": "fit", "parameters": {"k": [1.0], "y0": [1.0]}}},
            "sweep.run: fit needs",
        ),
    ],
)
def test_sections_that_do_not_fit_the_model_name_the_key(settings, message, problem):
    with pytest.raises(ValueError) as error:
        check_study(validate_config(DECAY | settings), problem)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ({"parameters": {"beta": [1.0, 2.0]}}, "sweep.parameters.beta: not a parameter"),
        ({"parameters": {}}, "sweep.parameters: give at least one parameter"),
        ({"parameters": {"k": []}}, "sweep.parameters.k.values: List should have at least 1"),
    ],
)
def test_bad_sweeps_exit_2_before_writing(sweep, message, tmp_path, capsys):
    """An unknown name or an empty sweep: one line naming the key, exit 2, no run folder."""
    config = tmp_path / "decay.yaml"
    config.write_text(yaml.safe_dump(DECAY | {"sweep": sweep}))
    out = tmp_path / "run"
    assert main([str(config), "--out", str(out), "--quiet", "--no-cache"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and message in error
    assert "\n" not in error and not out.exists()


def test_chunks_give_the_unchunked_results(problem, monkeypatch):
    """11 members in chunks of at most 4 (3 chunks of 4, one padded row) equal one chunk."""
    from diffsim.inverse import _sweep

    k = np.linspace(0.2, 1.2, 11)[:, None]
    ts = np.linspace(0.0, 4.0, 5)
    whole = _sweep.simulate_members(problem, ("k",), k, ts, curves=True)
    monkeypatch.setattr(_sweep, "CHUNK", 4)
    chunked = _sweep.simulate_members(problem, ("k",), k, ts, curves=True)
    np.testing.assert_allclose(whole["curves"][..., 0], 2 * np.exp(-k * ts), rtol=RTOL)
    for key, value in whole.items():
        np.testing.assert_allclose(chunked[key], value, rtol=1e-12, err_msg=key)


def test_failed_solves_are_reported_not_hidden(tmp_path):
    """Points whose solve fails (too few solver steps) keep their status, have no summary
    values, are named in the report, and the run exits 1."""
    sweep = {"parameters": {"k": [0.1, 20.0]}}  # k = 20 needs more than 40 steps of tsit5
    settings = {"sweep": sweep, "solver": {"name": "tsit5", "rtol": 1e-10, "max_steps": 40}}
    code, result, out = _run(tmp_path, settings, "--set", "report.plots=false")
    table = _table(out / "sweep.csv")
    assert code == 1 and not result["success"] and result["sweep"]["succeeded"] == 1
    assert table["status"][0] == 0 and table["status"][1] != 0
    assert np.isnan(table["y_final"][1]) and np.isinf(table["chi_square"][1])
    np.testing.assert_allclose(table["y_final"][0], 2 * np.exp(-0.4), rtol=RTOL)
    assert "1 point(s) with status" in (out / "report.md").read_text()


def test_fit_batch_narrowed_to_running_members_gives_the_same_fits(problem, monkeypatch):
    """A batch of fits (k fitted, y0 held) from starts that converge after different numbers
    of steps: narrowed to its running members (from 8 members, every 2 steps) it gives the
    fits of the batch that is never narrowed, and does narrow."""
    from diffsim.inverse import _fit, _sweep, make_method

    method, _, _ = make_method("levenberg_marquardt", problem)
    k = np.geomspace(0.05, 20.0, 12)
    z0 = np.asarray(problem.space.to_internal(np.stack([k, np.full(12, 2.0)], axis=1)))
    mask = np.array([False, True])
    monkeypatch.setattr(_sweep, "SEGMENT", 2)
    whole = _sweep.fit_members(problem, method, z0, mask, max_steps=40)
    sizes = []

    class Recorded(_fit._RunningBatch):
        def narrow(self, codes):
            super().narrow(codes)
            sizes.append(len(codes) if self._where is None else self._where.size)

    monkeypatch.setattr(_fit, "NARROW_FROM", 8)
    monkeypatch.setattr(_sweep, "_RunningBatch", Recorded)
    narrowed = _sweep.fit_members(problem, method, z0, mask, max_steps=40)
    assert min(sizes) < 8 and len(set(whole["steps"])) > 2  # it narrowed; steps differ
    assert (whole["code"] > 0).all()
    for key, value in whole.items():
        np.testing.assert_allclose(narrowed[key], value, rtol=1e-10, err_msg=key)
    # held y0 = 2: every start finds the least-squares k of the data (closed form on a grid)
    ts, data = _data(problem)
    fitted = np.exp(whole["z"][:, 0])
    grid = np.linspace(0.45, 0.55, 2001)
    best = grid[np.argmin([(((2 * np.exp(-k * ts) - data) / 0.01) ** 2).sum() for k in grid])]
    np.testing.assert_allclose(fitted, best, atol=1e-4)
    assert np.ptp(fitted) < 1e-7


@pytest.mark.parametrize("likelihood", ["poisson", "lognormal"])
def test_simulated_chi_square_uses_the_likelihood(likelihood, tmp_path):
    """A simulated sweep's chi-square is the config's likelihood: the Poisson deviance
    `2 sum(y log(y / m) - (y - m))` of counts, `sum((log m - log y) / sigma)^2` of
    log-normal data, at `m = y0 exp(-k t)`."""
    from diffsim.inverse._sweep import simulate_members

    observation = {"likelihood": likelihood} | ({"sigma": 0.1} if likelihood != "poisson" else {})
    config = DECAY | {
        "parameters": {"k": DECAY["parameters"]["k"], "y0": {"init": 40.0, "true": 40.0}},
        "observations": {"y": observation},
    }
    problem = build_problem(validate_config(config), tmp_path)
    ts, y = _data(problem)
    k = np.array([0.3, 0.5, 0.7])
    out = simulate_members(problem, ("k",), k[:, None], ts)
    m = 40 * np.exp(-k[:, None] * ts)
    if likelihood == "poisson":
        terms = 2 * (np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / m), 0) - (y - m))
    else:
        terms = ((np.log(m) - np.log(y)) / 0.1) ** 2
    np.testing.assert_allclose(out["chi_square"], terms.sum(axis=1), rtol=1e-7)
    z = np.asarray(problem.space.to_internal(np.array([0.5, 40.0])))
    chi_square = float(jax.jit(lambda z: problem.chi_square(z))(z))
    assert out["chi_square"][1] == pytest.approx(chi_square, rel=1e-7)


SOURCE = {  # advection-diffusion from a Gaussian source: the field is linear in `strength`
    "name": "source",
    "model": {
        "equation": "advection_diffusion",
        "grid": {"cells": 24, "lower": 0.0, "upper": 10.0},
        "boundary": "periodic",
        "initial_condition": 0.0,
        "coefficients": {
            "velocity": 0.5,
            "diffusivity": 0.05,
            "source": "strength*exp(-(x - location)**2/(2*0.5**2))",
        },
    },
    "parameters": {
        "location": {"init": 5.0, "true": 3.3},
        "strength": {"init": 0.5, "transform": "log", "true": 1.0},
    },
    "data": {
        "synthetic": {
            "times": {"start": 1.0, "stop": 3.0, "num": 3},
            "sensors": {"x": {"start": 0.0, "stop": 10.0, "num": 6}},
            "refine": 1,
        }
    },
    "solver": {"name": "rk4", "dt": 0.05},  # the same steps on the data's and report's times
    "fit": {"max_steps": 20},
    "report": {"plots": False, "points": 31},  # t = 0, 0.1, ..., 3: the data's times among them
}
FIXED = SOURCE | {"parameters": SOURCE["parameters"] | {"location": 3.3}}  # strength unknown
LOCATIONS = [2.0, 3.3, 5.0]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """The source problem and, at strength 1 for each of `LOCATIONS`, its predicted data and
    its sensors at the report's times (`PdeProblem.predict_at`, checked against `predict`)."""
    from diffsim.inverse import PdeProblem

    problem = build_problem(validate_config(SOURCE), tmp_path_factory.mktemp("source"))
    assert isinstance(problem, PdeProblem)
    x = np.stack([LOCATIONS, np.ones(3)], axis=1)
    ts = np.linspace(0.0, 3.0, 31)
    u1, curves = jax.jit(jax.vmap(lambda x: (problem.predict(x)[0], problem.predict_at(x, ts)[0])))(
        x
    )
    layout = series_of(problem)
    at_data = curves[:, np.searchsorted(ts, layout.data_ts)[layout.time], layout.series]
    np.testing.assert_allclose(at_data, u1, rtol=1e-12, atol=1e-14)
    assert len(layout.names) == 6 and layout.groups == ("u",)
    return problem, np.asarray(u1), np.asarray(curves), ts


@pytest.mark.parametrize("run", ["simulate", "fit"])
def test_pde_sweep_against_the_linear_field(run, tmp_path, source):
    """A PDE sweep over the fixed `location`, simulated: chi-square and the largest sensor
    value of `strength * u1` (`u1`: the field of strength 1, predicted by the problem with
    `location` unknown); fitted (`strength` free), the linear least-squares strength
    `sum(d u1) / sum(u1 u1)`. The simulated run has an ensemble of `strength` too: its
    bands are the order statistics of the draws times `u1` (`u1 >= 0`)."""
    problem, u1, curves, ts = source
    settings = {"sweep": {"run": run, "parameters": {"location": LOCATIONS}}}
    ensemble = {"parameters": {"strength": {"lognormal": [0.0, 0.3]}}, "members": 101, "seed": 3}
    if run == "simulate":
        settings["ensemble"] = ensemble
    path = tmp_path / "source.yaml"
    path.write_text(yaml.safe_dump(FIXED | settings))
    out = tmp_path / "run"
    assert main([str(path), "--out", str(out), "--quiet", "--no-cache"]) == 0
    table = _table(out / "sweep.csv")
    data, sigma = np.asarray(problem.observed), np.asarray(problem.sigma)
    weighted = lambda a, b: (a * b / sigma**2).sum(axis=1)
    strength = 0.5 if run == "simulate" else weighted(u1, data) / weighted(u1, u1)  # 0.5: init
    model = np.reshape(strength, (-1, 1)) * u1
    chi_square = (((model - data) / sigma) ** 2).sum(axis=1)
    np.testing.assert_allclose(table["chi_square"], chi_square, rtol=1e-8)
    if run == "fit":
        assert list(table) == ["location", "strength", "chi_square", "code", "steps"]
        np.testing.assert_allclose(table["strength"], strength, rtol=1e-8)
        assert (table["code"] > 0).all()
        return
    largest = strength * curves.max(axis=2)  # (locations, times): over the sensors
    np.testing.assert_allclose(table["u_peak"], largest.max(axis=1), rtol=1e-9)
    np.testing.assert_array_equal(table["u_peak_time"], ts[np.argmax(largest, axis=1)])
    np.testing.assert_allclose(table["u_final"], largest[:, -1], rtol=1e-9)

    bands = _table(out / "ensemble.csv")
    draws = validate_config(FIXED | {"ensemble": ensemble}).ensemble.draws()[1][:, 0]
    draws, at = np.sort(draws), LOCATIONS.index(3.3)
    assert (curves[at] >= 0).all()
    names = series_of(problem).names
    for level, rank in ((0.05, 5), (0.5, 50), (0.95, 95)):
        for k, name in enumerate(names):
            expected = draws[rank] * curves[at, :, k]
            np.testing.assert_allclose(bands[f"{name}_q{level:g}"], expected, rtol=1e-9, atol=1e-15)
    report = (out / "report.md").read_text()
    assert f"| t | {names[0]} 5% |" in report


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"sweep": {"parameters": {"velocity": [1.0]}}}, "sweep.parameters.velocity: not a"),
        ({"ensemble": {"parameters": {"u": {"normal": [1, 1]}}}}, "ensemble.parameters.u: not a"),
        ({"sweep": {"parameters": {"location": [3.0]}, "until": 0.0}}, "sweep.until: must be"),
        (
            {"sweep": {"run": "fit", "parameters": {"strength": [1.0]}}},
            "sweep.run: fit needs an unknown",
        ),
    ],
)
def test_pde_sections_that_do_not_fit_name_the_key(settings, message, source_fixed):
    with pytest.raises(ValueError) as error:
        check_study(validate_config(FIXED | settings), source_fixed)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.fixture(scope="module")
def source_fixed(tmp_path_factory):
    """The source problem with `location` fixed (only `strength` unknown)."""
    return build_problem(validate_config(FIXED), tmp_path_factory.mktemp("source"))


def test_a_sweep_of_a_pinn_is_refused_before_writing(tmp_path, capsys):
    """A network is trained, not swept: a PINN config with a sweep exits 2, one line."""
    root = Path(__file__).resolve().parents[1] / "configs"
    settings = yaml.safe_load((root / "burgers_identification_pinn.yaml").read_text())
    settings["sweep"] = {"parameters": {name: [0.1] for name in list(settings["parameters"])[:1]}}
    (tmp_path / "data").mkdir()
    shutil.copy(root / "data" / "burgers_identification.csv", tmp_path / "data")
    config = tmp_path / "pinn.yaml"
    config.write_text(yaml.safe_dump(settings))
    out = tmp_path / "run"
    assert main([str(config), "--out", str(out), "--quiet", "--no-cache"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: sweep: sweeps and ensembles are for ODE models without a")
    assert "\n" not in error and not out.exists()
