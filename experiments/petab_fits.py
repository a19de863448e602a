"""PEtab fit study (issue 17): 50 Latin-hypercube starts per problem, as pyPESTO measures
optimizers. Does the best start reach AMICI's reference log-likelihood (within 0.1), which
fraction of starts does, and how long does one converged start take?

    nice -n 10 python experiments/petab_fits.py COLLECTION_DIR [NAMES...] \
        [--starts 50] [--chunk 10] [--budget S] [--max-steps 200] [--solver-max-steps N]

Each problem runs in its own process. Its starts are fitted in chunks (`fit` batches a
chunk with `vmap`, compiled once and reused by the next chunks); a problem stops taking new
chunks when the next one would not finish inside `--budget` seconds (and is killed at
budget + 300 s), so a slow problem reports the starts it finished. The starts are the 50
Latin-hypercube points on the parameters' PEtab scales (the nominal point excluded), the
optimizer is diffsim's Levenberg-Marquardt. Per start, log L = log L(best) - (chi2 - chi2_best)/2
(chi-square is -2 log L plus a constant, noise-level terms included). Results go to
experiments/results/petab_fits.json; a Markdown table is printed.
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
    """Fit one problem's starts chunk by chunk (in a child process); write progress."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import equinox as eqx
    import numpy as np

    from diffsim import petab
    from diffsim.inverse import fit

    started = time.perf_counter()
    problem = petab.load(folder / name / f"{name}.yaml")
    # A start whose solve needs more steps fails fast instead of holding up its batch.
    problem = problem.with_options(max_steps=args.solver_max_steps)
    load_s = time.perf_counter() - started
    starts = petab.latin_hypercube_starts(problem, args.starts + 1, seed=args.seed)[1:]
    out = {"name": name, "load_s": load_s, "estimated": problem.space.size}
    out |= {
        "solver_max_steps": args.solver_max_steps,
        "starts_planned": len(starts),
        "max_steps": args.max_steps,
        "method": "levenberg_marquardt",
    }
    log_likelihood = eqx.filter_jit(problem.log_likelihood)
    losses, xs, codes, fit_s, compile_s, steps = [], [], [], 0.0, 0.0, []
    for first in range(0, len(starts), args.chunk):
        chunk_time = (fit_s + compile_s) / max(1, len(losses) // args.chunk) if losses else 0
        if losses and time.perf_counter() - started + chunk_time > args.budget:
            out["stopped"] = f"budget {args.budget:.0f} s: next chunk would not finish"
            break
        result = fit(problem, starts=starts[first : first + args.chunk], max_steps=args.max_steps)
        losses += list(np.asarray(result.starts_loss, float))
        xs += list(np.asarray(result.starts_x))
        codes += [int(c) for c in np.asarray(result.starts_code)]
        fit_s += result.fit_seconds
        compile_s += result.compile_seconds
        steps.append(result.num_steps)
        losses_a = np.asarray(losses)
        best = int(np.nanargmin(np.where(np.isfinite(losses_a), losses_a, np.inf)))
        if first == 0 or best >= len(losses) - args.chunk:
            llh_best = float(log_likelihood(xs[best]))
        llh = llh_best - (losses_a - losses_a[best]) / 2
        converged = int(np.sum(llh >= REFERENCE[name][0] - WITHIN))
        out |= {
            "starts_done": len(losses),
            "best_llh": llh_best,
            "reference_llh": REFERENCE[name][0],
            "best_reaches_reference": bool(llh_best >= REFERENCE[name][0] - WITHIN),
            "converged": converged,
            "fraction_converged": converged / len(losses),
            "fit_s": fit_s,
            "compile_s": compile_s,
            "s_per_converged_start": (fit_s + compile_s) / converged if converged else None,
            "steps_per_chunk": steps,
            "starts_code": codes,
            # per start: estimates within 1e-3 of the bound interval (on the PEtab scale)
            "starts_at_bound": [int(np.sum(_near_bound(problem, x))) for x in xs],
            "starts_llh": [None if not np.isfinite(v) else float(v) for v in llh],
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
        "fraction converged | s per converged start | compile s | note |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "starts_done" not in r:
            lines.append(
                f"| {r['name']} | | 0 | | {REFERENCE[r['name']][0]:.3f} | | | | | "
                f"{r.get('error', '')} |"
            )
            continue
        per = r["s_per_converged_start"]
        lines.append(
            f"| {r['name']} | {r['estimated']} | {r['starts_done']}/{r['starts_planned']} | "
            f"{r['best_llh']:.3f} | {r['reference_llh']:.3f} | "
            f"{'yes' if r['best_reaches_reference'] else 'no'} | "
            f"{r['converged']}/{r['starts_done']} | {'-' if per is None else f'{per:.3g}'} | "
            f"{r['compile_s']:.0f} | {r.get('stopped', r.get('error', ''))} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("collection", type=Path)
    parser.add_argument("names", nargs="*", default=PROBLEMS)
    parser.add_argument("--starts", type=int, default=50)
    parser.add_argument("--chunk", type=int, default=10)
    parser.add_argument("--budget", type=float, default=900)
    parser.add_argument("--max-steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
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
        command += ["--starts", str(args.starts), "--chunk", str(args.chunk)]
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
