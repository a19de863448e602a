"""Many simulations or fits of one ODE problem at given parameter values (sweeps, ensembles),
run as one batch sharded over every device.

A member returns only what its caller keeps (a few numbers per observation, or the
observations on one time grid); the solver's trajectory and the fit's Jacobians stay inside
the member's program. Each device runs its share in chunks of `CHUNK` members
(`jax.lax.map`), so memory grows with the chunk, not with the number of members.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from ._ode_problem import OdeProblem
from ._problem import AbstractProblem
from ._sharding import batch_jit, shard_batch, to_host

CHUNK = 1024
"""Members solved together (`vmap`) on a device; larger batches run chunk after chunk."""


def map_members(one, inputs: tuple) -> dict:
    """`one(*row)` for every row of the host arrays `inputs` (same leading size), sharded
    over the devices and chunked; returns the outputs as host arrays, whole on every process.

    Each device's share is split into equal chunks of at most `CHUNK` rows (the batch is
    padded by fewer rows than there are chunks), so that one chunk program is compiled.
    """
    size = len(inputs[0])
    devices = jax.device_count()
    share = -(-size // devices)
    chunks = -(-share // CHUNK)
    chunk = -(-share // chunks)
    extra = chunk * chunks * devices - size
    inputs = tuple(np.concatenate([a, np.repeat(a[-1:], extra, axis=0)]) for a in inputs)
    compiled = batch_jit(lambda *a: jax.lax.map(lambda row: one(*row), a, batch_size=chunk))
    return jax.tree.map(lambda leaf: leaf[:size], to_host(compiled(*shard_batch(inputs))))


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
    `chi_square` (Gaussian, `sum ((model - data) / sigma)^2` over the data; `inf` when the
    solve fails), and per observation `peak`, `peak_time` (largest value at `ts` and when)
    and `final` (at the last of `ts`), each `(B, M)`; with `curves`, `curves` `(B, T, M)`.
    """
    ts = np.asarray(ts, dtype=float)
    data_ts = np.asarray(problem.data.ts, dtype=float)
    grid = np.union1d(ts, data_ts)
    at_ts, at_data = np.searchsorted(grid, ts), np.searchsorted(grid, data_ts)
    base = problem.values(problem.space.initial_values())
    data = np.asarray(problem.observed)
    finite = np.isfinite(data)
    filled, sigma = np.where(finite, data, 0.0), np.where(finite, problem.sigma, 1.0)

    def one(row):
        parameters = base | {name: row[i] for i, name in enumerate(names)}
        ys, status = problem.simulate(parameters, grid)
        observed = problem.observe(parameters, jnp.asarray(grid), ys)
        misfit = jnp.where(finite, (observed[at_data] - filled) / sigma, 0.0)
        chi_square = jnp.sum(misfit**2)
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
    that row's values, the whole loop on the devices.

    **Arguments:**
    - `problem`: the problem; `method`: a `diffsim.inverse` method (`init`/`step`).
    - `z0`: starting points (optimizer coordinates), `(B, P)`; `mask`: `(P,)` booleans.
    - `max_steps`: the most optimizer steps per fit.

    **Returns:** host arrays `z` `(B, P)`, `chi_square`, `code` (positive converged, 0 out
    of steps, negative failed) and `steps`, each `(B,)`.
    """
    mask = jnp.asarray(mask, dtype=bool)

    def one(start):
        pinned = Pinned(problem, mask, start)
        state = method.init(pinned, start)
        steps, state = jax.lax.while_loop(
            lambda c: (c[0] < max_steps + 1) & (c[1].code == 0),
            lambda c: (c[0] + 1, method.step(pinned, c[1])),
            (0, state),
        )
        return {"z": state.z, "chi_square": state.loss, "code": state.code, "steps": steps - 1}

    return map_members(one, (np.asarray(z0, dtype=float),))
