"""Forward mode with constant inputs: what a constant table among the parameters costs.

    python experiments/bench_forward_constants.py [--sizes 50 200 800] [--repeats 7]

A stiff two-state solve whose right-hand side interpolates a forcing table passed in
`params` next to a rate `k`. `Forward` sweeps only inputs whose tangents are not
symbolically zero, so `jax.jacfwd` with respect to `k` carries one column however large the
table; differentiating with respect to `k` and the table (what every call paid before the
change) carries 1 + N. Medians of CPU ms after compilation (compile time apart), and the
ratio, in one process.
"""

import argparse
import functools
import statistics
import time

import jax
import jax.numpy as jnp

import diffsim

jax.config.update("jax_enable_x64", True)


def trajectory(k, table, grid):
    def rhs(t, y, args):
        rate, forcing = args
        return jnp.stack([-rate * y[0] + jnp.interp(t, grid, forcing), y[0] - 2 * rate * y[1]])

    ts = jnp.linspace(0.0, 3.0, 7)
    options = dict(solver="stiff", rtol=1e-8, atol=1e-10, adjoint="forward")
    return diffsim.solve_ode(rhs, jnp.ones(2), ts, (k, table), **options).ys


def cpu_ms(function, *args, repeats: int) -> tuple[float, float]:
    """`(compile CPU s, median CPU ms per call)`."""
    start = time.process_time()
    jax.block_until_ready(function(*args))
    compile_s = time.process_time() - start
    times = []
    for _ in range(repeats):
        start = time.process_time()
        jax.block_until_ready(function(*args))
        times.append(time.process_time() - start)
    return compile_s, 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 800])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print("| table entries | d/dk: compile s, CPU ms | d/d(k, table): compile s, CPU ms | ratio |")
    print("|---|---|---|---|")
    for n in args.sizes:
        grid = jnp.linspace(0.0, 3.0, n)
        table = jnp.sin(grid)
        k = jnp.asarray(0.5)
        solve = functools.partial(trajectory, grid=grid)
        only_k = jax.jit(jax.jacfwd(solve))
        both = jax.jit(jax.jacfwd(solve, argnums=(0, 1)))
        c1, t1 = cpu_ms(only_k, k, table, repeats=args.repeats)
        c2, t2 = cpu_ms(both, k, table, repeats=args.repeats)
        print(f"| {n} | {c1:.1f}, {t1:.2f} | {c2:.1f}, {t2:.2f} | {t2 / t1:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
