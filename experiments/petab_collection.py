"""PEtab benchmark collection: which of AMICI's 17 reference problems diffsim loads, whether
its log-likelihood at the nominal parameters matches AMICI's reference, and how fast one
simulation and one gradient are.

    python experiments/petab_collection.py COLLECTION_DIR [NAMES...] [--timeout S] [--llh-only]

`COLLECTION_DIR` is the `Benchmark-Models` folder of Benchmark-Models-PEtab. Each problem
runs in its own process (a time limit each); compile times are reported separately from
the median of 5 calls after compilation (`--llh-only`: the log-likelihood check alone, no
gradient). A problem that runs out of time is reported with the phase it was in (loading,
compiling, ...). Results go to experiments/results/petab_collection.json
and a Markdown table is printed.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

# The log-likelihoods AMICI's benchmark tests assert (AMICI-dev/AMICI,
# tests/benchmark_models/benchmark_models.yaml), with AMICI's recorded time budgets in
# seconds for one simulation (t_sim) and one forward-sensitivity gradient (t_fwd).
REFERENCE = {
    "Bachmann_MSB2011": (418.40573341425295, 0.05, 3.5),
    "Beer_MolBioSystems2014": (58622.9145631413, 0.05, 0.5),
    "Boehm_JProteomeRes2014": (-138.22199693517703, 0.005, 0.05),
    "Borghans_BiophysChem1997": (83.3237191357272, 0.005, 0.5),
    "Brannmark_JBC2010": (-141.889113770537, 0.005, 0.5),
    "Bruno_JExpBot2016": (46.688176988431806, 0.005, 0.05),
    "Chen_MSB2009": (-115700.1192629893, None, None),
    "Crauste_CellSystems2017": (-190.96521897435176, 0.005, 0.05),
    "Elowitz_Nature2000": (63.20279991419332, 0.005, 0.11),
    "Fiedler_BMCSystBiol2016": (58.58390161681, 0.005, 0.05),
    "Fujita_SciSignal2010": (53.08377736998929, 0.01, 0.5),
    "Isensee_JCB2018": (-3949.375966548649, 0.1, 15),
    "Lucarelli_CellSystems2018": (-1681.6059879426584, 0.05, 2.5),
    "Schwen_PONE2014": (-943.9992988598723, 0.01, 0.5),
    "Sneyd_PNAS2002": (319.79177818768756, 0.005, 0.1),
    "Weber_BMC2015": (-296.2017922646865, 0.005, 0.1),
    "Zheng_PNAS2012": (278.33353271001477, 0.005, 0.05),
}
RESULTS = Path(__file__).parent / "results" / "petab_collection.json"


def _phase(text: str) -> None:
    """Say on stderr what the child is doing (the parent names it if time runs out)."""
    print(f"phase: {text}", file=sys.stderr, flush=True)


def measure(folder: Path, name: str, llh_only: bool = False) -> dict:
    """Load, evaluate and differentiate one problem (run in a child process)."""
    import equinox as eqx
    import jax

    jax.config.update("jax_enable_x64", True)
    import numpy as np

    from diffsim import petab

    out = {"name": name}
    start = time.perf_counter()
    _phase("loading the problem (SBML -> SymPy -> JAX)")
    try:
        problem = petab.load(folder / name / f"{name}.yaml")
    except petab.PetabError as error:
        return {**out, "refused": str(error).split(": ", 1)[-1]}
    out["load_s"] = time.perf_counter() - start
    out["states"], out["estimated"] = len(problem.model.states), problem.space.size
    out["measurements"] = len(problem.layout.measurement)
    scaled = problem.nominal_scaled()
    reverse = problem.with_options(adjoint="direct")
    out["grad_mode"] = "reverse (direct)"
    functions = [("sim", eqx.filter_jit(problem.log_likelihood_scaled))]
    if not llh_only:
        # reverse mode through the stored steps: one backward sweep for the scalar log L
        functions.append(("grad", jax.jit(jax.value_and_grad(reverse.log_likelihood_scaled))))
    for key, function in functions:
        _phase(f"compiling and running {key} (loaded in {out['load_s']:.0f} s)")
        start = time.perf_counter()
        value = jax.block_until_ready(function(scaled))
        out[f"{key}_compile_s"] = time.perf_counter() - start
        times = []
        for _ in range(5):
            start = time.perf_counter()
            jax.block_until_ready(function(scaled))
            times.append(time.perf_counter() - start)
        out[f"{key}_s"] = float(np.median(times))
        if key == "sim":
            out["llh"] = float(value)
        else:
            out["grad_finite"] = bool(np.all(np.isfinite(value[1])))
    _phase("solver status")
    out["status"] = int(problem.status(problem.x_from_scaled(scaled)))
    return out


def table(rows: list[dict]) -> str:
    lines = [
        "| problem | states/est./meas. | log L (diffsim) | reference | match | "
        "sim s (compile) | grad s (compile) | vs AMICI budget sim/fwd |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ref, t_sim, t_fwd = REFERENCE[r["name"]]
        if "refused" in r or "error" in r:
            lines.append(
                f"| {r['name']} | | {r.get('refused') or r['error']} | {ref:.4f} | no | | | |"
            )
            continue
        llh = r["llh"]
        match = abs(llh - ref) <= 1e-3 + 1e-3 * abs(ref)
        grad = "grad_s" in r
        budget = "" if t_sim is None else f"{r['sim_s'] / t_sim:.2g}x"
        budget += f" / {r['grad_s'] / t_fwd:.2g}x" if grad and t_fwd is not None else ""
        lines.append(
            f"| {r['name']} | {r['states']}/{r['estimated']}/{r['measurements']} | {llh:.4f} | "
            f"{ref:.4f} | {'yes' if match else 'NO'} | "
            f"{r['sim_s']:.3g} ({r['sim_compile_s']:.0f}) | "
            + (f"{r['grad_s']:.3g} ({r['grad_compile_s']:.0f}) | " if grad else "| ")
            + f"{budget} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("collection", type=Path)
    parser.add_argument("names", nargs="*", default=list(REFERENCE))
    parser.add_argument("--timeout", type=float, default=1200)
    parser.add_argument("--llh-only", action="store_true", help="skip the gradient")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.collection, args.names[0], args.llh_only)))
        return
    rows = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    rows = [r for r in rows if r["name"] not in args.names]
    for name in args.names:
        command = [sys.executable, __file__, str(args.collection), name, "--child"]
        command += ["--llh-only"] if args.llh_only else []
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
            last = done.stdout.strip().splitlines()[-1:] or [""]
            row = (
                json.loads(last[0])
                if last[0].startswith("{")
                else {
                    "name": name,
                    "error": (done.stderr.strip().splitlines() or ["no output"])[-1][:120],
                }
            )
        except subprocess.TimeoutExpired as stopped:
            text = stopped.stderr or b""
            text = text.decode() if isinstance(text, bytes) else text
            phases = [line[7:] for line in text.splitlines() if line.startswith("phase: ")]
            where = f" while {phases[-1]}" if phases else ""
            row = {"name": name, "error": f"not finished in {args.timeout:.0f} s{where}"}
        rows.append(row)
        print(json.dumps(row), flush=True)
        RESULTS.parent.mkdir(exist_ok=True)
        order = list(REFERENCE)
        RESULTS.write_text(json.dumps(sorted(rows, key=lambda r: order.index(r["name"])), indent=1))
    print(table(sorted(rows, key=lambda r: list(REFERENCE).index(r["name"]))))


if __name__ == "__main__":
    main()
