"""The folder a run writes into; files are written whole (never half-written or overwritten)."""

import json
import math
import os
from datetime import datetime
from pathlib import Path


class RunFolderError(ValueError):
    """The output folder cannot be used (exists and is not empty, or cannot be created).

    **Example:** a folder that already holds files is never written into.

    ```python
    import pathlib
    import tempfile

    from diffsim import runner

    path = pathlib.Path(tempfile.mkdtemp())
    (path / "result.json").write_text("{}")
    try:
        runner.RunFolder(path)
    except runner.RunFolderError as error:
        print(error)
    else:
        raise AssertionError("a non-empty folder was accepted")
    ```
    """


def to_json(value):
    """Convert NumPy values, tuples and non-finite floats (as `null`) to plain JSON values."""
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if hasattr(value, "tolist"):
        return to_json(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class RunFolder:
    """A new, empty folder for one run.

    **Arguments:**
    - `path`: the folder; it may exist only if empty.

    **Raises:** `RunFolderError` when `path` is a non-empty folder, a file, or cannot be made.

    **Example:**

    ```python
    import pathlib
    import tempfile

    from diffsim import runner

    path = pathlib.Path(tempfile.mkdtemp()) / "run1"
    folder = runner.RunFolder(path)
    assert folder.path.is_dir() and not any(folder.path.iterdir())
    ```
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.exists():
            if not self.path.is_dir():
                raise RunFolderError(f"--out {self.path}: exists and is not a folder")
            if any(self.path.iterdir()):
                raise RunFolderError(f"--out {self.path}: folder exists and is not empty")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            reason = error.strerror or str(error)
            raise RunFolderError(
                f"--out {self.path}: cannot create the folder ({reason})"
            ) from None
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise RunFolderError(f"--out {self.path}: the folder is not writable")

    @staticmethod
    def default_path(name: str, root: str | Path = "runs") -> Path:
        """`runs/<name>/<timestamp>/`, with a suffix if that folder already exists.

        **Raises:** `RunFolderError` when `name` is not one plain folder name (empty, `.`,
        `..`, or with a path separator), which would put the run outside `root`.
        """
        if not name or set(name) == {"."} or "/" in name or "\\" in name or "\0" in name:
            raise RunFolderError(f"name: {name!r} cannot name a folder under {root}/")
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = Path(root) / name / stamp
        suffix = 1
        while path.exists():
            suffix += 1
            path = Path(root) / name / f"{stamp}-{suffix}"
        return path

    def write_bytes(self, name: str, data: bytes) -> Path:
        """Write a file atomically (a temporary file renamed into place); never overwrites."""
        target = self.path / name
        if target.exists():
            raise RunFolderError(f"{target}: refusing to overwrite an existing file")
        temporary = target.with_name(f".{target.name}.tmp")
        try:
            temporary.write_bytes(data)
            os.replace(temporary, target)
        except OSError:
            temporary.unlink(missing_ok=True)  # no half-written file left behind
            raise
        return target

    def write_text(self, name: str, text: str) -> Path:
        """Write a text file (UTF-8) atomically."""
        return self.write_bytes(name, text.encode())

    def write_json(self, name: str, value) -> Path:
        """Write `value` as indented JSON (NaN and inf become `null`)."""
        return self.write_text(name, json.dumps(to_json(value), indent=2) + "\n")

    def append_jsonl(self, name: str, value) -> None:
        """Append one JSON line and flush it, so that an interrupted run keeps every line."""
        with open(self.path / name, "a") as stream:
            stream.write(json.dumps(to_json(value)) + "\n")
            stream.flush()
