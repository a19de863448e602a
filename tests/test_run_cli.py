"""The whole command line on the built-in default config: files, report, exit codes, Ctrl-C."""

import json

import pytest

from diffsim.experiment import DEFAULT_CONFIG, Progress
from diffsim.run import main

EXPECTED = {
    "config.yaml",
    "env.json",
    "metrics.jsonl",
    "result.json",
    "report.md",
    "report.html",
    "fit.png",
    "residuals.png",
    "loss.png",
    "parameters.png",
    "correlation.png",
    "data.csv",
}


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "default"
    code = main(["--out", str(out), "--quiet", "--no-cache"])
    return code, out


def test_default_run_writes_everything(default_run):
    code, out = default_run
    assert code == 0
    assert EXPECTED - {"data.csv"} <= {p.name for p in out.iterdir()}
    result = json.loads((out / "result.json").read_text())
    assert result["success"] and result["statistics"]["num_points"] == 100
    for name, truth in {"alpha": 1.5, "beta": 1.0, "gamma": 3.0, "delta": 1.0}.items():
        p = result["parameters"][name]
        assert abs(p["estimate"] - truth) <= 0.005 * truth  # 1 % noise: within 0.5 %
        assert abs(p["estimate"] - truth) <= 2.5 * p["stderr"]
        assert p["init"] != truth and p["true"] == truth
    assert result["gradient"]["mode"] == "forward"
    assert result["gradient"]["taylor_test"]["passed"]
    assert set(result["timings"]) == {"compile_s", "fit_s", "total_s"}
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == result["num_steps"]
    assert set(json.loads(lines[0])) >= {"step", "loss", "gradient_norm", "params"}
    env = json.loads((out / "env.json").read_text())
    assert env["x64"] and env["packages"]["jax"]


def test_report_is_self_contained(default_run):
    _, out = default_run
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 5
    assert 'src="http' not in html and "<link" not in html
    markdown = (out / "report.md").read_text()
    for text in ("+/-", "reduced chi-square", "Akaike", "C(", "(init = "):
        assert text in markdown


def test_resolved_config_reruns_the_same(default_run, tmp_path):
    _, out = default_run
    code = main([str(out / "config.yaml"), "--validate", "--no-cache"])
    assert code == 0
    assert "lotka_volterra" in DEFAULT_CONFIG


def test_existing_run_is_never_overwritten(default_run, capsys):
    _, out = default_run
    before = (out / "result.json").read_text()
    assert main(["--out", str(out), "--quiet", "--no-cache"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (out / "result.json").read_text() == before


def test_ctrl_c_keeps_partial_results(tmp_path, monkeypatch):
    calls = []

    def interrupt(self, info, max_steps):
        calls.append(info.step)
        if info.step == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(Progress, "update", interrupt)
    out = tmp_path / "interrupted"
    code = main(["--out", str(out), "--quiet", "--no-cache", "--set", "report.plots=false"])
    assert code == 1
    result = json.loads((out / "result.json").read_text())
    assert result["interrupted"] and not result["success"]
    assert result["num_steps"] == 3 and "Ctrl-C" in result["message"]
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3
    assert "interrupted" in (out / "report.md").read_text()


def test_not_converged_exits_1(tmp_path):
    out = tmp_path / "short"
    code = main(
        [
            "--out",
            str(out),
            "--quiet",
            "--no-cache",
            "--set",
            "fit.max_steps=2",
            "--set",
            "report.plots=false",
            "--set",
            "report.taylor_test=false",
        ]
    )
    assert code == 1
    result = json.loads((out / "result.json").read_text())
    assert not result["success"] and "maximum number of steps" in result["message"]
