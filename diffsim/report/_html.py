"""`report.html`: the fit report as one self-contained HTML file (images embedded)."""

import base64
import html
import re
from pathlib import Path

from ._sections import report_sections

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f2f2f2; } td:first-child, th:first-child { text-align: left; }
pre { background: #f6f6f6; padding: 0.8rem; overflow-x: auto; }
figure { margin: 1rem 0; } img { max-width: 100%; }
"""


def _inline(text: str) -> str:
    """Escape text and turn Markdown `**bold**` into `<strong>`."""
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(text))


def render_html(
    report: dict, images: dict[str, str], options, folder: str | Path, sections=None
) -> str:
    """The report as one self-contained HTML page, the PNG files embedded as base64.

    The sections are those of `report_sections`, or the given `sections`.

    **Example:** one self-contained HTML file (figures embedded), here without figures.

    ```python
    # slow
    import pathlib
    import tempfile

    import numpy as np

    import diffsim

    config = diffsim.config.validate_config({
        "name": "decay",
        "model": {"equations": {"y": "-k * y"}},
        "parameters": {"k": {"init": 0.5, "true": 0.8, "transform": "log"}},
        "initial_state": {"y": 1.0},
        "observations": {"y": {"sigma": 0.01}},
        "data": {"synthetic": {"times": {"start": 0.0, "stop": 2.0, "num": 5}, "seed": 0}},
        "solver": {"name": "rk4", "dt": 0.1},
    })
    problem = diffsim.build_problem(config)
    run = diffsim.runner.RunFolder(pathlib.Path(tempfile.mkdtemp()) / "decay")
    summary = diffsim.runner.run(config, problem, run)  # writes a whole run folder
    arrays = dict(np.load(run.path / "arrays.npz"))
    html = diffsim.report.render_html(summary, {}, config.report, run.path)
    assert html.lstrip().lower().startswith("<!doctype html>") and "decay" in html
    ```
    """
    title = html.escape(report["title"])
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{title}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{title}</h1>",
    ]
    for heading, kind, content in sections or report_sections(report, images, options):
        out.append(f"<h2>{html.escape(heading)}</h2>")
        if kind == "lines":
            out += [f"<p>{_inline(line)}</p>" for line in content]
        elif kind == "table":
            header, rows = content
            out.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header))
            for row in rows:
                out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
            out.append("</table>")
        elif kind == "pre":
            out.append(f"<pre>{html.escape(content)}</pre>")
        else:
            for caption, file in content:
                encoded = base64.b64encode((Path(folder) / file).read_bytes()).decode()
                out.append(
                    f'<figure><img alt="{html.escape(caption)}" '
                    f'src="data:image/png;base64,{encoded}">'
                    f"<figcaption>{html.escape(caption)}</figcaption></figure>"
                )
    out.append("</body></html>")
    return "\n".join(out)
