"""5. JIT compilation: the same function interpreted op by op and compiled."""

import time
from pathlib import Path

import jax
import jax.numpy as jnp
from matplotlib.figure import Figure

from .findings import Finding, Section, best_time, markdown_table

STATE = 64


def rollout(steps: int):
    """Loss after `steps` Euler steps of y' = W tanh(y) - y + F, written as a Python loop."""
    weights = jax.random.normal(jax.random.key(0), (STATE, STATE)) / jnp.sqrt(STATE)

    def loss(y, forcing):
        for _ in range(steps):
            y = y + 0.05 * (weights @ jnp.tanh(y) - y + forcing)
        return jnp.sum(y**2)

    return loss


def run(folder: Path, quick: bool) -> Section:
    steps = 10 if quick else 20
    loss = rollout(steps)
    y0 = jnp.linspace(-1.0, 1.0, STATE)
    forcing = jnp.asarray(0.5)
    gradient = jax.grad(loss, argnums=(0, 1))
    results = {}
    for name, function in (("loss", loss), ("gradient", gradient)):
        eager = best_time(function, y0, forcing, budget=1.0, most=3)
        start = time.perf_counter()
        compiled = jax.jit(function).lower(y0, forcing).compile()
        compile_seconds = time.perf_counter() - start
        jitted = best_time(compiled, y0, forcing)
        results[name] = {
            "eager_seconds": eager,
            "jit_seconds": jitted,
            "compile_seconds": compile_seconds,
            "speedup": eager / jitted,
            "break_even_calls": compile_seconds / max(eager - jitted, 1e-12),
        }
    operations = len(jax.make_jaxpr(loss)(y0, forcing).jaxpr.eqns)
    _plot(folder / "jit.png", results)
    loss_r, grad_r = results["loss"], results["gradient"]
    findings = [
        Finding(
            "JIT compilation of the computational graph makes it fast.",
            f"The loss ({operations} operations) runs {loss_r['speedup']:.0f}x faster compiled "
            f"({loss_r['jit_seconds'] * 1e6:.0f} us against {loss_r['eager_seconds'] * 1e3:.1f} ms "
            f"op by op), its gradient {grad_r['speedup']:.0f}x; compiling costs "
            f"{loss_r['compile_seconds']:.2f} s and {grad_r['compile_seconds']:.2f} s, repaid "
            f"after about {loss_r['break_even_calls']:.0f} and "
            f"{grad_r['break_even_calls']:.0f} calls.",
            "confirmed",
        ),
        Finding(
            "Parallelism across devices makes it fast.",
            f"Not measured: this run had {jax.device_count()} {jax.default_backend()} device(s).",
            "not measured",
        ),
    ]
    table = markdown_table(
        ["function", "op by op", "compiled", "speed-up", "compile time", "calls to repay compile"],
        [
            [
                name,
                f"{r['eager_seconds'] * 1e3:.2f} ms",
                f"{r['jit_seconds'] * 1e3:.3f} ms",
                f"{r['speedup']:.0f}x",
                f"{r['compile_seconds']:.2f} s",
                f"{r['break_even_calls']:.0f}",
            ]
            for name, r in results.items()
        ],
    )
    body = (
        f"{steps} explicit Euler steps of a small recurrent network, y' = W tanh(y) - y + F "
        f"with {STATE} states, written as a Python loop of "
        f"`jax.numpy` operations ({operations} operations in the graph). 'Op by op' runs it "
        "as plain Python, dispatching every operation separately; 'compiled' runs "
        "`jax.jit` of the same function (compile time reported separately).\n\n"
        "![jit](jit.png)\n\n" + table
    )
    return Section("5. JIT compilation", findings, body, {"steps": steps, "results": results})


def _plot(path: Path, results):
    ax = Figure(figsize=(6, 4)).add_subplot()
    names = list(results)
    positions = range(len(names))
    ax.bar(
        [p - 0.2 for p in positions],
        [results[n]["eager_seconds"] * 1e3 for n in names],
        0.4,
        label="op by op",
    )
    ax.bar(
        [p + 0.2 for p in positions],
        [results[n]["jit_seconds"] * 1e3 for n in names],
        0.4,
        label="jax.jit",
    )
    ax.set_xticks(list(positions), names)
    ax.set_yscale("log")
    ax.set_ylabel("time per call (ms)")
    ax.legend()
    ax.set_title("the same function, interpreted and compiled")
    ax.figure.tight_layout()
    ax.figure.savefig(path, dpi=120)
