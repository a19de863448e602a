"""Benchmark: diffsim's Lotka-Volterra fit against scipy least_squares + solve_ivp.

All comparisons use the data of the built-in default config (Lotka-Volterra, 50 times, 1 %
noise) and the same solver tolerances (rtol 1e-8, atol 1e-10); scipy fits log-parameters with
`scipy.optimize.least_squares` (trust-region reflective, finite-difference Jacobian, default
tolerances) on `scipy.integrate.solve_ivp` (RK45). Times are compared only between fits that
reach the same minimum (chi-square within 1e-5 relative; this is checked):

1. one fit in this process, from a start where both converge (diffsim Levenberg-Marquardt with
   a forward-mode Jacobian, after compilation); and, for the record, from the config's own
   start, where scipy stops in a local minimum;
2. the whole command line, process start to finish, from that common start:
   `python -m diffsim.run --quiet` with a warm compilation cache (with and without plots)
   against a script that runs the scipy fit (`--scipy-script`, which imports no JAX);
3. many independent fits from starts spread ~10 % around the config's start: one vmapped batch
   against a scipy loop (timed on `--scipy-sample` fits and scaled), with the fraction of
   each that reaches the best chi-square.

    python experiments/bench_fit.py [--fits 1000] [--scipy-sample 20] [--skip-cli]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import least_squares

#: A start (alpha, beta, gamma, delta) from which both scipy and diffsim reach the minimum.
COMMON_START = np.array([1.65, 1.1, 2.7, 0.9])
NAMES = ("alpha", "beta", "gamma", "delta")


def scipy_fit(ts, data, sigma, start):
    """Fit log-parameters with least_squares (finite-difference Jacobian) on solve_ivp.

    **Returns:** `(estimate, chi-square)`.
    """

    def residuals(logp):
        a, b, c, e = np.exp(logp)
        sol = solve_ivp(
            lambda t, y: [a * y[0] - b * y[0] * y[1], e * y[0] * y[1] - c * y[1]],
            (ts[0], ts[-1]),
            [10.0, 5.0],
            t_eval=ts,
            rtol=1e-8,
            atol=1e-10,
        )
        if not sol.success:
            return np.full(data.size, 1e10)
        return ((sol.y.T - data) / sigma).ravel()

    out = least_squares(residuals, np.log(start))
    return np.exp(out.x), 2 * out.cost


def scipy_script(path: str) -> None:
    """What a plain scipy script does: load the data, fit, print the result."""
    d = np.load(path)
    x, chi2 = scipy_fit(d["ts"], d["data"], d["sigma"], d["start"])
    print(x, chi2)


def best_of(function, repeats=3):
    times = []
    for _ in range(repeats):
        clock = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - clock)
    return min(times), value


def same_minimum(chi2_a: float, chi2_b: float) -> bool:
    return abs(chi2_a / chi2_b - 1) < 1e-5


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=1000)
    parser.add_argument("--scipy-sample", type=int, default=20)
    parser.add_argument("--skip-cli", action="store_true")
    parser.add_argument("--scipy-script", metavar="NPZ", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scipy_script:
        scipy_script(args.scipy_script)
        return

    import jax

    jax.config.update("jax_enable_x64", True)
    from diffsim.config import build_problem, load_yaml, validate_config
    from diffsim.inverse import fit, multistart_points
    from diffsim.runner import DEFAULT_CONFIG, enable_compilation_cache

    enable_compilation_cache()
    print(f"backend: {jax.default_backend()}, devices: {jax.devices()}, CPUs: {os.cpu_count()}")
    config = validate_config(load_yaml(DEFAULT_CONFIG))
    problem = build_problem(config)
    ts, data, sigma = problem.data.ts, problem.data.values, problem.sigma

    first = fit(problem, starts=COMMON_START)
    ours_time, ours = best_of(lambda: fit(problem, starts=COMMON_START))
    scipy_time, (scipy_x, scipy_chi2) = best_of(lambda: scipy_fit(ts, data, sigma, COMMON_START), 2)
    assert ours.success and same_minimum(ours.chi_square, scipy_chi2), (ours, scipy_chi2)
    print(f"\n1. one fit from {dict(zip(NAMES, COMMON_START.tolist(), strict=True))}")
    print(
        f"   diffsim LM:  {ours_time:.4f} s ({ours.num_steps} steps; compiled once in "
        f"{first.compile_seconds:.2f} s), chi2 = {ours.chi_square:.6f}"
    )
    print(f"   scipy:       {scipy_time:.4f} s, chi2 = {scipy_chi2:.6f}")
    print(
        f"   speed-up:    {scipy_time / ours_time:.0f}x; estimates agree to "
        f"{np.max(np.abs(ours.x / scipy_x - 1)):.1e} (relative)"
    )
    own_start = np.asarray(problem.space.initial_values())
    ours_own = fit(problem)
    scipy_own_time, (_, scipy_own_chi2) = best_of(lambda: scipy_fit(ts, data, sigma, own_start), 1)
    print(
        f"   from the config's start {own_start.tolist()}: diffsim {ours_own.fit_seconds:.4f} s, "
        f"chi2 = {ours_own.chi_square:.2f} ({ours_own.message}); scipy {scipy_own_time:.2f} s, "
        f"chi2 = {scipy_own_chi2:.4g}"
        + ("" if same_minimum(ours_own.chi_square, scipy_own_chi2) else " (a local minimum)")
    )

    if not args.skip_cli:
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "data.npz")
            np.savez(path, ts=ts, data=data, sigma=sigma, start=COMMON_START)
            start = [f"parameters.{n}.init={v}" for n, v in zip(NAMES, COMMON_START, strict=True)]
            command = [sys.executable, "-m", "diffsim.run", "--quiet"]
            command += [a for s in start for a in ("--set", s)]

            def cli(*extra):
                out = os.path.join(folder, f"run{time.perf_counter_ns()}")
                subprocess.run([*command, "--out", out, *extra], check=True)

            cli()  # fills the compilation cache
            cli("--set", "report.plots=false")
            cli_time, _ = best_of(cli, 2)
            bare_time, _ = best_of(lambda: cli("--set", "report.plots=false"), 2)
            script = [sys.executable, os.path.abspath(__file__), "--scipy-script", path]
            script_time, _ = best_of(
                lambda: subprocess.run(script, check=True, capture_output=True), 2
            )
        print("\n2. whole process, start to finish, from the same start (warm compilation cache)")
        print(f"   python -m diffsim.run (fit, Taylor test, report, 5 plots): {cli_time:.2f} s")
        print(f"   python -m diffsim.run --set report.plots=false:           {bare_time:.2f} s")
        print(f"   scipy script (fit only, prints the estimate):             {script_time:.2f} s")

    starts = multistart_points(problem.space, args.fits, spread=0.1, seed=0)
    clock = time.perf_counter()
    first_batch = fit(problem, starts=starts, max_steps=100)  # compiles for these batch sizes
    first_time = time.perf_counter() - clock
    batch_time, batch = best_of(lambda: fit(problem, starts=starts, max_steps=100), 2)
    sample = starts[: args.scipy_sample]
    clock = time.perf_counter()
    scipy_results = [scipy_fit(ts, data, sigma, s) for s in sample]
    loop_time = (time.perf_counter() - clock) * args.fits / len(sample)
    best = min(batch.chi_square, *[c for _, c in scipy_results])
    converged = np.mean([same_minimum(c, best) for c in batch.starts_loss])
    scipy_converged = np.mean([same_minimum(c, best) for _, c in scipy_results])
    print(f"\n3. {args.fits} independent fits (starts spread ~10 % around the config's start)")
    print(
        f"   diffsim vmap batch: {batch_time:.2f} s ({batch.num_steps} steps; "
        f"{converged:.0%} reach the best chi2); the first run {first_time:.2f} s, of which "
        f"{first_batch.compile_seconds:.2f} s compiling"
    )
    print(
        f"   scipy loop:         {loop_time:.1f} s (timed on {len(sample)} fits and scaled; "
        f"{scipy_converged:.0%} reach the best chi2)"
    )
    per_fit = lambda seconds, share: f"{seconds / (share * args.fits):.3f} s" if share else "-"
    print(
        f"   speed-up:           {loop_time / batch_time:.0f}x; per fit that reaches the best "
        f"chi2: {per_fit(batch_time, converged)} against {per_fit(loop_time, scipy_converged)}"
    )


if __name__ == "__main__":
    main()
