"""Measured time series: loading CSV/NPZ files and checking them."""

import csv
import math
import warnings
import zipfile
from array import array
from collections.abc import Mapping, Sequence
from pathlib import Path

import equinox as eqx
import numpy as np


class DataError(ValueError):
    """A data file is missing, unreadable, or its contents are unusable.

    **Example:**

    ```python
    from diffsim import inverse

    try:
        inverse.load_dataset("no_such_file.csv", ["y"])
    except inverse.DataError as error:
        print(error)  # one line naming the file and what is wrong
        assert "no_such_file.csv" in str(error)
    ```
    """


class Dataset(eqx.Module):
    """Observed values at increasing times.

    **Fields:**
    - `ts`: observation times, shape `(T,)`, finite and strictly increasing.
    - `values`: observations, shape `(T, M)`; NaN marks a missing value.
    - `names`: the `M` observable names, in column order.
    - `source`: where the data came from (a path, or `"synthetic"`).

    **Example:** a missing value is NaN; it is left out of the fit.

    ```python
    import numpy as np
    from diffsim import inverse

    data = inverse.Dataset(
        ts=np.array([0.0, 1.0, 2.0]),
        values=np.array([[1.0, 0.1], [0.6, np.nan], [0.4, 0.3]]),
        names=("x", "y"),
        source="lab notebook, 3 May",
    )
    data = inverse.check_dataset(data, "example")
    assert np.isnan(data.values).sum() == 1
    ```
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

    **Example:** times out of order are refused with a message naming the source.

    ```python
    import numpy as np
    from diffsim import inverse

    bad = inverse.Dataset(ts=np.array([0.0, 2.0, 1.0]), values=np.ones((3, 1)), names=("y",))
    try:
        inverse.check_dataset(bad, "data.csv")
    except inverse.DataError as error:
        assert "data.csv" in str(error)
        print(error)
    else:
        raise AssertionError("unsorted times were accepted")
    ```
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

    **Example:** a CSV with a comment, a renamed column and a missing value.

    ```python
    import pathlib
    import tempfile

    import numpy as np
    from diffsim import inverse

    path = pathlib.Path(tempfile.mkdtemp()) / "counts.csv"
    path.write_text('''# prey counts, field survey 2024
    t,prey
    0,10.0
    1,
    2,7.5
    ''')
    data = inverse.load_dataset(path, ["x"], columns={"x": "prey"})
    assert data.names == ("x",) and data.ts.tolist() == [0.0, 1.0, 2.0]
    assert np.isnan(data.values[1, 0]) and data.values[2, 0] == 7.5
    ```
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
    try:
        return _checked(table, wanted, names, path, lines)
    except DataError:
        if suffix != ".csv" or lines is not None:
            raise
    table, lines = _read_csv(path, wanted, fast=False)  # again, to name the lines
    return _checked(table, wanted, names, path, lines)


def _checked(table, wanted, names, path, lines) -> Dataset:
    values = np.stack([table[c] for c in wanted[1:]], axis=1) if names else np.zeros((0, 0))
    dataset = Dataset(ts=table[wanted[0]], values=values, names=tuple(names), source=str(path))
    return check_dataset(dataset, str(path), lines=lines)


def csv_header(stream, path: Path) -> tuple[list[str], int]:
    """The header row of an open CSV file (comments and blank lines skipped) and the number
    of lines up to and including it."""
    for number, line in enumerate(stream, start=1):
        if line.lstrip().startswith("#") or not line.strip(" ,\t\r\n"):
            continue
        header = [cell.strip() for cell in next(csv.reader([line]))]
        seen = {}
        for position, name in enumerate(header, start=1):
            if name and name in seen:
                raise DataError(
                    f"{path}: line {number}: column {name!r} appears twice in the header "
                    f"(fields {seen[name]} and {position})"
                )
            seen[name] = position
        return header, number
    raise DataError(f"{path}: the file has no header row and no data")


def _read_csv(
    path: Path, wanted: list[str], *, fast: bool = True
) -> tuple[dict[str, np.ndarray], list[int] | None]:
    """The `wanted` columns as float arrays, and the file line number of each data row.

    A UTF-8 byte-order mark is skipped. Plain numeric files are read by NumPy's parser (a few
    seconds and about the file's size in memory for 5 million rows); files with blank values,
    quotes or text columns, and files with an error (to name its line) row by row. The fast
    path gives no line numbers (`None`).
    """
    try:
        with open(path, encoding="utf-8-sig", newline="") as stream:
            header, skip = csv_header(stream, path)
            missing = [c for c in wanted if c not in header]
            if missing:
                raise DataError(
                    f"{path}: missing column {missing[0]!r} (the header has: {', '.join(header)})"
                )
            index = {c: header.index(c) for c in wanted}
            table = _parse_numeric(path, skip, len(header)) if fast else None
            if table is not None:
                return {c: np.ascontiguousarray(table[:, index[c]]) for c in wanted}, None
            return _read_rows(stream, path, skip, header, index)
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot read the file ({error})") from None


def _parse_numeric(path: Path, skip: int, width: int) -> np.ndarray | None:
    """Every column after the header as floats with NumPy's parser, or None where it fails."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data"
            table = np.loadtxt(
                path,
                delimiter=",",
                comments=None,  # a "#" inside a row is an error, as row by row
                skiprows=skip,
                dtype=float,
                encoding="utf-8-sig",
                ndmin=2,
            )
    except (ValueError, OSError):
        return None
    return table if table.shape[1] == width else None


def _read_rows(stream, path, skip, header, index):
    """The slow path of `_read_csv`: row by row, naming the line of the first problem."""
    table = {c: array("d") for c in index}
    lines = array("q")
    for number, row in enumerate(csv.reader(stream), start=skip + 1):
        if not row or row[0].lstrip().startswith("#") or not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise DataError(f"{path}: line {number} has {len(row)} fields, expected {len(header)}")
        for c, j in index.items():
            table[c].append(_number(row[j], path, number, c))
        lines.append(number)
    return {c: np.asarray(v, dtype=float) for c, v in table.items()}, lines.tolist()


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


def open_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an NPZ file, checked to hold real numbers (or text, for labels).

    **Raises:** `DataError` naming the file when it is not an NPZ archive (e.g. a plain
    `.npy` array), cannot be read, or holds complex or object arrays.
    """
    try:
        with open(path, "rb") as stream:
            magic = stream.read(4)
    except OSError as error:
        raise DataError(f"{path}: cannot read the NPZ file ({error})") from None
    if magic != b"PK\x03\x04":
        raise DataError(
            f"{path}: not an NPZ archive (a .npy array or another format?); save one named "
            "array per column with numpy.savez(path, t=..., y=...)"
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            table = {name: np.asarray(archive[name]) for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise DataError(f"{path}: cannot read the NPZ file ({error})") from None
    for name, array_ in table.items():
        if array_.dtype.kind not in "biufUS":
            raise DataError(
                f"{path}: array {name!r} has dtype {array_.dtype}, expected real numbers"
            )
    return table


def _read_npz(path: Path, wanted: list[str]) -> dict[str, np.ndarray]:
    archive = open_npz(path)
    names = list(archive)
    missing = [c for c in wanted if c not in archive]
    if missing:
        raise DataError(f"{path}: missing array {missing[0]!r} (the file has: {', '.join(names)})")
    table = {}
    for c in wanted:
        if archive[c].dtype.kind not in "biuf":
            raise DataError(f"{path}: array {c!r} holds {archive[c].dtype} values, not numbers")
        table[c] = archive[c].astype(float)
    lengths = {c: a.shape for c, a in table.items()}
    if any(a.ndim != 1 for a in table.values()) or len({a.shape for a in table.values()}) != 1:
        raise DataError(f"{path}: arrays must be 1-D and of equal length, got shapes {lengths}")
    return table
