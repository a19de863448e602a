"""The whole command line: files, report, reruns, exit codes, failures and Ctrl-C."""

import io
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

import diffsim.inverse._fit as fit_module
import diffsim.report._write as report_module
from diffsim.config import build_problem, load_config
from diffsim.run import main
from diffsim.runner import Progress, RunFolder, run

QUIET = ["--quiet", "--no-cache"]
NO_EXTRAS = ["--set", "report.plots=false", "--set", "report.taylor_test=false"]
RUN_FILES = {
    "config.yaml",
    "fitted.yaml",
    "env.json",
    "metrics.jsonl",
    "result.json",
    "arrays.npz",
    "report.md",
    "report.html",
}
PLOT_FILES = {
    "fit.png",
    "residuals.png",
    "loss.png",
    "parameters.png",
    "correlation.png",
    "profiles.png",
}

# y' = -k y from y(0) = y0: k = 0.8, y0 = 2 with a little noise. The comment line and a blank
# value (a missing observation) are part of the test.
DECAY_CSV = """\
# synthetic decay data for the tests
t,y
0.0,2.01
0.5,1.33
1.0,0.905
1.5,
2.0,0.402
3.0,0.181
4.0,0.0819
"""
DECAY_CONFIG = """\
name: decay
model: {equations: {y: "-k * y"}}
parameters:
  k: {init: 0.5, bounds: [0.01, 10.0]}
initial_state:
  y: {init: 1.5}
observations: {y: {sigma: 0.01}}
data: {file: {path: decay.csv}}
"""


def _results(out):
    return json.loads((out / "result.json").read_text())


@pytest.fixture
def decay_config(tmp_path):
    (tmp_path / "decay.csv").write_text(DECAY_CSV)
    path = tmp_path / "decay.yaml"
    path.write_text(DECAY_CONFIG)
    return path


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "default"
    clock = time.perf_counter()
    code = main(["--out", str(out), *QUIET])
    return code, out, time.perf_counter() - clock


def test_default_run_writes_everything(default_run):
    code, out, seconds = default_run
    assert code == 0
    assert {p.name for p in out.iterdir()} == RUN_FILES | PLOT_FILES
    result = _results(out)
    assert result["success"] and result["statistics"]["num_points"] == 100
    for name, truth in {"alpha": 1.5, "beta": 1.0, "gamma": 3.0, "delta": 1.0}.items():
        p = result["parameters"][name]
        assert abs(p["estimate"] - truth) <= 0.005 * truth  # 1 % noise: within 0.5 %
        assert abs(p["estimate"] - truth) <= 2.5 * p["stderr"]
        assert p["init"] != truth and p["true"] == truth
    gradient = result["gradient"]
    assert gradient["mode"] == "forward" and "4 inputs to 100 outputs" in gradient["reason"]
    # The strategy solve_ode chose, not the configured "auto".
    assert gradient["adjoint"] == "forward" and "6 inputs" in gradient["adjoint_reason"]
    assert gradient["taylor_test"]["passed"]
    timings = result["timings"]
    assert set(timings) == {"compile_s", "fit_s", "total_s"}
    assert timings["compile_s"] + timings["fit_s"] < timings["total_s"] <= seconds
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == result["num_steps"]
    assert set(json.loads(lines[0])) >= {"step", "loss", "gradient_norm", "params"}
    env = json.loads((out / "env.json").read_text())
    assert env["x64"] and env["packages"]["jax"] and env["cpus"] >= 1


def test_report_is_self_contained(default_run):
    _, out, _ = default_run
    html = (out / "report.html").read_text()
    figures = sorted(out.glob("*.png"))
    assert len(figures) >= 5  # fit, residuals, loss, parameters, correlation, ...
    assert html.count("data:image/png;base64,") == len(figures)  # each one inlined
    assert 'src="http' not in html and "<link" not in html
    markdown = (out / "report.md").read_text()
    for text in ("+/-", "reduced chi-square", "Akaike", "C(", "(init = ", "ODE adjoint:** forward"):
        assert text in markdown


def test_resolved_config_reruns_the_same(default_run, tmp_path):
    _, out, _ = default_run
    code = main([str(out / "config.yaml"), "--out", str(tmp_path / "rerun"), *QUIET, *NO_EXTRAS])
    assert code == 0
    first, again = _results(out), _results(tmp_path / "rerun")
    for name, p in first["parameters"].items():
        assert again["parameters"][name]["estimate"] == pytest.approx(p["estimate"], rel=1e-12)


def test_file_data_config_reruns_from_its_run_folder(decay_problem, tmp_path):
    out = tmp_path / "first"
    first = _run_decay(decay_problem, out, "report.plots=false", "report.taylor_test=false")
    assert (out / "data.csv").read_text() == DECAY_CSV
    moved = shutil.copytree(out, tmp_path / "moved")  # the rerun needs nothing outside it
    rerun = tmp_path / "rerun"
    assert main([str(moved / "config.yaml"), "--out", str(rerun), *QUIET, *NO_EXTRAS]) == 0
    again = _results(rerun)
    assert first["data"]["num_points"] == again["data"]["num_points"] == 6  # one blank value
    for name in ("k", "y0"):
        estimate = first["parameters"][name]["estimate"]
        assert again["parameters"][name]["estimate"] == pytest.approx(estimate, rel=1e-12)
    assert first["parameters"]["k"]["estimate"] == pytest.approx(0.8, rel=0.02)


def test_existing_run_is_never_overwritten(default_run, capsys):
    _, out, _ = default_run
    before = (out / "result.json").read_text()
    assert main(["--out", str(out), *QUIET]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (out / "result.json").read_text() == before


def test_unsimulatable_start_still_writes_the_report(tmp_path):
    """y' = k y^2 from y(0) = 1 blows up at t = 1/k: at the start k = 3 nothing can be solved."""
    config = tmp_path / "blow.yaml"
    config.write_text(
        "model: {equations: {y: 'k * y**2'}}\n"
        "parameters: {k: {init: 3.0, true: 1.0}}\n"
        "initial_state: {y: 1.0}\n"
        "observations: {y: {sigma: 0.01}}\n"
        "data: {synthetic: {times: {start: 0, stop: 0.5, num: 11}, noise: false}}\n"
        "solver: {rtol: 1.0e-9, atol: 1.0e-12, max_steps: 200}\n"
    )
    out = tmp_path / "run"
    assert main([str(config), "--out", str(out), *QUIET]) == 1
    result = _results(out)
    assert result["multistart"]["codes"] == [-2] and "starting point" in result["message"]
    assert "cannot be simulated" in result["uncertainty"]["message"]
    assert "do not depend" not in result["uncertainty"]["message"]
    assert result["gradient"]["taylor_test"] == {
        "skipped": "the model cannot be simulated at the start point"
    }
    assert {"fit.png", "parameters.png"} <= {p.name for p in out.iterdir()}
    report = (out / "report.md").read_text()
    assert "Taylor test at the start point:** not run" in report


@pytest.fixture(scope="module")
def decay_problem(tmp_path_factory):
    """The decay config's folder and problem, shared so that its fit step compiles once."""
    folder = tmp_path_factory.mktemp("decay")
    (folder / "decay.csv").write_text(DECAY_CSV)
    (folder / "decay.yaml").write_text(DECAY_CONFIG)
    return folder, build_problem(load_config(folder / "decay.yaml"), folder)


def _run_decay(decay_problem, out, *overrides, progress=None):
    folder, problem = decay_problem
    config = load_config(folder / "decay.yaml", list(overrides))
    run(config, problem, RunFolder(out), base_dir=folder, progress=progress)
    return _results(out)


def test_ctrl_c_keeps_partial_results(decay_problem, tmp_path):
    class Interrupting(Progress):
        def update(self, info, max_steps):
            if info.step == 3:
                raise KeyboardInterrupt

    out = tmp_path / "interrupted"
    result = _run_decay(decay_problem, out, "report.plots=false", progress=Interrupting(False))
    assert result["interrupted"] and not result["success"]
    assert result["num_steps"] == 3 and "Ctrl-C" in result["message"]
    assert result["gradient"]["taylor_test"] is None
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3
    assert "interrupted" in (out / "report.md").read_text()


def test_ctrl_c_while_compiling_keeps_a_note(decay_config, tmp_path, monkeypatch):
    def interrupt(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(fit_module, "_compiled", interrupt)
    out = tmp_path / "compiling"
    assert main([str(decay_config), "--out", str(out), *QUIET]) == 1
    result = _results(out)
    assert result["interrupted"] and result["num_steps"] == 0 and "compiling" in result["message"]
    assert {p.name for p in out.iterdir()} == {
        "config.yaml",
        "data.csv",
        "env.json",
        "result.json",
        "report.md",
    }
    assert "interrupted" in (out / "report.md").read_text()


def test_ctrl_c_while_plotting_keeps_the_fit(decay_problem, tmp_path, monkeypatch):
    def interrupt(folder, *args):
        (folder / "fit.png").write_bytes(b"drawn before the interruption")
        raise KeyboardInterrupt

    monkeypatch.setattr(report_module, "write_plots", interrupt)
    out = tmp_path / "plotting"
    result = _run_decay(decay_problem, out)
    assert result["interrupted"] and not result["success"]
    assert "while drawing the plots" in result["message"]
    assert result["parameters"]["k"]["stderr"] > 0  # error bars came before the plots
    assert result["gradient"]["taylor_test"]["passed"]
    assert "![Data and fitted model](fit.png)" in (out / "report.md").read_text()
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 1


def test_not_converged_exits_1_and_says_so_once(decay_config, tmp_path, monkeypatch, capsys):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)  # progress is shown on a terminal
    out = tmp_path / "short"
    code = main(
        [str(decay_config), "--out", str(out), "--no-cache", *NO_EXTRAS, "--set", "fit.max_steps=2"]
    )
    assert code == 1
    result = _results(out)
    assert not result["success"] and "maximum number of steps" in result["message"]
    shown = capsys.readouterr().out + terminal.getvalue()
    assert "step    1/2 | chi2" in terminal.getvalue()
    assert "step    2/2 | chi2" in terminal.getvalue()  # the last step, shown at the end
    assert shown.count(result["message"]) == 1


def test_import_leaves_matplotlib_alone_and_total_time_counts_from_process_start():
    script = (
        "import time; time.sleep(0.3)\n"
        "import sys, matplotlib\n"
        "backend = matplotlib.get_backend()\n"
        "import diffsim\n"
        "from diffsim.runner import process_start\n"
        "assert matplotlib.get_backend() == backend, matplotlib.get_backend()\n"
        "assert not {'matplotlib.pyplot', 'sympy'} & set(sys.modules)\n"
        "print(time.perf_counter() - process_start())\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MPLBACKEND": "svg"},
    )
    assert run.returncode == 0, run.stderr
    assert float(run.stdout) >= 0.3
