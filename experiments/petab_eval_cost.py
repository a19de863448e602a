"""What one evaluation of a PEtab fit costs (issue 17): CPU milliseconds of the compiled
residuals and of the residuals-and-Jacobian that `trust_region_reflective` calls, at the first
Latin-hypercube starts of the fit study, for the stage tangent solves of the stiff solver
(iterative refinement with the step's LU, as before, or a direct solve with the exact stage
matrix, as `diffsim.petab` now does) and for two tolerance settings.

    nice -n 10 python experiments/petab_eval_cost.py COLLECTION_DIR [NAME] [--points 4]

All variants are compiled and timed in one process (`time.process_time`, median of 3 calls per
point), so the ratios do not depend on the machine's load. Results are appended to
experiments/results/petab_eval_cost.json.
"""

import argparse
import json
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "petab_eval_cost.json"
TOLERANCES = {"tight": {}, "fit": {"rtol": 1e-6, "atol": 1e-8}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("collection", type=Path)
    parser.add_argument("name", nargs="?", default="Boehm_JProteomeRes2014")
    parser.add_argument("--points", type=int, default=4)
    args = parser.parse_args()

    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np

    from diffsim import petab
    from diffsim.inverse import with_box_bounds
    from diffsim.inverse._trf import _compiled
    from diffsim.petab import _problem

    loaded = petab.load(args.collection / args.name / f"{args.name}.yaml")
    starts = petab.latin_hypercube_starts(loaded, args.points + 1, seed=0)[1:]
    rows = []
    for tangent, max_states in (("refinement", -1), ("direct", _problem.DIRECT_TANGENT_MAX_STATES)):
        _problem.DIRECT_TANGENT_MAX_STATES = max_states
        for label, options in TOLERANCES.items():
            problem = with_box_bounds(loaded.with_options(**options))
            zs = [problem.space.to_internal(problem.x_from_scaled(s)) for s in starts]
            clock = time.process_time()
            residuals, both = _compiled(problem, "forward", jnp.asarray(zs[0]))
            compile_s = time.process_time() - clock
            ms = {"residuals": [], "residuals_and_jacobian": []}
            for z in zs:
                for key, function in (("residuals", residuals), ("residuals_and_jacobian", both)):
                    times = []
                    for _ in range(3):
                        clock = time.process_time()
                        jax.block_until_ready(function(jnp.asarray(z)))
                        times.append(time.process_time() - clock)
                    ms[key].append(1e3 * float(np.median(times)))
            row = {
                "name": args.name,
                "tangent_solve": tangent,
                "tolerances": label,
                "rtol": problem.options.rtol,
                "atol": problem.options.atol,
                "compile_cpu_s": compile_s,
                **{f"{key}_cpu_ms": values for key, values in ms.items()},
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("| tangent solve | rtol / atol | residuals (CPU ms) | residuals + Jacobian (CPU ms) |")
    print("|---|---|---|---|")
    for r in rows:
        res = " / ".join(f"{v:.1f}" for v in r["residuals_cpu_ms"])
        jac = " / ".join(f"{v:.1f}" for v in r["residuals_and_jacobian_cpu_ms"])
        print(f"| {r['tangent_solve']} | {r['rtol']:g} / {r['atol']:g} | {res} | {jac} |")
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    RESULTS.write_text(json.dumps(old + rows, indent=1))


if __name__ == "__main__":
    main()
