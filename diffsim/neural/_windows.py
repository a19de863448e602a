"""Time windows of trajectories: the mini-batches a neural ODE is trained on."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike


class Windows(NamedTuple):
    """A batch of short stretches of trajectories, each solved from its first state.

    **Fields:**
    - `ts`: the times of every window, shape `(B, L)`.
    - `ys`: the observed states, shape `(B, L, n)`; `ys[:, 0]` are the initial states.

    **Example:**

    ```python
    import jax.numpy as jnp
    from diffsim import neural

    batch = neural.Windows(ts=jnp.zeros((3, 5)), ys=jnp.ones((3, 5, 2)))  # 3 windows of 5
    assert batch.ys[:, 0].shape == (3, 2)  # where each window's solve starts
    ```
    """

    ts: Array
    ys: Array


def _check(ts, ys, length):
    ts, ys = jnp.asarray(ts), jnp.asarray(ys)
    if ys.ndim == 2:
        ts, ys = ts[None], ys[None]
    if ts.ndim != 2 or ys.ndim != 3 or ys.shape[:2] != ts.shape:
        raise ValueError(
            "windows: expected ts of shape (T,) and ys of shape (T, n), or (R, T) and "
            f"(R, T, n) for R trajectories; got {ts.shape} and {ys.shape}"
        )
    if not 2 <= length <= ts.shape[1]:
        raise ValueError(f"windows: `length` must be between 2 and {ts.shape[1]}, got {length}")
    return ts, ys


def sample_windows(ts: ArrayLike, ys: ArrayLike, length: int, count: int, *, key) -> Windows:
    """`count` windows of `length` consecutive samples, starting at random samples.

    Traceable (use it inside `train`'s `batches`), sampling with replacement, uniformly over
    the trajectories and start positions.

    **Arguments:**
    - `ts`, `ys`: one trajectory (`(T,)`, `(T, n)`) or several (`(R, T)`, `(R, T, n)`).
    - `length`: samples per window (the first one is the initial state).
    - `count`: windows per batch.
    - `key`: a `jax.random` key.

    **Example:**

    ```python
    import jax
    import numpy as np
    from diffsim import neural

    ts = np.linspace(0.0, 1.0, 11)
    ys = np.stack([ts, ts**2], axis=1)
    batch = neural.sample_windows(ts, ys, 4, 8, key=jax.random.key(0))
    assert batch.ts.shape == (8, 4) and batch.ys.shape == (8, 4, 2)
    assert np.allclose(np.diff(batch.ts, axis=1), 0.1)  # consecutive samples
    ```
    """
    ts, ys = _check(ts, ys, length)
    key_r, key_s = jax.random.split(key)
    runs = jax.random.randint(key_r, (count,), 0, ts.shape[0])
    starts = jax.random.randint(key_s, (count,), 0, ts.shape[1] - length + 1)
    index = starts[:, None] + jnp.arange(length)
    return Windows(ts=ts[runs[:, None], index], ys=ys[runs[:, None], index])


def all_windows(ts: ArrayLike, ys: ArrayLike, length: int) -> Windows:
    """Every trajectory cut into consecutive windows of `length` samples.

    Windows share their end points (the last one may start earlier so that it ends at the last
    sample): a deterministic batch covering all the data, e.g. for the L-BFGS phase of `train`.

    **Example:**

    ```python
    import numpy as np
    from diffsim import neural

    ts = np.linspace(0.0, 1.0, 11)
    windows = neural.all_windows(ts, np.stack([ts, ts**2], axis=1), 6)
    assert windows.ts.shape == (2, 6)
    assert windows.ts[1, 0] == windows.ts[0, -1]  # consecutive windows share an end point
    ```
    """
    ts, ys = _check(ts, ys, length)
    num = ts.shape[1]
    starts = np.arange(0, num - 1, length - 1)
    starts = np.unique(np.minimum(starts, num - length))
    index = starts[:, None] + np.arange(length)
    return Windows(
        ts=ts[:, index].reshape(-1, length), ys=ys[:, index].reshape(-1, length, ys.shape[-1])
    )
