"""`report.md`: the fit report as Markdown."""

from ._sections import report_sections


def render_markdown(report: dict, images: dict[str, str], options, sections=None) -> str:
    """The report as Markdown, linking the PNG files.

    The sections are those of `report_sections`, or the given `sections`.

    **Example:** the report of a run as Markdown, without figures.

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
    text = diffsim.report.render_markdown(summary, {}, config.report)
    assert text.startswith("# ") and "Taylor test" in text
    print(text[:400])
    ```
    """
    out = [f"# {report['title']}", ""]
    for heading, kind, content in sections or report_sections(report, images, options):
        out += [f"## {heading}", ""]
        if kind == "lines":
            for line in content:
                out += [line, ""]
        elif kind == "table":
            header, rows = content
            out.append("| " + " | ".join(header) + " |")
            out.append("|" + "---|" * len(header))
            out += ["| " + " | ".join(row) + " |" for row in rows]
            out.append("")
        elif kind == "pre":
            out += ["```", content, "```", ""]
        else:
            for caption, file in content:
                out += [f"![{caption}]({file})", ""]
    return "\n".join(out)
