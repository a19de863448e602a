"""PEtab fit study (issue 17): 50 Latin-hypercube starts per problem, as pyPESTO measures
optimizers. Does the best start reach AMICI's reference log-likelihood (within 0.1), which
fraction of starts does, and how long does one converged start take?

    nice -n 10 python experiments/petab_fits.py COLLECTION_DIR [NAMES...] \
        [--starts 50] [--budget S] [--max-steps 200] [--x-scale 1.0] [--solver-max-steps N]

Each problem runs in its own process. The starts are the 50 Latin-hypercube points on the
parameters' PEtab scales (the nominal point excluded), fitted one after the other by the
bounded method `trust_region_reflective` (scipy's trust-region reflective least squares on
diffsim's residuals and compiled Jacobian, the bounds a box on the PEtab scale); the
residual and Jacobian functions are compiled once per problem. A problem stops taking new
starts when the next one would not finish inside `--budget` seconds (and is killed at
budget + 300 s), so a slow problem reports the starts it finished. Each start's log L is
PEtab's log-likelihood at its estimate; a start has converged when it is within 0.1 of the
reference. Time per converged start = (compile + fit CPU time of all starts) / converged
starts. Results go to experiments/results/petab_fits.json; a Markdown table is printed.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from petab_collection import REFERENCE

RESULTS = Path(__file__).parent / "results" / "petab_fits.json"
PROBLEMS = [
    "Boehm_JProteomeRes2014",
    "Crauste_CellSystems2017",
    "Elowitz_Nature2000",
    "Fujita_SciSignal2010",
    "Brannmark_JBC2010",
    "Zheng_PNAS2012",
]
WITHIN = 0.1  # a start has converged when its log L is within this of the reference


def run_problem(folder: Path, name: str, args, partial: Path) -> dict:
    """Fit one problem's starts one by one (in a child process); write progress."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import equinox as eqx
    import numpy as np

    from diffsim import petab
    from diffsim.inverse import fit, with_box_bounds

    started = time.perf_counter()
    problem = petab.load(folder / name / f"{name}.yaml")
    # A start whose solve needs more steps is rejected by the optimizer instead of stalling.
    problem = with_box_bounds(problem.with_options(max_steps=args.solver_max_steps))
    load_s = time.perf_counter() - started
    starts = petab.latin_hypercube_starts(problem, args.starts + 1, seed=args.seed)[1:]
    out = {"name": name, "load_s": load_s, "estimated": problem.space.size}
    out |= {
        "solver_max_steps": args.solver_max_steps,
        "starts_planned": len(starts),
        "max_steps": args.max_steps,
        "method": "trust_region_reflective",
        "x_scale": args.x_scale,
    }
    log_likelihood = eqx.filter_jit(problem.log_likelihood)
    llh, codes, steps, at_bound, fit_s, cpu_s = [], [], [], [], [], []
    compile_s = 0.0
    options = {"x_scale": args.x_scale if args.x_scale == "jac" else float(args.x_scale)}
    for i, start in enumerate(starts):
        if fit_s and time.perf_counter() - started + max(fit_s) > args.budget:
            out["stopped"] = f"budget {args.budget:.0f} s: the next start would not finish"
            break
        cpu = time.process_time()
        result = fit(
            problem,
            "trust_region_reflective",
            starts=start,
            max_steps=args.max_steps,
            options=options,
        )
        value = float(log_likelihood(result.x))
        cpu = time.process_time() - cpu
        if i == 0:  # the first fit compiles the residuals and the Jacobian
            compile_s = result.compile_seconds
        llh.append(value if np.isfinite(value) else None)
        codes.append(int(result.code))
        steps.append(int(result.num_steps))
        at_bound.append(int(np.sum(_near_bound(problem, result.x))))
        fit_s.append(result.fit_seconds)
        cpu_s.append(cpu)
        finite = [v for v in llh if v is not None]
        best = max(finite) if finite else None
        reference = REFERENCE[name][0]
        converged = sum(v is not None and v >= reference - WITHIN for v in llh)
        out |= {
            "starts_done": len(llh),
            "best_llh": best,
            "reference_llh": reference,
            "best_reaches_reference": best is not None and best >= reference - WITHIN,
            "converged": converged,
            "fraction_converged": converged / len(llh),
            "fit_s": sum(fit_s),
            "compile_s": compile_s,
            "cpu_s": sum(cpu_s),  # compilation included
            "cpu_s_per_converged_start": sum(cpu_s) / converged if converged else None,
            "s_per_converged_start": (sum(fit_s) + compile_s) / converged if converged else None,
            "steps": steps,
            "starts_code": codes,
            # per start: estimates within 1e-3 of the bound interval of a bound (PEtab scale)
            "starts_at_bound": at_bound,
            "starts_llh": llh,
            "wall_s": time.perf_counter() - started,
        }
        partial.write_text(json.dumps(out))
    return out


def _near_bound(problem, x):
    """Which estimates lie within 1e-3 of their bound interval of a bound (PEtab scale)."""
    import numpy as np

    lay = problem.layout
    i = lay.estimated
    scaled = np.asarray([_scaled(v, lay.scales[k]) for v, k in zip(np.asarray(x), i, strict=True)])
    low = np.asarray([_scaled(lay.lower[k], lay.scales[k]) for k in i])
    high = np.asarray([_scaled(lay.upper[k], lay.scales[k]) for k in i])
    return np.minimum(scaled - low, high - scaled) <= 1e-3 * (high - low)


def _scaled(value, scale):
    import math

    value = float(value)
    return math.log(value) if scale == "log" else math.log10(value) if scale == "log10" else value


def table(rows: list[dict]) -> str:
    lines = [
        "| problem | est. | starts done | best log L | reference | best within 0.1 | "
        "fraction converged | CPU s per converged start | wall s per converged start | "
        "compile s | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "starts_done" not in r:
            lines.append(
                f"| {r['name']} | | 0 | | {REFERENCE[r['name']][0]:.3f} | | | | | | "
                f"{r.get('error', '')} |"
            )
            continue
        per, cpu = r["s_per_converged_start"], r.get("cpu_s_per_converged_start")
        best = "-" if r["best_llh"] is None else f"{r['best_llh']:.3f}"
        lines.append(
            f"| {r['name']} | {r['estimated']} | {r['starts_done']}/{r['starts_planned']} | "
            f"{best} | {r['reference_llh']:.3f} | "
            f"{'yes' if r['best_reaches_reference'] else 'no'} | "
            f"{r['converged']}/{r['starts_done']} | {'-' if cpu is None else f'{cpu:.3g}'} | "
            f"{'-' if per is None else f'{per:.3g}'} | "
            f"{r['compile_s']:.0f} | {r.get('stopped', r.get('error', ''))} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("collection", type=Path)
    parser.add_argument("names", nargs="*", default=PROBLEMS)
    parser.add_argument("--starts", type=int, default=50)
    parser.add_argument("--budget", type=float, default=900)
    parser.add_argument("--max-steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--x-scale", default="1.0", help="scipy's x_scale: a number or jac")
    parser.add_argument("--solver-max-steps", type=int, default=20000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    partial = Path(f"/tmp/petab_fits_{args.names[0]}.json")
    if args.child:
        print(json.dumps(run_problem(args.collection, args.names[0], args, partial)))
        return
    rows = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    rows = [r for r in rows if r["name"] not in args.names]
    for name in args.names:
        partial = Path(f"/tmp/petab_fits_{name}.json")
        partial.unlink(missing_ok=True)
        command = [sys.executable, __file__, str(args.collection), name, "--child"]
        command += ["--starts", str(args.starts), "--x-scale", args.x_scale]
        command += ["--budget", str(args.budget), "--max-steps", str(args.max_steps)]
        command += ["--seed", str(args.seed), "--solver-max-steps", str(args.solver_max_steps)]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=args.budget + 300
            )
            last = (done.stdout.strip().splitlines() or [""])[-1]
            if last.startswith("{"):
                row = json.loads(last)
            else:
                error = (done.stderr.strip().splitlines() or ["no output"])[-1][:160]
                row = {"name": name, "error": error}
        except subprocess.TimeoutExpired:
            row = {"name": name, "error": f"killed at {args.budget + 300:.0f} s"}
        if "starts_done" not in row and partial.exists():
            row = {**json.loads(partial.read_text()), "stopped": row.get("error", "")}
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "starts_llh"}), flush=True)
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(
            json.dumps(sorted(rows, key=lambda r: list(REFERENCE).index(r["name"])), indent=1)
        )
    print(table(sorted(rows, key=lambda r: list(REFERENCE).index(r["name"]))))


if __name__ == "__main__":
    main()
