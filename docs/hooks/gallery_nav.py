"""MkDocs hook: the "Gallery" nav entry lists every page in docs/gallery/.

The pages are written by experiments/make_gallery.py, one per shipped config, so the nav
follows the configs without hand edits.
"""

from pathlib import Path


def on_config(config):
    """Make the nav's "Gallery" entry the gallery's index followed by its pages."""
    folder = Path(config["docs_dir"]) / "gallery"
    pages = sorted(p.stem for p in folder.glob("*.md") if p.name != "index.md")
    for item in config["nav"]:
        if isinstance(item, dict) and "Gallery" in item:
            item["Gallery"] = ["gallery/index.md", *(f"gallery/{name}.md" for name in pages)]
    return config
