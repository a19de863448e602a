"""Multiple shooting: a long or chaotic series cut into segments, each solved from its own
trainable initial state, with a penalty that joins the segments."""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

from ..inverse import SolverOptions
from ._loss import DEFAULT_OPTIONS, predict_windows
from ._windows import Windows, all_windows


class Segments(eqx.Module):
    """A trajectory cut into segments of equal length that share their end points.

    **Fields:**
    - `windows`: the segments as `Windows` (times `(R*S, L)`, data `(R*S, L, n)`).
    - `per_run`: segments per trajectory `S`: segment `k` ends where `k + 1` starts, except
      between trajectories.

    **Example:**

    ```python
    import numpy as np
    from diffsim import neural

    ts = np.linspace(0.0, 1.0, 11)
    segments = neural.shooting_segments(ts, np.exp(-ts)[:, None], 6)
    assert segments.per_run == 2 and segments.initial_states().shape == (2, 1)
    ```
    """

    windows: Windows
    per_run: int = eqx.field(static=True)

    def initial_states(self) -> Array:
        """The data at the start of every segment: the natural starting guess for the
        trainable initial states, shape `(R*S, n)`."""
        return self.windows.ys[:, 0]


def shooting_segments(ts: ArrayLike, ys: ArrayLike, length: int) -> Segments:
    """Cut trajectories into segments of `length` samples that share their end points.

    One trajectory (`(T,)`, `(T, n)`) or several (`(R, T)`, `(R, T, n)`); `T - 1` must be a
    multiple of `length - 1`.

    **Example:**

    ```python
    import numpy as np
    from diffsim import neural

    ts = np.linspace(0.0, 2.0, 21)
    segments = neural.shooting_segments(ts, np.exp(-ts)[:, None], 6)  # 20 = 4 × 5 intervals
    assert segments.windows.ts.shape == (4, 6)
    ```
    """
    num = jnp.shape(ts)[-1]
    if length < 2 or (num - 1) % (length - 1):
        raise ValueError(
            f"shooting: `length` - 1 must divide the number of intervals {num - 1}, "
            f"got length {length}"
        )
    return Segments(windows=all_windows(ts, ys, length), per_run=(num - 1) // (length - 1))


def shooting_loss(
    rhs,
    params,
    starts: ArrayLike,
    segments: Segments,
    options: SolverOptions = DEFAULT_OPTIONS,
    *,
    continuity: float = 1.0,
) -> Array:
    """Multiple-shooting loss: segment misfits plus a penalty on the jumps between segments.

    Mean squared error of every segment solved from its own start, plus `continuity` times
    the mean squared jump between a segment's end and the next segment's start.

    Train `(params, starts)` together (`starts` from `segments.initial_states()`); each
    segment is short, so gradients do not explode on chaotic series, and the penalty makes
    the segments one trajectory as training proceeds. `inf` when a solve fails.

    **Arguments:**
    - `rhs`, `params`, `options`: as in `window_loss`.
    - `starts`: the initial state of every segment, shape `(R*S, n)`.
    - `segments`: from `shooting_segments`.
    - `continuity`: the weight of the joining penalty.

    **Example:** the exact model from the data's own segment starts: no misfit, no jumps.

    ```python
    import numpy as np
    from diffsim import neural

    ts = np.linspace(0.0, 1.0, 11)
    segments = neural.shooting_segments(ts, np.exp(-2.0 * ts)[:, None], 6)
    starts = segments.initial_states()
    decay = lambda t, y, k: -k * y
    assert neural.shooting_loss(decay, 2.0, starts, segments) < 1e-12
    assert neural.shooting_loss(decay, 2.0, starts * 1.1, segments) > 1e-4  # jumps cost
    ```
    """
    windows = segments.windows._replace(ys=segments.windows.ys.at[:, 0].set(starts))
    ys, status = predict_windows(rhs, params, windows, options)
    error = ys - segments.windows.ys
    runs = ys.shape[0] // segments.per_run
    ends = ys[:, -1].reshape(runs, segments.per_run, -1)[:, :-1]
    begins = jnp.asarray(starts).reshape(runs, segments.per_run, -1)[:, 1:]
    jump = ends - begins
    value = jnp.mean(error * error) + continuity * (
        jnp.mean(jump * jump) if segments.per_run > 1 else 0.0
    )
    return jnp.where(jnp.all(status == 0), value, jnp.inf)
