"""Sensor data of a PDE: values at (time, position) in long or wide CSV/NPZ tables."""

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import equinox as eqx
import numpy as np

from ._data import DataError, csv_header, open_npz


class SensorData(eqx.Module):
    """Observed values of states at sensor positions and times (missing values dropped).

    **Fields:**
    - `times`: `(N,)`; `coordinates`: `(N, ndim)`; `variables`: `(N,)` state names;
      `values`: `(N,)`; `sigma`: `(N,)` noise levels, or `None` when the file gives none.
    - `source`: the file, or `"synthetic"`.

    **Example:**

    ```python
    import numpy as np
    from diffsim import inverse

    data = inverse.SensorData(
        times=np.array([0.1, 0.1]), coordinates=np.array([[0.25], [0.75]]),
        variables=np.array(["u", "u"]), values=np.array([0.3, 0.2]), sigma=None,
    )  # fmt: skip
    assert data.coordinates.shape == (2, 1) and data.sigma is None
    ```
    """

    times: np.ndarray
    coordinates: np.ndarray
    variables: np.ndarray
    values: np.ndarray
    sigma: np.ndarray | None
    source: str = eqx.field(static=True, default="")


def _table(path: Path) -> dict[str, np.ndarray]:
    """Every column of a CSV (text kept as text where not numeric) or NPZ file."""
    if path.suffix.lower() == ".npz":
        return open_npz(path)
    if path.suffix.lower() != ".csv":
        raise DataError(f"{path}: unsupported data file type {path.suffix!r} (use .csv or .npz)")
    try:
        with open(path, encoding="utf-8-sig", newline="") as stream:
            csv_header(stream, path)  # refuses a duplicate column name
            stream.seek(0)
            text = stream.read()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot read the file ({error})") from None
    rows = [
        (number, [cell.strip() for cell in row])
        for number, row in enumerate(csv.reader(text.splitlines()), start=1)
        if row and not row[0].lstrip().startswith("#") and any(cell.strip() for cell in row)
    ]
    if not rows:
        raise DataError(f"{path}: the file has no header row and no data")
    header = rows[0][1]
    for number, row in rows[1:]:
        if len(row) != len(header):
            raise DataError(f"{path}: line {number} has {len(row)} fields, expected {len(header)}")
    return {
        name: np.asarray([row[j] for _, row in rows[1:]], dtype=object)
        for j, name in enumerate(header)
    }


def _numbers(column: np.ndarray, path: Path, name: str) -> np.ndarray:
    if column.dtype != object:
        return np.asarray(column, dtype=float)
    out = np.empty(column.size)
    for i, cell in enumerate(column):
        try:
            out[i] = math.nan if cell in ("", "nan", "NaN") else float(cell)
        except ValueError:
            raise DataError(
                f"{path}: column {name!r}, data row {i + 1}: {cell!r} is not a number"
            ) from None
    return out


def load_sensor_data(
    path: str | Path,
    axes: Sequence[str],
    states: Sequence[str],
    columns: dict[str, str],
    *,
    timed: bool = True,
) -> SensorData:
    """Read sensor data from a CSV or NPZ file.

    Long form: columns `t`, the axes (`x`, `y`), `variable` (a state name), `value` and
    optionally `sigma`. Wide form: `t`, the axes and one column per observed state (e.g.
    `t,x,u`). Empty cells or `nan` are missing values and are dropped.

    **Arguments:**
    - `path`: the file; `axes`: the coordinate names; `states`: the model's state names.
    - `columns`: renames, `{"t": "time", "u": "velocity", ...}` (our name: the file's).
    - `timed`: `False` for a snapshot without a `t` column (an initial condition): times 0.

    **Raises:** `DataError` naming the file and the problem.

    **Example:** wide form, one column per state; an empty cell is dropped.

    ```python
    import pathlib
    import tempfile

    from diffsim import inverse

    path = pathlib.Path(tempfile.mkdtemp()) / "probes.csv"
    path.write_text('''t,x,u
    0.1,0.25,0.30
    0.1,0.75,
    0.2,0.25,0.21
    ''')
    data = inverse.load_sensor_data(path, ["x"], ["u"], {})
    assert data.values.tolist() == [0.30, 0.21] and data.times.tolist() == [0.1, 0.2]
    ```
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: data file not found")
    table = _table(path)
    name = lambda key: columns.get(key, key)
    for key in ("t", *axes) if timed else axes:
        if name(key) not in table:
            raise DataError(
                f"{path}: missing column {name(key)!r} (the file has: {', '.join(table)})"
            )
    rows = len(next(iter(table.values())))
    t = _numbers(table[name("t")], path, name("t")) if timed else np.zeros(rows)
    coords = np.stack([_numbers(table[name(a)], path, name(a)) for a in axes], axis=1)
    if name("variable") in table and name("value") in table:
        variables = np.asarray([str(v) for v in table[name("variable")]])
        values = _numbers(table[name("value")], path, name("value"))
        sigma = (
            _numbers(table[name("sigma")], path, name("sigma")) if name("sigma") in table else None
        )
        unknown = sorted(str(v) for v in set(variables) - set(states))
        if unknown:
            raise DataError(
                f"{path}: variable {unknown[0]!r} is not a state of the model "
                f"(states: {', '.join(states)})"
            )
    else:
        present = [s for s in states if name(s) in table]
        if not present:
            raise DataError(
                f"{path}: no column named after a state ({', '.join(states)}), and no "
                "'variable'/'value' columns (the file has: " + ", ".join(table) + ")"
            )
        variables = np.repeat(np.asarray(present), t.size)
        values = np.concatenate([_numbers(table[name(s)], path, name(s)) for s in present])
        t = np.tile(t, len(present))
        coords = np.tile(coords, (len(present), 1))
        sigma = None
    keep = np.isfinite(values)
    if not np.all(np.isfinite(t[keep])) or not np.all(np.isfinite(coords[keep])):
        raise DataError(f"{path}: times and positions must be finite numbers")
    if sigma is not None and not np.all(sigma[keep] > 0):
        raise DataError(f"{path}: column {name('sigma')!r} must be positive")
    if not keep.any():
        raise DataError(f"{path}: no finite values")
    return SensorData(
        times=t[keep],
        coordinates=coords[keep],
        variables=variables[keep],
        values=values[keep],
        sigma=None if sigma is None else sigma[keep],
        source=str(path),
    )
