"""Many simulations or fits of one problem at given parameter values (sweeps, ensembles),
run as one batch sharded over every device.

A member returns only what its caller keeps (a few numbers per observation, or the
predicted series on one time grid: an ODE's observations, a PDE's sensors); the solver's
trajectory stays inside the member's program. Each device runs its share in chunks of
`CHUNK` members (`jax.lax.map`), so memory grows with the chunk, not with the number of
members. A batch of fits advances `SEGMENT` optimizer steps at a time and, like `fit`'s
multistart, continues with only its running members once at most half of them still run.
"""

import dataclasses
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from ._fit import _RunningBatch
from ._likelihood import ErrorModel
from ._ode_problem import OdeProblem
from ._parameters import Parameter, parameter_space
from ._pde_problem import PdeProblem
from ._problem import AbstractProblem
from ._sharding import batch_jit, shard_batch, to_host

CHUNK = 1024
"""Members solved together (`vmap`) on a device; larger batches run chunk after chunk."""
CHUNK_BYTES = 2**28
"""At most this many bytes of saved solutions in one chunk of simulated members (fewer
members per chunk for a PDE on a large grid)."""
SEGMENT = 8
"""Optimizer steps a batch of fits takes between two looks at which members still run."""


def _chunked(one, rows: int, most: int | None = None):
    """`one(*row)` over a sharded batch of `rows` rows, each device's share in chunks of at
    most `most` rows (default `CHUNK`; equal when the share divides, so that one chunk
    program is compiled)."""
    most = most or CHUNK
    share = -(-rows // jax.device_count())
    chunk = -(-share // -(-share // most))
    return batch_jit(lambda *a: jax.lax.map(lambda row: one(*row), a, batch_size=chunk))


def _padded_rows(size: int, most: int | None = None) -> int:
    """`size` rounded up so that every device's share splits into equal chunks of at most
    `most` rows (default `CHUNK`)."""
    devices = jax.device_count()
    share = -(-size // devices)
    chunks = -(-share // (most or CHUNK))
    return -(-share // chunks) * chunks * devices


def _pad(inputs: tuple, rows: int) -> tuple:
    return tuple(np.concatenate([a, np.repeat(a[-1:], rows - len(a), axis=0)]) for a in inputs)


def map_members(one, inputs: tuple, chunk: int | None = None) -> dict:
    """`one(*row)` for every row of the host arrays `inputs` (same leading size), sharded
    over the devices and chunked; returns the outputs as host arrays, whole on every process.

    The batch is padded (with copies of its last row) so that each device's share splits
    into equal chunks of at most `chunk` rows (default `CHUNK`).
    """
    chunk = chunk or CHUNK
    size = len(inputs[0])
    rows = _padded_rows(size, chunk)
    compiled = _chunked(one, rows, chunk)
    return jax.tree.map(
        lambda leaf: leaf[:size], to_host(compiled(*shard_batch(_pad(inputs, rows))))
    )


def _errors(problem: AbstractProblem) -> ErrorModel:
    """The problem's likelihood of every data value (Gaussian when it sets none)."""
    if problem.errors is not None:
        return problem.errors
    shape = np.shape(problem.observed)
    return ErrorModel(kinds=np.zeros(shape, int), dispersion=np.ones(shape))


def with_unknowns(problem: OdeProblem | PdeProblem, names) -> OdeProblem | PdeProblem:
    """`problem` with those of `names` that are fixed made unknowns (appended to its free
    parameters at their value, no transform or bounds), so that a batch can set or hold them
    per member; the other unknowns keep their places.

    **Raises:** `ValueError` naming a name that is neither free nor fixed.
    """
    extra = [name for name in names if name not in problem.space.names]
    for name in extra:
        if name not in problem.fixed:
            raise ValueError(f"{name}: not a parameter of the model")
    if not extra:
        return problem
    added = tuple(Parameter(name, float(problem.fixed[name])) for name in extra)
    space = parameter_space(problem.space.parameters + added)
    fixed = {k: v for k, v in problem.fixed.items() if k not in extra}
    return dataclasses.replace(problem, space=space, fixed=fixed)


class Series(NamedTuple):
    """What a problem predicts over time, and where its data lie among it.

    An ODE's series are its observations; a PDE's, its sensors (each observed state at each
    data position, `PdeProblem.sensor_series`), grouped by state. `problem.predict_at(x,
    ts)` gives every series at `ts`, shape `(T, K)`.

    **Fields:** `names` `(K,)` and `group` `(K,)` (the index of each series' group among
    `groups`, the observed quantities); `t0`: the initial time; `data_ts`: the data's
    distinct times; `time`, `series`: per data value (`problem.observed` flattened) its index
    in `data_ts` and its series.
    """

    names: tuple[str, ...]
    group: np.ndarray
    groups: tuple[str, ...]
    t0: float
    data_ts: np.ndarray
    time: np.ndarray
    series: np.ndarray


def series_of(problem: OdeProblem | PdeProblem) -> Series:
    """The `Series` of an ODE or a grid PDE problem."""
    if isinstance(problem, PdeProblem):
        keys, _, sensor = problem.sensor_series()
        states = np.unique(keys[:, 0]).astype(int)
        axes = "xy"
        names = tuple(
            problem.state_names[int(key[0])]
            + "["
            + " ".join(f"{axes[i]}={c:g}" for i, c in enumerate(key[1:]))
            + "]"
            for key in keys
        )
        data_ts, time = np.unique(np.asarray(problem.times), return_inverse=True)
        return Series(
            names=names,
            group=np.searchsorted(states, keys[:, 0].astype(int)),
            groups=tuple(problem.state_names[i] for i in states),
            t0=float(problem.ts[0]),
            data_ts=data_ts,
            time=time.reshape(-1),
            series=sensor,
        )
    count, columns = np.shape(problem.observed)
    return Series(
        names=tuple(problem.data.names),
        group=np.arange(columns),
        groups=tuple(problem.data.names),
        t0=float(problem.t0),
        data_ts=np.asarray(problem.data.ts, dtype=float),
        time=np.repeat(np.arange(count), columns),
        series=np.tile(np.arange(columns), count),
    )


def _member_chunk(problem: AbstractProblem, times: int) -> int:
    """Members per chunk: `CHUNK`, fewer when their solutions at `times` output times would
    pass `CHUNK_BYTES` together (a PDE on a large grid)."""
    x = problem.space.initial_values()
    ys = jax.eval_shape(problem.solution, x).ys
    per_time = sum(leaf.size // leaf.shape[0] for leaf in jax.tree.leaves(ys))
    return int(np.clip(CHUNK_BYTES // (8 * times * per_time), 1, CHUNK))


def simulate_members(
    problem: OdeProblem | PdeProblem,
    names: tuple[str, ...],
    values: ArrayLike,
    ts: ArrayLike,
    *,
    curves: bool = False,
) -> dict[str, np.ndarray]:
    """Solve `problem`'s model with the parameters `names` set to each row of `values` (the
    other parameters at their starting or fixed values) and predict its series (`series_of`:
    an ODE's observations, a PDE's sensors) at `ts` and at the data, in one solve.

    **Arguments:**
    - `problem`: an ODE or a grid-PDE problem.
    - `names`: parameter names (free or fixed); `values`: shape `(B, len(names))`.
    - `ts`: increasing output times at or after the problem's initial time.
    - `curves`: also return the series at `ts` (`(B, T, K)`); otherwise only the
      summaries are kept.

    **Returns:** host arrays with leading axis `B`: `status` (the solver's, 0 on success),
    `chi_square` (`-2 log L` of the data up to a constant, from the problem's likelihood as
    its fit uses it: `sum ((model - data) / sigma)^2` for Gaussian data, the deviance for
    counts, priors left out; `inf` when the solve fails), and per group of series (an
    observation; a PDE's state, over its sensors) `peak`, `peak_time` (the largest value at
    `ts` and when) and `final` (the largest at the last of `ts`), each `(B, G)`; with
    `curves`, `curves` `(B, T, K)`.
    """
    problem = with_unknowns(problem, names)
    layout = series_of(problem)
    ts = np.asarray(ts, dtype=float)
    grid = np.union1d(ts, layout.data_ts)
    at_ts = np.searchsorted(grid, ts)
    at_data = np.searchsorted(grid, layout.data_ts)[layout.time]
    columns = np.asarray([problem.space.names.index(name) for name in names], int)
    base = jnp.asarray(problem.space.initial_values())
    data = np.asarray(problem.observed)
    errors = _errors(problem)
    inside = layout.group[None, :] == np.arange(len(layout.groups))[:, None]  # (G, K)

    def one(row):
        x = base.at[columns].set(row)
        series, status = problem.predict_at(x, grid)
        prediction = series[at_data, layout.series].reshape(data.shape)
        chi_square = _chi_square(errors, prediction, data, problem.sigma, x)
        ok = (status == 0) & jnp.isfinite(chi_square)
        out = series[at_ts]  # (T, K)
        largest = jnp.max(jnp.where(inside[:, None, :], out[None], -jnp.inf), axis=2)  # (G, T)
        result = {
            "status": status,
            "chi_square": jnp.where(ok, chi_square, jnp.inf),
            "peak": jnp.max(largest, axis=1),
            "peak_time": jnp.asarray(ts)[jnp.argmax(largest, axis=1)],
            "final": largest[:, -1],
        }
        return result | ({"curves": out} if curves else {})

    chunk = min(CHUNK, _member_chunk(problem, len(grid)))
    return map_members(one, (np.asarray(values, dtype=float),), chunk)


def _chi_square(errors: ErrorModel, prediction, data: np.ndarray, sigma, x) -> Array:
    """`sum r^2` of the likelihood's residuals of `prediction` against `data` (NaN: missing,
    skipped), with the rows of estimated noise levels and dispersions (free values `x`), as
    `AbstractProblem.residuals` has them; priors left out."""
    present = np.isfinite(data)
    filled, sigma = np.where(present, data, 1.0), np.where(present, sigma, 1.0)
    r = jnp.where(present, errors.residuals(prediction, filled, sigma, x), 0.0)
    chi_square = jnp.sum(r**2)
    if errors.estimates_noise:
        chi_square += jnp.sum(errors.noise_rows(x, data) ** 2)
    return chi_square


class Pinned(eqx.Module):
    """`problem` with the optimizer coordinates where `mask` is true held at `value`.

    **Fields:** `problem`; `mask` `(P,)` booleans; `value` `(P,)` (read where `mask`).
    """

    problem: AbstractProblem
    mask: Array
    value: Array

    @property
    def num_residuals(self) -> int:
        return self.problem.num_residuals

    def residuals(self, z: ArrayLike) -> Array:
        return self.problem.residuals(jnp.where(self.mask, self.value, z))

    def chi_square(self, z: ArrayLike) -> Array:
        r = self.residuals(z)
        return r @ r


def fit_members(
    problem: AbstractProblem, method, z0: ArrayLike, mask: ArrayLike, *, max_steps: int
) -> dict[str, np.ndarray]:
    """Fit `problem` once per row of `z0`, holding the coordinates where `mask` is true at
    that row's values, on the devices.

    The members advance `SEGMENT` steps per call (each stops early when it converges); in
    between, the host reads which still run, and a batch of `NARROW_FROM` or more members
    continues with only those once at most half still run (`fit`'s `_RunningBatch`), so
    that members which converged early stop costing steps. A member's result does not
    depend on the segments or the narrowing.

    **Arguments:**
    - `problem`: the problem; `method`: a `diffsim.inverse` method (`init`/`step`).
    - `z0`: starting points (optimizer coordinates), `(B, P)`; `mask`: `(P,)` booleans.
    - `max_steps`: the most optimizer steps per fit.

    **Returns:** host arrays `z` `(B, P)`, `chi_square`, `code` (positive converged, 0 out
    of steps, negative failed) and `steps`, each `(B,)`.
    """
    mask = jnp.asarray(mask, dtype=bool)
    z0 = np.asarray(z0, dtype=float)
    size = len(z0)

    def start(z):
        return {"pin": z, "state": method.init(Pinned(problem, mask, z), z), "steps": 0}

    def advance(member):
        pinned = Pinned(problem, mask, member["pin"])
        stop = jnp.minimum(member["steps"] + SEGMENT, max_steps + 1)
        steps, state = jax.lax.while_loop(
            lambda c: (c[0] < stop) & (c[1].code == 0),
            lambda c: (c[0] + 1, method.step(pinned, c[1])),
            (member["steps"], member["state"]),
        )
        return {"pin": member["pin"], "state": state, "steps": steps}

    rows = _padded_rows(size)
    members = _chunked(start, rows)(shard_batch(_pad((z0,), rows))[0])
    step = lambda example: _chunked(advance, len(jax.tree.leaves(example)[0]))
    batch = _RunningBatch(members, step(members), step)
    segments = -(-(max_steps + 1) // SEGMENT)
    for segment in range(1, segments + 1):
        codes = to_host(batch.step()["state"].code)[:size]
        if segment == segments or not np.any(codes == 0):
            break
        batch.narrow(codes)
    state = batch.state
    out = {"z": state["state"].z, "chi_square": state["state"].loss}
    out |= {"code": state["state"].code, "steps": state["steps"] - 1}
    return jax.tree.map(lambda leaf: leaf[:size], to_host(out))
