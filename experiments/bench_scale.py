"""Benchmark: batched Lotka-Volterra fits, throughput, strong scaling and memory per member.

The problem is configs/lotka_volterra.yaml (50 times, 1 % noise, Levenberg-Marquardt with a
forward-mode Jacobian); the starts are spread ~10 % around the config's start
(`multistart_points(spread=0.1)`), as independent fits in one batch.

1. `--sizes`: fits per second vs batch size with `fit` (a multistart: one step of every
   start per host round trip; median of `--repeats` runs after a compiling run);
2. `--sweep-sizes`: the same fits as a sweep batch (`fit_members`: the fits' loops on the
   device in segments of `SEGMENT` steps, chunks of `CHUNK` members, narrowed to the running
   fits as `fit` does; `--narrow-from 1000000000` turns narrowing off), one timed run after a
   compiling run of 1 % of it;
3. `--scipy N`: `least_squares` on `solve_ivp` (experiments/bench_fit.py) for N of the same
   starts, one after another (first); the time per fit is extrapolated to the batch sizes
   and divided by the batch's time (wall and CPU: the speed-up over a scipy loop);
4. `--devices`: strong scaling of one multistart of `--starts` starts on 1, 2, 4 forced CPU
   devices (`XLA_FLAGS=--xla_force_host_platform_device_count=N`, one subprocess each) and
   on 2 processes x 2 devices (`jax.distributed` on 127.0.0.1): median time and efficiency
   `t1 / (N tN)`. Forced devices share the machine's cores: efficiency above `cores / N` is
   not possible, so say how many cores the machine had;
5. `--memory`: peak resident memory (`ru_maxrss`) of a process that runs a simulated sweep
   (summaries only) and an ensemble (curves kept on `report.points` times) of growing size,
   and `--memory-fits`: a sweep batch of fits (`--max-steps` steps: the optimizer states of
   all members are kept between segments); the memory per member is the slope between the
   sizes, with the default chunks and with one chunk holding the whole batch.

Every table line quotes the 1-minute load average (`os.getloadavg`): the machine may be shared.

    python experiments/bench_scale.py --sizes 100 1000 --sweep-sizes 1000 10000 --scipy 10 \
        --starts 1024 --memory 1000 10000 100000 --memory-fits 1000 4000
"""

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "lotka_volterra.yaml"
sys.path.insert(0, str(ROOT / "experiments"))


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def _problem():
    import jax

    jax.config.update("jax_enable_x64", True)
    from diffsim.config import build_problem, load_config

    return build_problem(load_config(CONFIG), CONFIG.parent)


def _starts(problem, size: int) -> np.ndarray:
    from diffsim.inverse import multistart_points

    return np.asarray(multistart_points(problem.space, size, spread=0.1, seed=0))


def fit_times(size: int, repeats: int, max_steps: int) -> dict:
    """`fit` of `size` starts: compile time, median fit time, fraction converged.

    With `repeats` 0 only the compiling run is timed: its wall time without `fit`'s own
    compile time, and its CPU time with the compilation (`cpu_includes_compile`).
    """
    import jax

    from diffsim.inverse import fit

    problem = _problem()
    starts = _starts(problem, size)
    clock, cpu = time.perf_counter(), time.process_time()
    result = first = fit(problem, starts=starts, max_steps=max_steps)
    times = [time.perf_counter() - clock - first.compile_seconds]
    cpus, loops = [time.process_time() - cpu], [first.fit_seconds]
    if repeats:
        times, loops, cpus = [], [], []
    for _ in range(repeats):
        clock, cpu = time.perf_counter(), time.process_time()
        result = fit(problem, starts=starts, max_steps=max_steps)
        times.append(time.perf_counter() - clock)
        cpus.append(time.process_time() - cpu)
        loops.append(result.fit_seconds)
    return {
        "devices": jax.device_count(),
        "processes": jax.process_count(),
        "size": size,
        "compile_s": first.compile_seconds,
        "median_s": statistics.median(times),
        "loop_s": statistics.median(loops),
        "cpu_s": statistics.median(cpus),
        "cpu_includes_compile": repeats == 0,
        "converged": float((result.starts_code > 0).mean()),
        "best_chi_square": float(np.min(result.starts_loss)),
        "load": load(),
    }


def sweep_fit_times(size: int, max_steps: int) -> dict:
    """`fit_members` of `size` independent fits: first (compiling) run of 1 %, timed run."""
    from diffsim.inverse import make_method
    from diffsim.inverse._sweep import fit_members

    problem = _problem()
    method, _, _ = make_method("levenberg_marquardt", problem)
    z0 = np.asarray(problem.space.to_internal(_starts(problem, size)))
    mask = np.zeros(problem.space.size, bool)
    clock = time.perf_counter()
    fit_members(problem, method, z0[: max(size // 100, 1)], mask, max_steps=max_steps)
    first = time.perf_counter() - clock
    clock, cpu = time.perf_counter(), time.process_time()
    out = fit_members(problem, method, z0, mask, max_steps=max_steps)
    seconds, cpu = time.perf_counter() - clock, time.process_time() - cpu
    best = float(np.min(out["chi_square"]))
    return {
        "size": size,
        "first_s": first,
        "seconds": seconds,
        "cpu_s": cpu,
        "converged": float((out["code"] > 0).mean()),
        "at_best": float((out["chi_square"] < 1.01 * best).mean()),
        "load": load(),
    }


def scipy_times(count: int) -> dict:
    """`least_squares` + `solve_ivp` (bench_fit.scipy_fit) from `count` of the same starts."""
    from bench_fit import scipy_fit

    problem = _problem()
    ts, data = np.asarray(problem.data.ts), np.asarray(problem.observed)
    sigma = np.asarray(problem.sigma)
    starts = _starts(problem, count)
    clock, cpu = time.perf_counter(), time.process_time()
    for start in starts:
        scipy_fit(ts, data, sigma, start)
    seconds, cpu = time.perf_counter() - clock, time.process_time() - cpu
    return {
        "count": count,
        "per_fit_s": seconds / count,
        "cpu_per_fit_s": cpu / count,
        "load": load(),
    }


def memory(kind: str, size: int, chunk: int | None, max_steps: int) -> dict:
    """Peak resident memory of this process after a `kind` batch of `size` members."""
    from diffsim.inverse import _sweep, make_method

    if chunk is not None:
        _sweep.CHUNK = chunk
    problem = _problem()
    rng = np.random.default_rng(0)
    values = rng.uniform(0.8, 1.2, (size, 2)) * [1.0, 3.0]  # beta, gamma
    ts = np.linspace(0.0, 10.0, 400)
    clock = time.perf_counter()
    if kind == "fits":
        method, _, _ = make_method("levenberg_marquardt", problem)
        z0 = np.asarray(problem.space.to_internal(_starts(problem, size)))
        _sweep.fit_members(problem, method, z0, np.zeros(4, bool), max_steps=max_steps)
    else:
        _sweep.simulate_members(problem, ("beta", "gamma"), values, ts, curves=kind == "ensemble")
    seconds = time.perf_counter() - clock
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"kind": kind, "size": size, "chunk": chunk, "peak_mib": peak, "seconds": seconds}


def _child(arguments: list[str], env: dict | None = None) -> dict:
    command = [sys.executable, __file__, "--child", *arguments]
    env = dict(os.environ if env is None else env, PYTHONPATH=str(ROOT))
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def _forced(devices: int) -> dict:
    return dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")


def two_processes(arguments: list[str]) -> dict:
    """One scaling point as 2 processes x 2 forced devices; process 0's row."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    runs = []
    for index in (0, 1):
        env = _forced(2) | {
            "DIFFSIM_COORDINATOR": f"127.0.0.1:{port}",
            "DIFFSIM_NUM_PROCESSES": "2",
            "DIFFSIM_PROCESS_ID": str(index),
            "PYTHONPATH": str(ROOT),
        }
        command = [sys.executable, __file__, "--child", *arguments]
        runs.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True))
    outputs = [run.communicate()[0] for run in runs]
    if any(run.returncode for run in runs):
        raise RuntimeError("a process of the two-process run failed")
    return json.loads(outputs[0].strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[])
    parser.add_argument("--sweep-sizes", type=int, nargs="*", default=[])
    parser.add_argument("--scipy", type=int, default=0, help="scipy fits to time")
    parser.add_argument("--starts", type=int, default=0, help="starts of the scaling run")
    parser.add_argument("--devices", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--memory", type=int, nargs="*", default=[], help="batch sizes")
    parser.add_argument(
        "--memory-fits", type=int, nargs="*", default=[], help="batch sizes of fits (memory)"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs after the compiling one (0: time it)"
    )
    parser.add_argument(
        "--narrow-from",
        type=int,
        default=None,
        help="narrow batches of at least this many running fits (default: the library's)",
    )
    parser.add_argument("--max-steps", type=int, default=50)
    parser.add_argument("--json", help="write the throughput rows (--sizes, --sweep-sizes) here")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.narrow_from is not None:
        from diffsim.inverse import _fit

        _fit.NARROW_FROM = args.narrow_from
    if args.child is not None:  # one measurement, in a process of its own
        kind, size = args.child[0], int(args.child[1])
        if kind == "fit":
            from diffsim.runner import join_processes

            join_processes()
            row = fit_times(size, args.repeats, args.max_steps)
        else:
            chunk = int(args.child[2]) if len(args.child) > 2 else None
            row = memory(kind, size, chunk, args.max_steps)
        print(json.dumps(row))
        return

    print(f"machine: {os.cpu_count()} logical cores; load {load()}", flush=True)
    rows = {"machine": {"logical_cores": os.cpu_count(), "load": load()}}
    scipy = scipy_times(args.scipy) if args.scipy else None
    if scipy:
        rows["scipy"] = scipy
        print(
            f"\nscipy: {scipy['per_fit_s']:.3f} s, {scipy['cpu_per_fit_s']:.3f} CPU s per fit "
            f"({args.scipy} fits, load {scipy['load']})",
            flush=True,
        )

    def versus(size: int, seconds: float, cpu: float) -> str:
        """The scipy loop's time for `size` fits over the batch's: wall, CPU."""
        if not scipy:
            return "-"
        return (
            f"{scipy['per_fit_s'] * size / seconds:.0f}, {scipy['cpu_per_fit_s'] * size / cpu:.0f}"
        )

    if args.sizes:
        print(
            "\n| fits (fit) | compile s | median s | CPU s | fits/s | converged | load "
            "| scipy loop / batch: wall, CPU |"
        )
        print("|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        row = fit_times(size, args.repeats, args.max_steps)
        rows.setdefault("fit", []).append(row)
        print(
            f"| {size} | {row['compile_s']:.1f} | {row['median_s']:.2f} | {row['cpu_s']:.1f}"
            f"{' (with compiling)' if row['cpu_includes_compile'] else ''} | "
            f"{size / row['median_s']:.0f} | {row['converged']:.0%} | {row['load']} | "
            f"{versus(size, row['median_s'], row['cpu_s'])} |",
            flush=True,
        )
    if args.sweep_sizes:
        print(
            "\n| fits (sweep batch) | first run s | s | CPU s | fits/s | converged | at best "
            "| load | scipy loop / batch: wall, CPU |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
    for size in args.sweep_sizes:
        row = sweep_fit_times(size, args.max_steps)
        rows.setdefault("sweep", []).append(row)
        print(
            f"| {size} | {row['first_s']:.1f} | {row['seconds']:.1f} | {row['cpu_s']:.1f} | "
            f"{size / row['seconds']:.0f} | {row['converged']:.0%} | {row['at_best']:.0%} | "
            f"{row['load']} | {versus(size, row['seconds'], row['cpu_s'])} |",
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))

    if args.starts:
        print(
            "\n| devices | processes | starts | median s | CPU s (process 0) | speed-up "
            "| efficiency | load |"
        )
        print("|---|---|---|---|---|---|---|---|")
    base = None
    fit_args = ["fit", str(args.starts), "--repeats", str(args.repeats)]
    fit_args += ["--max-steps", str(args.max_steps)]
    points = [(count, 1) for count in args.devices] + [(4, 2)]
    for count, processes in points if args.starts else []:
        if processes == 1:
            row = _child(fit_args, _forced(count))
        else:
            row = two_processes(fit_args)
        base = base or row["median_s"]
        speedup = base / row["median_s"]
        print(
            f"| {row['devices']} | {row['processes']} | {args.starts} | {row['median_s']:.1f} "
            f"| {row['cpu_s']:.1f} | {speedup:.2f} | {speedup / count:.2f} | {row['load']} |",
            flush=True,
        )

    if args.memory or args.memory_fits:
        print("\n| batch | members | chunk | peak MiB | s | MiB per member (slope) |")
        print("|---|---|---|---|---|---|")
    batches = [(kind, args.memory) for kind in ("sweep", "ensemble") if args.memory]
    batches += [("fits", args.memory_fits)] if args.memory_fits else []
    for kind, sizes in batches:
        for chunk in (None, max(sizes)):
            steps = ["--max-steps", str(args.max_steps)]
            rows = [
                _child([kind, str(size), *([str(chunk)] if chunk else []), *steps])
                for size in sizes
            ]
            for before, row in zip([None, *rows], rows, strict=False):
                slope = "-"
                if before is not None:
                    extra = row["peak_mib"] - before["peak_mib"]
                    slope = f"{extra / (row['size'] - before['size']):.2e}"
                print(
                    f"| {kind} | {row['size']} | {chunk or 'default'} | {row['peak_mib']:.0f} "
                    f"| {row['seconds']:.1f} | {slope} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
