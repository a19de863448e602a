"""The same Burgers identification data inverted by a PINN and by the differentiable solver.

Data: configs/data/burgers_identification.csv (2000 samples of the exact Cole–Hopf solution,
1 % noise; truth λ1 = 1, λ2 = 0.01/π). Solver: `python -m diffsim.run
configs/burgers_identification.yaml` (Fourier grid of 512 points, ETDRK4, forward-mode
gradients, Levenberg–Marquardt; standard errors from the Gauss–Newton covariance). PINN:
experiments/pinn_burgers.py identify (Raissi's 2-20×8-1 tanh network, the data points as
collocation points, Adam in float32 then L-BFGS in float64; standard errors by Gauss–Newton
over network weights and coefficients, `pinn.coefficient_uncertainty`).

Each runs in its own process; wall time includes start-up and compilation; memory is the
child's peak resident set size (`os.wait4`'s ru_maxrss).

    python experiments/burgers_pinn_vs_solver.py [--adam 500] [--lbfgs 1000]
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
TRUTH = {"lambda1": 1.0, "lambda2": 0.01 / np.pi}


def measured(command):
    """Run `command`; return (wall seconds, peak RSS of that child in MiB)."""
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(command)}")
    return wall, usage.ru_maxrss / 1024  # KiB on Linux


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adam", type=int, default=500)
    parser.add_argument("--lbfgs", type=int, default=1000)
    args = parser.parse_args(argv)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "solver"
        command = [sys.executable, "-m", "diffsim.run", "configs/burgers_identification.yaml"]
        wall, rss = measured([*command, "--out", str(out), "--quiet", "--no-cache"])
        result = json.loads((out / "result.json").read_text())
        p = result["parameters"]
        rows["differentiable solver (LM)"] = (
            {k: (p[k]["estimate"], p[k]["stderr"]) for k in TRUTH},
            wall,
            rss,
        )
        figures = pathlib.Path(tmp) / "pinn.json"
        command = [sys.executable, "experiments/pinn_burgers.py", "identify", "--quiet"]
        command += ["--adam", str(args.adam), "--lbfgs", str(args.lbfgs), "--uncertainty"]
        wall, rss = measured([*command, "--json", str(figures)])
        f = json.loads(figures.read_text())
        rows["PINN (Adam + L-BFGS)"] = (
            {k: (f[k], f[f"{k}_stderr"]) for k in TRUTH},
            wall,
            rss,
        )
    print("\nBurgers identification, configs/data/burgers_identification.csv (1 % noise)")
    print(
        f"{'method':<28} {'lambda1 (err %, stderr)':<32} {'lambda2 (err %, stderr)':<36} "
        f"{'wall s':>7} {'peak MiB':>9}"
    )
    for name, (values, wall, rss) in rows.items():
        cells = []
        for k, truth in TRUTH.items():
            value, se = values[k]
            cells.append(f"{value:.6g} ({100 * abs(value - truth) / truth:.3f} %, {se:.1e})")
        print(f"{name:<28} {cells[0]:<32} {cells[1]:<36} {wall:>7.0f} {rss:>9.0f}")
    print(f"PINN: {args.adam} Adam + {args.lbfgs} L-BFGS steps")


if __name__ == "__main__":
    main()
