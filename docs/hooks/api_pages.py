"""MkDocs hook: one API reference page per package face, generated at build time.

Each page lists the face's public names (docs/hooks/public_api.py) in the face's order and lets
mkdocstrings render their docstrings; a name that another face owns links there instead of
being rendered twice. A public name without a docstring is a warning, so `mkdocs build
--strict` fails on it.
"""

import logging
import sys
from pathlib import Path

from mkdocs.structure.files import File

sys.path.insert(0, str(Path(__file__).parent))
from public_api import faces, public_names  # noqa: E402

log = logging.getLogger("mkdocs.plugins.diffsim_api")


def page_path(face: str) -> str:
    """Where the page of a face lives in the site, e.g. "api/diffsim.pde.md"."""
    return f"api/{face}.md"


def page_text(face: str, all_faces: list[str]) -> str:
    """The Markdown of the API page of `face`."""
    owners = {}  # where a name re-exported by several faces is documented: its deepest face
    for other in all_faces:
        for entry in public_names(other):
            if entry.kind != "module" and len(other) > len(owners.get(entry.target, "")):
                owners[entry.target] = other
    subpackages, rendered, elsewhere = [], [], []
    for entry in public_names(face):
        if entry.kind == "missing":
            log.warning(f"{face}.{entry.name}: the face re-exports it but it is not defined")
        elif entry.kind == "module":
            if entry.target in all_faces:
                subpackages.append(f"- [`{entry.target}`]({entry.target}.md)")
        elif owners[entry.target] != face:
            owner = owners[entry.target]
            elsewhere.append(f"- [`{entry.name}`]({owner}.md#{owner}.{entry.name})")
        else:
            if not (entry.docstring or "").strip():
                log.warning(f"{face}.{entry.name} has no docstring ({entry.target})")
            rendered += [f"::: {face}.{entry.name}", ""]
    lines = [f"# `{face}`", "", f"::: {face}", "    options:", "      members: false",
             "      show_root_heading: false", "      show_root_toc_entry: false", ""]  # fmt: skip
    if subpackages:
        lines += ["**Subpackages:**", "", *subpackages, ""]
    if elsewhere:
        lines += [f"**Also importable from `{face}`** (documented in their subpackage):", ""]
        lines += [*elsewhere, ""]
    return "\n".join(lines + rendered)


def on_files(files, config):
    """Add the generated API pages to the site's files."""
    all_faces = faces("diffsim")
    for face in all_faces:
        files.append(File.generated(config, page_path(face), content=page_text(face, all_faces)))
    return files


def on_config(config):
    """Put one API page per face under the nav's "API reference" entry."""
    pages = [{face: page_path(face)} for face in faces("diffsim")]
    for item in config["nav"]:
        if isinstance(item, dict) and "API reference" in item:
            item["API reference"] = pages
    return config
