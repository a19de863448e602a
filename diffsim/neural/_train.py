"""`train`: Adam on mini-batches, then L-BFGS on the full loss, for any pytree of weights."""

import time
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax


class Training(eqx.Module):
    """The outcome of `train`.

    **Fields:**
    - `params`: the trained pytree (same structure as the one given).
    - `losses`: the loss after every step, Adam steps first (on their mini-batch), then
      L-BFGS steps (full loss); shape `(adam_steps + lbfgs_steps,)`.
    - `phases`: `"adam"` or `"lbfgs"` for every entry of `losses`.
    - `skipped`: Adam steps whose loss or gradient was not finite (a failed solve): they
      left the weights unchanged.
    - `compile_seconds`, `train_seconds`: tracing+compilation, and the training loops.

    **Example:**

    ```python
    import jax.numpy as jnp
    from diffsim import neural

    result = neural.train(lambda p, batch: jnp.sum((p - 3.0) ** 2), jnp.zeros(2), adam_steps=5)
    assert result.phases == ("adam",) * 5 and result.losses.shape == (5,)
    assert result.skipped == 0 and result.compile_seconds > 0
    ```
    """

    params: object
    losses: np.ndarray
    phases: tuple[str, ...]
    skipped: int
    compile_seconds: float
    train_seconds: float


def _compiled(function, *example):
    clock = time.perf_counter()
    compiled = eqx.filter_jit(function).lower(*example).compile()
    return compiled, time.perf_counter() - clock


def train(
    loss: Callable,
    params,
    *,
    batches: Callable | None = None,
    full_batch=None,
    adam_steps: int = 500,
    learning_rate: float = 1e-2,
    lbfgs_steps: int = 0,
    optimizer: optax.GradientTransformation | None = None,
    key=None,
    stop_below: float = -float("inf"),
    callback: Callable[[int, str, float, object], None] | None = None,
) -> Training:
    """Minimize `loss(params, batch)` over the floating-point leaves of `params`.

    First `adam_steps` steps of Adam (or `optimizer`) on mini-batches `batches(key)` drawn
    afresh each step (a step with a non-finite loss or gradient is skipped,
    `optax.apply_if_finite`); then `lbfgs_steps` steps of L-BFGS with a zoom line search
    (`optax.lbfgs`) on the deterministic loss `loss(params, full_batch)`, which polishes the
    minimum that Adam found. Each phase is compiled once.

    **Arguments:**
    - `loss`: `loss(params, batch) -> scalar`, differentiable in the inexact leaves of `params`.
    - `params`: the starting weights, any pytree (an `eqx.Module`, a dict of them, ...); leaves
      that are not inexact arrays are held fixed.
    - `batches`: `batches(key) -> batch`, traceable; `None` to use `full_batch` every step.
    - `full_batch`: the batch of the L-BFGS phase (and of Adam when `batches` is `None`).
    - `adam_steps`, `learning_rate`: the first phase (`optimizer` replaces Adam).
    - `lbfgs_steps`: the second phase (0 to skip it).
    - `key`: a `jax.random` key for the mini-batches (default `jax.random.key(0)`).
    - `stop_below`: stop as soon as a step's loss is at or below this value (early stopping,
      e.g. at the noise level: the discrepancy principle).
    - `callback`: called as `callback(step, phase, loss, params)` after every step (`params`
      the weights after it).

    **Returns:** a `Training`.

    **Example:** a quadratic bowl (any differentiable `loss(params, batch)` trains alike).

    ```python
    import jax.numpy as jnp
    from diffsim import neural

    target = jnp.array([1.0, -2.0])
    loss = lambda p, batch: jnp.sum((p["w"] - target) ** 2)
    result = neural.train(loss, {"w": jnp.zeros(2)}, adam_steps=50, learning_rate=0.1,
                          lbfgs_steps=5)
    assert jnp.allclose(result.params["w"], target, atol=1e-6)
    assert result.phases[-1] == "lbfgs"
    ```
    """
    key = jax.random.key(0) if key is None else key
    dynamic, static = eqx.partition(params, eqx.is_inexact_array)
    objective = lambda d, batch: loss(eqx.combine(d, static), batch)
    draw = (lambda k: full_batch) if batches is None else batches
    losses, phases, skipped, compile_seconds = [], [], 0, 0.0
    clock = time.perf_counter()

    if adam_steps > 0:
        base = optimizer if optimizer is not None else optax.adam(learning_rate)
        first = optax.apply_if_finite(base, max_consecutive_errors=100)

        def adam_step(d, state, k):
            value, grad = jax.value_and_grad(objective)(d, draw(k))
            updates, state = first.update(grad, state, d)
            return optax.apply_updates(d, updates), state, value

        state = first.init(dynamic)
        step, seconds = _compiled(adam_step, dynamic, state, key)
        compile_seconds += seconds
        for i in range(adam_steps):
            key, sub = jax.random.split(key)
            dynamic, state, value = step(dynamic, state, sub)
            value = float(value)
            skipped += not np.isfinite(value)
            losses.append(value)
            phases.append("adam")
            if callback is not None:
                callback(i + 1, "adam", value, eqx.combine(dynamic, static))
            if value <= stop_below:
                break

    if lbfgs_steps > 0 and not (losses and losses[-1] <= stop_below):
        second = optax.lbfgs()
        full = lambda d: objective(d, full_batch)
        value_and_grad = optax.value_and_grad_from_state(full)

        def lbfgs_step(d, state):
            value, grad = value_and_grad(d, state=state)
            updates, state = second.update(grad, state, d, value=value, grad=grad, value_fn=full)
            return optax.apply_updates(d, updates), state, value

        state = second.init(dynamic)
        step, seconds = _compiled(lbfgs_step, dynamic, state)
        compile_seconds += seconds
        for i in range(lbfgs_steps):
            candidate, candidate_state, value = step(dynamic, state)
            if not bool(jnp.isfinite(value)):
                break
            dynamic, state = candidate, candidate_state
            losses.append(float(value))
            phases.append("lbfgs")
            if callback is not None:
                callback(adam_steps + i + 1, "lbfgs", float(value), eqx.combine(dynamic, static))
            if value <= stop_below:
                break

    return Training(
        params=eqx.combine(dynamic, static),
        losses=np.asarray(losses),
        phases=tuple(phases),
        skipped=skipped,
        compile_seconds=compile_seconds,
        train_seconds=time.perf_counter() - clock - compile_seconds,
    )
