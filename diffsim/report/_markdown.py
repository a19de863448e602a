"""`report.md`: the fit report as Markdown."""

from ._sections import report_sections


def render_markdown(report: dict, images: dict[str, str], options, sections=None) -> str:
    """The report (see `report_sections`, or the given `sections`) as Markdown, linking the
    PNG files."""
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
