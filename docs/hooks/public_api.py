"""The public API as the package faces declare it, read from source (nothing is imported).

A face is a package `__init__.py`; its public names are its redundant-alias re-exports
(`from ._x import y as y`, `from . import sub as sub`), the convention of diffsim's style guide.
The mkdocs hook builds the API reference from these lists, and tests/test_docs.py checks that
each name has a docstring, so a name added to a face appears in the site and is checked at once.
"""

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class PublicName:
    """One public name of a face: where it is defined and what its docstring is."""

    package: str  # the face, e.g. "diffsim.pde"
    name: str  # the public name, e.g. "Heat"
    target: str  # dotted path of the definition, e.g. "diffsim.pde._heat.Heat"
    kind: str  # "module", "class", "function", "data" or "missing"
    docstring: str | None


def _module_file(dotted: str) -> Path | None:
    path = ROOT.joinpath(*dotted.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _is_package(dotted: str) -> bool:
    return (ROOT.joinpath(*dotted.split(".")) / "__init__.py").is_file()


def _absolute(module: str, level: int, base: str, base_is_package: bool) -> str:
    parts = base.split(".")
    if not base_is_package:
        parts = parts[:-1]
    if level:
        parts = parts[: len(parts) - (level - 1)]
        return ".".join(parts + ([module] if module else []))
    return module


def _tree(dotted: str) -> ast.Module | None:
    file = _module_file(dotted)
    return ast.parse(file.read_text(), str(file)) if file else None


def _reexports(dotted: str):
    """Yield (name, source module, source name) for each `from M import N as N` of a face."""
    tree = _tree(dotted)
    for node in tree.body if tree else []:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.asname is not None and alias.asname == alias.name:
                    yield (
                        alias.name,
                        _absolute(node.module or "", node.level, dotted, True),
                        alias.name,
                    )


def _resolve(module: str, name: str, depth: int = 0) -> tuple[str, str, str | None]:
    """Find `name` in `module` (following re-exports): (target, kind, docstring)."""
    if _is_package(f"{module}.{name}") or _module_file(f"{module}.{name}"):
        sub = f"{module}.{name}"
        tree = _tree(sub)
        return sub, "module", ast.get_docstring(tree) if tree else None
    tree = _tree(module)
    if tree is None or depth > 10:
        return f"{module}.{name}", "missing", None
    body = tree.body
    for i, node in enumerate(body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name == name:
                kind = "class" if isinstance(node, ast.ClassDef) else "function"
                return f"{module}.{name}", kind, ast.get_docstring(node)
        targets = []
        if isinstance(node, ast.Assign):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            targets = [node.target.id]
        if name in targets:
            after = body[i + 1] if i + 1 < len(body) else None
            doc = None
            if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
                doc = after.value.value if isinstance(after.value.value, str) else None
            return f"{module}.{name}", "data", doc
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    source = _absolute(node.module or "", node.level, module, _is_package(module))
                    return _resolve(source, alias.name, depth + 1)
    return f"{module}.{name}", "missing", None


def public_names(package: str) -> list[PublicName]:
    """The public names of the face `package` (e.g. "diffsim.ad"), in the order of the face."""
    names = []
    for name, source, source_name in _reexports(package):
        target, kind, doc = _resolve(source, source_name)
        names.append(PublicName(package, name, target, kind, doc))
    return names


def faces(package: str = "diffsim") -> list[str]:
    """The face `package` and every public subpackage it re-exports, recursively."""
    found = [package]
    for entry in public_names(package):
        if entry.kind == "module" and _is_package(entry.target):
            found += [f for f in faces(entry.target) if f not in found]
    return found
