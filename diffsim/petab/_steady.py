"""Pre-equilibration: steady states by a long solve, their sensitivities by the implicit
function theorem.

The steady state `y*` reached from `y0` under `dy/dt = f(y, p)` is a root of
`g(y) = f(y, p) + P (y - y0)`, where `P = L^T L` projects on the model's conservation laws
(the rows of `L`: `l . f(y, p) = 0` for every state and parameter, so `l . y` keeps its
initial value). `dg/dy = J + P` is invertible at a steady state that is stable within its
conservation class, even though `J = df/dy` is singular when there are conservation laws.
`lax.custom_root` then differentiates `y*(y0, p)` with one linear solve of that matrix
instead of through the thousands of stored steps of the solve to `t = 1e6`.

The laws are found once, when the problem is loaded, as the common left null space of `J`
at random states and parameters. A law whose coefficients depend on the parameters (e.g.
species in compartments of different, estimated sizes) would make `P` depend on them; then
the gradient goes through the solve instead, and `SteadyState.reason` says why.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

#: Pre-equilibration integrates to this time and then requires `|dy/dt|` below
#: `STEADY_TOL * (1 + |y|)`.
STEADY_TIME = 1e6
STEADY_TOL = 1e-6


class SteadyState(eqx.Module):
    """How pre-equilibration steady states are differentiated.

    **Fields:**
    - `laws`: `(K, X)` orthonormal rows spanning the conservation laws.
    - `gradient`: `"implicit"` (implicit function theorem) or `"through_solve"` (through the
      stored steps of the long solve).
    - `reason`: why `gradient` is what it is (for reports).
    """

    laws: Array
    gradient: str = eqx.field(static=True)
    reason: str = eqx.field(static=True)

    def __call__(self, solve, rhs, y0, p) -> tuple[Array, Array]:
        """`(y*, status)`: the steady state from `y0` with parameters `p`.

        `solve(y0, p, ts)` integrates (a `Solution`); `rhs(t, y, p)` is `dy/dt`.
        """

        def long_solve(y0, p):
            solution = solve(y0, p, np.asarray([0.0, STEADY_TIME]))
            return solution.ys[-1], solution.status

        if self.gradient == "through_solve":
            return long_solve(y0, p)
        projector = self.laws.T @ self.laws

        def root_of(y):
            return rhs(STEADY_TIME, y, p) + projector @ (y - y0)

        def find(_, guess):
            del guess  # the long solve starts at y0, not at a guess
            y, status = long_solve(jax.lax.stop_gradient(y0), jax.lax.stop_gradient(p))
            return y, status.astype(y.dtype)  # custom_root's JVP rejects an integer aux

        def tangent_solve(linear, b):
            return jnp.linalg.solve(jax.jacfwd(linear)(b), b)

        y, status = jax.lax.custom_root(root_of, y0, find, tangent_solve, has_aux=True)
        return y, jax.lax.stop_gradient(status).astype(jnp.int32)


def steady_state_for(model, p_pre: np.ndarray, *, seed: int = 0) -> SteadyState:
    """The `SteadyState` of a model whose pre-equilibration conditions have parameter
    vectors `p_pre` `(C, P)`: conservation laws from Jacobians at random points.

    Parameters are sampled around `p_pre` (factors `exp(N(0, 0.3))`), states uniformly in
    `[0.5, 1.5]`; a law is a left singular vector of the stacked Jacobians whose singular
    value is below `1e-9` of the largest.
    """
    rng = np.random.default_rng(seed)
    n = len(model.states)
    jacobian = jax.jit(jax.vmap(jax.jacfwd(model.rhs, argnums=1), in_axes=(None, 0, 0)))
    count = 4
    ys = rng.uniform(0.5, 1.5, (count, n))
    base = np.asarray(p_pre, float)[rng.integers(len(p_pre), size=count)]
    varied = base * np.exp(0.3 * rng.standard_normal(base.shape))
    same = np.broadcast_to(base[:1], base.shape)
    laws_any_p = _left_null(np.asarray(jacobian(STEADY_TIME, ys, varied)))
    laws_one_p = _left_null(np.asarray(jacobian(STEADY_TIME, ys, same)))
    if laws_any_p is None or laws_one_p is None:
        return SteadyState(
            np.zeros((0, n)), "through_solve", "the Jacobian is not finite at sampled points"
        )
    if len(laws_one_p) > len(laws_any_p):
        return SteadyState(
            laws_any_p,
            "through_solve",
            "a conservation law depends on the parameters (implicit gradients would miss it)",
        )
    return SteadyState(
        laws_any_p,
        "implicit",
        f"implicit function theorem ({len(laws_any_p)} conservation laws)",
    )


def _left_null(jacobians: np.ndarray) -> np.ndarray | None:
    """Orthonormal rows spanning `{l : l . J_i = 0 for all i}` (`None` if not finite)."""
    if not np.all(np.isfinite(jacobians)):
        return None
    stacked = np.concatenate(list(jacobians), axis=1)  # (X, count * X)
    u, s, _ = np.linalg.svd(stacked)
    s = np.concatenate([s, np.zeros(len(u) - len(s))])
    return u[:, s <= 1e-9 * max(s.max(), 1e-300)].T
