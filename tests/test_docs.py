"""The documentation is tested: its code runs, its commands exist, its API has docstrings.

- Every ```python block of README.md and docs/**/*.md runs; the blocks of one page run in order
  in one namespace, from the repository root (so pages name files as a user there would).
- Every command the docs show (`python -m MODULE ...`, `python SCRIPT ...`, `pytest ...`,
  `pip install ...`) names a module or script that exists, config files that exist, and only
  flags that the script's `--help` lists.
- Every public name of every package face has a docstring whose first line is a summary, and
  a ```python example that runs (`# slow` in the example: only under `pytest -m slow`).
"""

import contextlib
import functools
import importlib.metadata
import importlib.util
import io
import re
import runpy
import shlex
import sys
from pathlib import Path

import jax
import matplotlib
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "hooks"))
from public_api import faces, public_names  # noqa: E402

matplotlib.use("Agg")

PAGES = sorted(
    [ROOT / "README.md", *(p for p in (ROOT / "docs").rglob("*.md") if "hooks" not in p.parts)]
)
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
PYTHON_LIKE = re.compile(r"^(py|py3|python|python3|pycon|ipython)\b", re.IGNORECASE)

# Pages whose code takes long (more than about half a minute): run with `pytest -m slow`.
SLOW: set[str] = {"docs/neural.md"}  # trains networks: about a minute

# What a page's code must print or leave in its namespace, beyond running without an error.
PRINTS = {
    "README.md": ["forward mode"],
    "docs/tutorial-ad.md": [
        "disagrees with automatic differentiation",
        "x1        input       2.0    1.0                       4.0",
    ],
}


def _fit_within_error_bars(ns) -> bool:
    truth = [1.5, 1.0, 3.0, 1.0]  # configs/lotka_volterra.yaml's `true` values
    z = [(x - t) / s for x, t, s in zip(ns["result"].x, truth, ns["errors"].stderr, strict=True)]
    return bool(ns["result"].success) and max(abs(v) for v in z) < 4


# What a page's namespace must hold after its code ran (the claims its text makes).
NAMESPACE_CHECKS = {
    "docs/tutorial-ad.md": lambda ns: ns["result"].passed and not ns["wrong"].passed,
    "docs/getting-started.md": _fit_within_error_bars,
    "docs/coming-from-scipy.md": lambda ns: abs(ns["sol"].ys - ns["ref"].y.T).max() < 1e-6,
    "docs/coming-from-torchdiffeq.md": lambda ns: (
        abs(ns["params"]["A"] - ns["true_A"]).max() < 0.05
    ),
    "docs/coming-from-diffrax.md": lambda ns: (
        int(ns["bad"].status) != 0
        and abs(float(ns["falling"].event_ts[0]) - (2 * 10.0 / 9.81) ** 0.5) < 1e-6
        and abs(float(ns["falling"].evaluate(1.0)[0]) - (10.0 - 9.81 / 2)) < 1e-6
    ),
    "docs/uncertainty.md": lambda ns: ns["errors"].singular and "a, b" in ns["errors"].message,
}


def rel(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def fences(page: Path) -> list[tuple[str, int, str]]:
    """(info string, line number of the first code line, code) of each fenced block."""
    text = page.read_text()
    return [
        (m.group(1).strip(), text.count("\n", 0, m.start(2)) + 1, m.group(2))
        for m in FENCE.finditer(text)
    ]


def python_blocks(page: Path) -> list[tuple[int, str]]:
    return [(line, code) for info, line, code in fences(page) if info.split(" ")[0] == "python"]


def _page_params():
    params = []
    for page in PAGES:
        if python_blocks(page):
            marks = [pytest.mark.slow] if rel(page) in SLOW else []
            params.append(pytest.param(page, id=rel(page), marks=marks))
    return params


@pytest.mark.parametrize("page", _page_params())
def test_page_code_runs(page, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    namespace: dict = {"__name__": "__main__"}
    x64 = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", False)  # a reader's default: a page enables float64 itself
    try:
        for line, code in python_blocks(page):
            # Pad with newlines so that a traceback names the page's own line numbers.
            exec(compile("\n" * (line - 1) + code, str(page), "exec"), namespace)  # our own docs
    finally:
        jax.config.update("jax_enable_x64", x64)
    printed = capsys.readouterr().out
    for expected in PRINTS.get(rel(page), []):
        assert expected in printed, f"{rel(page)} should print {expected!r}"
    check = NAMESPACE_CHECKS.get(rel(page))
    assert check is None or check(namespace)


def test_every_python_like_fence_is_run():
    """A block that looks like Python is a ```python block (run), never ```py or ```pycon."""
    odd = [
        f"{rel(page)}:{line} ```{info}"
        for page in PAGES
        for info, line, _ in fences(page)
        if PYTHON_LIKE.match(info) and info.split(" ")[0] != "python"
    ]
    assert not odd, f"use ```python (run by the tests) or a non-Python fence: {odd}"
    assert len(python_blocks(ROOT / "docs" / "tutorial-ad.md")) >= 10


def test_page_expectations_name_existing_pages():
    pages = {rel(page) for page in PAGES}
    assert set(PRINTS) | set(NAMESPACE_CHECKS) | SLOW <= pages


# ---------------------------------------------------------------------------------------------
# Commands shown in the docs

COMMAND_START = re.compile(r"^(?:\$ )?((?:python3?|pytest|pip) .*)$")
INLINE = re.compile(r"`((?:python3?|pytest|pip) [^`]+)`")


def commands(page: Path) -> list[str]:
    """Every shell command of a page: fenced or indented lines and inline code spans."""
    text = page.read_text()
    found = []
    lines = [ln.strip() for _, _, code in fences(page) for ln in code.splitlines()]
    lines += [ln.strip() for ln in text.splitlines() if ln.startswith("    ")]
    for line in lines:
        match = COMMAND_START.match(line)
        if match:
            found.append(match.group(1))
    found += INLINE.findall(text)
    parts = []
    for command in found:
        command = command.split(" #")[0]
        parts += [p.strip() for p in re.split(r"&&|;", command) if p.strip()]
    return [p for p in parts if COMMAND_START.match(p)]


def all_commands() -> list[tuple[str, str]]:
    return [(rel(page), command) for page in PAGES for command in commands(page)]


@functools.cache
def help_text(*program: str) -> str:
    """The `--help` output of `python -m MODULE` or `python SCRIPT`, run in this process (its
    imports are loaded already, so a script's help costs no interpreter start)."""
    saved, output = (sys.argv, sys.path[:]), io.StringIO()
    sys.argv = [program[-1], "--help"]
    try:
        with contextlib.redirect_stdout(output), pytest.raises(SystemExit) as stop:
            if program[0] == "-m":
                runpy.run_module(program[1], run_name="__main__", alter_sys=True)
            else:
                sys.path.insert(0, str((ROOT / program[0]).parent))  # as `python SCRIPT` does
                runpy.run_path(str(ROOT / program[0]), run_name="__main__")
    finally:
        sys.argv, sys.path[:] = saved
    assert stop.value.code in (0, None), f"{' '.join(program)} --help exited {stop.value.code}"
    return output.getvalue()


def module_exists(module: str) -> bool:
    path = ROOT.joinpath(*module.split("."))
    if path.with_suffix(".py").is_file() or (path / "__main__.py").is_file():
        return True
    return not module.startswith(("diffsim", "experiments")) and bool(
        importlib.util.find_spec(module)
    )


def is_placeholder(token: str) -> bool:
    """CONFIG, DIR, KEY=VALUE, key.path=value, ...: words a user replaces."""
    return token == "..." or "=" in token or re.fullmatch(r"[A-Z][A-Z0-9_]*", token) is not None


def check_arguments(program: tuple[str, ...], args: list[str]) -> list[str]:
    """Problems with the arguments of a Python command line (flags and file paths)."""
    problems = []
    flags = [a.split("=")[0] for a in args if a.startswith("--")]
    if flags and program != ("venv",):
        text = help_text(*program)
        problems += [
            f"{flag} is not in `{' '.join(program)} --help`"
            for flag in flags
            if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text)
        ]
    for arg in args:
        if re.search(r"\.(ya?ml|csv|npz|py)$", arg) and not is_placeholder(arg):
            if not (ROOT / arg).is_file():
                problems.append(f"{arg} does not exist")
    return problems


def check_command(command: str) -> list[str]:
    """Problems with one command; an empty list when it names only things that exist."""
    tokens = [t.strip("[]") for t in shlex.split(command)]
    tokens = [t for t in tokens if t]
    program, args = tokens[0], tokens[1:]
    if program in ("python", "python3"):
        if args[:1] == ["-m"]:
            module = args[1]
            if not module_exists(module):
                return [f"module {module} does not exist"]
            return check_arguments(("venv",) if module == "venv" else ("-m", module), args[2:])
        script = args[0]
        if not (ROOT / script).is_file():
            return [f"script {script} does not exist"]
        return check_arguments((script,), args[1:])
    if program == "pytest":
        problems, markers = [], pytest_markers()
        for i, arg in enumerate(args):
            if args[i - 1] == "-m" and i > 0:
                problems += [
                    f"marker {w} is not registered"
                    for w in re.findall(r"\w+", arg)
                    if w not in ("not", "and", "or") and w not in markers
                ]
            elif i > 0 and args[i - 1] in ("-k", "-n", "--durations"):
                continue  # the value of an option, not a path
            elif not arg.startswith("-") and not (ROOT / arg.split("::")[0]).exists():
                problems.append(f"{arg} does not exist")
        return problems
    if program == "pip":
        extras = pip_extras()
        wanted = {e for a in args for e in re.findall(r"\[([^\]]*)\]", a.replace('"', ""))}
        wanted |= {e for a in args if a.startswith(".[") for e in a[2:].rstrip("]").split(",")}
        return [
            f"extra {e} is not in pyproject.toml"
            for w in wanted
            for e in w.split(",")
            if e and e not in extras
        ]
    return []


def pip_extras() -> set[str]:
    """The extras of the installed diffsim (from pyproject.toml at install time)."""
    return set(importlib.metadata.metadata("diffsim").get_all("Provides-Extra") or [])


def pytest_markers() -> set[str]:
    return {"slow"}  # registered in pyproject.toml; test_slow_marker_is_registered checks it


def test_slow_marker_is_registered(pytestconfig):
    assert pytest_markers() <= {m.split(":")[0] for m in pytestconfig.getini("markers")}


def test_docs_show_commands():
    """The command scanner finds the commands it should (so the next test checks something)."""
    found = [c for _, c in all_commands()]
    assert "python -m diffsim.run" in found
    assert any(c.startswith("python experiments/") for c in found)
    assert any(c.startswith("pytest") for c in found)


@pytest.mark.parametrize("page, command", all_commands(), ids=lambda x: str(x)[:60])
def test_command_exists(page, command):
    assert not check_command(command), f"{page}: `{command}`: {check_command(command)}"


def test_command_check_catches_mistakes():
    """The checker refuses what it should: unknown modules, scripts, flags, configs, extras."""
    assert check_command("python -m diffsim.nothing_here")
    assert check_command("python experiments/not_a_script.py")
    assert check_command("python -m diffsim.run configs/not_a_config.yaml")
    assert check_command("python -m diffsim.run --no-such-flag")
    assert check_command('pip install -e ".[no_such_extra]"')
    assert check_command("pytest tests/test_not_there.py")
    assert check_command("pytest -n 0 -k smoke tests/test_not_there.py")
    assert not check_command("pytest -n 0 -k smoke tests/test_pinn.py")
    assert not check_command("python -m diffsim.run CONFIG --out DIR --set key.path=value")


# ---------------------------------------------------------------------------------------------
# Names of the API that the docs mention

API_NAME = re.compile(r"`(diffsim(?:\.[A-Za-z_]\w*)+)")


def api_names() -> list[tuple[str, str]]:
    """(page, dotted name) for each `diffsim.x.y` at the start of an inline code span."""
    found = []
    for page in PAGES:
        text = FENCE.sub("", page.read_text())  # code blocks are run, not scanned
        found += sorted({(rel(page), name) for name in API_NAME.findall(text)})
    return found


def resolves(dotted: str) -> bool:
    """Whether `diffsim.a.b` names a module or an attribute that exists."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        module = ".".join(parts[:i])
        try:
            obj = importlib.import_module(module)
        except ImportError:
            continue
        for attribute in parts[i:]:
            if not hasattr(obj, attribute):
                return False
            obj = getattr(obj, attribute)
        return True
    return False


@pytest.mark.parametrize("page, name", api_names(), ids=lambda x: str(x))
def test_api_name_in_docs_exists(page, name):
    assert resolves(name), f"{page} mentions `{name}`, which does not exist"


def test_api_name_check_catches_mistakes():
    assert resolves("diffsim.solve_ode") and resolves("diffsim.pde.Heat")
    assert not resolves("diffsim.no_such_name") and not resolves("diffsim.pde.NoSuchModel")


# ---------------------------------------------------------------------------------------------
# Docstrings of the public API


def _public_params():
    return [
        pytest.param(entry, id=f"{entry.package}.{entry.name}")
        for face in faces("diffsim")
        for entry in public_names(face)
    ]


def test_faces_are_found():
    assert {"diffsim", "diffsim.ad", "diffsim.pde", "diffsim.models"} <= set(faces("diffsim"))
    assert len(_public_params()) > 50


@pytest.mark.parametrize("entry", _public_params())
def test_public_name_has_summary(entry):
    assert entry.kind != "missing", f"{entry.target} is re-exported but not defined"
    doc = (entry.docstring or "").strip()
    assert doc, f"{entry.package}.{entry.name} ({entry.target}) has no docstring"
    lines = doc.splitlines()
    assert lines[0].strip(), f"{entry.package}.{entry.name}: the first line should be a summary"
    assert len(lines) == 1 or not lines[1].strip(), (
        f"{entry.package}.{entry.name}: the summary should be one line, then a blank line"
    )


EXAMPLE = re.compile(r"```python\n(.*?)```", re.DOTALL)
# An example whose code has a line `# slow` (it compiles a fit or a long solve) runs under
# `pytest -m slow` only, as slow pages do.
SLOW_EXAMPLE = re.compile(r"^# slow\b", re.MULTILINE)


def _has_example(entry) -> bool:
    return bool(entry.docstring and EXAMPLE.search(entry.docstring))


def _examples():
    seen, params = set(), []
    for face in faces("diffsim"):
        for entry in public_names(face):
            if _has_example(entry) and entry.target not in seen:
                seen.add(entry.target)
                slow = any(SLOW_EXAMPLE.search(c) for c in EXAMPLE.findall(entry.docstring))
                marks = [pytest.mark.slow] if slow else []
                params.append(pytest.param(entry, id=entry.target, marks=marks))
    return params


@pytest.mark.parametrize("entry", _examples())
def test_docstring_example_runs(entry):
    """The ```python examples in a public docstring run (each docstring in a fresh namespace)."""
    namespace: dict = {"__name__": "__main__"}
    for code in EXAMPLE.findall(entry.docstring):
        exec(compile(code, f"<docstring of {entry.target}>", "exec"), namespace)


def test_every_public_name_has_an_example():
    """Each public name's docstring has a ```python example (run by the test above).

    A subpackage (a module re-exported by a face) is exempt: its page is the list of its
    names, each with its own example.
    """
    missing = sorted(
        {
            f"{entry.package}.{entry.name}"
            for face in faces("diffsim")
            for entry in public_names(face)
            if entry.kind != "module" and not _has_example(entry)
        }
    )
    assert not missing, f"{len(missing)} public names have no ```python example: {missing}"


def test_getting_started_shows_the_readme_setup_commands():
    """The two set-up commands of the README appear, unchanged, in docs/getting-started.md."""
    readme = [
        ln.strip() for ln in (ROOT / "README.md").read_text().splitlines() if "pip install" in ln
    ]
    guide = (ROOT / "docs" / "getting-started.md").read_text()
    assert len(readme) == 2 and all(f"    {command}\n" in guide for command in readme)


def test_every_shipped_config_has_a_gallery_page():
    """Each configs/*.yaml has a generated page in docs/gallery/ (and each page a config)."""
    gallery = ROOT / "docs" / "gallery"
    configs = {p.stem for p in (ROOT / "configs").glob("*.yaml")}
    pages = {p.stem for p in gallery.glob("*.md") if p.name != "index.md"}
    missing, stale = sorted(configs - pages), sorted(pages - configs)
    assert not missing and not stale, (
        f"gallery pages missing for {missing}, or left for removed configs {stale}: run "
        "`python experiments/make_gallery.py configs/NAME.yaml` (or remove the page)"
    )
    header = "<!-- generated by experiments/make_gallery.py"
    assert all((gallery / f"{n}.md").read_text().startswith(header) for n in pages | {"index"})
