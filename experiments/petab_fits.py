"""PEtab fit study (issue 17): 50 Latin-hypercube starts per problem, as pyPESTO measures
optimizers. Does the best start reach AMICI's reference log-likelihood (within 0.1), which
fraction of starts does, and how long does one converged start take?

    nice -n 10 python experiments/petab_fits.py COLLECTION_DIR [NAMES...] \
        [--starts 50] [--budget S] [--max-steps 500] [--x-scale 1.0] [--solver-max-steps N] \
        [--starts-from K] [--start-limit S] [--fresh]

Each problem runs in its own process. The starts are the 50 Latin-hypercube points on the
parameters' PEtab scales (the nominal point excluded), fitted one after the other by the
bounded method `trust_region_reflective` (scipy's trust-region reflective least squares on
diffsim's residuals and compiled forward-mode Jacobian, the bounds a box on the PEtab scale),
at the loaded problem's tolerances; the residual and Jacobian functions are compiled once per
process (and kept in XLA's persistent cache, /tmp/petab_fits_xla_cache, for the next
chunk). A run is one chunk: it stops taking new starts when the next one would not finish
inside `--budget` wall seconds (and is killed at budget + 300 s); a start that runs past
`--start-limit` wall seconds ends with its best point so far (recorded as
`stopped_at_limit`; an evaluation in progress finishes first). Chunks accumulate in
experiments/results/petab_fits.json: a run continues after the last start recorded for the
same settings (or at `--starts-from K`); `--fresh` discards a problem's earlier starts. Each
start's log L is PEtab's log-likelihood at its estimate; a start has converged when it is
within 0.1 of the reference. CPU seconds per converged start = (compilation and fits of all
chunks, `time.process_time`) / converged starts. A Markdown table is printed.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from petab_collection import REFERENCE

RESULTS = Path(__file__).parent / "results" / "petab_fits.json"
#: XLA's persistent compilation cache: the chunks of one problem compile the same functions.
XLA_CACHE = Path("/tmp/petab_fits_xla_cache")
PROBLEMS = [
    "Boehm_JProteomeRes2014",
    "Crauste_CellSystems2017",
    "Elowitz_Nature2000",
    "Zheng_PNAS2012",
    "Brannmark_JBC2010",
    "Fujita_SciSignal2010",
]
WITHIN = 0.1  # a start has converged when its log L is within this of the reference
SETTINGS = ("starts_planned", "seed", "max_steps", "method", "x_scale", "solver_max_steps")


def run_chunk(folder: Path, name: str, args, partial: Path) -> dict:
    """Fit starts `args.starts_from, ...` of one problem one by one (in a child process);
    write progress to `partial` after every start."""
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_compilation_cache_dir", str(XLA_CACHE))
    import equinox as eqx
    import numpy as np

    from diffsim import petab
    from diffsim.inverse import fit, with_box_bounds

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGALRM, interrupt)
    started = time.perf_counter()
    cpu_started = time.process_time()
    problem = petab.load(folder / name / f"{name}.yaml")
    # A start whose solve needs more steps is rejected by the optimizer instead of stalling.
    problem = with_box_bounds(problem.with_options(max_steps=args.solver_max_steps))
    starts = petab.latin_hypercube_starts(problem, args.starts + 1, seed=args.seed)[1:]
    log_likelihood = eqx.filter_jit(problem.log_likelihood)
    chunk = {
        "first": args.starts_from,
        "load_cpu_s": time.process_time() - cpu_started,
        "compile_s": None,
        "loadavg_start": os.getloadavg()[0],
    }
    out = {
        "name": name,
        "estimated": problem.space.size,
        "starts_planned": len(starts),
        "seed": args.seed,
        "max_steps": args.max_steps,
        "method": "trust_region_reflective",
        "x_scale": args.x_scale,
        "solver_max_steps": args.solver_max_steps,
        "rtol": problem.options.rtol,
        "atol": problem.options.atol,
        "starts": [],
        "chunks": [chunk],
    }
    options = {"x_scale": args.x_scale if args.x_scale == "jac" else float(args.x_scale)}
    longest = 0.0
    for i in range(args.starts_from, len(starts)):
        if out["starts"] and time.perf_counter() - started + longest > args.budget:
            chunk["stopped"] = f"budget {args.budget:.0f} s: the next start would not finish"
            break
        cpu, wall = time.process_time(), time.perf_counter()
        signal.alarm(int(args.start_limit))  # then the fit ends with its best point so far
        try:
            result = fit(
                problem,
                "trust_region_reflective",
                starts=starts[i],
                max_steps=args.max_steps,
                options=options,
            )
        finally:
            signal.alarm(0)
        value = float(log_likelihood(result.x))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if chunk["compile_s"] is None:  # the first fit compiles the residuals and the Jacobian
            chunk["compile_s"] = result.compile_seconds
        longest = max(longest, wall)
        out["starts"].append(
            {
                "index": i,
                "llh": value if np.isfinite(value) else None,
                "code": int(result.code),
                "steps": int(result.num_steps),
                # estimates within 1e-3 of the bound interval of a bound (PEtab scale)
                "at_bound": int(np.sum(_near_bound(problem, result.x))),
                "stopped_at_limit": bool(result.interrupted),
                "cpu_s": cpu,  # the first start's includes compilation
                "wall_s": wall,
            }
        )
        chunk |= {
            "cpu_s": time.process_time() - cpu_started,
            "wall_s": time.perf_counter() - started,
            "loadavg_end": os.getloadavg()[0],
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


def merge(old: dict | None, new: dict) -> dict:
    """`new`'s starts and chunk added to `old`'s when both have the same settings."""
    if old is None or any(old.get(k) != new.get(k) for k in SETTINGS) or "starts" not in old:
        return summarize(new)
    done = {s["index"] for s in new["starts"]}
    starts = [s for s in old["starts"] if s["index"] not in done] + new["starts"]
    merged = {**old, "starts": sorted(starts, key=lambda s: s["index"])}
    merged["chunks"] = old["chunks"] + new["chunks"]
    return summarize(merged)


def summarize(row: dict) -> dict:
    """The study's measures from a problem's starts and chunks."""
    reference = REFERENCE[row["name"]][0]
    values = [s["llh"] for s in row["starts"]]
    finite = [v for v in values if v is not None]
    best = max(finite) if finite else None
    converged = sum(v is not None and v >= reference - WITHIN for v in values)
    chunks = row["chunks"]
    cpu = sum(c.get("cpu_s", 0.0) for c in chunks)
    return {
        **row,
        "starts_done": len(values),
        "best_llh": best,
        "reference_llh": reference,
        "best_reaches_reference": best is not None and best >= reference - WITHIN,
        "converged": converged,
        "fraction_converged": converged / len(values) if values else None,
        "cpu_s": cpu,  # loading and compilation of every chunk included
        "compile_s": sum(c["compile_s"] or 0.0 for c in chunks),
        "wall_s": sum(c.get("wall_s", 0.0) for c in chunks),
        "cpu_s_per_start": cpu / len(values) if values else None,
        "cpu_s_per_converged_start": cpu / converged if converged else None,
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| problem | est. | max evaluations | starts done | best log L | reference | "
        "best within 0.1 | fraction converged | CPU s per start | CPU s per converged start | "
        "compile s | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    fmt = lambda v, f: "-" if v is None else format(v, f)
    for r in rows:
        if not r.get("starts_done"):
            lines.append(
                f"| {r['name']} | | | 0 | | {REFERENCE[r['name']][0]:.3f} | | | | | | "
                f"{r.get('error', '')} |"
            )
            continue
        note = "; ".join(c["stopped"] for c in r.get("chunks", [])[-1:] if "stopped" in c)
        lines.append(
            f"| {r['name']} | {r['estimated']} | {r['max_steps']} | "
            f"{r['starts_done']}/{r['starts_planned']} | "
            f"{fmt(r['best_llh'], '.3f')} | {r['reference_llh']:.3f} | "
            f"{'yes' if r['best_reaches_reference'] else 'no'} | "
            f"{r['converged']}/{r['starts_done']} | {fmt(r.get('cpu_s_per_start'), '.3g')} | "
            f"{fmt(r['cpu_s_per_converged_start'], '.3g')} | {r['compile_s']:.0f} | "
            f"{note or r.get('stopped', r.get('error', ''))} |"
        )
    return "\n".join(lines)


def _order(rows):
    return sorted(rows, key=lambda r: list(REFERENCE).index(r["name"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("collection", type=Path)
    parser.add_argument("names", nargs="*", default=PROBLEMS)
    parser.add_argument("--starts", type=int, default=50)
    parser.add_argument("--budget", type=float, default=600, help="wall seconds per problem")
    parser.add_argument("--max-steps", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--x-scale", default="1.0", help="scipy's x_scale: a number or jac")
    parser.add_argument("--solver-max-steps", type=int, default=20000)
    parser.add_argument(
        "--start-limit",
        type=float,
        default=900,
        help="wall s per start (then its best point)",
    )
    parser.add_argument("--starts-from", type=int, default=None)
    parser.add_argument("--fresh", action="store_true", help="discard earlier starts")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        partial = Path(f"/tmp/petab_fits_{args.names[0]}.json")
        print(json.dumps(run_chunk(args.collection, args.names[0], args, partial)))
        return
    rows = {r["name"]: r for r in (json.loads(RESULTS.read_text()) if RESULTS.exists() else [])}
    for name in args.names:
        old = None if args.fresh else rows.get(name)
        settings = {
            "starts_planned": args.starts,
            "seed": args.seed,
            "max_steps": args.max_steps,
            "method": "trust_region_reflective",
            "x_scale": args.x_scale,
            "solver_max_steps": args.solver_max_steps,
        }
        same = old is not None and all(old.get(k) == v for k, v in settings.items())
        first = args.starts_from
        if first is None:
            first = max((s["index"] + 1 for s in old.get("starts", [])), default=0) if same else 0
        if first >= args.starts:
            print(f"{name}: all {args.starts} starts done", flush=True)
            continue
        partial = Path(f"/tmp/petab_fits_{name}.json")
        partial.unlink(missing_ok=True)
        command = [sys.executable, __file__, str(args.collection), name, "--child"]
        command += ["--starts", str(args.starts), "--x-scale", args.x_scale]
        command += ["--budget", str(args.budget), "--max-steps", str(args.max_steps)]
        command += ["--seed", str(args.seed), "--solver-max-steps", str(args.solver_max_steps)]
        command += ["--starts-from", str(first), "--start-limit", str(args.start_limit)]
        error = None
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=args.budget + 300
            )
            last = (done.stdout.strip().splitlines() or [""])[-1]
            if last.startswith("{"):
                chunk = json.loads(last)
            else:
                error = (done.stderr.strip().splitlines() or ["no output"])[-1][:160]
        except subprocess.TimeoutExpired:
            error = f"killed at {args.budget + 300:.0f} s"
        if error is not None:
            if not partial.exists():
                print(f"{name}: {error}", flush=True)
                continue
            chunk = json.loads(partial.read_text())
            chunk["chunks"][-1]["stopped"] = error
        rows[name] = merge(old if same else None, chunk)
        shown = {k: v for k, v in rows[name].items() if k not in ("starts", "chunks")}
        print(json.dumps(shown), flush=True)
        RESULTS.parent.mkdir(exist_ok=True)
        # Re-read before writing: another run may have recorded another problem meanwhile.
        latest = {r["name"]: r for r in json.loads(RESULTS.read_text())} if RESULTS.exists() else {}
        rows = latest | {name: rows[name]}
        RESULTS.write_text(json.dumps(_order(rows.values()), indent=1))
    print(table(_order(rows.values())))


if __name__ == "__main__":
    main()
