"""The same Burgers identification data inverted by a PINN and by the differentiable solver.

Data: configs/data/burgers_identification.csv (2000 samples of the exact Cole–Hopf solution,
1 % noise; truth λ1 = 1, λ2 = 0.01/π). Solver: `python -m diffsim.run
configs/burgers_identification.yaml` (Fourier grid of 512 points, ETDRK4, forward-mode
gradients, Levenberg–Marquardt; standard errors from the Gauss–Newton covariance). PINN:
`python -m diffsim.run configs/burgers_identification_pinn.yaml` — the same config with
`model.solve_with: pinn` — here with Raissi's 2-20×8-1 tanh network by default (the data
points as collocation points, plus the initial and periodic boundary terms; Adam in float32
then L-BFGS in float64; standard errors by Gauss–Newton over network weights and
coefficients with the network's directions projected out).

Both go through the same runner and write the same run folder. Each runs in its own
process; wall time includes start-up, compilation, error bars, the Taylor test and the
report; memory is the child's peak resident set size (`os.wait4`'s ru_maxrss).

    python experiments/burgers_pinn_vs_solver.py [--adam 500] [--lbfgs 4000] [--width 20]
        [--depth 8] [--only solver|pinn] [--raissi-loss] [--json PATH]

`--only` runs one of the two (each is a separate process anyway), so that a long study can
be split into runs of bounded length. `--raissi-loss` gives the initial and periodic terms
weight 0: the PINN's loss is then Raissi et al.'s, data misfit + residual at the data points.
`--json` writes each method's estimates, errors (%), standard errors, wall and CPU seconds and
peak memory, and the PINN's logged training records (step, phase, loss, terms, λ1, λ2).
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
    """Run `command`; return (wall seconds, CPU seconds, peak RSS of that child in MiB)."""
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(command)}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # KiB on Linux


def run(config, out, overrides=()):
    """`python -m diffsim.run config` into `out`: (result.json, wall s, CPU s, peak MiB,
    the lines of metrics.jsonl)."""
    command = [sys.executable, "-m", "diffsim.run", config, "--out", str(out), "--quiet"]
    command += ["--no-cache", *(a for o in overrides for a in ("--set", o))]
    wall, cpu, rss = measured(command)
    metrics = out / "metrics.jsonl"
    records = (
        [json.loads(line) for line in metrics.read_text().splitlines()] if metrics.exists() else []
    )
    return json.loads((out / "result.json").read_text()), wall, cpu, rss, records


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adam", type=int, default=500)
    parser.add_argument("--lbfgs", type=int, default=4000)
    parser.add_argument("--width", type=int, default=20)
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--only", choices=["solver", "pinn"], default=None)
    parser.add_argument("--raissi-loss", action="store_true")
    parser.add_argument("--json", type=pathlib.Path, default=None)
    args = parser.parse_args(argv)
    pinn = [
        f"pinn.adam.steps={args.adam}",
        f"pinn.lbfgs.steps={args.lbfgs}",
        f"pinn.network.width={args.width}",
        f"pinn.network.depth={args.depth}",
        "report.plots=false",
    ]
    if args.raissi_loss:
        pinn.append("pinn.weighting.weights={initial: 0, boundary: 0}")
    runs = {
        "differentiable solver (LM)": ("solver", "configs/burgers_identification.yaml", []),
        "PINN (Adam + L-BFGS)": ("pinn", "configs/burgers_identification_pinn.yaml", pinn),
    }
    runs = {k: v[1:] for k, v in runs.items() if args.only in (None, v[0])}
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, (config, overrides)) in enumerate(runs.items()):
            rows[name] = run(config, pathlib.Path(tmp) / str(i), overrides)
    print(
        "\nBurgers identification, configs/data/burgers_identification.csv (1 % noise), "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'method':<28} {'lambda1 (err %, stderr)':<32} {'lambda2 (err %, stderr)':<36} "
        f"{'wall s':>7} {'CPU s':>7} {'peak MiB':>9}"
    )
    figures = {"load": os.getloadavg(), "args": vars(args) | {"json": str(args.json)}}
    for name, (result, wall, cpu, rss, records) in rows.items():
        cells, row = [], {"wall_s": wall, "cpu_s": cpu, "peak_mib": rss}
        for k, truth in TRUTH.items():
            p = result["parameters"][k]
            value, se = p["estimate"], p["stderr"]
            error = 100 * abs(value - truth) / truth
            cells.append(f"{value:.6g} ({error:.3f} %, {se:.1e})")
            row[k] = {"estimate": value, "error_pct": error, "stderr": se}
        print(f"{name:<28} {cells[0]:<32} {cells[1]:<36} {wall:>7.0f} {cpu:>7.0f} {rss:>9.0f}")
        figures[name] = row | {"message": result["message"], "training": records}
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=1))
    if "PINN (Adam + L-BFGS)" not in rows:
        return
    pinn_result = rows["PINN (Adam + L-BFGS)"][0]
    details = pinn_result["model"]["pinn"]
    print(
        f"PINN: {args.width}x{args.depth} tanh, {args.adam} Adam + {args.lbfgs} L-BFGS steps "
        f"({pinn_result['message']}); training {details['seconds']['adam']:.0f} s + "
        f"{details['seconds']['lbfgs']:.0f} s; field vs the grid solver at the truth: "
        f"relative L2 {details['reference']['relative_l2_error']:.2e}"
    )


if __name__ == "__main__":
    main()
