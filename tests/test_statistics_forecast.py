"""`report.forecast` for PDE runs: every sensor beyond the data with its bands, every field at
the end of the forecast."""

import json

import jax.numpy as jnp
import numpy as np
import pytest
import yaml
from problems import heat_rod

from diffsim.config import build_problem, validate_config
from diffsim.run import main

# A rod with zero ends, one unknown diffusivity; sensors at two places (one state).
HEAT = heat_rod(
    (0.1, 0.2, 0.3),
    name="heat_forecast",
    uncertainty={"profile": False},
    report={"taylor_test": False, "points": 41, "dpi": 40, "forecast": {"until": 0.8}},
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("heat_forecast")
    (folder / "config.yaml").write_text(yaml.safe_dump(HEAT))
    assert main([str(folder / "config.yaml"), "--out", str(folder / "run"), "--quiet"]) == 0
    out = folder / "run"
    return json.loads((out / "result.json").read_text()), dict(np.load(out / "arrays.npz")), out


def test_pde_forecast_is_drawn_in_the_report(run):
    result, arrays, out = run
    report = (out / "report.md").read_text()
    for figure in ("forecast", "states"):
        assert f"({figure}.png)" in report and (out / f"{figure}.png").is_file()
    ts = arrays["forecast_ts"]
    assert ts[0] == 0.0 and ts[-1] == 0.8 and ts.size == 41
    assert arrays["forecast_fit"].shape == (41, 2)  # two sensors
    np.testing.assert_allclose(arrays["forecast_sensor_coordinates"][:, 0], [0.25, 0.5])
    assert arrays["forecast_field"].shape == (1, 12) and result["success"]


def test_pde_forecast_repeats_the_fit_at_the_data_and_decays_beyond(run):
    _, arrays, _ = run
    ts, fit = arrays["forecast_ts"], arrays["forecast_fit"]
    for value, t, sensor in zip(
        arrays["prediction_fit"], arrays["times"], arrays["forecast_sensor"], strict=True
    ):
        index = np.argmin(np.abs(ts - t))
        assert ts[index] == pytest.approx(t, abs=1e-12)
        assert fit[index, sensor] == pytest.approx(value, rel=1e-10)
    # sin(pi x) decays by exp(-pi^2 D t) (up to the grid's error): the ratio of successive
    # values of one sensor is constant
    ratio = fit[21:, 1] / fit[20:-1, 1]
    assert np.ptp(ratio) < 1e-6 and ratio[0] < 1


def test_pde_forecast_bands_are_the_delta_method(run):
    """`sd = |df/dD| stderr` with the derivative by central differences, at every sensor and
    time and for the field at the end; the prediction band adds the sensors' noise."""
    result, arrays, _ = run
    problem = build_problem(validate_config(HEAT))
    estimate = result["parameters"]["diffusivity"]["estimate"]
    stderr = result["parameters"]["diffusivity"]["stderr"]
    step = 1e-5 * estimate
    shifted = [
        problem.forecast_arrays(jnp.array([estimate + s]), np.zeros((1, 1)), 0.8, points=41)
        for s in (step, -step)
    ]
    for key, sd in (("forecast_fit", "forecast_sd"), ("forecast_field", "forecast_field_sd")):
        slope = (shifted[0][key] - shifted[1][key]) / (2 * step)
        np.testing.assert_allclose(arrays[sd], np.abs(slope) * stderr, rtol=1e-6, atol=1e-12)
        assert np.all(shifted[0][sd] == 0)  # no covariance, no band
    np.testing.assert_allclose(arrays["forecast_noise_sd"], np.median(arrays["sigma"]))


def test_forecast_of_a_pinn_run_is_refused_in_one_line(capsys):
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "configs" / "burgers_identification_pinn.yaml"
    assert main([str(path), "--validate", "--no-cache", "--set", "report.forecast.until=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: report.forecast: ") and "\n" not in err, err


@pytest.mark.parametrize("observed", [1, 4, 5])
def test_forecast_figures_for_any_panel_count(observed):
    """A forecast of 4 or 5 observations leaves hidden cells in its 3-column grid (drawing
    it raised in zip(strict=True) for PDE runs with 4 sensors)."""
    from diffsim.report._interval_plots import draw_forecast

    ts, future = np.linspace(0.0, 1.0, 5), np.linspace(0.0, 2.0, 9)
    curves = np.outer(np.exp(-future), np.arange(1, observed + 1))
    arrays = {
        "forecast_level": 0.95,
        "ts": ts,
        "data": np.outer(np.exp(-ts), np.arange(1, observed + 1)),
        "forecast_ts": future,
        "forecast_fit": curves,
        "forecast_sd": 0.01 * curves,
        "forecast_noise_sd": np.full_like(curves, 0.02),
        "forecast_log_noise": np.zeros(observed, bool),
        "states_fit": curves,
        "data_end": 1.0,
    }
    names = [f"y{j}" for j in range(observed)]
    summary = {"data": {"observations": names}, "model": {"states": names}}
    saved = {}
    draw_forecast(summary, arrays, lambda figure, stem: saved.setdefault(stem, figure))
    assert sorted(saved) == ["forecast", "states"]
    drawn = [ax for ax in saved["forecast"].axes if ax.get_visible()]
    assert [ax.get_title() for ax in drawn] == names
