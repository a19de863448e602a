"""diffsim against AMICI (CVODES, and its JAX back end) on PEtab benchmark problems, in one
process: one log-likelihood and one gradient per problem, as ratios (issue 17's speed target).

    pip install "amici[petab,jax]"   # builds SUNDIALS and AMICI: needs SWIG, BLAS, a C++ compiler
    python experiments/petab_vs_amici.py COLLECTION_DIR [NAMES...] [--repeats 5] [--models DIR]

Both at AMICI's benchmark settings: rtol = atol = 1e-8, at most 10^4 steps, the log-likelihood
and its gradient with respect to the estimated parameters on their PEtab scales, at the
nominal point. AMICI: `simulate_petab` without sensitivities, with forward and with adjoint
sensitivities (its C++ model is generated and compiled on first use, kept in `--models`),
called as is and with its data objects and parameter mapping made once (as pyPESTO does).
diffsim: `log_likelihood_scaled` and its gradient by forward mode (`adjoint="forward"`) and
reverse mode (`adjoint="direct"`), each compiled first (compile time reported apart).
AMICI's JAX back end (PEtab v2 only: the problem is upgraded; log10 noise is refused there):
`run_simulations` and its gradient, compiled first. Times
are medians over `--repeats` calls: process CPU seconds (`time.process_time`: a loaded machine
does not inflate it), wall seconds, and for AMICI also its solver's own time
(`cpu_time + cpu_time_b` of every condition: what AMICI's recorded budgets measure).
Results go to experiments/results/petab_vs_amici.json; a Markdown table is printed.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "petab_vs_amici.json"
RTOL = ATOL = 1e-8
MAX_STEPS = 10_000


def timed(call, repeats: int) -> tuple[object, float, float]:
    """`(last result, median CPU s, median wall s)` of `repeats` calls."""
    cpu, wall, result = [], [], None
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        result = call()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return result, statistics.median(cpu), statistics.median(wall)


def time_compiled(functions: dict, argument, repeats: int, out: dict) -> dict:
    """Call each of `functions` on `argument` once (compilation, timed apart as
    `{key}_compile_s` in `out`), then `repeats` times (`{key}_cpu_s`, `{key}_wall_s`);
    returns the values by key."""
    import jax

    values = {}
    for key, function in functions.items():
        start = time.perf_counter()
        jax.block_until_ready(function(argument))
        out[f"{key}_compile_s"] = time.perf_counter() - start
        call = lambda f=function: jax.block_until_ready(f(argument))
        values[key], out[f"{key}_cpu_s"], out[f"{key}_wall_s"] = timed(call, repeats)
    return values


def measure_diffsim(yaml_file: Path, repeats: int) -> dict:
    import equinox as eqx
    import jax
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    from diffsim import petab

    problem = petab.load(yaml_file).with_options(rtol=RTOL, atol=ATOL, max_steps=MAX_STEPS)
    scaled = problem.nominal_scaled()
    out = {"ids": list(problem.space.names)}
    functions = {
        "sim": eqx.filter_jit(problem.log_likelihood_scaled),
        "forward": eqx.filter_jit(
            jax.value_and_grad(problem.with_options(adjoint="forward").log_likelihood_scaled)
        ),
        "adjoint": eqx.filter_jit(
            jax.value_and_grad(problem.with_options(adjoint="direct").log_likelihood_scaled)
        ),
    }
    values = time_compiled(functions, scaled, repeats, out)
    out["llh"] = float(values["sim"])
    for key in ("forward", "adjoint"):
        out[f"{key}_grad"] = np.asarray(values[key][1]).tolist()
    return out


def measure_amici(yaml_file: Path, models: Path, repeats: int) -> dict:
    import petab.v1 as petab_v1
    from amici.importers.petab.v1 import import_petab_problem
    from amici.sim.sundials import SensitivityMethod, SensitivityOrder
    from amici.sim.sundials.petab.v1 import LLH, RDATAS, SLLH, create_edatas, simulate_petab
    from amici.sim.sundials.petab.v1._parameter_mapping import create_parameter_mapping

    problem = petab_v1.Problem.from_yaml(yaml_file)
    start = time.perf_counter()
    model = import_petab_problem(problem, output_dir=models / yaml_file.stem)
    out = {"import_s": time.perf_counter() - start}
    solver = model.create_solver()
    solver.set_relative_tolerance(RTOL)
    solver.set_absolute_tolerance(ATOL)
    solver.set_max_steps(MAX_STEPS)
    scaled = dict(zip(problem.x_free_ids, problem.x_nominal_free_scaled, strict=True))
    out["ids"] = list(problem.x_free_ids)
    # What pyPESTO does once per problem: the data objects and the parameter mapping.
    conditions = problem.get_simulation_conditions_from_measurement_df()
    prepared = {
        "edatas": create_edatas(model, problem, conditions),
        "parameter_mapping": create_parameter_mapping(
            problem, conditions, scaled_parameters=True, amici_model=model
        ),
    }
    modes = {
        "sim": SensitivityMethod.none,
        "forward": SensitivityMethod.forward,
        "adjoint": SensitivityMethod.adjoint,
    }
    for key, method in modes.items():
        solver.set_sensitivity_method(method)
        order = SensitivityOrder.none if key == "sim" else SensitivityOrder.first
        solver.set_sensitivity_order(order)

        def call(**reused):
            return simulate_petab(
                petab_problem=problem,
                amici_model=model,
                solver=solver,
                problem_parameters=scaled,
                scaled_parameters=True,
                scaled_gradients=True,
                **reused,
            )

        result, cpu, wall = timed(call, repeats)
        out[f"{key}_cpu_s"], out[f"{key}_wall_s"] = cpu, wall
        _, cpu, wall = timed(lambda: call(**prepared), repeats)
        out[f"{key}_prepared_cpu_s"], out[f"{key}_prepared_wall_s"] = cpu, wall
        out[f"{key}_solver_s"] = sum(r.cpu_time + r.cpu_time_b for r in result[RDATAS]) / 1000
        out[f"{key}_status"] = [int(r.status) for r in result[RDATAS]]
        if key == "sim":
            out["llh"] = float(result[LLH])
        else:
            out[f"{key}_grad"] = [float(result[SLLH][i]) for i in problem.x_free_ids]
    return out


def measure_amici_jax(yaml_file: Path, models: Path, repeats: int) -> dict:
    """AMICI's JAX back end (diffrax's Kvaerno5, PID controller at rtol = atol = 1e-8): it
    takes PEtab v2, so the v1 problem is upgraded by `petab.v2.Problem.from_yaml`."""
    import equinox as eqx
    import jax
    from amici.importers.petab import PetabImporter
    from amici.sim.jax import run_simulations
    from petab.v2 import Problem

    jax.config.update("jax_enable_x64", True)
    problem = Problem.from_yaml(yaml_file)
    start = time.perf_counter()
    importer = PetabImporter(
        petab_problem=problem,
        module_name=f"{yaml_file.stem}_jax",
        output_dir=models / f"{yaml_file.stem}_jax",
        jax=True,
    )
    jax_problem = importer.create_simulator()
    out = {"import_s": time.perf_counter() - start}
    functions = {
        "sim": eqx.filter_jit(lambda p: run_simulations(p)[0]),
        "gradient": eqx.filter_jit(eqx.filter_value_and_grad(lambda p: run_simulations(p)[0])),
    }
    out["llh"] = float(time_compiled(functions, jax_problem, repeats, out)["sim"])
    return out


def measure(folder: Path, name: str, models: Path, repeats: int) -> dict:
    """Both tools on one problem (run in a child process)."""
    yaml_file = folder / name / f"{name}.yaml"
    row = {"name": name, "repeats": repeats, "rtol": RTOL, "atol": ATOL}
    row["amici"] = measure_amici(yaml_file, models, repeats)
    row["diffsim"] = measure_diffsim(yaml_file, repeats)
    try:
        row["amici_jax"] = measure_amici_jax(yaml_file, models, repeats)
    except Exception as error:  # reported in the table: the back end is experimental
        row["amici_jax"] = {"error": f"{type(error).__name__}: {error}"[:200]}
    return row | gradient_differences(row)


def gradient_differences(row: dict) -> dict:
    """Largest difference between two gradients over the largest entry of the second:
    diffsim's against AMICI's (forward, and reverse against adjoint), and each tool's two
    against each other."""
    import numpy as np

    a, d = row["amici"], row["diffsim"]
    order = [d["ids"].index(i) for i in a["ids"]]
    g = {f"diffsim_{k}": np.asarray(d[f"{k}_grad"])[order] for k in ("forward", "adjoint")}
    g |= {f"amici_{k}": np.asarray(a[f"{k}_grad"]) for k in ("forward", "adjoint")}
    pairs = {
        "forward_grad_rel_diff": ("diffsim_forward", "amici_forward"),
        "adjoint_grad_rel_diff": ("diffsim_adjoint", "amici_adjoint"),
        "diffsim_forward_vs_reverse": ("diffsim_forward", "diffsim_adjoint"),
        "amici_forward_vs_adjoint": ("amici_forward", "amici_adjoint"),
    }
    return {
        key: float(np.max(np.abs(g[u] - g[v])) / max(np.max(np.abs(g[v])), 1e-300))
        for key, (u, v) in pairs.items()
    }


def table(rows: list[dict]) -> str:
    """CPU milliseconds (medians) and ratios diffsim / AMICI (below 1: diffsim is faster).
    AMICI three ways: `simulate_petab` as is, with its data and mapping made once (pyPESTO's
    way), and its solver alone (`cpu_time`, what AMICI's budgets measure)."""
    lines = [
        "| problem | log L: diffsim / CVODES / JAX | simulation, CPU ms: diffsim; AMICI as is, "
        "prepared, solver; JAX | diffsim / AMICI prepared, / solver, / JAX | gradient, CPU ms: "
        "diffsim fwd, rev; AMICI fwd as is, prepared, solver; adj as is, prepared, solver; JAX "
        "| best diffsim / best AMICI prepared, / solver, / JAX | gradient rel. diff: diffsim vs "
        "AMICI fwd, rev / adj; diffsim fwd vs rev; AMICI fwd vs adj "
        "| compile s: diffsim sim, fwd, rev; JAX sim, gradient |",
        "|---|---|---|---|---|---|---|---|",
    ]
    ms = lambda v: f"{1e3 * v:.3g}"
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['name']} | {r['error']} | | | | | | |")
            continue
        a, d, j = r["amici"], r["diffsim"], r.get("amici_jax", {"error": "not run"})
        ok = "error" not in j
        sim_a = (a["sim_prepared_cpu_s"], a["sim_solver_s"])
        best_d = min(d["forward_cpu_s"], d["adjoint_cpu_s"])
        best_a = (
            min(a["forward_prepared_cpu_s"], a["adjoint_prepared_cpu_s"]),
            min(a["forward_solver_s"], a["adjoint_solver_s"]),
        )
        grads_a = "; ".join(
            f"{ms(a[f'{k}_cpu_s'])}, {ms(a[f'{k}_prepared_cpu_s'])}, {ms(a[f'{k}_solver_s'])}"
            for k in ("forward", "adjoint")
        )
        lines.append(
            f"| {r['name']} | {d['llh']:.4f} / {a['llh']:.4f} / "
            + (f"{j['llh']:.4f}" if ok else "-")
            + f" | {ms(d['sim_cpu_s'])}; {ms(a['sim_cpu_s'])}, {ms(sim_a[0])}, {ms(sim_a[1])}; "
            + (ms(j["sim_cpu_s"]) if ok else j["error"])
            + f" | {d['sim_cpu_s'] / sim_a[0]:.2g}, {d['sim_cpu_s'] / sim_a[1]:.2g}, "
            + (f"{d['sim_cpu_s'] / j['sim_cpu_s']:.2g}" if ok else "-")
            + f" | {ms(d['forward_cpu_s'])}, {ms(d['adjoint_cpu_s'])}; {grads_a}; "
            + (ms(j["gradient_cpu_s"]) if ok else "-")
            + f" | {best_d / best_a[0]:.2g}, {best_d / best_a[1]:.2g}, "
            + (f"{best_d / j['gradient_cpu_s']:.2g}" if ok else "-")
            + f" | {r['forward_grad_rel_diff']:.1e}, {r['adjoint_grad_rel_diff']:.1e}; "
            f"{r['diffsim_forward_vs_reverse']:.1e}; {r['amici_forward_vs_adjoint']:.1e} | "
            f"{d['sim_compile_s']:.0f}, {d['forward_compile_s']:.0f}, "
            f"{d['adjoint_compile_s']:.0f}; "
            + (f"{j['sim_compile_s']:.0f}, {j['gradient_compile_s']:.0f} |" if ok else "- |")
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("collection", type=Path)
    parser.add_argument("names", nargs="*", default=["Boehm_JProteomeRes2014"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", type=Path, default=Path("/tmp/amici_models"))
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        row = measure(args.collection, args.names[0], args.models, args.repeats)
        print(json.dumps(row))
        return
    rows = {r["name"]: r for r in (json.loads(RESULTS.read_text()) if RESULTS.exists() else [])}
    for name in args.names:
        command = [sys.executable, __file__, str(args.collection), name, "--child"]
        command += ["--repeats", str(args.repeats), "--models", str(args.models)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
            last = (done.stdout.strip().splitlines() or [""])[-1]
            if last.startswith("{"):
                rows[name] = json.loads(last)
            else:
                error = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
                rows[name] = {"name": name, "error": error}
        except subprocess.TimeoutExpired:
            rows[name] = {"name": name, "error": f"not finished in {args.timeout:.0f} s"}
        print(json.dumps({k: v for k, v in rows[name].items() if k in ("name", "error")}))
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(list(rows.values()), indent=1))
    print(table(list(rows.values())))


if __name__ == "__main__":
    main()
