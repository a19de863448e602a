"""The README's set-up: exactly the two commands a newcomer runs.

(Its code block runs in tests/test_docs.py, with every other page's.)
"""

import pathlib

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_has_exactly_two_setup_commands():
    commands = [line for line in README.read_text().splitlines() if "pip install" in line]
    assert len(commands) == 2
    assert commands[0].endswith("python -m diffsim.run")
    assert commands[1].endswith("pytest")
