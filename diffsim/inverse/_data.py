"""Measured time series: loading CSV/NPZ files and checking them."""

import csv
import math
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import equinox as eqx
import numpy as np


class DataError(ValueError):
    """A data file is missing, unreadable, or its contents are unusable."""


class Dataset(eqx.Module):
    """Observed values at increasing times.

    **Fields:**
    - `ts`: observation times, shape `(T,)`, finite and strictly increasing.
    - `values`: observations, shape `(T, M)`; NaN marks a missing value.
    - `names`: the `M` observable names, in column order.
    - `source`: where the data came from (a path, or `"synthetic"`).
    """

    ts: np.ndarray
    values: np.ndarray
    names: tuple[str, ...] = eqx.field(static=True)
    source: str = eqx.field(static=True, default="")

    @property
    def num_points(self) -> int:
        """The number of finite (non-missing) observed values."""
        return int(np.isfinite(self.values).sum())


def check_dataset(dataset: Dataset, where: str, *, lines: Sequence[int] | None = None) -> Dataset:
    """Check times and values of `dataset`; return it unchanged.

    **Arguments:**
    - `dataset`: the data.
    - `where`: the file or key path that error messages name.
    - `lines`: the file line number of each time, for messages (default: row numbers).

    **Raises:** `DataError` naming `where` when there are fewer than two times, the times are
    not finite or not strictly increasing, shapes disagree, or a column has no finite value.
    """
    ts, values = dataset.ts, dataset.values
    kind, numbers = ("line", list(lines)) if lines is not None else ("row", range(1, len(ts) + 1))
    if ts.ndim != 1 or ts.shape[0] < 2:
        raise DataError(f"{where}: need at least two observation times, got {ts.shape[0]}")
    if values.shape != (ts.shape[0], len(dataset.names)):
        raise DataError(
            f"{where}: values have shape {values.shape}, "
            f"expected {(ts.shape[0], len(dataset.names))}"
        )
    bad = np.flatnonzero(~np.isfinite(ts))
    if bad.size:
        i = bad[0]
        raise DataError(f"{where}: {kind} {numbers[i]}: the time {ts[i]} is not finite")
    steps = np.flatnonzero(np.diff(ts) <= 0)
    if steps.size:
        i = steps[0]
        raise DataError(
            f"{where}: times must be strictly increasing, but {ts[i + 1]} follows {ts[i]}"
            f" ({kind}s {numbers[i]} and {numbers[i + 1]})"
        )
    for j, name in enumerate(dataset.names):
        column = values[:, j]
        if np.isinf(column).any():
            raise DataError(f"{where}: column {name!r} contains infinite values")
        if not np.isfinite(column).any():
            raise DataError(f"{where}: column {name!r} has no finite values")
    return dataset


def load_dataset(
    path: str | Path,
    names: Sequence[str],
    *,
    time_column: str = "t",
    columns: Mapping[str, str] | None = None,
) -> Dataset:
    """Read observations from a CSV or NPZ file.

    CSV: a header row, then numbers; lines starting with `#` are comments (state the source
    of the data there); an empty field or `nan` is a missing value. NPZ: one 1-D array per
    column, named like the CSV header.

    **Arguments:**
    - `path`: the file (`.csv` or `.npz`).
    - `names`: observable names to read.
    - `time_column`: the column holding the times.
    - `columns`: optional `{observable: column}` where the file names a column differently.

    **Returns:** a checked `Dataset`.

    **Raises:** `DataError` naming the file and the problem (missing file or column, text
    that is not a number, NaN or unsorted times, ...).
    """
    path = Path(path)
    columns = dict(columns or {})
    wanted = [time_column] + [columns.get(name, name) for name in names]
    if not path.is_file():
        raise DataError(f"{path}: data file not found")
    suffix = path.suffix.lower()
    lines = None
    if suffix == ".csv":
        table, lines = _read_csv(path, wanted)
    elif suffix == ".npz":
        table = _read_npz(path, wanted)
    else:
        raise DataError(f"{path}: unsupported data file type {suffix!r} (use .csv or .npz)")
    values = np.stack([table[c] for c in wanted[1:]], axis=1) if names else np.zeros((0, 0))
    dataset = Dataset(ts=table[time_column], values=values, names=tuple(names), source=str(path))
    return check_dataset(dataset, str(path), lines=lines)


def _read_csv(path: Path, wanted: list[str]) -> tuple[dict[str, np.ndarray], list[int]]:
    """The `wanted` columns as float arrays, and the file line number of each data row."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot read the file ({error})") from None
    rows = [
        (number, row)
        for number, row in enumerate(csv.reader(text.splitlines()), start=1)
        if row and not row[0].lstrip().startswith("#") and any(cell.strip() for cell in row)
    ]
    if not rows:
        raise DataError(f"{path}: the file has no header row and no data")
    header = [cell.strip() for cell in rows[0][1]]
    missing = [c for c in wanted if c not in header]
    if missing:
        raise DataError(
            f"{path}: missing column {missing[0]!r} (the header has: {', '.join(header)})"
        )
    index = {c: header.index(c) for c in wanted}
    table = {c: [] for c in wanted}
    for number, row in rows[1:]:
        if len(row) != len(header):
            raise DataError(f"{path}: line {number} has {len(row)} fields, expected {len(header)}")
        for c in wanted:
            table[c].append(_number(row[index[c]], path, number, c))
    return {c: np.asarray(v, dtype=float) for c, v in table.items()}, [n for n, _ in rows[1:]]


def _number(cell: str, path: Path, line: int, column: str) -> float:
    cell = cell.strip()
    if cell == "":
        return math.nan
    try:
        return float(cell)
    except ValueError:
        raise DataError(
            f"{path}: line {line}, column {column!r}: {cell!r} is not a number"
        ) from None


def _read_npz(path: Path, wanted: list[str]) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            table = {c: np.asarray(archive[c], dtype=float) for c in wanted if c in names}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise DataError(f"{path}: cannot read the NPZ file ({error})") from None
    missing = [c for c in wanted if c not in table]
    if missing:
        raise DataError(f"{path}: missing array {missing[0]!r} (the file has: {', '.join(names)})")
    lengths = {c: a.shape for c, a in table.items()}
    if any(a.ndim != 1 for a in table.values()) or len({a.shape for a in table.values()}) != 1:
        raise DataError(f"{path}: arrays must be 1-D and of equal length, got shapes {lengths}")
    return table
