"""Benchmark: diffsim's Lotka-Volterra fit against scipy least_squares + solve_ivp.

Three comparisons on the data of the built-in default config (Lotka-Volterra, 50 times, 1 %
noise), from the same starting point and with the same solver tolerances (rtol 1e-8, atol
1e-10):

1. one fit in this process: diffsim Levenberg-Marquardt with a forward-mode Jacobian (after
   compilation) vs `scipy.optimize.least_squares` (trust-region reflective, finite-difference
   Jacobian) on `scipy.integrate.solve_ivp` (RK45);
2. the whole command line, process start to report, with a warm compilation cache:
   `python -m diffsim.run --quiet` vs a script that runs the scipy fit;
3. many independent fits (different starting points): one vmapped diffsim batch vs a scipy
   loop (timed on `--scipy-sample` fits and scaled to the batch size).

    python experiments/bench_fit.py [--fits 1000] [--scipy-sample 20] [--skip-cli]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import jax

jax.config.update("jax_enable_x64", True)
import numpy as np  # noqa: E402
import yaml  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402
from scipy.optimize import least_squares  # noqa: E402

from diffsim.experiment import DEFAULT_CONFIG, enable_compilation_cache  # noqa: E402
from diffsim.inverse import build_problem, fit, multistart_points, validate_config  # noqa: E402

SCIPY_SCRIPT = """
import time, numpy as np
t0 = time.perf_counter()
from scipy.integrate import solve_ivp
from scipy.optimize import least_squares
d = np.load({path!r})
ts, data, sigma, start = d["ts"], d["data"], d["sigma"], d["start"]
def residuals(logp):
    a, b, c, e = np.exp(logp)
    sol = solve_ivp(lambda t, y: [a*y[0] - b*y[0]*y[1], e*y[0]*y[1] - c*y[1]],
                    (ts[0], ts[-1]), [10.0, 5.0], t_eval=ts, rtol=1e-8, atol=1e-10)
    if not sol.success:
        return np.full(data.size, 1e10)
    return ((sol.y.T - data) / sigma).ravel()
out = least_squares(residuals, np.log(start))
print(np.exp(out.x), 2 * out.cost, time.perf_counter() - t0)
"""


def scipy_fit(ts, data, sigma, start):
    """Fit log-parameters with least_squares (finite-difference Jacobian) on solve_ivp."""

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


def best_of(function, repeats=3):
    times = []
    for _ in range(repeats):
        clock = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - clock)
    return min(times), value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=1000)
    parser.add_argument("--scipy-sample", type=int, default=20)
    parser.add_argument("--skip-cli", action="store_true")
    args = parser.parse_args()
    enable_compilation_cache()
    print(f"backend: {jax.default_backend()}, devices: {jax.devices()}")

    config = validate_config(yaml.safe_load(DEFAULT_CONFIG))
    problem = build_problem(config)
    ts, data, sigma = problem.data.ts, problem.data.values, problem.sigma
    start = np.asarray(problem.space.initial_values())

    first = fit(problem)
    ours_time, ours = best_of(lambda: fit(problem))
    scipy_time, (scipy_x, scipy_chi2) = best_of(lambda: scipy_fit(ts, data, sigma, start), 2)
    print("\n1. one fit (same data, start and tolerances)")
    print(
        f"   diffsim LM:   {ours_time:.4f} s  ({ours.num_steps} steps, compile "
        f"{first.compile_seconds:.2f} s first time), chi2 = {ours.chi_square:.6f}"
    )
    print(f"   scipy:        {scipy_time:.4f} s, chi2 = {scipy_chi2:.6f}")
    print(
        f"   speed-up:     {scipy_time / ours_time:.1f}x; max |x_diffsim/x_scipy - 1| = "
        f"{np.max(np.abs(ours.x / scipy_x - 1)):.1e}"
    )

    if not args.skip_cli:
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "data.npz")
            np.savez(path, ts=ts, data=data, sigma=sigma, start=start)
            script = os.path.join(folder, "scipy_fit.py")
            with open(script, "w") as stream:
                stream.write(SCIPY_SCRIPT.format(path=path))
            command = [sys.executable, "-m", "diffsim.run", "--quiet"]
            subprocess.run([*command, "--out", os.path.join(folder, "warmup")], check=True)
            cli_time, _ = best_of(
                lambda: subprocess.run(
                    [*command, "--out", os.path.join(folder, f"run{time.perf_counter_ns()}")],
                    check=True,
                ),
                2,
            )
            script_time, _ = best_of(
                lambda: subprocess.run([sys.executable, script], check=True, capture_output=True), 2
            )
        print("\n2. whole process, start to finish (diffsim with warm compilation cache)")
        print(f"   python -m diffsim.run (fit + report + plots): {cli_time:.2f} s")
        print(f"   scipy script (fit only):                      {script_time:.2f} s")

    starts = multistart_points(problem.space, args.fits, spread=0.1, seed=0)
    fit(problem, starts=starts, max_steps=100)  # compile for this batch size
    batch_time, batch = best_of(lambda: fit(problem, starts=starts, max_steps=100), 2)
    sample = starts[: args.scipy_sample]
    clock = time.perf_counter()
    scipy_results = [scipy_fit(ts, data, sigma, s) for s in sample]
    loop_time = (time.perf_counter() - clock) * args.fits / len(sample)
    converged = np.mean(batch.starts_loss < 1.01 * ours.chi_square)
    scipy_converged = np.mean([c < 1.01 * scipy_chi2 for _, c in scipy_results])
    print(f"\n3. {args.fits} independent fits (starts within ~10 % of the guess)")
    print(
        f"   diffsim vmap batch: {batch_time:.2f} s ({batch.num_steps} steps, "
        f"{converged:.0%} reach the best chi2)"
    )
    print(
        f"   scipy loop:         {loop_time:.1f} s (timed on {len(sample)} fits, scaled; "
        f"{scipy_converged:.0%} reach the best chi2)"
    )
    print(f"   speed-up:           {loop_time / batch_time:.0f}x")


if __name__ == "__main__":
    main()
