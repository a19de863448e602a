"""Batches of least-squares refits of one problem: pinned coordinates, shifted data.

Profile likelihoods refit with one parameter held at a grid value; the parametric bootstrap
and calibration studies refit to new data sets. Both are one `Refit` of the problem, and
a whole batch of them runs as one compiled, `vmap`ped Levenberg-Marquardt loop.

New data `d'` need no new problem: the weighted residuals are affine in the data,
`(m - d') / sigma = (m - d) / sigma - (d' - d) / sigma`, so a refit subtracts the `shift`
`(d' - d) / sigma` (zero at missing values and prior rows). This works for every model kind.
"""

import weakref

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from ._jacobian_mode import choose_gradient_mode
from ._methods import LevenbergMarquardt
from ._problem import AbstractProblem
from ._sharding import batch_jit, shard_batch, to_host


class Refit(eqx.Module):
    """`problem` with residuals shifted by `shift` and coordinate `index` held at `value`.

    **Fields:**
    - `problem`: the problem.
    - `shift`: subtracted from the residuals, shape `(R,)`.
    - `index`: the optimizer coordinate held fixed (`-1`: none).
    - `value`: its value (optimizer coordinates).
    - `data`: other data of the shape of `problem.observed` (`None`: the problem's); for
      likelihoods whose residuals are not affine in the data (bootstrap samples of counts).

    **Example:** the problem with `k` held at a value: the profile's inner fit.

    ```python
    # slow
    import jax.numpy as jnp

    import diffsim

    config = diffsim.config.validate_config({
        "name": "decay",
        "model": {"equations": {"y": "-k * y"}},
        "parameters": {"k": {"init": 0.5, "true": 0.8, "transform": "log"}},
        "initial_state": {"y": 1.0},
        "observations": {"y": {"sigma": 0.01}},
        "data": {"synthetic": {"times": {"start": 0.0, "stop": 2.0, "num": 5}, "seed": 0}},
        "solver": {"name": "rk4", "dt": 0.1},
    })
    problem = diffsim.build_problem(config)
    z = problem.space.to_internal(jnp.array([0.8]))
    pinned = diffsim.inverse.Refit(problem, jnp.zeros(5), jnp.array(0), jnp.log(0.6))
    assert pinned.problem is problem and jnp.isclose(pinned.value, jnp.log(0.6))
    _, chi2, _ = diffsim.inverse.refit_batch(problem, z, indices=[0], values=[jnp.log(0.6)])
    assert chi2[0] > problem.chi_square(z)  # held away from the optimum
    ```
    """

    problem: AbstractProblem
    shift: Array
    index: Array
    value: Array
    data: Array | None = None

    @property
    def num_residuals(self) -> int:
        return self.shift.shape[-1]

    def residuals(self, z: ArrayLike) -> Array:
        z = jnp.asarray(z)
        pinned = jnp.where(jnp.arange(z.shape[-1]) == self.index, self.value, z)
        return self.problem.residuals(pinned, self.data) - self.shift

    def chi_square(self, z: ArrayLike) -> Array:
        r = self.residuals(z)
        return r @ r


_COMPILED: dict[tuple, tuple] = {}


def _compiled_refits(problem: AbstractProblem, method, max_steps: int, shapes):
    """The vmapped refit loop for `problem`, compiled once per problem, method and shapes
    (a problem holds unhashable settings, so it is closed over, and the compiled loop is
    kept while the problem lives)."""
    key = (id(problem), method, max_steps, shapes)
    cached = _COMPILED.get(key)
    if cached is not None and cached[0]() is problem:
        return cached[1]

    def one(z0, shift, index, value, data):
        refit = Refit(problem, shift, index, value, data)
        z = jnp.where(jnp.arange(z0.size) == index, value, z0)
        state = method.init(refit, z)
        state = jax.lax.while_loop(
            lambda c: (c[0] < max_steps + 1) & (c[1].code == 0),
            lambda c: (c[0] + 1, method.step(refit, c[1])),
            (0, state),
        )[1]
        return state.z, state.loss, state.code

    compiled = batch_jit(jax.vmap(one))
    _COMPILED[key] = (weakref.ref(problem, lambda _: _COMPILED.pop(key, None)), compiled)
    return compiled


def refit_batch(
    problem: AbstractProblem,
    z0: ArrayLike,
    *,
    shifts: ArrayLike | None = None,
    indices: ArrayLike | None = None,
    values: ArrayLike | None = None,
    data: ArrayLike | None = None,
    max_steps: int = 100,
    tolerance: float = 1e-10,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimize chi-square of a batch of `Refit`s of `problem`.

    **Arguments:**
    - `problem`: the problem.
    - `z0`: the starting point(s), optimizer coordinates: `(P,)` for all (the estimate,
      usually) or `(B, P)` one per refit (continuation along a profile).
    - `shifts`: `(B, R)` residual shifts (default zeros); `indices`, `values`: `(B,)` pinned
      coordinates and their values (default: none pinned); `data`: `(B, *observed.shape)`
      data sets replacing the problem's (default: the problem's). At least one must be given.
    - `max_steps`: the most Levenberg-Marquardt steps per refit.
    - `tolerance`: `ftol` and `xtol` of the refits.

    **Returns:** `(z, chi_square, code)` of every refit: `(B, P)`, `(B,)`, `(B,)` (the codes
    of `diffsim.inverse` methods: positive converged, 0 out of steps, negative failed).

    **Example:** three refits to shifted data in one batch.

    ```python
    # slow
    import jax.numpy as jnp
    import numpy as np

    import diffsim

    config = diffsim.config.validate_config({
        "name": "decay",
        "model": {"equations": {"y": "-k * y"}},
        "parameters": {"k": {"init": 0.5, "true": 0.8, "transform": "log"}},
        "initial_state": {"y": 1.0},
        "observations": {"y": {"sigma": 0.01}},
        "data": {"synthetic": {"times": {"start": 0.0, "stop": 2.0, "num": 5}, "seed": 0}},
        "solver": {"name": "rk4", "dt": 0.1},
    })
    problem = diffsim.build_problem(config)
    fit = diffsim.fit(problem)
    shifts = np.random.default_rng(0).normal(size=(3, 5))
    z, chi2, code = diffsim.inverse.refit_batch(problem, fit.z, shifts=shifts)
    assert z.shape == (3, 1) and (code > 0).all()
    print(np.exp(z[:, 0]))  # three estimates of k
    ```
    """
    size = next(len(a) for a in (shifts, indices, values, data) if a is not None)
    z0 = jnp.asarray(z0)
    z0 = jnp.broadcast_to(z0, (size, z0.shape[-1]))
    num_residuals = problem.num_residuals
    shifts = jnp.zeros((size, num_residuals)) if shifts is None else jnp.asarray(shifts)
    indices = jnp.full(size, -1) if indices is None else jnp.asarray(indices)
    values = jnp.zeros(size) if values is None else jnp.asarray(values, dtype=z0.dtype)
    mode, _ = choose_gradient_mode(z0.shape[-1], num_residuals, "auto", problem.options.adjoint)
    method = LevenbergMarquardt(mode=mode, ftol=tolerance, xtol=tolerance, gtol=tolerance)
    data = None if data is None else np.asarray(data, float)
    batch = shard_batch((z0, shifts, indices, values, data))  # padded to the device count
    shapes = (batch[0].shape, batch[1].shape, None if data is None else batch[4].shape)
    refits = _compiled_refits(problem, method, max_steps, shapes)
    z, loss, code = to_host(refits(*batch))
    return z[:size], loss[:size], code[:size]
