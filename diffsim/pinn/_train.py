"""`train`: Adam (optax), then L-BFGS (scipy's L-BFGS-B), on a `PINNProblem`'s weighted loss
terms.

Both phases call one compiled function of the flat trainable vector: the weighted loss, its
terms and its gradient. It compiles once per dtype (once in all when the network is float64),
and the progress records reuse the terms of the last evaluation. L-BFGS is scipy's rather
than optax's: optax's L-BFGS step, whose line search holds several copies of the loss graph,
took 53 s to compile for Raissi's Burgers network against 8 s (2 CPU cores, 2026-12-01), and
scipy's Python loop costs well under a millisecond per iteration against 10–500 ms for an
evaluation of the loss and gradient (2000–10 000 collocation points).
"""

import dataclasses
import math
import pathlib
import time
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from ..inverse._sharding import shard_points
from ._checkpoint import save
from ._problem import PINNProblem, Trainable, squared_norms
from ._sampling import Collocation
from ._weighting import Causal, Fixed, GradNorm


@dataclasses.dataclass(frozen=True)
class Progress:
    """What a progress callback receives every `log_every` steps.

    ```python
    from diffsim import pinn

    p = pinn.Progress(100, "adam", 0.5, {"residual": 0.25}, {"residual": 2.0}, {"nu": 0.01})
    assert p.line() == "adam    100  loss 5.000e-01  residual 2.500e-01  nu=0.01"
    assert p.record()["terms"] == {"residual": 0.25}
    ```
    """

    step: int
    phase: str  # "adam" or "lbfgs"
    loss: float
    terms: dict[str, float]
    weights: dict[str, float]
    params: dict[str, float]  # the unknowns' current values
    elapsed: float = 0.0  # seconds since training started

    def record(self) -> dict:
        """The progress as a JSON-ready dict (e.g. a line of a run's `metrics.jsonl`)."""
        return dataclasses.asdict(self)

    def line(self) -> str:
        """One progress line: step, total loss, each term and each unknown."""
        parts = [f"{self.phase} {self.step:>6}", f"loss {self.loss:.3e}"]
        parts += [f"{k} {v:.3e}" for k, v in self.terms.items()]
        parts += [f"{k}={v:.6g}" for k, v in self.params.items()]
        return "  ".join(parts)


@dataclasses.dataclass(frozen=True)
class Trained:
    """The result of `train`.

    **Fields:** `trainable` (network and unknowns), `params` (the unknowns' values, floats),
    `history` (lists per key: `step`, `phase`, `loss`, one per loss term `k` and its weight
    `weight_k`, one per unknown `u`: `param_u`),
    `status` (`"ok"`, or a message saying why training stopped early), `seconds` (wall time
    per phase, compilation included), `collocation` (the final collocation points), `dtype`,
    `interrupted` (stopped by Ctrl-C: the state reached is returned), `steps` (Adam steps and
    L-BFGS iterations done).

    ```python
    import jax
    import jax.numpy as jnp
    from diffsim import nn, pde, pinn

    model = pde.Heat(pde.uniform_grid(8, -1.0, 1.0), pde.Dirichlet(0.0))
    u0 = lambda x: jnp.sin(jnp.pi * x[0])
    problem = pinn.PINNProblem(model, (0.0, 1.0), {"diffusivity": 0.1}, initial=u0)
    net = nn.MLP(2, "scalar", 4, 1, dtype="float64", key=jax.random.key(0))
    trained = pinn.train(problem, net, collocation=pinn.Collocation(16), adam_steps=3, log_every=1)
    assert trained.status == "ok" and trained.steps == {"adam": 3, "lbfgs": 0}
    assert trained.history["step"] == [0, 1, 2]
    assert {"residual", "initial", "boundary"} <= set(trained.history)
    ```
    """

    trainable: Trainable
    params: dict[str, float]
    history: dict[str, list]
    status: str
    seconds: dict[str, float]
    collocation: np.ndarray
    dtype: str
    interrupted: bool = False
    steps: dict[str, int] = dataclasses.field(default_factory=dict)


_CTRL_C = "Interrupted by the user (Ctrl-C)"
_CHUNK = 256  # collocation points per slice of the residual term's gradient (see _Evaluator)


def _cast(tree, dtype):
    return jax.tree_util.tree_map(lambda a: a.astype(dtype) if eqx.is_inexact_array(a) else a, tree)


def train(
    problem: PINNProblem,
    network,
    *,
    collocation: Collocation,
    seed: int = 0,
    adam_steps: int = 1000,
    learning_rate: float | optax.Schedule = 1e-3,
    lbfgs_steps: int = 0,
    lbfgs_float64: bool = False,
    weighting: Fixed | GradNorm | None = None,
    causal: Causal | None = None,
    callback: Callable[[Progress], None] | None = None,
    log_every: int = 100,
    checkpoint: str | pathlib.Path | None = None,
    checkpoint_every: int = 1000,
) -> Trained:
    """Train `network` (and the problem's unknowns) on the problem's loss terms.

    Loss `= Σ λ_k L_k` over the terms `residual` (mean squared PDE residual at the
    collocation points, causally weighted if `causal`), `initial`, `boundary`, `data`
    (mean squared misfits; terms imposed as hard constraints are left out). Adam
    (`adam_steps`, `learning_rate`) runs first, with collocation resampling/refinement and
    weight updates (`weighting`: `Fixed()` by default, or `GradNorm()`); then L-BFGS
    (at most `lbfgs_steps` iterations of scipy's L-BFGS-B with Raissi et al.'s settings) on
    the last collocation set and weights, in float64 if `lbfgs_float64` (needs
    `jax_enable_x64`).

    **Arguments:** as named above; `callback(progress)` every `log_every` steps;
    `checkpoint`: a path where the trainable leaves are saved every `checkpoint_every`
    steps and at the end (see `load`).

    **Returns:** a `Trained`. A non-finite loss stops training with a status message (the
    last finite state is returned), never silently; so does Ctrl-C (`interrupted`).

    **Example:** the heat equation `u_t = 0.1 u_xx`, `u0 = sin πx`, zero ends, both imposed
    exactly; a few L-BFGS iterations in float64 bring the field close to the exact mode.

    ```python
    import jax
    import jax.numpy as jnp
    from diffsim import nn, pde, pinn

    model = pde.Heat(pde.uniform_grid(8, -1.0, 1.0), pde.Dirichlet(0.0))
    u0 = lambda x: jnp.sin(jnp.pi * x[0])
    problem = pinn.PINNProblem(
        model, (0.0, 0.5), {"diffusivity": 0.1}, initial=u0, hard=("initial", "boundary")
    )
    net = nn.MLP(2, "scalar", 8, 1, dtype="float64", key=jax.random.key(0))
    collocation = pinn.Collocation(64)
    trained = pinn.train(problem, net, collocation=collocation, adam_steps=0, lbfgs_steps=50)
    u = problem.field(trained.trainable)(0.5, jnp.array([0.5]))
    assert abs(u - jnp.exp(-0.1 * jnp.pi**2 * 0.5)) < 1e-2
    ```
    """
    if lbfgs_float64 and not jax.config.read("jax_enable_x64"):
        raise ValueError(
            "lbfgs_float64: needs jax.config.update('jax_enable_x64', True) before training"
        )
    for key, n in (("adam_steps", adam_steps), ("lbfgs_steps", lbfgs_steps)):
        if int(n) < 0:
            raise ValueError(f"{key}: must be non-negative, got {n}")
    weighting = Fixed() if weighting is None else weighting
    trainable = problem.init(network)
    dtype = jax.tree_util.tree_leaves(eqx.filter(network, eqx.is_inexact_array))[0].dtype
    dyn, static = eqx.partition(trainable, eqx.is_inexact_array)
    theta, unravel = ravel_pytree(dyn)  # the network's leaves, then the unknowns
    points = _cast(problem.points(seed), dtype)
    lower, upper = problem.lower, problem.upper

    def sample(step):
        pts = collocation.sampler.sample(collocation.n, lower, upper, seed + 7919 * (step + 1))
        return shard_points(jnp.asarray(pts, dtype))

    tx = sample(-1)
    evaluate = _Evaluator(problem, static, unravel, causal)
    names = list(jax.eval_shape(evaluate, theta, tx, points, {})[0][1])
    weights = weighting.initial(names)
    history: dict[str, list] = {"step": [], "phase": [], "loss": []}
    for k in names:
        history[k] = []
        history[f"weight_{k}"] = []
    for k in problem.unknowns:
        history[f"param_{k}"] = []
    began = time.perf_counter()

    def unknown_values(flat):
        tr = eqx.combine(unravel(flat), static)
        return {k: float(u.transform.forward(tr.unknowns[k])) for k, u in problem.unknowns.items()}

    def record(step, phase, flat, loss, values):
        history["step"].append(step)
        history["phase"].append(phase)
        history["loss"].append(float(loss))
        for k in names:
            history[k].append(float(values[k]))
            history[f"weight_{k}"].append(float(weights[k]))
        params = unknown_values(flat)
        for k, v in params.items():
            history[f"param_{k}"].append(v)
        if callback is not None:
            callback(
                Progress(
                    step,
                    phase,
                    float(loss),
                    {k: float(v) for k, v in values.items()},
                    dict(weights),
                    params,
                    time.perf_counter() - began,
                )
            )

    def maybe_checkpoint(step, flat, final=False):
        if checkpoint is not None and (final or (step > 0 and step % checkpoint_every == 0)):
            save(checkpoint, eqx.combine(unravel(flat), static))

    as_arrays = lambda w, dt: {k: jnp.asarray(v, dt) for k, v in w.items()}  # noqa: E731
    optimizer = optax.adam(learning_rate)
    state = optimizer.init(theta)

    @jax.jit
    def adam_update(flat, g, state):
        updates, state = optimizer.update(g, state, flat)
        return optax.apply_updates(flat, updates), state

    @jax.jit
    def gradient_norms(flat, tx, pts):
        def norm(name):
            g = jax.grad(lambda f: evaluate.terms(f, tx, pts)[name])(flat)
            return optax.tree_utils.tree_l2_norm(unravel(g).network)

        return {k: norm(k) for k in names}

    @jax.jit
    def residual_sizes(flat, candidates):
        r = problem.residuals(eqx.combine(unravel(flat), static), candidates)
        return jnp.abs(r) if r.ndim == 1 else jnp.linalg.norm(r, axis=1)

    status, interrupted = "ok", False
    done = {"adam": 0, "lbfgs": 0}
    seconds = {"adam": 0.0, "lbfgs": 0.0}
    start = time.perf_counter()
    step = 0
    try:
        for step in range(adam_steps):
            if step > 0 and collocation.adaptive is not None:
                rule = collocation.adaptive
                if step % rule.every == 0:
                    n = collocation.n
                    candidates = collocation.sampler.sample(
                        rule.candidates * n, lower, upper, seed + 104729 + step
                    )
                    sizes = residual_sizes(theta, jnp.asarray(candidates, dtype))
                    chosen = rule.choose(candidates, np.asarray(sizes), n, seed + step)
                    tx = shard_points(jnp.asarray(chosen, dtype))
            elif step > 0 and collocation.resample_every and step % collocation.resample_every == 0:
                tx = sample(step)
            if isinstance(weighting, GradNorm) and step % weighting.every == 0:
                norms = gradient_norms(theta, tx, points)
                weights = weighting.update(weights, {k: float(v) for k, v in norms.items()})
            (loss, values), g = evaluate(theta, tx, points, as_arrays(weights, dtype))
            if not math.isfinite(float(loss)):
                status = (
                    f"the loss became {float(loss)} at Adam step {step}: check the data and "
                    "parameters, or lower the learning rate"
                )
                break
            if step % log_every == 0 or step == adam_steps - 1:
                record(step, "adam", theta, loss, values)
            theta, state = adam_update(theta, g, state)
            done["adam"] = step + 1
            maybe_checkpoint(step, theta)
    except KeyboardInterrupt:
        status, interrupted = f"{_CTRL_C} at Adam step {step}.", True
    seconds["adam"] = time.perf_counter() - start

    if lbfgs_steps and status == "ok":
        start = time.perf_counter()
        if lbfgs_float64 and theta.dtype != np.float64:
            dyn, tx, points = (_cast(a, jnp.float64) for a in (unravel(theta), tx, points))
            theta, unravel = ravel_pytree(dyn)
            evaluate = _Evaluator(problem, static, unravel, causal)
        theta, lbfgs_status, iterations = _lbfgs(
            evaluate,
            theta,
            (tx, points, as_arrays(weights, theta.dtype)),
            lbfgs_steps,
            lambda i, flat, loss, values: record(adam_steps + i, "lbfgs", flat, loss, values),
            lambda i, flat: maybe_checkpoint(adam_steps + i, flat),
            log_every,
        )
        if lbfgs_status is not None:
            status = lbfgs_status
            interrupted = status.startswith(_CTRL_C)
        seconds["lbfgs"] = time.perf_counter() - start
        done["lbfgs"] = iterations

    maybe_checkpoint(0, theta, final=True)
    return Trained(
        eqx.combine(unravel(theta), static),
        unknown_values(theta),
        history,
        status,
        seconds,
        np.asarray(tx),
        str(theta.dtype),
        interrupted,
        done,
    )


class _Evaluator(eqx.Module):
    """The weighted loss, its terms and its gradient in the flat trainable vector, compiled
    once: Adam and L-BFGS (in the same dtype) share the compiled function.

    The residual term `Σ_i c_i |r_i|²` (`c_i = 1/n`, or the causal weights) and its gradient
    are summed over slices of `_CHUNK` collocation points, each slice's forward and backward
    pass in one go, so that a slice's intermediate arrays (every layer's value and
    derivatives) stay small enough for the CPU's caches; one pass over Raissi's 10 000 points
    took 3.7 times as long (46 against 168 ms CPU in float64, `experiments/pinn_step.py`).
    The gradient is the same up to the order of summation.
    """

    problem: PINNProblem
    static: Trainable
    unravel: Callable
    causal: Causal | None

    def trainable(self, flat):
        return eqx.combine(self.unravel(flat), self.static)

    def terms(self, flat, tx, points):
        return self.problem.loss_terms(self.trainable(flat), tx, points, self.causal)

    def coefficients(self, flat, tx):
        """`c_i` with the residual term `= Σ_i c_i |r_i|²` (not differentiated)."""
        n = tx.shape[0]
        if self.causal is None:
            return jnp.full((n,), 1 / n, tx.dtype)
        squared = squared_norms(self.problem.residuals(self.trainable(flat), tx))
        t0, t1 = self.problem.t_span
        return jax.grad(lambda s: self.causal.loss(s, tx[:, 0], t0, t1)[0])(squared)

    def residual_term(self, flat, tx):
        """The residual term and its gradient, slice by slice."""
        c = self.coefficients(flat, tx)
        n = tx.shape[0]
        size = min(_CHUNK, n)
        count = -(-n // size)
        pad = count * size - n  # padded points have c = 0
        tx = jnp.concatenate([tx, jnp.broadcast_to(tx[-1:], (pad, tx.shape[1]))])
        c = jnp.concatenate([c, jnp.zeros((pad,), c.dtype)])

        def piece(f, points, weights):
            r = self.problem.residuals(self.trainable(f), points)
            return jnp.sum(weights * squared_norms(r))

        def add(total, inputs):
            value, grad = jax.value_and_grad(piece)(flat, *inputs)
            return (total[0] + value, total[1] + grad), None

        start = (jnp.zeros((), flat.dtype), jnp.zeros_like(flat))
        # slice j holds points j, j + count, ...: with the points laid over several devices
        # (shard_points), every slice has its share on each of them
        slices = (tx.reshape(size, count, -1).swapaxes(0, 1), c.reshape(size, count).T)
        return jax.lax.scan(add, start, slices)[0]

    @eqx.filter_jit
    def __call__(self, flat, tx, points, weights):
        def conditions(f):
            values = self.problem.condition_terms(self.trainable(f), points)
            total = sum((weights.get(k, 1.0) * v for k, v in values.items()), 0.0)
            return jnp.asarray(total, flat.dtype), values

        (total, values), grad = jax.value_and_grad(conditions, has_aux=True)(flat)
        residual, residual_grad = self.residual_term(flat, tx)
        w = weights.get("residual", 1.0)
        return (total + w * residual, {"residual": residual, **values}), grad + w * residual_grad


def _lbfgs(evaluate, theta, args, max_iterations, on_log, on_iteration, log_every):
    """scipy's L-BFGS-B on `evaluate(theta, *args)` with Raissi et al.'s settings (long
    memory, stop only at round-off-level progress); `on_iteration(i, theta)` after every
    iteration; `on_log(i, theta, loss, terms)` every `log_every` iterations and at the end,
    with the terms of the last evaluation at that point (no evaluation, and no compilation,
    of its own unless the point differs).

    **Returns:** `(theta, status or None, iterations)`.
    """
    import scipy.optimize  # here: keeps `import diffsim` fast

    dtype = theta.dtype
    last: dict = {}

    def objective(x):
        (loss, values), grad = evaluate(jnp.asarray(x, dtype), *args)
        last.update(x=np.array(x), loss=loss, values=values)
        return float(loss), np.asarray(grad, np.float64)

    def at(x):
        if "x" not in last or not np.array_equal(last["x"], x):
            objective(x)
        return last["loss"], last["values"]

    iteration, accepted = [0], [np.asarray(theta, np.float64)]

    def after_iteration(x):
        accepted[0] = np.array(x)
        iteration[0] += 1
        if iteration[0] % log_every == 0:
            on_log(iteration[0], jnp.asarray(x, dtype), *at(x))
        on_iteration(iteration[0], jnp.asarray(x, dtype))

    status = None
    try:
        result = scipy.optimize.minimize(
            objective,
            accepted[0],
            jac=True,
            method="L-BFGS-B",
            callback=after_iteration,
            options={
                "maxiter": max_iterations,
                "maxfun": 2 * max_iterations,
                "maxcor": 50,
                "maxls": 50,
                "ftol": float(np.finfo(float).eps),
                "gtol": 0.0,
            },
        )
        x, message = result.x, result.message
    except KeyboardInterrupt:
        x, message = accepted[0], "interrupted"
        status = f"{_CTRL_C} at L-BFGS iteration {iteration[0]}."
    loss, values = at(x)
    if not math.isfinite(float(loss)):
        return theta, f"the loss became {float(loss)} in L-BFGS: {message}", iteration[0]
    theta = jnp.asarray(x, dtype)
    on_log(iteration[0], theta, loss, values)
    return theta, status, iteration[0]
