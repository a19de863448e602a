"""Pre-equilibration gradients on collection problems (issue 17): the implicit function
theorem against the gradient through the long solve, and what each costs.

    nice -n 10 python experiments/petab_preeq_gradients.py COLLECTION_DIR [NAMES...] [--timeout S]

Per problem (own process, time limit): the log-likelihood gradient at the nominal point on
PEtab scales in reverse mode, with the steady state differentiated implicitly and through the
stored steps of the solve to t = 1e6 (`adjoint="direct"`); the largest relative difference
(relative to the largest gradient entry) and the CPU seconds of compilation and of one call
(`time.process_time`: wall times on the shared machine are several times larger). Results go
to experiments/results/petab_preeq_gradients.json.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "petab_preeq_gradients.json"
PROBLEMS = ["Brannmark_JBC2010", "Weber_BMC2015", "Zheng_PNAS2012", "Isensee_JCB2018"]


def measure(folder: Path, name: str) -> dict:
    import jax

    jax.config.update("jax_enable_x64", True)
    import numpy as np

    from diffsim import petab

    problem = petab.load(folder / name / f"{name}.yaml").with_options(adjoint="direct")
    out = {"name": name, "laws": int(problem.steady.laws.shape[0])}
    out["steady"] = problem.steady.reason
    s = problem.nominal_scaled()
    gradients = {}
    for key in ("implicit", "through_solve"):
        variant = problem.with_steady_gradient(key)
        function = jax.jit(jax.value_and_grad(variant.log_likelihood_scaled))
        clock = time.process_time()
        value, gradient = jax.block_until_ready(function(s))
        out[f"{key}_compile_cpu_s"] = time.process_time() - clock
        clock = time.process_time()
        jax.block_until_ready(function(s))
        out[f"{key}_cpu_s"] = time.process_time() - clock
        out[f"{key}_llh"] = float(value)
        gradients[key] = np.asarray(gradient)
        print(json.dumps(out), flush=True)
    a, b = gradients["implicit"], gradients["through_solve"]
    out["max_relative_difference"] = float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
    out["gradient_norm"] = float(np.linalg.norm(b))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("collection", type=Path)
    parser.add_argument("names", nargs="*", default=PROBLEMS)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.collection, args.names[0])), flush=True)
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
        lines = [line for line in (stdout or "").splitlines() if line.startswith("{")]
        row = json.loads(lines[-1]) if lines else {"name": name}
        if "max_relative_difference" not in row:
            row["note"] = note
        print(json.dumps(row), flush=True)
        rows = [r for r in rows if r["name"] != name] + [row]
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
