"""The README's example runs as written."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs(capsys):
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    exec(compile(code, str(README), "exec"), {})
    assert "forward mode" in capsys.readouterr().out


def test_readme_has_exactly_two_setup_commands():
    commands = [line for line in README.read_text().splitlines() if "pip install" in line]
    assert len(commands) == 2
    assert commands[0].endswith("python -m diffsim.run")
    assert commands[1].endswith("pytest")
