"""The code blocks of docs/tutorial-ad.md run as written, in order, in one namespace."""

import re
from pathlib import Path

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial-ad.md"


def test_tutorial_code_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", TUTORIAL.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 10
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(TUTORIAL), "exec"), namespace)  # our own docs, not user input
    printed = capsys.readouterr().out
    assert "disagrees with automatic differentiation" in printed
    assert "x1        input       2.0    1.0                       4.0" in printed
    assert namespace["result"].passed and not namespace["wrong"].passed
