"""Bad input to `python -m diffsim.run`: one clear line on stderr, exit status 2, no traceback."""

import numpy as np
import pytest
import yaml
from problems import DECAY_CONFIG, DECAY_CSV

from diffsim.config import build_model, build_problem, dump_config, load_config, validate_config
from diffsim.run import main

GOOD, CSV = DECAY_CONFIG, DECAY_CSV


def _run(tmp_path, capsys, config=GOOD, csv=CSV, args=()):
    (tmp_path / "data.csv").write_text(csv)
    path = tmp_path / "config.yaml"
    path.write_text(config)
    code = main([str(path), "--validate", "--no-cache", *args])
    err = capsys.readouterr().err
    return code, err


def _assert_one_line(code, err, *fragments):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_good_config_validates(tmp_path, capsys):
    code, err = _run(tmp_path, capsys)
    assert code == 0, err


@pytest.mark.parametrize(
    "config, fragments",
    [
        ("name: [unclosed", ("malformed YAML", "line 1")),
        ("", ("the config file is empty",)),
        ("- a\n- b\n", ("expected a mapping",)),
        (GOOD + "colour: red\n", ("colour: unknown key",)),
        (GOOD.replace("k: {init: 0.5,", "k: {init: 0.5, step: 1,"), ("parameters.k", "step")),
        (GOOD.replace("init: 0.5", "init: fast"), ("parameters.k.init", "valid number")),
        (GOOD.replace("sigma: 0.01", "sigma: -1"), ("observations.y.sigma", "greater than")),
        (
            GOOD.replace('model: {equations: {y: "-k * y"}}', "model: lotka"),
            ("model.builtin: unknown model 'lotka'",),
        ),
        (GOOD + "solver: {name: rk45}\n", ("solver.name", "tsit5")),
        (GOOD.replace("init: 0.5", "init: 20"), ("parameters.k.init", "outside the bounds")),
        (GOOD.replace('"-k * y"', '"-k * y * z"'), ("model.equations.y", "unknown symbol 'z'")),
        (GOOD.replace('"-k * y"', '"y.__class__"'), ("model.equations.y", "attribute access")),
        (GOOD.replace('"-k * y"', "\"__import__('os')\""), ("model.equations.y", "__import__")),
        (GOOD.replace('"-k * y"', '"open(y)"'), ("model.equations.y", "call of 'open'")),
        (
            GOOD.replace(
                "observations: {y: {sigma: 0.01}}", "observations: {y: {expression: 'y + w'}}"
            ),
            ("observations.y", "unknown symbol 'w'"),
        ),
        (GOOD.replace("path: data.csv", "path: missing.csv"), ("missing.csv", "not found")),
        (GOOD.replace("k: {init", "kk: {init"), ("model.equations.y", "unknown symbol 'k'")),
        (GOOD + "fit: {method: newton}\n", ("fit.method", "unknown method")),
        (
            GOOD.replace("true: 0.8", "true: 12"),
            ("parameters.k.true", "value 12.0 is outside the bounds [0.01, 10.0]"),
        ),
        (
            GOOD.replace("true: 0.8, bounds: [0.01, 10]", "true: -1, transform: log"),
            ("parameters.k.true", "'log' needs a positive value"),
        ),
    ],
)
def test_bad_config(tmp_path, capsys, config, fragments):
    _assert_one_line(*_run(tmp_path, capsys, config=config), *fragments)


@pytest.mark.parametrize(
    "csv, fragments",
    [
        ("t,x\n0,1\n1,2\n", ("data.csv", "missing column 'y'")),
        ("t,y\n0,1\nnan,2\n2,3\n", ("data.csv", "line 3: the time nan is not finite")),
        ("t,y\n0,1\n2,2\n1,3\n", ("data.csv", "strictly increasing", "(lines 3 and 4)")),
        ("# c\n\nt,y\n0,1\n# c\n1,2\n1,3\n", ("data.csv", "1.0 follows 1.0 (lines 6 and 7)")),
        ("t,y\n0,1\n1,abc\n", ("data.csv", "line 3", "'abc' is not a number")),
        ("t,y\n0,1\n", ("data.csv", "at least two")),
        ("", ("data.csv", "no header")),
    ],
)
def test_bad_data(tmp_path, capsys, csv, fragments):
    _assert_one_line(*_run(tmp_path, capsys, csv=csv), *fragments)


def test_npz_data_and_missing_array(tmp_path, capsys):
    np.savez(tmp_path / "data.npz", t=np.arange(3.0), y=np.exp(-np.arange(3.0)))
    config = GOOD.replace("data.csv", "data.npz")
    code, err = _run(tmp_path, capsys, config=config)
    assert code == 0, err
    np.savez(tmp_path / "data.npz", t=np.arange(3.0))
    _assert_one_line(*_run(tmp_path, capsys, config=config), "missing array 'y'")


@pytest.mark.parametrize(
    "overrides, fragments",
    [
        (
            ["gradient.mode=forward", "gradient.adjoint=checkpoint"],
            ("gradient.adjoint", "forward mode cannot differentiate through adjoint 'checkpoint'"),
        ),
        (["fit.method=optax.nosuch"], ("fit.method", "optax has no optimizer named 'nosuch'")),
        (["fit.method=adam", "fit.options.bogus=1"], ("fit.options", "optax.adam", "bogus")),
        (["fit.method=lbfgs", "fit.options.bogus=1"], ("fit.options", "optax.lbfgs", "bogus")),
        (["fit.method=adam", "fit.options.b1=x"], ("fit.options", "optax.adam cannot use")),
    ],
)
def test_bad_fit_settings_are_found_before_the_run_folder_is_made(
    tmp_path, capsys, overrides, fragments
):
    args = [a for override in overrides for a in ("--set", override)]
    _assert_one_line(*_run(tmp_path, capsys, args=args), *fragments)  # --validate finds it
    out = tmp_path / "out"
    code = main([str(tmp_path / "config.yaml"), "--out", str(out), "--no-cache", *args])
    _assert_one_line(code, capsys.readouterr().err, *fragments)
    assert not out.exists()


def test_blank_and_nan_values_are_missing(tmp_path, capsys):
    csv = "# comment\nt,y\n0,1.0\n1,\n2,nan\n3,0.1\n"
    code, err = _run(tmp_path, capsys, csv=csv)
    assert code == 0, err
    config = load_config(tmp_path / "config.yaml")
    problem = build_problem(config, tmp_path)
    assert problem.num_points == 2 and problem.num_residuals == 4
    np.testing.assert_array_equal(np.isnan(problem.data.values[:, 0]), [False, True, True, False])


def test_equations_keep_the_users_state_order(tmp_path):
    config = validate_config(
        {
            "model": {"equations": {"y": "-x", "x": "y"}},
            "observations": ["y"],
            "data": {"file": "data.csv"},
        },
        ["model.equations.z=x"],
    )
    assert build_model(config).states == ("y", "x", "z")
    resolved = validate_config(yaml.safe_load(dump_config(config)))
    assert list(resolved.model.equations) == ["y", "x", "z"]


def test_bad_override(tmp_path, capsys):
    _assert_one_line(*_run(tmp_path, capsys, args=["--set", "fit.max_steps=many"]), "fit.max_steps")
    _assert_one_line(*_run(tmp_path, capsys, args=["--set", "novalue"]), "key.path=value")


def test_unreadable_config(tmp_path, capsys):
    code = main([str(tmp_path / "nope.yaml"), "--validate", "--no-cache"])
    _assert_one_line(code, capsys.readouterr().err, "nope.yaml: config file not found")


def test_output_folder_not_empty(tmp_path, capsys):
    (tmp_path / "data.csv").write_text(CSV)
    (tmp_path / "config.yaml").write_text(GOOD)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    code = main([str(tmp_path / "config.yaml"), "--out", str(out), "--no-cache", "--quiet"])
    _assert_one_line(code, capsys.readouterr().err, "not empty")
    assert (out / "keep.txt").read_text() == "precious"


def test_help_documents_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--out", "--set", "--validate", "--quiet", "exit status"):
        assert option in text


PDE = "configs/pde_heat_diffusivity.yaml"


@pytest.mark.parametrize(
    "overrides, fragments",
    [
        (["model.equation=plasma"], ("model.equation", "unknown equation")),
        (["model.grid.cells=2"], ("model.grid", "at least 3 cells")),
        (["model.grid.upper=-1"], ("model.grid", "upper > lower")),
        (["model.boundary={lft: periodic, right: periodic}"], ("boundary.lft", "unknown side")),
        (["model.boundary={left: periodic}"], ("boundary", "right")),
        (["model.boundary={left: periodic, right: {dirichlet: 0}}"], ("model.boundary.left",)),
        (["model.coefficients.speed=1"], ("model.coefficients.speed", "not a parameter")),
        (["model.initial_condition=sin(q*x)"], ("model.initial_condition.u", "'q'")),
        (["model.discretization=spectral"], ("model.discretization", "periodic")),
        (["fields.k={cells: 99, init: 1.0}", "model.coefficients.source=k"], ("fields.k.cells",)),
        (
            ["fields.k={cells: [4, 4], init: 1.0}", "model.coefficients.source=k"],
            ("fields.k.cells",),
        ),
        (["data.synthetic.sensors.x=[0.5, 2.0]"], ("data.synthetic.sensors.x", "outside")),
        (["data.synthetic.sensors.y=[0.5]"], ("data.synthetic.sensors.y", "not an axis")),
        (["solver.dt=0.1"], ("solver.dt", "stability limit")),
        (["solver.name=etdrk4", "model.boundary={all: {dirichlet: 0}}"], ("solver",)),
        (["truth.bogus=1"], ("truth", "unknown key")),
        (["parameters.unused={init: 1.0}"], ("parameters.unused", "not used")),
        (["observations.w={}"], ("observations.w", "not a state")),
    ],
)
def test_bad_pde_config(tmp_path, capsys, overrides, fragments):
    """One line naming the key, exit 2, no run folder; --validate catches the same."""
    out = tmp_path / "run"
    args = [PDE, "--out", str(out), "--quiet", "--no-cache"]
    args += [item for o in overrides for item in ("--set", o)]
    assert main(args) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and error.startswith("error: ")
    for fragment in fragments:
        assert fragment in error
    assert not out.exists()
    assert main([PDE, "--validate", *args[4:]]) == 2


@pytest.mark.parametrize(
    "text, fragments",
    [
        ("t,x,u\n0.1,2.5,1.0\n", ("outside the domain", "x = 2.5")),
        ("t,x,variable,value\n0.1,0.5,w,1.0\n", ("variable 'w'",)),
        ("t,x,u\n-1,0.5,1.0\n", ("before the initial time",)),
        ("t,x,u\n0.1,abc,1.0\n", ("'abc' is not a number",)),
        ("t,u\n0.1,1.0\n", ("missing column 'x'",)),
    ],
)
def test_bad_sensor_file(tmp_path, capsys, text, fragments):
    (tmp_path / "d.csv").write_text(text)
    args = [
        PDE,
        "--validate",
        "--set",
        "data.synthetic=null",
        "--set",
        f"data.file={tmp_path}/d.csv",
    ]
    assert main(args) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "d.csv" in error
    for fragment in fragments:
        assert fragment in error


def test_duplicate_yaml_keys_are_refused(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text("name: a\nname: b\n")
    assert main([str(tmp_path / "c.yaml"), "--validate"]) == 2
    assert "duplicate key 'name'" in capsys.readouterr().err
