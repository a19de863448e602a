"""Cost of one PINN loss-and-gradient evaluation on Raissi's Burgers set-up, by how the
derivatives are computed, against hand-written JAX PINN losses.

Set-up: 10 000 Latin hypercube collocation points, Raissi's 2-20×8-1 tanh network, 50
initial and 2 × 25 boundary points (soft conditions), `u_t + u u_x = ν u_xx`. Each variant
is `jax.jit` of the total loss's value and gradient in the flat trainable vector:

- `diffsim nested jvp, one pass`: the residual of every point by nested `jax.jvp` of the
  network (the model's `PointOperators`), reverse mode over all 10 000 points at once; what
  `pinn.train` did before (the path it still takes for a network that is not a
  `diffsim.nn` network).
- `diffsim jet, one pass`: the network's `Jet` (Taylor mode, each derivative carried once
  through the layers), reverse mode over all points at once.
- `diffsim nested jvp, slices` and `diffsim jet, slices` (what `pinn.train` runs): the
  same, with the residual term's gradient summed over slices of 256 points (cache-sized).
- `hand-written, jax.grad per point`: what a JAX user typically writes (`vmap` of
  `grad`/`grad(grad)` of the network at a point, reverse mode over the batch).
- `hand-written, jvp per point`: the same with forward-mode `jax.jvp` derivatives.

All variants' losses and gradients agree (checked, relative 1e-12 in float64). Times: median
over `--repeats` interleaved rounds after compilation, process CPU time (all threads) and
wall time; compile time separately. The machine is shared: the load average is printed and
saved; CPU times are the fairer figures on a loaded machine.

    python experiments/pinn_step.py [--repeats 9] [--dtypes float64 float32]
        [--json experiments/results/pinn_step.json]
"""

import argparse
import json
import os
import pathlib
import statistics
import sys
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))  # run as a script
from diffsim import pinn  # noqa: E402
from diffsim.pinn._train import _Evaluator  # noqa: E402
from experiments.burgers_cole_hopf import LAMBDA2  # noqa: E402
from experiments.pinn_burgers import forward_problem, network  # noqa: E402

jax.config.update("jax_enable_x64", True)
N = 10_000


class Opaque(eqx.Module):
    """The same network seen as any callable (not a `diffsim.nn` network): no jet."""

    net: eqx.Module

    def __call__(self, z):
        return self.net(z)


def variants(dtype):
    """`{name: (function of the flat vector, flat vector)}`."""
    problem = forward_problem()
    trainable = problem.init(network(0, dtype))
    points = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), problem.points(0))
    sample = pinn.LatinHypercube().sample(N, problem.lower, problem.upper, 0)
    tx = jnp.asarray(sample, dtype)
    out = {}

    def total(problem, static, unravel):
        def loss(flat):
            trainable = eqx.combine(unravel(flat), static)
            return sum(problem.loss_terms(trainable, tx, points).values())

        return jax.jit(jax.value_and_grad(loss))

    opaque = pinn.Trainable(Opaque(trainable.network), {})
    for name, tr in (
        ("diffsim nested jvp, one pass", opaque),
        ("diffsim jet, one pass", trainable),
    ):
        dyn, static = eqx.partition(tr, eqx.is_inexact_array)
        flat, unravel = ravel_pytree(dyn)
        out[name] = (total(problem, static, unravel), flat)
    for name, tr in (("diffsim nested jvp, slices", opaque),
                     ("diffsim jet, slices (pinn.train)", trainable)):  # fmt: skip
        dyn, static = eqx.partition(tr, eqx.is_inexact_array)
        flat, unravel = ravel_pytree(dyn)
        evaluate = _Evaluator(problem, static, unravel, None)
        out[name] = (lambda f, e=evaluate: (lambda r: (r[0][0], r[1]))(e(f, tx, points, {})), flat)
    for name, mode in (("hand-written, jax.grad per point", "grad"),
                       ("hand-written, jvp per point", "jvp")):  # fmt: skip
        out[name] = (
            jax.jit(jax.value_and_grad(hand_written(problem, unravel, static, tx, points, mode))),
            flat,
        )
    return out


def hand_written(problem, unravel, static, tx, points, mode):
    """A bare JAX PINN loss of Raissi's problem, as a user would write it (same scaling of the
    inputs onto [-1, 1] as diffsim's ansatz, so the losses agree)."""
    lo, hi = np.asarray(problem.lower), np.asarray(problem.upper)
    scale, shift = 2 / (hi - lo), -1 - 2 * lo / (hi - lo)

    def loss(flat):
        net = eqx.combine(unravel(flat), static).network
        dtype = flat.dtype

        def u(t, x):
            z = jnp.stack([t, x]) * scale.astype(dtype) + shift.astype(dtype)
            return net(z)

        if mode == "grad":
            u_t, u_x = jax.grad(u, 0), jax.grad(u, 1)
            u_xx = jax.grad(u_x, 1)
        else:
            one = jnp.ones((), dtype)
            u_t = lambda t, x: jax.jvp(lambda s: u(s, x), (t,), (one,))[1]  # noqa: E731
            u_x = lambda t, x: jax.jvp(lambda y: u(t, y), (x,), (one,))[1]  # noqa: E731
            u_xx = lambda t, x: jax.jvp(lambda y: u_x(t, y), (x,), (one,))[1]  # noqa: E731

        def residual(t, x):
            return u_t(t, x) + u(t, x) * u_x(t, x) - LAMBDA2 * u_xx(t, x)

        r = jax.vmap(residual)(tx[:, 0], tx[:, 1])
        x0 = points.initial[:, 0]
        initial = jax.vmap(lambda x: u(jnp.zeros((), dtype), x))(x0) + jnp.sin(jnp.pi * x0)
        ends = [jax.vmap(lambda p: u(p[0], p[1]))(b) for b in points.boundary]
        boundary = (jnp.mean(ends[0] ** 2) + jnp.mean(ends[1] ** 2)) / 2
        return jnp.mean(r**2) + jnp.mean(initial**2) + boundary

    return loss


def measure(dtype, repeats):
    rows = {}
    fns = variants(dtype)
    results = {}
    for name, (fn, flat) in fns.items():
        start = time.perf_counter()
        results[name] = jax.block_until_ready(fn(flat))
        rows[name] = {"compile_s": time.perf_counter() - start, "cpu": [], "wall": []}
    for _ in range(repeats):  # interleaved: the machine's load hits every variant alike
        for name, (fn, flat) in fns.items():
            cpu, wall = time.process_time(), time.perf_counter()
            jax.block_until_ready(fn(flat))
            rows[name]["cpu"].append(time.process_time() - cpu)
            rows[name]["wall"].append(time.perf_counter() - wall)
    reference_loss, reference_grad = results["diffsim nested jvp, one pass"]
    tol = 1e-12 if dtype == "float64" else 1e-4
    for name, (loss, grad) in results.items():
        rel = float(jnp.linalg.norm(grad - reference_grad) / jnp.linalg.norm(reference_grad))
        assert abs(float(loss) / float(reference_loss) - 1) < tol and rel < tol, (name, rel)
    before = statistics.median(rows["diffsim nested jvp, one pass"]["cpu"])
    table = []
    for name, row in rows.items():
        cpu, wall = statistics.median(row["cpu"]), statistics.median(row["wall"])
        table.append(
            {
                "variant": name,
                "dtype": dtype,
                "cpu_ms": 1e3 * cpu,
                "cpu_min_ms": 1e3 * min(row["cpu"]),
                "wall_ms": 1e3 * wall,
                "compile_s": row["compile_s"],
                "speedup_cpu": before / cpu,
            }
        )
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"])
    parser.add_argument("--json", type=pathlib.Path, default=None)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    table = [row for dtype in args.dtypes for row in measure(dtype, args.repeats)]
    load_after = os.getloadavg()[0]
    print("| variant | dtype | CPU ms (median) | CPU ms (min) | wall ms | compile s | speed-up |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in table:
        print(
            f"| {r['variant']} | {r['dtype']} | {r['cpu_ms']:.0f} | {r['cpu_min_ms']:.0f} | "
            f"{r['wall_ms']:.0f} | "
            f"{r['compile_s']:.1f} | {r['speedup_cpu']:.1f}× |"
        )
    print(f"load average (1 min) {load_before:.1f} before, {load_after:.1f} after; "
          f"{os.cpu_count()} CPUs; jax {jax.__version__}")  # fmt: skip
    if args.json:
        args.json.write_text(
            json.dumps({"rows": table, "load": [load_before, load_after]}, indent=1) + "\n"
        )


if __name__ == "__main__":
    main()
