"""The solver interface: one step of a one-step method on a flat state vector."""

import abc
from typing import Any, ClassVar, NamedTuple

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, PyTree


class Step(NamedTuple):
    """Result of one attempted step from `(t, y)` to `t + h`.

    **Fields:**
    - `y1`: the new state; `error`: the local error estimate (`None` without an embedded method);
    - `num_fevals`: right-hand-side evaluations spent; `converged`: False where an implicit stage
      failed to converge (the step must then be rejected);
    - `dense`: what the solver's `interpolate` needs for the solution inside the step;
    - `next_state`: the solver state the loop carries into the next step if this one is
      accepted; `retry_state`: the one it carries if this step is rejected (same structure).
    - `stats`: the solver's own work counters for this step (int32 scalars such as
      `num_jacobians`), summed by the loops into `Solution.stats`.
    """

    y1: Array
    error: Array | None
    num_fevals: Array
    converged: Array
    dense: PyTree[Array]
    next_state: PyTree[Array]
    retry_state: PyTree[Array]
    stats: dict[str, Array] = {}  # noqa: RUF012 (read only)


class AbstractSolver(eqx.Module):
    """A one-step method on the flat state.

    The loops call `state = init(fn, t0, y0, args)` once, then for each attempted step
    `step(fn, t, y, h, args, state, scale)`, carrying `Step.next_state` after an accepted step
    and `Step.retry_state` after a rejected one. `fn(t, y, args)` is the flat right-hand side and
    `scale` the error scale `atol + rtol * |y|`. The reverse passes replay a step as
    `step(fn, t, y, h, args, init(fn, t, y, args), scale)`, so a step's result may not depend
    on reused state beyond round-off (state such as a Jacobian is carried under
    `stop_gradient`).

    A new solver implements `order`, `error_order`, `init`, `step` and `interpolate`; the
    built-in ones are `ExplicitRK` and `ESDIRK` of a tableau.

    **Example:** what a solver tells about itself.

    ```python
    import diffsim

    for name in ("euler", "rk4", "tsit5", "kvaerno5"):
        solver = diffsim.SOLVERS[name]
        assert isinstance(solver, diffsim.AbstractSolver)
        print(name, solver.order, solver.error_order, solver.adaptive)
    assert not diffsim.SOLVERS["rk4"].adaptive  # no error estimate: give `dt`
    ```
    """

    #: Whether `step` integrates any right-hand side `fn` it is given. False for solvers that
    #: step a model of their own (an exponential integrator): they cannot solve adjoint ODEs.
    steps_any_rhs: ClassVar[bool] = True

    @property
    @abc.abstractmethod
    def order(self) -> int:
        """Order of the solution."""

    @property
    @abc.abstractmethod
    def error_order(self) -> int | None:
        """Order of the embedded method; `None` without an error estimate (fixed steps only)."""

    @property
    def adaptive(self) -> bool:
        """Whether the method has an embedded error estimate for adaptive steps."""
        return self.error_order is not None

    @abc.abstractmethod
    def init(self, fn, t0, y0, args) -> PyTree[Array]:
        """The solver state at `(t0, y0)` (a pytree of arrays; `()` when there is none)."""

    @abc.abstractmethod
    def step(self, fn, t, y, h, args, state, scale) -> Step:
        """One step of size `h` from `(t, y)`."""

    @abc.abstractmethod
    def interpolate(self, dense: Any, theta) -> Array:
        """The solution at `t + theta * h` inside a step, `0 <= theta <= 1`, from `Step.dense`."""


def hermite_dense(y0, y1, f0, f1, h):
    """Dense data of the cubic Hermite interpolant through `(y0, f0)` and `(y1, f1)`."""
    return (y0, y1, h * f0, h * f1)


def hermite_interpolate(dense, theta):
    """The cubic Hermite interpolant of `hermite_dense` at `theta` (third-order accurate)."""
    y0, y1, k0, k1 = dense
    theta = jnp.asarray(theta, jnp.real(y0).dtype)
    s = 1 - theta
    return (
        (s * s * (1 + 2 * theta)) * y0
        + (theta * theta * (3 - 2 * theta)) * y1
        + (theta * s * s) * k0
        - (theta * theta * s) * k1
    )
