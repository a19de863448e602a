"""PDE inverse problems: every `configs/pde_*.yaml` runs (reduced) and recovers its unknowns."""

import json
from pathlib import Path

import pytest

from diffsim.pde import run

CONFIGS = Path(__file__).resolve().parent.parent / "configs"

# (config, overrides that shrink it, largest relative error accepted per unknown)
CASES = [
    ("pde_heat_diffusivity", ["grid.cells=16", "data.times=4"], {"diffusivity": 0.05}),
    ("pde_heat_diffusivity_field", ["grid.cells=16", "data.sensors=16"], {"diffusivity": 0.2}),
    (
        "pde_heat_initial_condition",
        ["grid.cells=24", "data.sensors=24"],
        {"initial_condition": 0.3},
    ),
    ("pde_burgers_viscosity", ["grid.cells=64", "data.times=4"], {"viscosity": 0.2}),
    ("pde_wave_speed", ["grid.cells=40", "data.times=30"], {"speed": 0.15}),
    (
        "pde_advection_diffusion_source",
        ["grid.cells=40", "data.times=4"],
        {"location": 0.05, "strength": 0.1},
    ),
]


@pytest.mark.parametrize("name, overrides, tolerances", CASES, ids=[c[0] for c in CASES])
def test_config_recovers_its_unknowns(tmp_path, name, overrides, tolerances):
    out = tmp_path / "run"
    sets = [item for o in [*overrides, "report.plots=false"] for item in ("--set", o)]
    status = run.main([str(CONFIGS / f"{name}.yaml"), "--out", str(out), "--quiet", *sets])
    assert status == 0
    result = json.loads((out / "result.json").read_text())
    for key, tolerance in tolerances.items():
        assert result["unknowns"][key]["relative_error"] < tolerance, result["unknowns"][key]
    assert {"config.yaml", "env.json", "metrics.jsonl", "report.md"} <= {
        p.name for p in out.iterdir()
    }


def test_report_has_plots(tmp_path):
    out = tmp_path / "run"
    config = CONFIGS / "pde_heat_diffusivity.yaml"
    sets = ["--set", "grid.cells=12", "--set", "data.times=2", "--set", "fit.max_steps=3"]
    assert run.main([str(config), "--out", str(out), "--quiet", *sets]) in (0, 1)
    assert {"misfit.png", "loss.png"} <= {p.name for p in out.iterdir()}
    assert "relative error" in (out / "report.md").read_text()


@pytest.mark.parametrize(
    "text, overrides, message",
    [
        ("problem: heat_diffusivity\n", ["grid.cells=2"], "grid.cells"),
        ("problem: heat_diffusivity\nsolver: rk4\n", [], "solver: unknown key"),
        ("problem: nonsense\n", [], "problem"),
        ("problem: heat_diffusivity\ntruth: {kappa: 1.0}\n", [], "truth.kappa: not a value"),
        ("problem: [\n", [], "malformed YAML"),
    ],
)
def test_bad_configs_exit_2_with_one_line(tmp_path, capsys, text, overrides, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    sets = [item for o in overrides for item in ("--set", o)]
    status = run.main([str(path), "--out", str(tmp_path / "out"), "--quiet", *sets])
    assert status == 2
    error = capsys.readouterr().err.strip()
    assert message in error and "\n" not in error


def test_main_runner_dispatches_pde_configs(capsys):
    from diffsim import run as main_runner

    config = CONFIGS / "pde_heat_diffusivity.yaml"
    assert main_runner.main([str(config), "--validate"]) == 0
    assert "config OK: problem" in capsys.readouterr().out
