"""`train`: Adam (optax), then L-BFGS (scipy's L-BFGS-B), on a `PINNProblem`'s weighted loss
terms.

L-BFGS is scipy's rather than optax's: a jitted value-and-gradient compiles once (8 s for
Raissi's Burgers network on 2 CPU cores), while optax's L-BFGS step, whose line search holds
several copies of the loss graph, took 53 s to compile (measured 2026-12-01).
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

from ._checkpoint import save
from ._problem import PINNProblem, Trainable
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
    points = _cast(problem.points(seed), dtype)
    lower, upper = problem.lower, problem.upper

    def sample(step):
        pts = collocation.sampler.sample(collocation.n, lower, upper, seed + 7919 * (step + 1))
        return jnp.asarray(pts, dtype)

    def terms(d, tx, pts):
        return problem.loss_terms(eqx.combine(d, static), tx, pts, causal)

    def total(d, tx, pts, weights):
        values = terms(d, tx, pts)
        return sum(weights[k] * v for k, v in values.items()), values

    tx = sample(-1)
    names = list(jax.eval_shape(lambda d: terms(d, tx, points), dyn))
    weights = weighting.initial(names)
    history: dict[str, list] = {"step": [], "phase": [], "loss": []}
    for k in names:
        history[k] = []
        history[f"weight_{k}"] = []
    for k in problem.unknowns:
        history[f"param_{k}"] = []
    began = time.perf_counter()

    def unknown_values(d):
        tr = eqx.combine(d, static)
        return {k: float(u.transform.forward(tr.unknowns[k])) for k, u in problem.unknowns.items()}

    def record(step, phase, d, loss, values):
        history["step"].append(step)
        history["phase"].append(phase)
        history["loss"].append(float(loss))
        for k in names:
            history[k].append(float(values[k]))
            history[f"weight_{k}"].append(float(weights[k]))
        params = unknown_values(d)
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

    def maybe_checkpoint(step, d, final=False):
        if checkpoint is not None and (final or (step > 0 and step % checkpoint_every == 0)):
            save(checkpoint, eqx.combine(d, static))

    as_arrays = lambda w: {k: jnp.asarray(v, dtype) for k, v in w.items()}  # noqa: E731
    optimizer = optax.adam(learning_rate)
    state = optimizer.init(dyn)

    @eqx.filter_jit
    def adam_step(d, state, tx, pts, w):
        (loss, values), g = jax.value_and_grad(total, has_aux=True)(d, tx, pts, w)
        updates, state = optimizer.update(g, state, d)
        return optax.apply_updates(d, updates), state, loss, values

    @eqx.filter_jit
    def gradient_norms(d, tx, pts):
        def norm(name):
            g = jax.grad(lambda e: terms(e, tx, pts)[name])(d)
            return optax.tree_utils.tree_l2_norm(g.network)

        return {k: norm(k) for k in names}

    @eqx.filter_jit
    def residual_sizes(d, candidates):
        r = problem.residuals(eqx.combine(d, static), candidates)
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
                    sizes = residual_sizes(dyn, jnp.asarray(candidates, dtype))
                    tx = jnp.asarray(
                        rule.choose(candidates, np.asarray(sizes), n, seed + step), dtype
                    )
            elif step > 0 and collocation.resample_every and step % collocation.resample_every == 0:
                tx = sample(step)
            if isinstance(weighting, GradNorm) and step % weighting.every == 0:
                norms = gradient_norms(dyn, tx, points)
                weights = weighting.update(weights, {k: float(v) for k, v in norms.items()})
            new, new_state, loss, values = adam_step(dyn, state, tx, points, as_arrays(weights))
            if not math.isfinite(float(loss)):
                status = (
                    f"the loss became {float(loss)} at Adam step {step}: check the data and "
                    "parameters, or lower the learning rate"
                )
                break
            dyn, state = new, new_state
            done["adam"] = step + 1
            if step % log_every == 0 or step == adam_steps - 1:
                record(step, "adam", dyn, loss, values)
            maybe_checkpoint(step, dyn)
    except KeyboardInterrupt:
        status, interrupted = f"{_CTRL_C} at Adam step {step}.", True
    seconds["adam"] = time.perf_counter() - start

    if lbfgs_steps and status == "ok":
        start = time.perf_counter()
        if lbfgs_float64:
            dyn, tx, points = (_cast(a, jnp.float64) for a in (dyn, tx, points))
        w = {k: jnp.asarray(v, tx.dtype) for k, v in weights.items()}
        flat, unravel = ravel_pytree(dyn)
        value_and_grad = jax.jit(
            jax.value_and_grad(lambda theta: total(unravel(theta), tx, points, w)[0])
        )
        report_terms = jax.jit(lambda theta: total(unravel(theta), tx, points, w))
        iteration, last = [0], [np.asarray(flat, np.float64)]

        def objective(theta):
            value, grad = value_and_grad(jnp.asarray(theta, flat.dtype))
            return float(value), np.asarray(grad, np.float64)

        def after_iteration(theta):
            step = adam_steps + iteration[0]
            if iteration[0] % log_every == 0:
                loss, values = report_terms(jnp.asarray(theta, flat.dtype))
                record(step, "lbfgs", unravel(jnp.asarray(theta, flat.dtype)), loss, values)
            maybe_checkpoint(step, unravel(jnp.asarray(theta, flat.dtype)))
            iteration[0] += 1
            last[0] = np.array(theta)

        import scipy.optimize  # here: keeps `import diffsim` fast

        # Raissi et al.'s settings: long memory, stop only at round-off-level progress.
        try:
            result = scipy.optimize.minimize(
                objective,
                last[0],
                jac=True,
                method="L-BFGS-B",
                callback=after_iteration,
                options={
                    "maxiter": lbfgs_steps,
                    "maxfun": 2 * lbfgs_steps,
                    "maxcor": 50,
                    "maxls": 50,
                    "ftol": float(np.finfo(float).eps),
                    "gtol": 0.0,
                },
            )
            theta, message = jnp.asarray(result.x, flat.dtype), result.message
        except KeyboardInterrupt:
            theta, message = jnp.asarray(last[0], flat.dtype), "interrupted"
            status = f"{_CTRL_C} at L-BFGS iteration {iteration[0]}."
            interrupted = True
        loss, values = report_terms(theta)
        if not math.isfinite(float(loss)):
            status = f"the loss became {float(loss)} in L-BFGS: {message}"
        else:
            dyn = unravel(theta)
            record(adam_steps + iteration[0], "lbfgs", dyn, loss, values)
        seconds["lbfgs"] = time.perf_counter() - start
        done["lbfgs"] = iteration[0]

    trainable = eqx.combine(dyn, static)
    maybe_checkpoint(0, dyn, final=True)
    return Trained(
        trainable,
        unknown_values(dyn),
        history,
        status,
        seconds,
        np.asarray(tx),
        str(jax.tree_util.tree_leaves(dyn)[0].dtype),
        interrupted,
        done,
    )
