"""The value a solve returns: states at the output times, a status code and statistics."""

import enum

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, PyTree


class RESULTS(enum.IntEnum):
    """Outcome codes of a solve (`sol.status`); `status_message(code)` gives the message."""

    successful = 0
    max_steps_reached = 1
    step_size_too_small = 2
    nonfinite_state = 3
    newton_failed = 4
    invalid_times = 5


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
    RESULTS.invalid_times: "The output times `ts` must be strictly increasing.",
}
MESSAGES = tuple(_MESSAGES[code] for code in RESULTS)


def status_message(code) -> str:
    """The message for an integer status code (host side; `""` means success)."""
    return MESSAGES[int(code)]


class Solution(eqx.Module):
    """States of an ODE solve at the requested output times.

    **Fields:**
    - `ts`: the output times, shape `(T,)`.
    - `ys`: the state at each output time, a pytree like `y0` with a leading axis of length `T`.
      Rows after a failure are NaN; `status` says why.
    - `status`: int32 code, 0 on success; `diffsim.status_message(code)` gives the message.
    - `stats`: dict with `num_steps` (attempted), `num_accepted`, `num_rejected`, `num_fevals`.
    - `adjoint`: the gradient strategy used; `adjoint_reason`: why it was chosen.
    """

    ts: Array
    ys: PyTree[Array]
    status: Array
    stats: dict[str, Array]
    adjoint: str = eqx.field(static=True)
    adjoint_reason: str = eqx.field(static=True)

    @property
    def succeeded(self) -> Array:
        """Boolean array: True where the solve reached the last output time."""
        return self.status == 0

    @property
    def message(self) -> str:
        """The status message of an unbatched, concrete solution."""
        return status_message(jnp.asarray(self.status).item())
