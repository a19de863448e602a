"""Where a PEtab problem's time goes: loading, tracing and lowering, XLA compilation and the
compiled run, for the simulation alone, the log-likelihood, and its gradient (issue 17).

    nice -n 10 python experiments/petab_profile.py COLLECTION_DIR NAME [NAME...] [--timeout S]

Times are CPU seconds of the process (`time.process_time`), not wall time: on a shared,
loaded machine wall times are several times larger and vary with the load. Each problem runs
in its own process with a time limit; a problem that runs out of time reports the phases it
finished. Results are appended to experiments/results/petab_profile.json.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "petab_profile.json"


def profile(folder: Path, name: str) -> None:
    """Print one JSON line per finished phase (run in a child process)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    from diffsim import petab

    def report(**fields):
        print(json.dumps({"name": name, **fields}), flush=True)

    clock = time.process_time()
    problem = petab.load(folder / name / f"{name}.yaml")
    report(phase="load", cpu_s=time.process_time() - clock)
    s = problem.nominal_scaled()
    reverse = problem.with_options(adjoint="direct")
    functions = {
        "simulate": lambda s: problem.simulate(problem.theta(problem.x_from_scaled(s)))[0],
        "log_likelihood": lambda s: problem.log_likelihood_scaled(s),
        "gradient": lambda s: jax.grad(reverse.log_likelihood_scaled)(s),
    }
    for key, function in functions.items():
        clock = time.process_time()
        lowered = jax.jit(function).lower(s)
        lowered_s = time.process_time() - clock
        lines = lowered.as_text().count("\n")
        clock = time.process_time()
        compiled = lowered.compile()
        compile_s = time.process_time() - clock
        clock = time.process_time()
        jax.block_until_ready(compiled(s))
        run_s = time.process_time() - clock
        report(
            phase=key,
            trace_lower_cpu_s=lowered_s,
            compile_cpu_s=compile_s,
            run_cpu_s=run_s,
            stablehlo_lines=lines,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("collection", type=Path)
    parser.add_argument("names", nargs="+")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        profile(args.collection, args.names[0])
        return
    rows = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    for name in args.names:
        command = [sys.executable, __file__, str(args.collection), name, "--child"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
            stdout, note = done.stdout, (done.stderr.strip().splitlines() or [""])[-1][:160]
        except subprocess.TimeoutExpired as error:
            stdout = error.stdout.decode() if isinstance(error.stdout, bytes) else error.stdout
            note = f"stopped at the {args.timeout:.0f} s limit"
        phases = [json.loads(line) for line in (stdout or "").splitlines() if line.startswith("{")]
        row = {"name": name, "phases": phases, "note": note if len(phases) < 4 else ""}
        print(json.dumps(row), flush=True)
        rows = [r for r in rows if r["name"] != name] + [row]
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
