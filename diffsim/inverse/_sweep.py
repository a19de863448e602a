"""Many simulations or fits of one problem at given parameter values (sweeps, ensembles),
run as one batch sharded over every device.

A member returns only what its caller keeps (a few numbers per observation, or the
observations on one time grid); the solver's trajectory stays inside the member's program.
Each device runs its share in chunks of `CHUNK` members (`jax.lax.map`), so memory grows with
the chunk, not with the number of members. A batch of fits advances `SEGMENT` optimizer steps
at a time and, like `fit`'s multistart, continues with only its running members once at most
half of them still run.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from ._fit import _RunningBatch
from ._likelihood import ErrorModel
from ._ode_problem import OdeProblem
from ._problem import AbstractProblem
from ._sharding import batch_jit, shard_batch, to_host

CHUNK = 1024
"""Members solved together (`vmap`) on a device; larger batches run chunk after chunk."""
SEGMENT = 8
"""Optimizer steps a batch of fits takes between two looks at which members still run."""


def _chunked(one, rows: int):
    """`one(*row)` over a sharded batch of `rows` rows, each device's share in chunks of at
    most `CHUNK` rows (equal when the share divides, so that one chunk program is compiled)."""
    share = -(-rows // jax.device_count())
    chunk = -(-share // -(-share // CHUNK))
    return batch_jit(lambda *a: jax.lax.map(lambda row: one(*row), a, batch_size=chunk))


def _padded_rows(size: int) -> int:
    """`size` rounded up so that every device's share splits into equal chunks."""
    devices = jax.device_count()
    share = -(-size // devices)
    chunks = -(-share // CHUNK)
    return -(-share // chunks) * chunks * devices


def _pad(inputs: tuple, rows: int) -> tuple:
    return tuple(np.concatenate([a, np.repeat(a[-1:], rows - len(a), axis=0)]) for a in inputs)


def map_members(one, inputs: tuple) -> dict:
    """`one(*row)` for every row of the host arrays `inputs` (same leading size), sharded
    over the devices and chunked; returns the outputs as host arrays, whole on every process.

    The batch is padded (with copies of its last row) so that each device's share splits
    into equal chunks of at most `CHUNK` rows.
    """
    size = len(inputs[0])
    rows = _padded_rows(size)
    compiled = _chunked(one, rows)
    return jax.tree.map(
        lambda leaf: leaf[:size], to_host(compiled(*shard_batch(_pad(inputs, rows))))
    )


def _errors(problem: AbstractProblem) -> ErrorModel:
    """The problem's likelihood of every data value (Gaussian when it sets none)."""
    if problem.errors is not None:
        return problem.errors
    shape = np.shape(problem.observed)
    return ErrorModel(kinds=np.zeros(shape, int), dispersion=np.ones(shape))


def simulate_members(
    problem: OdeProblem,
    names: tuple[str, ...],
    values: ArrayLike,
    ts: ArrayLike,
    *,
    curves: bool = False,
) -> dict[str, np.ndarray]:
    """Solve `problem`'s model with the parameters `names` set to each row of `values` (the
    other parameters at their starting or fixed values) and observe it at `ts` and the data.

    **Arguments:**
    - `problem`: the ODE problem (model, observations, data).
    - `names`: parameter names (free or fixed); `values`: shape `(B, len(names))`.
    - `ts`: increasing output times at or after the problem's `t0`.
    - `curves`: also return the observations at `ts` (`(B, T, M)`); otherwise only their
      summaries are kept.

    **Returns:** host arrays with leading axis `B`: `status` (the solver's, 0 on success),
    `chi_square` (`-2 log L` of the data up to a constant, from the problem's likelihood as
    its fit uses it: `sum ((model - data) / sigma)^2` for Gaussian data, the deviance for
    counts, priors left out; `inf` when the solve fails), and per observation `peak`,
    `peak_time` (largest value at `ts` and when) and `final` (at the last of `ts`), each
    `(B, M)`; with `curves`, `curves` `(B, T, M)`.
    """
    ts = np.asarray(ts, dtype=float)
    data_ts = np.asarray(problem.data.ts, dtype=float)
    grid = np.union1d(ts, data_ts)
    at_ts, at_data = np.searchsorted(grid, ts), np.searchsorted(grid, data_ts)
    base = problem.values(problem.space.initial_values())
    data = np.asarray(problem.observed)
    errors = _errors(problem)

    def one(row):
        parameters = base | {name: row[i] for i, name in enumerate(names)}
        ys, status = problem.simulate(parameters, grid)
        observed = problem.observe(parameters, jnp.asarray(grid), ys)
        free = [parameters[name] for name in problem.space.names]
        x = jnp.stack(free) if free else None
        chi_square = _chi_square(errors, observed[at_data], data, problem.sigma, x)
        ok = (status == 0) & jnp.isfinite(chi_square)
        out = observed[at_ts]
        result = {
            "status": status,
            "chi_square": jnp.where(ok, chi_square, jnp.inf),
            "peak": jnp.max(out, axis=0),
            "peak_time": jnp.asarray(ts)[jnp.argmax(out, axis=0)],
            "final": out[-1],
        }
        return result | ({"curves": out} if curves else {})

    return map_members(one, (np.asarray(values, dtype=float),))


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


def simulate_unknowns(
    problem: AbstractProblem, names: tuple[str, ...], values: ArrayLike, groups: ArrayLike
) -> dict[str, np.ndarray]:
    """Predict `problem`'s data with the free unknowns `names` set to each row of `values`
    (the other unknowns at their starting values): a sweep of any problem kind (a PDE's
    sensors), through `problem.predict`.

    **Arguments:**
    - `problem`: the problem; `names`: free unknowns; `values`: shape `(B, len(names))`.
    - `groups`: per data value (shape of `observed`), the index `0 .. G-1` of what it
      observes (a PDE's state); a value in no group: `-1`.

    **Returns:** host arrays with leading axis `B`: `status`, `chi_square` (as
    `simulate_members`) and per group the largest predicted value `peak` and the index of
    the data value where it is, `peak_index`, each `(B, G)`.
    """
    space_names = problem.space.names
    columns = np.asarray([space_names.index(name) for name in names], int)
    base = jnp.asarray(problem.space.initial_values())
    data, sigma = np.asarray(problem.observed), np.asarray(problem.sigma)
    groups = np.asarray(groups).reshape(-1)
    count = int(groups.max()) + 1
    errors = _errors(problem)

    def one(row):
        x = base.at[columns].set(row)
        prediction, status = problem.predict(x)
        chi_square = _chi_square(errors, prediction, data, sigma, x)
        ok = (status == 0) & jnp.isfinite(chi_square)
        flat = prediction.reshape(-1)
        inside = groups[None, :] == np.arange(count)[:, None]  # (G, N)
        masked = jnp.where(inside, flat[None, :], -jnp.inf)
        return {
            "status": status,
            "chi_square": jnp.where(ok, chi_square, jnp.inf),
            "peak": jnp.max(masked, axis=1),
            "peak_index": jnp.argmax(masked, axis=1),
        }

    return map_members(one, (np.asarray(values, dtype=float),))


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
