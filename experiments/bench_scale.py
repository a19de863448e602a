"""Benchmark: batched Lotka-Volterra fits, throughput vs batch size and strong scaling.

The problem is configs/lotka_volterra.yaml (50 times, 1 % noise, Levenberg-Marquardt with a
forward-mode Jacobian); the starts are spread ~10 % around the config's start
(`multistart_points(spread=0.1)`), as independent fits in one batch.

1. throughput: fits per second vs batch size on this process's devices (median of
   `--repeats` runs after a first, compiling run; compile time reported separately);
2. strong scaling: one multistart of `--starts` starts on 1, 2 and 4 forced CPU devices
   (`XLA_FLAGS=--xla_force_host_platform_device_count=N`, one subprocess each): median time
   and efficiency `t1 / (N tN)`. Forced devices share the machine's cores: efficiency above
   `cores / N` is not possible, so say how many cores the machine had.

    python experiments/bench_scale.py [--sizes 100 1000 10000] [--starts 1024] [--repeats 3]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "lotka_volterra.yaml"


def fit_times(size: int, repeats: int, max_steps: int) -> dict:
    """Compile time, median fit time and the fraction of starts that converged."""
    import jax

    jax.config.update("jax_enable_x64", True)
    from diffsim.config import build_problem, load_config
    from diffsim.inverse import fit, multistart_points

    problem = build_problem(load_config(CONFIG), CONFIG.parent)
    starts = multistart_points(problem.space, size, spread=0.1, seed=0)
    first = fit(problem, starts=starts, max_steps=max_steps)
    times = []
    for _ in range(repeats):
        clock = time.perf_counter()
        result = fit(problem, starts=starts, max_steps=max_steps)
        times.append(time.perf_counter() - clock)
    return {
        "devices": jax.device_count(),
        "size": size,
        "compile_s": first.compile_seconds,
        "median_s": statistics.median(times),
        "converged": float((result.starts_code > 0).mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--starts", type=int, default=1024, help="starts of the scaling run")
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-steps", type=int, default=50)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:  # one scaling point, in a process with forced devices
        print(json.dumps(fit_times(args.child, args.repeats, args.max_steps)))
        return

    print(f"machine: {os.cpu_count()} logical cores")
    print("\n| fits | compile s | median s | fits/s | converged |\n|---|---|---|---|---|")
    for size in args.sizes:
        row = fit_times(size, args.repeats, args.max_steps)
        rate = size / row["median_s"]
        print(
            f"| {size} | {row['compile_s']:.1f} | {row['median_s']:.2f} | {rate:.0f} "
            f"| {row['converged']:.0%} |",
            flush=True,
        )

    print("\n| devices | starts | median s | speed-up | efficiency |\n|---|---|---|---|---|")
    base = None
    for count in args.devices:
        env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={count}")
        env["PYTHONPATH"] = str(ROOT)
        command = [sys.executable, __file__, "--child", str(args.starts)]
        command += ["--repeats", str(args.repeats), "--max-steps", str(args.max_steps)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        base = base or row["median_s"]
        speedup = base / row["median_s"]
        print(
            f"| {row['devices']} | {args.starts} | {row['median_s']:.2f} | {speedup:.2f} "
            f"| {speedup / count:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
