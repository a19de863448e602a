"""A catalogue of bad and hostile input (issue 15): never a traceback, never a silent wrong
answer, never a hang.

Every bad config, data file, flag or model gives exit status 2 and one line on stderr naming
the key, file or line, and leaves no run folder. Library calls raise one exception type
(a `ValueError`) whose message names the argument. Failures after the fit started (a model
that cannot be simulated at the starting point, SIGINT, SIGTERM) exit with status 1 and
leave a report saying what happened. The CLI runs in-process; only the signal tests spawn a
process.
"""

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
import yaml
from problems import DECAY_CONFIG, DECAY_CSV

from diffsim import solve_ode, status_message
from diffsim._solution import RESULTS
from diffsim.config import (
    ConfigError,
    build_problem,
    load_config,
    load_yaml,
    read_config_data,
)
from diffsim.inverse import DataError, ExpressionError, load_dataset, parse_expression
from diffsim.inverse._user_models import UserModelError, model_from_function
from diffsim.run import main
from diffsim.runner import (
    MAX_STEPS,
    RunFolder,
    RunFolderError,
    Terminated,
    interruption,
    sigterm_interrupts,
)
from diffsim.runner._run import start_failure_cause

GOOD, CSV = DECAY_CONFIG, DECAY_CSV
EQUATION = '"-k * y"'
SYNTHETIC = "data: {synthetic: {times: {start: 0, stop: 2, num: 5}}}"


def _with(old: str, new: str, config: str = GOOD) -> str:
    assert old in config, old
    return config.replace(old, new)


def _equation(text: str) -> str:
    return _with(EQUATION, json.dumps(text))


def _function_model(reference: str) -> str:
    return _with(
        'model: {equations: {y: "-k * y"}}', f"model: {{function: '{reference}', states: [y]}}"
    )


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A folder with data.csv; user modules written there can be imported."""
    (tmp_path / "data.csv").write_text(CSV)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _cli(folder: Path, capsys, config: str | bytes = GOOD, files=None, args=()) -> str:
    """Run the command line on `config`; assert exit 2, one line, no traceback, no run folder."""
    for name, content in (files or {}).items():
        path = folder / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    path = folder / "config.yaml"
    path.write_bytes(config) if isinstance(config, bytes) else path.write_text(config)
    out = folder / "out"
    argv = [str(path), "--out", str(out), "--quiet", "--no-cache", *args]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    assert not out.exists()
    return lines[0]


def _refused(folder, capsys, config, *fragments, files=None, args=()):
    line = _cli(folder, capsys, config, files=files, args=args)
    for fragment in fragments:
        assert fragment in line, line


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)

# -- YAML ------------------------------------------------------------------------------------
YAML_CASES = [
    ("dup-init", _with("init: 0.5,", "init: 0.5, init: 0.7,"), ("line 4", "duplicate key 'init'")),
    ("dup-fit", GOOD + "fit: {max_steps: 3}\nfit: {max_steps: 4}\n", ("duplicate key 'fit'",)),
    ("dup-name", GOOD + "name: other\n", ("duplicate key 'name'",)),
    ("dup-state", _with('{y: "-k * y"}', '{y: "-k * y", y: "k"}'), ("duplicate key 'y'",)),
    ("alias-bomb", ALIAS_BOMB, ("aliases expand to more than", "alias bomb")),
    ("alias-bomb-in-key", GOOD + ALIAS_BOMB.replace("a:", "description:", 1), ("alias bomb",)),
    ("recursive-alias", GOOD + "extra: &r [1, *r]\n", ("config.yaml",)),
    ("deep-nesting", "a: " + "[" * 1000 + "]" * 1000 + "\n", ("nested more than 100",)),
    ("unclosed", "name: [unclosed", ("malformed YAML", "line 1")),
    ("tab-indent", "name: a\n\tfit: 1\n", ("malformed YAML",)),
    ("empty", "", ("the config file is empty",)),
    ("comment-only", "# nothing\n", ("the config file is empty",)),
    ("list", "- a\n- b\n", ("expected a mapping",)),
    ("scalar", "42\n", ("expected a mapping",)),
    ("latin-1", "name: caf\xe9\n".encode("latin-1"), ("cannot read the config file",)),
    ("nul-byte", b"name: a\x00\n", ("config.yaml",)),
    ("python-tag", "name: !!python/object/apply:os.system ['true']\n", ("config.yaml",)),
    ("unknown-key", GOOD + "colour: red\n", ("colour: unknown key",)),
    ("typo-key", _with("observations:", "observation:"), ("observations: required key",)),
    ("model-list", _with('model: {equations: {y: "-k * y"}}', "model: [1, 2]"), ("model",)),
    ("data-both", GOOD + "", ()),  # placeholder replaced below
]
YAML_CASES[-1] = (
    "data-both",
    _with("data: {file: {path: data.csv}}", f"{SYNTHETIC[:-1]}, file: data.csv}}"),
    ("data", "exactly one of 'synthetic' or 'file'"),
)


@pytest.mark.parametrize("name, config, fragments", YAML_CASES, ids=[c[0] for c in YAML_CASES])
def test_yaml(folder, capsys, name, config, fragments):
    _refused(folder, capsys, config, *fragments)


def test_config_file_too_large(folder, capsys):
    big = GOOD + "description: " + "x" * (11 * 2**20) + "\n"
    _refused(folder, capsys, big, "more than 10 MiB")


# -- parameters, initial states, observations ----------------------------------------------
PARAMETER_CASES = [
    ("init-text", _with("init: 0.5", "init: fast"), ("parameters.k.init", "valid number")),
    ("init-list", _with("init: 0.5", "init: [1, 2]"), ("parameters.k.init",)),
    ("init-outside-bounds", _with("init: 0.5", "init: 20"), ("parameters.k.init", "bounds")),
    ("true-outside-bounds", _with("true: 0.8", "true: 12"), ("parameters.k.true", "bounds")),
    ("bounds-3", _with("bounds: [0.01, 10]", "bounds: [0, 1, 2]"), ("parameters.k.bounds",)),
    ("bounds-reversed", _with("bounds: [0.01, 10]", "bounds: [10, 0.01]"), ("parameters.k",)),
    (
        "log-negative",
        _with("init: 0.5, true: 0.8, bounds: [0.01, 10]", "init: -1, transform: log"),
        ("parameters.k", "'log' needs a positive value"),
    ),
    ("transform-unknown", _with("bounds: [0.01, 10]", "transform: cube"), ("transform",)),
    ("fixed-text", _with("bounds: [0.01, 10]", "fixed: maybe"), ("parameters.k.fixed",)),
    ("all-fixed", _with("k: {init: 0.5, true: 0.8, bounds: [0.01, 10]}", "k: 0.5"), ("nothing",)),
    ("all-fixed-flag", _with("bounds: [0.01, 10]", "fixed: true"), ("parameters: nothing to",)),
    (
        "all-fixed-synthetic",
        _with(
            "data: {file: {path: data.csv}}",
            SYNTHETIC,
            _with("k: {init: 0.5, true: 0.8, bounds: [0.01, 10]}", "k: 0.5"),
        ),
        ("parameters: nothing to estimate",),
    ),
    (
        "no-parameters",
        _with("  k: {init: 0.5, true: 0.8, bounds: [0.01, 10]}\n", "", _equation("-y")).replace(
            "parameters:\n", "parameters: {}\n"
        ),
        ("parameters: nothing to estimate",),
    ),
    ("param-is-state", _with("  k: {init", "  y: {init: 1}\n  k: {init"), ("'y'", "state")),
    ("param-t", _with("  k: {init", "  t: {init: 1}\n  k: {init"), ("'t'", "reserved")),
    ("param-pi", _with("  k: {init", "  pi: {init: 1}\n  k: {init"), ("'pi'", "reserved")),
    ("param-sin", _with("  k: {init", "  sin: {init: 1}\n  k: {init"), ("'sin'", "reserved")),
    ("param-missing", _with("  k: {init", "  kk: {init"), ("unknown symbol 'k'",)),
    (
        "param-unused",
        _with("  k: {init", "  c: {init: 2.0}\n  k: {init"),
        ("parameters.c", "not used"),
    ),
    ("y0-not-state", _with("{y: 1.0}", "{y: 1.0, z: 2.0}"), ("initial_state.z", "not a state")),
    ("y0-text", _with("{y: 1.0}", "{y: lots}"), ("initial_state.y", "unknown symbol 'lots'")),
    ("y0-missing", _with("initial_state: {y: 1.0}\n", ""), ("initial_state.y", "no initial")),
    ("sigma-negative", _with("sigma: 0.01", "sigma: -1"), ("observations.y.sigma",)),
    ("sigma-zero", _with("sigma: 0.01", "sigma: 0"), ("observations.y", "sigma")),
    ("observation-unknown", _with("{y: {sigma", "{w: {sigma"), ("observations.w",)),
    ("observations-empty", _with("observations: {y: {sigma: 0.01}}", "observations: {}"), ()),
]


@pytest.mark.parametrize(
    "name, config, fragments", PARAMETER_CASES, ids=[c[0] for c in PARAMETER_CASES]
)
def test_parameters(folder, capsys, name, config, fragments):
    _refused(folder, capsys, config, *fragments)


# -- seeds, batch sizes, step counts: checked before any work --------------------------------
LIMIT_CASES = [
    ("seed-negative", GOOD + "seed: -1\n", ("seed", "greater than or equal to 0")),
    ("seed-2**63", GOOD + f"seed: {2**63}\n", ("seed", "less than")),
    ("seed-2**70", GOOD + f"seed: {2**70}\n", ("seed", "less than")),
    ("seed-float", GOOD + "seed: 1.5\n", ("seed",)),
    ("seed-text", GOOD + "seed: lucky\n", ("seed",)),
    ("multistart-seed-negative", GOOD + "fit: {multistart: {count: 2, seed: -1}}\n", ("seed",)),
    ("multistart-seed-huge", GOOD + f"fit: {{multistart: {{seed: {2**70}}}}}\n", ("seed",)),
    ("multistart-count-0", GOOD + "fit: {multistart: {count: 0}}\n", ("multistart.count",)),
    (
        "multistart-count-1e9",
        GOOD + "fit: {multistart: {count: 1000000000}}\n",
        ("fit.multistart.count", "GiB", "DIFFSIM_MAX_MEMORY_GB"),
    ),
    (
        "synthetic-seed-negative",
        _with("data: {file: {path: data.csv}}", SYNTHETIC[:-2] + ", seed: -1}}"),
        ("data.synthetic.seed",),
    ),
    (
        "synthetic-num-1e9",
        _with("data: {file: {path: data.csv}}", SYNTHETIC.replace("num: 5", "num: 1000000000")),
        ("data.synthetic.times", "GiB", "DIFFSIM_MAX_MEMORY_GB"),
    ),
    (
        "synthetic-num-1",
        _with("data: {file: {path: data.csv}}", SYNTHETIC.replace("num: 5", "num: 1")),
        ("data.synthetic.times.num",),
    ),
    (
        "synthetic-stop-before-start",
        _with("data: {file: {path: data.csv}}", SYNTHETIC.replace("stop: 2", "stop: -2")),
        ("data.synthetic.times", "'stop' must be greater"),
    ),
    (
        "synthetic-times-unsorted",
        _with("data: {file: {path: data.csv}}", "data: {synthetic: {times: [0, 2, 1]}}"),
        ("data.synthetic.times", "increasing"),
    ),
    (
        "synthetic-dt-1e-15",
        _with("data: {file: {path: data.csv}}", SYNTHETIC[:-2] + ", dt: 1.0e-15}}")
        + "solver: {name: rk4, dt: 0.1}\n",
        ("data.synthetic.dt", "int32"),
    ),
    ("dt-1e-13", GOOD + "solver: {name: rk4, dt: 1.0e-13}\n", ("solver.dt", "2e+13 steps")),
    ("dt-zero", GOOD + "solver: {dt: 0}\n", ("solver.dt", "greater than 0")),
    ("dt-negative", GOOD + "solver: {dt: -0.1}\n", ("solver.dt",)),
    ("dt-text", GOOD + "solver: {dt: small}\n", ("solver.dt",)),
    ("max-steps-1e12", GOOD + "solver: {max_steps: 1000000000000}\n", ("solver.max_steps",)),
    (
        "max-steps-2e9-recorded",
        GOOD + "solver: {max_steps: 2000000000}\ngradient: {mode: reverse, adjoint: direct}\n",
        ("solver.max_steps", "2000000000 recorded steps per solve (adjoint 'direct')", "GiB"),
    ),
    ("max-steps-0", GOOD + "solver: {max_steps: 0}\n", ("solver.max_steps",)),
    ("rtol-zero", GOOD + "solver: {rtol: 0}\n", ("solver.rtol",)),
    ("atol-negative", GOOD + "solver: {atol: -1}\n", ("solver.atol",)),
    ("solver-unknown", GOOD + "solver: {name: rk45}\n", ("solver.name",)),
    ("fit-steps-0", GOOD + "fit: {max_steps: 0}\n", ("fit.max_steps",)),
    ("fit-method", GOOD + "fit: {method: newton}\n", ("fit.method", "unknown method")),
    ("fit-option", GOOD + "fit: {method: adam, options: {bogus: 1}}\n", ("fit.options",)),
    ("level-1", GOOD + "uncertainty: {level: 1}\n", ("uncertainty.level", "less than 1")),
    ("level-text", GOOD + "uncertainty: {level: high}\n", ("uncertainty.level",)),
    ("profile-text", GOOD + "uncertainty: {profile: maybe}\n", ("uncertainty.profile",)),
    ("bootstrap-1e9", GOOD + "uncertainty: {bootstrap: 1000000000}\n", ("bootstrap.samples",)),
    (
        "bootstrap-seed-negative",
        GOOD + "uncertainty: {bootstrap: {samples: 10, seed: -1}}\n",
        ("uncertainty.bootstrap.seed", "greater than or equal to 0"),
    ),
    ("t0-after-data", _with("path: data.csv}", "path: data.csv}, t0: 5"), ("data.t0",)),
    ("t0-text", _with("path: data.csv}", "path: data.csv}, t0: soon"), ("data.t0",)),
]


@pytest.mark.parametrize("name, config, fragments", LIMIT_CASES, ids=[c[0] for c in LIMIT_CASES])
def test_limits(folder, capsys, name, config, fragments):
    _refused(folder, capsys, config, *fragments)


@pytest.mark.parametrize(
    "section, key",
    [
        ("fit: {multistart: {count: 10000}}", "fit.multistart.count"),
        ("uncertainty: {bootstrap: 10000}", "uncertainty.bootstrap.samples"),
    ],
)
def test_memory_limit_names_how_to_raise_it(folder, capsys, monkeypatch, section, key):
    """The same batch passes with the default limit and is refused under 1 MiB."""
    monkeypatch.setenv("DIFFSIM_MAX_MEMORY_GB", str(1 / 1024))
    config = GOOD + section + "\n"
    _refused(folder, capsys, config, key, "limit of 0.000977 GiB", "DIFFSIM_MAX_MEMORY_GB")
    monkeypatch.delenv("DIFFSIM_MAX_MEMORY_GB")
    (folder / "config.yaml").write_text(config)
    assert main([str(folder / "config.yaml"), "--validate", "--no-cache"]) == 0


# -- equations --------------------------------------------------------------------------------
EXPRESSION_CASES = [
    ("digits-400", "-k * y + " + "9" * 400, "(400 digits) is too large for float64"),
    ("literal-1e400", "-k * y + 1e400", "too large for float64"),
    ("unknown-symbol", "-k * y * z", "unknown symbol 'z'"),
    ("attribute", "y.__class__", "attribute access"),
    ("dunder-import", "__import__('os')", "__import__"),
    ("open", "open(y)", "call of 'open'"),
    ("eval", "eval('1')", "call of 'eval'"),
    ("lambda", "(lambda: 1)()", "only calls of whitelisted functions"),
    ("subscript", "y[0]", "indexing"),
    ("walrus", "(a := 1)", "assignment"),
    ("comprehension", "[y for y in (1,)]", "comprehensions"),
    ("fstring", "f'{y}'", "f-strings"),
    ("and", "y and k", "'and'/'or'"),
    ("keyword", "sin(x=y)", "keyword arguments"),
    ("arity", "sin(y, k)", "sin() takes 1 argument"),
    ("uncalled", "-sin", "used without calling it"),
    ("xor", "y ^ 2", "operator BitXor is not allowed"),
    ("floordiv", "y // 2", "operator FloorDiv"),
    ("modulo", "y % 2", "operator Mod"),
    ("chained", "0 < y < 1", "single comparisons"),
    ("equals", "where(y == 1, 0, 1)", "single comparisons"),
    ("string", "'y'", "only numbers are allowed"),
    ("bool", "True", "only numbers are allowed"),
    ("complex", "1j * y", "only numbers are allowed"),
    ("syntax", "-k * * y", "invalid syntax"),
    ("empty", "   ", "the expression is empty"),
    ("too-long", "y" + " + y" * 700, "longer than 2000 characters"),
    ("deep-parens", "(" * 600 + "y" + ")" * 600, "model.equations.y"),
    ("deep-unary", "-" * 1900 + "y", "model.equations.y"),
]


@pytest.mark.parametrize(
    "name, text, fragment", EXPRESSION_CASES, ids=[c[0] for c in EXPRESSION_CASES]
)
def test_equations(folder, capsys, name, text, fragment):
    _refused(folder, capsys, _equation(text), "model.equations.y", fragment)


MODEL_CASES = [
    ("state-t", _with('{y: "-k * y"}', '{y: "-k * y", t: "1"}'), ("'t'", "reserved")),
    ("state-exp", _with('{y: "-k * y"}', '{y: "-k * y", exp: "1"}'), ("'exp'", "reserved")),
    ("state-dash", _with('{y: "-k * y"}', '{y: "-k * y", y-1: "1"}'), ("'y-1'", "identifier")),
    ("equation-number", _with('"-k * y"', "5"), ("model.equations.y",)),
    ("equations-empty", _with('{equations: {y: "-k * y"}}', "{equations: {}}"), ("model",)),
    ("builtin-unknown", _with('{equations: {y: "-k * y"}}', "lotka"), ("model.builtin",)),
    ("two-kinds", _with("{equations:", "{builtin: lotka_volterra, equations:"), ("exactly one",)),
]


@pytest.mark.parametrize("name, config, fragments", MODEL_CASES, ids=[c[0] for c in MODEL_CASES])
def test_models(folder, capsys, name, config, fragments):
    _refused(folder, capsys, config, *fragments)


# -- user Python models ----------------------------------------------------------------------
USER_MODULES = [
    ("syntax-error", "def f(:\n", ("importing module 'user_model'", "SyntaxError", "line 1")),
    (
        "raises-at-import",
        "raise RuntimeError('no licence')\n",
        ("importing module 'user_model'", "RuntimeError: no licence", "user_model.py, line 1"),
    ),
    (
        "exits-at-import",
        "import sys\nsys.exit(3)\n",
        ("importing module 'user_model'", "SystemExit"),
    ),
    (
        "function-raises",
        "def f(t, y, p):\n    raise KeyError('gamma')\n",
        ("model.function: user_model:f raised KeyError: 'gamma'", "user_model.py, line 2"),
    ),
    (
        "complex-rhs",
        "def f(t, y, p):\n    return -p['k'] * y * (1 + 1j)\n",
        ("returns complex values", "real state"),
    ),
    (
        "wrong-shape",
        "import jax.numpy as jnp\ndef f(t, y, p):\n    return jnp.zeros(3)\n",
        ("model: cannot be evaluated", "structure and shapes"),
    ),
    (
        "returns-text",
        "def f(t, y, p):\n    return 'fast'\n",
        ("model",),
    ),
    ("no-function", "def g(t, y, p):\n    return -y\n", ("has no function 'f'",)),
    ("not-callable", "f = 3\n", ("has no function 'f'",)),
]


@pytest.mark.parametrize("name, source, fragments", USER_MODULES, ids=[c[0] for c in USER_MODULES])
def test_user_python_models(folder, capsys, name, source, fragments):
    module = f"user_model_{name.replace('-', '_')}"
    fragments = tuple(f.replace("user_model", module) for f in fragments)
    _refused(
        folder,
        capsys,
        _function_model(f"{module}:f"),
        *fragments,
        files={f"{module}.py": source},
    )


@pytest.mark.parametrize(
    "reference, fragment",
    [
        ("no_such_module_xyz:f", "cannot import module 'no_such_module_xyz'"),
        ("bad name:f", "expected 'package.module:function'"),
        ("nocolon", "expected 'package.module:function'"),
        ("os:system", "model.function"),  # imports fine; calling it is refused (wrong types)
    ],
)
def test_user_model_references(folder, capsys, reference, fragment):
    _refused(folder, capsys, _function_model(reference), "model.function", fragment)


# -- data files --------------------------------------------------------------------------------
CSV_CASES = [
    ("duplicate-column", "t,y,y\n0,1,2\n1,2,3\n", ("line 1", "'y' appears twice")),
    ("duplicate-time-column", "t,y,t\n0,1,2\n1,2,3\n", ("'t' appears twice",)),
    ("missing-column", "t,x\n0,1\n1,2\n", ("missing column 'y'",)),
    ("not-a-number", "t,y\n0,1\n1,abc\n", ("line 3", "'abc' is not a number")),
    ("nan-time", "t,y\n0,1\nnan,2\n2,3\n", ("line 3", "not finite")),
    ("inf-time", "t,y\n0,1\ninf,2\n", ("not finite",)),
    ("decreasing", "t,y\n0,1\n2,2\n1,3\n", ("strictly increasing", "(lines 3 and 4)")),
    ("repeated-time", "t,y\n0,1\n1,2\n1,3\n", ("1.0 follows 1.0",)),
    ("one-row", "t,y\n0,1\n", ("at least two",)),
    ("header-only", "t,y\n", ("at least two",)),
    ("empty", "", ("no header",)),
    ("comments-only", "# a\n# b\n", ("no header",)),
    ("ragged", "t,y\n0,1\n1,2,3\n", ("line 3 has 3 fields, expected 2",)),
    ("inf-value", "t,y\n0,1\n1,inf\n", ("'y' contains infinite values",)),
    ("all-missing", "t,y\n0,\n1,nan\n", ("'y' has no finite values",)),
    ("binary", b"t,y\n0,\xff\xfe\n", ("cannot read the file",)),
    ("inline-comment", "t,y\n0,1 # noisy\n1,2\n", ("line 2", "'1 # noisy' is not a number")),
    ("bom-duplicate", "\ufefft,y,y\n0,1,2\n1,2,3\n", ("'y' appears twice",)),
]


@pytest.mark.parametrize("name, text, fragments", CSV_CASES, ids=[c[0] for c in CSV_CASES])
def test_csv(folder, capsys, name, text, fragments):
    _refused(folder, capsys, GOOD, "data.csv", *fragments, files={"data.csv": text})


def test_csv_byte_order_mark_is_skipped(folder):
    """Excel writes a UTF-8 byte-order mark; the header still reads `t,y` (both parsers)."""
    (folder / "bom.csv").write_text("\ufeff# from a spreadsheet\nt,y\n0,1.5\n1,0.5\n", "utf-8")
    data = load_dataset(folder / "bom.csv", ["y"])
    np.testing.assert_array_equal(data.values[:, 0], [1.5, 0.5])
    (folder / "bom.csv").write_text("\ufefft,y\n0,1.5\n1,\n2,0.5\n", "utf-8")  # the slow path
    data = load_dataset(folder / "bom.csv", ["y"])
    np.testing.assert_array_equal(data.ts, [0, 1, 2])
    assert np.isnan(data.values[1, 0]) and data.values[2, 0] == 0.5


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


t3 = np.arange(3.0)
NPZ_CASES = [
    ("plain-npy", _npy(t3), ("not an NPZ archive", "numpy.savez")),
    ("empty-file", b"", ("not an NPZ archive",)),
    ("text", b"t,y\n0,1\n", ("not an NPZ archive",)),
    ("corrupt-zip", b"PK\x03\x04" + b"\x00" * 40, ("cannot read the NPZ file",)),
    ("missing-array", _npz(t=t3), ("missing array 'y'",)),
    ("two-dimensional", _npz(t=t3, y=np.ones((3, 2))), ("1-D and of equal length",)),
    ("unequal", _npz(t=t3, y=np.ones(4)), ("1-D and of equal length",)),
    ("complex", _npz(t=t3, y=t3 * 1j), ("complex128", "expected real numbers")),
    ("text-array", _npz(t=t3, y=np.asarray(["a", "b", "c"])), ("'y'", "not numbers")),
    ("object-array", _npz(t=t3, y=np.asarray([1, None, 2], dtype=object)), ("cannot read",)),
]


@pytest.mark.parametrize("name, content, fragments", NPZ_CASES, ids=[c[0] for c in NPZ_CASES])
def test_npz(folder, capsys, name, content, fragments):
    config = _with("data.csv", "data.npz")
    _refused(folder, capsys, config, "data.npz", *fragments, files={"data.npz": content})


@pytest.mark.parametrize(
    "path, fragment",
    [
        ("missing.csv", "data file not found"),
        ("data.txt", "unsupported data file type '.txt'"),
        ("subfolder", "data file not found"),
        ("/nonexistent/abs.csv", "data file not found"),
    ],
)
def test_data_paths(folder, capsys, path, fragment):
    (folder / "subfolder").mkdir()
    (folder / "data.txt").write_text(CSV)
    _refused(folder, capsys, _with("path: data.csv", f"path: {path}"), fragment)


# -- command line ------------------------------------------------------------------------------
def test_out_empty_is_refused(folder, capsys):
    (folder / "config.yaml").write_text(GOOD)
    assert main([str(folder / "config.yaml"), "--out", "", "--quiet"]) == 2
    assert capsys.readouterr().err.strip() == "error: --out: the folder name is empty"
    assert not (folder / "runs").exists() and not Path("runs/decay").exists()


@pytest.mark.parametrize(
    "out, fragment",
    [
        ("data.csv", "exists and is not a folder"),
        ("data.csv/run", "cannot create the folder"),
        ("/proc/diffsim-run", "cannot create the folder"),
    ],
)
def test_out_unusable(folder, capsys, out, fragment):
    (folder / "config.yaml").write_text(GOOD)
    target = out if out.startswith("/") else str(folder / out)
    assert main([str(folder / "config.yaml"), "--out", target, "--quiet", "--no-cache"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"--out {target}" in err and fragment in err, err
    assert (folder / "data.csv").read_text() == CSV


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_out_read_only(folder, capsys):
    out = folder / "locked"
    out.mkdir(mode=0o500)
    (folder / "config.yaml").write_text(GOOD)
    assert main([str(folder / "config.yaml"), "--out", str(out), "--quiet"]) == 2
    assert "is not writable" in capsys.readouterr().err
    assert not any(out.iterdir())


def test_out_not_empty_keeps_the_files(folder, capsys):
    out = folder / "out"
    out.mkdir()
    (out / "result.json").write_text("precious")
    (folder / "config.yaml").write_text(GOOD)
    assert main([str(folder / "config.yaml"), "--out", str(out), "--quiet"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (out / "result.json").read_text() == "precious"


def test_disk_full_while_writing_is_one_line(folder, capsys, monkeypatch):
    """A write that fails after the run folder was made (disk full): one line, status 1,
    no half-written file."""
    write = Path.write_bytes

    def full(path, data):
        write(path, data[: len(data) // 2])
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(Path, "write_bytes", full)
    (folder / "config.yaml").write_text(GOOD)
    out = folder / "out"
    assert main([str(folder / "config.yaml"), "--out", str(out), "--quiet", "--no-cache"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"error: {out / '.config.yaml.tmp'}: cannot write (No space left on device)"
    assert [p.name for p in out.iterdir()] == ["data.csv"]  # copied whole, before the failure


NAME_CASES = [
    ("dotdot", "'..'", ("name", "'.' or '..'")),
    ("dot", "'.'", ("name", "'.' or '..'")),
    ("slash", "a/b", ("name", "pattern")),
    ("absolute", "/tmp/x", ("name",)),
    ("backslash", "'a\\b'", ("name",)),
    ("empty", "''", ("name",)),
    ("long", "x" * 101, ("name", "at most 100")),
    ("space", "'a b'", ("name",)),
]


@pytest.mark.parametrize("case, value, fragments", NAME_CASES, ids=[c[0] for c in NAME_CASES])
def test_run_names_stay_under_runs(folder, capsys, monkeypatch, case, value, fragments):
    monkeypatch.chdir(folder)
    (folder / "config.yaml").write_text(_with("name: decay", f"name: {value}"))
    assert main([str(folder / "config.yaml"), "--quiet", "--no-cache"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(f in err for f in fragments), err
    assert sorted(p.name for p in folder.iterdir()) == ["config.yaml", "data.csv"]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--set", "fit.max_steps=many"], "fit.max_steps"),
        (["--set", "novalue"], "key.path=value"),
        (["--set", "=1"], "key.path=value"),
        (["--set", "name.x=1"], "name is not a mapping"),
        (["--set", "fit={max_steps: 1, max_steps: 2}"], "fit"),
        (["--set", "colour=red"], "colour: unknown key"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--out"], "expected one argument"),
    ],
)
def test_flags(folder, capsys, args, fragment):
    (folder / "config.yaml").write_text(GOOD)
    try:
        code = main([str(folder / "config.yaml"), "--validate", "--no-cache", *args])
    except SystemExit as exit_:  # argparse
        code = exit_.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and fragment in err, err


def test_missing_and_folder_config(folder, capsys):
    assert main([str(folder / "nope.yaml"), "--validate"]) == 2
    assert "nope.yaml: config file not found" in capsys.readouterr().err
    assert main([str(folder), "--validate"]) == 2
    assert "config file not found" in capsys.readouterr().err


# -- PDE configs -------------------------------------------------------------------------------
PDE = "configs/pde_heat_diffusivity.yaml"
PDE_CASES = [
    (["model.grid.cells=10000000", "data.synthetic.refine=16"], "data.synthetic.refine"),
    (["model.grid.cells=2"], "at least 3 cells"),
    (["model.grid.cells=[3, 3, 3]"], "1D or 2D"),
    (["data.synthetic.refine=17"], "data.synthetic.refine"),
    (["data.synthetic.seed=-1"], "data.synthetic.seed"),
    (["data.synthetic.times.num=1000000000"], "data.synthetic.times"),
    (["model.equation=no_such_module_xyz:f", "model.states=[u]"], "cannot import module"),
    (["solver.max_steps=1000000000000"], "solver.max_steps"),
    (["solver.dt=1.0e-14"], "solver.dt"),
    (["model.equation=plasma"], "unknown equation"),
    (["parameters.diffusivity.init=1.0e12"], "solver.dt: a step of 1.36e-16"),
    (["parameters.diffusivity.true=1.0e12"], "data.synthetic (the step at the true values)"),
    (["model.grid.cells=1000000"], "solver.dt: a step of 6.96e-12"),
    (["data.t0=-1.0e12"], "over the time span 1e+12"),
    (["model.initial_condition=1/0*x"], "model.initial_condition: not finite"),
    (["model.initial_condition=log(x-2)"], "model.initial_condition: not finite"),
    (["parameters.diffusivity.init=.nan"], "parameters.diffusivity.init: value nan"),
]


@pytest.mark.parametrize("overrides, fragment", PDE_CASES, ids=[o[0] for o, _ in PDE_CASES])
def test_pde(tmp_path, capsys, overrides, fragment):
    out = tmp_path / "run"
    args = [PDE, "--out", str(out), "--quiet", "--no-cache"]
    assert main(args + [a for o in overrides for a in ("--set", o)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err and "Traceback" not in err, err
    assert not out.exists()


UDE = "configs/ude_lotka_volterra.yaml"


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("neural.width=10000000", "neural.width: 3e+14 network weights"),
        ("neural.depth=100000", "neural.depth: Input should be less than or equal to 64"),
        ("neural.seed=-1", "neural.seed: Input should be greater than or equal to 0"),
        ("neural.outputs=0", "neural.outputs"),
    ],
)
def test_neural(tmp_path, capsys, override, fragment):
    out = tmp_path / "run"
    assert main([UDE, "--out", str(out), "--quiet", "--no-cache", "--set", override]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err and "Traceback" not in err, err
    assert not out.exists()


PINN = "configs/burgers_identification_pinn.yaml"
PINN_CASES = [
    (["pinn.seed=-1"], "pinn.seed: Input should be greater than or equal to 0"),
    ([f"pinn.seed={2**70}"], "pinn.seed: Input should be less than"),
    (["pinn.network.width=1000000"], "pinn.network.width: 4e+12 network weights"),
    (["pinn.network.depth=100000"], "pinn.network.depth: Input should be less than or equal"),
    (["pinn.collocation={sampler: uniform, points: 1000000000}"], "pinn.collocation.points"),
    (["pinn.network.width=0"], "pinn.network.width"),
]


@pytest.mark.parametrize("overrides, fragment", PINN_CASES, ids=[o[0] for o, _ in PINN_CASES])
def test_pinn(tmp_path, capsys, overrides, fragment):
    out = tmp_path / "run"
    args = [PINN, "--out", str(out), "--quiet", "--no-cache"]
    assert main(args + [a for o in overrides for a in ("--set", o)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err and "Traceback" not in err, err
    assert not out.exists()


# -- library calls: one exception type, naming the argument ----------------------------------
def test_library_calls_name_the_argument(tmp_path):
    rhs = lambda t, y, p: -y
    with pytest.raises(ValueError, match="`max_steps` must be a positive integer up to"):
        solve_ode(rhs, jnp.ones(1), jnp.asarray([0.0, 1.0]), max_steps=10**12)
    with pytest.raises(
        ValueError, match=r"`dt`: a step of 1e-13 over the time span 1 takes 1e\+13 steps"
    ):
        solve_ode(rhs, jnp.ones(1), np.asarray([0.0, 1.0]), solver="rk4", dt=1e-13)
    with pytest.raises(ExpressionError, match="where: the number"):
        parse_expression("1" * 400, ["y"], where="where")
    with pytest.raises(UserModelError, match="m.f: cannot import module 'no_such_module_xyz'"):
        model_from_function("no_such_module_xyz:f", ["y"], [], where="m.f")
    with pytest.raises(RunFolderError, match="name: '..' cannot name a folder"):
        RunFolder.default_path("..")
    (tmp_path / "d.csv").write_text("t,y,y\n0,1,1\n1,2,2\n")
    with pytest.raises(DataError, match="'y' appears twice"):
        load_dataset(tmp_path / "d.csv", ["y"])
    with pytest.raises(yaml.YAMLError, match="alias bomb"):
        load_yaml(ALIAS_BOMB)
    (tmp_path / "c.yaml").write_text(ALIAS_BOMB)
    with pytest.raises(ConfigError, match="c.yaml: malformed YAML at line"):
        read_config_data(tmp_path / "c.yaml")
    assert MAX_STEPS == 2**31 - 1


@pytest.mark.parametrize("solver, dt", [("tsit5", None), ("rk4", 0.1)])
def test_nan_initial_state_is_not_reported_as_max_steps(solver, dt):
    sol = solve_ode(
        lambda t, y, p: -y,
        jnp.asarray([jnp.nan, 1.0]),
        np.linspace(0, 1, 3),
        solver=solver,
        dt=dt,
        throw=False,
    )
    assert int(sol.status) == RESULTS.nonfinite_state, status_message(int(sol.status))
    assert int(sol.stats["num_steps"]) <= 10  # fails at once, not after max_steps attempts


# -- failures after the fit started: exit 1 and a report that says why -----------------------
def test_start_point_failure_says_why(folder, capsys):
    """NaN in y0: exit 1, and the report gives the cause (not "maximum number of steps")."""
    (folder / "config.yaml").write_text(
        _with("initial_state: {y: 1.0}", "initial_state: {y: .nan}")
    )
    out = folder / "out"
    args = ["--set", "report.plots=false", "--set", "report.taylor_test=false"]
    assert (
        main([str(folder / "config.yaml"), "--out", str(out), "--quiet", "--no-cache", *args]) == 1
    )
    result = json.loads((out / "result.json").read_text())
    cause = "Cause: the initial state is not finite (NaN or inf) at the starting point."
    assert result["message"].endswith(cause) and "maximum number" not in result["message"]
    assert "cannot be simulated at the starting point" in result["message"]
    assert cause in (out / "report.md").read_text()


def test_start_point_cause_names_the_span_out_of_reach(folder):
    """Data times out of the solver's reach (t0 = -1e12): the step limit, with the span."""
    config = load_config_text(_with("path: data.csv}", "path: data.csv}, t0: -1.0e12"), folder)
    problem = build_problem(config, folder)
    cause = start_failure_cause(problem, np.asarray(problem.space.initial_values()))
    assert cause == status_message(RESULTS.max_steps_reached) + " (solving from t = -1e+12 to 2)"


def load_config_text(text: str, folder: Path):
    (folder / "config.yaml").write_text(text)
    return load_config(folder / "config.yaml")


SLOW_FIT = GOOD + (
    "fit: {method: adam, learning_rate: 1.0e-9, max_steps: 1000000, ftol: 0, xtol: 0, gtol: 0}\n"
    "report: {plots: false, taylor_test: false}\n"
)


def test_sigterm_during_the_fit_keeps_a_report(folder):
    """`kill PID` (SIGTERM) stops a long fit like Ctrl-C: exit 1, result.json and report.md."""
    (folder / "config.yaml").write_text(SLOW_FIT)
    out = folder / "out"
    command = [sys.executable, "-m", "diffsim.run", str(folder / "config.yaml"), "--out", str(out)]
    process = subprocess.Popen(
        [*command, "--quiet", "--no-cache"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path.cwd())},
    )
    deadline = time.monotonic() + 600  # compiling takes minutes on a loaded machine
    metrics = out / "metrics.jsonl"
    while not (metrics.exists() and metrics.stat().st_size) and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    assert metrics.exists(), "the fit did not start within 600 s"
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1 and "Traceback" not in err, err
    result = json.loads((out / "result.json").read_text())
    assert result["interrupted"] and not result["success"] and result["num_steps"] >= 1
    assert result["message"].startswith("Terminated (SIGTERM) after"), result["message"]
    assert "Terminated (SIGTERM)" in (out / "report.md").read_text()


def test_sigterm_raises_terminated_only_inside_the_block():
    """`sigterm_interrupts`: SIGTERM raises `Terminated` (a `KeyboardInterrupt`) inside the
    block, and the previous handler is back afterwards."""
    before = signal.getsignal(signal.SIGTERM)
    assert interruption() == "Interrupted by the user (Ctrl-C)"
    with pytest.raises(Terminated), sigterm_interrupts():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
    assert interruption() == "Terminated (SIGTERM)"
    assert signal.getsignal(signal.SIGTERM) is before
    with sigterm_interrupts():
        assert interruption() == "Interrupted by the user (Ctrl-C)"  # reset for the next run
