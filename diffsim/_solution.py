"""The value a solve returns: states at the output times, a status code and statistics."""

import enum

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, PyTree

from ._dense import DenseInterpolation


class RESULTS(enum.IntEnum):
    """Outcome codes of a solve (`sol.status`); `status_message(code)` gives the message.

    **Example:** every code has a message; success has none.

    ```python
    import diffsim

    for code in diffsim.RESULTS:
        print(int(code), code.name, diffsim.status_message(code)[:60])
    assert diffsim.RESULTS.successful == 0 and diffsim.RESULTS(1).name == "max_steps_reached"
    ```
    """

    successful = 0
    max_steps_reached = 1
    step_size_too_small = 2
    nonfinite_state = 3
    newton_failed = 4
    invalid_times = 5
    event_occurred = 6


_MESSAGES = {
    RESULTS.successful: "",
    RESULTS.max_steps_reached: (
        "The maximum number of solver steps was reached before the last output time. "
        "Try increasing `max_steps`, loosening `rtol`/`atol`, or a stiff solver (`solver='stiff'`)."
    ),
    RESULTS.step_size_too_small: (
        "The step size fell below the floating-point resolution of t: the problem may be stiff "
        "(try `solver='stiff'`), singular, or its state non-finite near this time."
    ),
    RESULTS.nonfinite_state: (
        "The state became non-finite (NaN or inf). Check the right-hand side and parameters, or "
        "reduce `dt`: an explicit method with too large a fixed step is unstable."
    ),
    RESULTS.newton_failed: (
        "Newton's method did not converge in an implicit stage with the fixed step `dt`. "
        "Reduce `dt` or use adaptive steps (`dt=None`)."
    ),
    RESULTS.invalid_times: (
        "Traced output times `ts` must be strictly increasing (a solve backwards in time "
        "needs concrete, strictly decreasing `ts`)."
    ),
    RESULTS.event_occurred: "A terminal event stopped the solve (not an error).",
}
MESSAGES = tuple(_MESSAGES[code] for code in RESULTS)


#: Status codes that are not failures (`throw=True` does not raise on them).
SUCCESSES = (RESULTS.successful, RESULTS.event_occurred)


def status_message(code) -> str:
    """The message for an integer status code (host side; `""` means success).

    **Example:**

    ```python
    import diffsim

    assert diffsim.status_message(diffsim.RESULTS.successful) == ""
    assert "max_steps" in diffsim.status_message(diffsim.RESULTS.max_steps_reached)
    ```
    """
    return MESSAGES[int(code)]


class Solution(eqx.Module):
    """States of an ODE solve at the requested output times.

    **Fields:**
    - `ts`: the output times, shape `(T,)`.
    - `ys`: the state at each output time, a pytree like `y0` with a leading axis of length `T`.
      Rows after a failure or a terminal event are NaN; `status` says why.
    - `status`: int32 code, 0 on success, `RESULTS.event_occurred` when a terminal event
      stopped the solve; `diffsim.status_message(code)` gives the message.
    - `stats`: dict with `num_steps` (attempted), `num_accepted`, `num_rejected`, `num_fevals`.
    - `event_ts`, `event_ys`: times and states of the events found (`max_events` rows, NaN
      beyond `num_events`); differentiable (implicit function theorem). Empty without `event`.
    - `adjoint`: the gradient strategy used; `adjoint_reason`: why it was chosen.
    - `interpolation`: the dense output with `SaveAt(dense=True)`, else None; see `evaluate`.

    **Example:** a failed solve is a status and a message, not a silent NaN.

    ```python
    import jax
    import jax.numpy as jnp

    import diffsim

    jax.config.update("jax_enable_x64", True)


    def blow_up(t, y, params):
        return y**2  # y = 1/(1 - t): infinite at t = 1


    ts = jnp.array([0.0, 0.5, 2.0])
    sol = diffsim.solve_ode(blow_up, jnp.array([1.0]), ts, None, throw=False)
    assert bool(sol.succeeded) is False and sol.message  # names the failure
    assert abs(sol.ys[1, 0] - 2.0) < 1e-4  # the output reached before the failure is kept
    ```
    """

    ts: Array
    ys: PyTree[Array]
    status: Array
    stats: dict[str, Array]
    event_ts: Array
    event_ys: PyTree[Array]
    num_events: Array
    adjoint: str = eqx.field(static=True)
    adjoint_reason: str = eqx.field(static=True)
    interpolation: DenseInterpolation | None = None

    @property
    def succeeded(self) -> Array:
        """Boolean array: True where the solve reached the last output time or a terminal event."""
        return (self.status == RESULTS.successful) | (self.status == RESULTS.event_occurred)

    def evaluate(self, t) -> PyTree[Array]:
        """The solution at time(s) `t` inside the span, from the solver's dense output
        (needs `saveat=SaveAt(dense=True)`); differentiable like `ys`."""
        if self.interpolation is None:
            raise ValueError("Solution.evaluate needs `solve_ode(..., saveat=SaveAt(dense=True))`")
        return self.interpolation.evaluate(t)

    @property
    def message(self) -> str:
        """The status message of an unbatched, concrete solution."""
        return status_message(jnp.asarray(self.status).item())
