"""Griffe extension: a Markdown list right after a line of text starts a list.

diffsim's docstrings write `**Arguments:**` with the list on the next line; Python-Markdown
needs a blank line before a list, so without this the items would render as one paragraph.
It also drops the `# slow` line that opens some docstring examples: a marker for
tests/test_docs.py (run under `pytest -m slow`), not something a reader needs.
"""

import re

import griffe

_ITEM = re.compile(r"^\s*[-*] ")
_SLOW_MARKER = re.compile(r"^(```python\n)# slow\n", re.MULTILINE)


def blank_line_before_lists(text: str) -> str:
    """Insert a blank line where a list item follows a line that is neither blank nor an item."""
    out: list[str] = []
    for line in text.splitlines():
        if _ITEM.match(line) and out and out[-1].strip() and not _ITEM.match(out[-1]):
            if not out[-1].startswith((" ", "\t")):  # a continuation line belongs to its item
                out.append("")
        out.append(line)
    return "\n".join(out)


class BlankLineBeforeLists(griffe.Extension):
    """Apply `blank_line_before_lists` to every docstring griffe loads, without slow markers."""

    def on_instance(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None:
            text = _SLOW_MARKER.sub(r"\1", obj.docstring.value)
            obj.docstring.value = blank_line_before_lists(text)
