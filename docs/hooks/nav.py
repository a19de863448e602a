"""MkDocs hook: the nav grows with the docs folder, without hand edits.

- The "Gallery" entry lists docs/gallery/index.md and every page beside it (one per shipped
  config, written by experiments/make_gallery.py).
- A top-level page of docs/ that the nav of mkdocs.yml does not list (say, a new guide written
  with a new capability) is added under "User guide", so it is in the site at once; give it
  its place in mkdocs.yml when convenient.
"""

from pathlib import Path


def _listed(nav) -> set[str]:
    """Every page path the nav names."""
    found = set()
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        if isinstance(value, list):
            found |= _listed(value)
        elif isinstance(value, str):
            found.add(value)
    return found


def _section(nav, title: str) -> dict | None:
    return next((i for i in nav if isinstance(i, dict) and title in i), None)


def on_config(config):
    """Fill in the gallery's pages and add unlisted top-level pages to the user guide."""
    docs = Path(config["docs_dir"])
    nav = config["nav"]
    gallery = _section(nav, "Gallery")
    if gallery is not None:
        pages = sorted(p.name for p in (docs / "gallery").glob("*.md") if p.name != "index.md")
        gallery["Gallery"] = ["gallery/index.md", *(f"gallery/{name}" for name in pages)]
    guide = _section(nav, "User guide")
    if guide is not None:
        listed = _listed(nav)
        new = sorted(p.name for p in docs.glob("*.md") if p.name not in listed)
        guide["User guide"] = [*guide["User guide"], *new]
    return config
