"""Why a start of the PEtab fit study (experiments/petab_fits.py) is slow or misses the
reference (issue 17). Three diagnostics, each on the study's Latin-hypercube starts:

    nice -n 10 python experiments/petab_fit_diagnose.py cost DIR NAME [--points 2]
    nice -n 10 python experiments/petab_fit_diagnose.py near DIR NAME [--spread 0.3,1,1.5] \
        [--max-steps 500] [--seed 1]
    nice -n 10 python experiments/petab_fit_diagnose.py failures DIR NAME [--starts 0,1,2]
    nice -n 10 python experiments/petab_fit_diagnose.py trace DIR NAME [--starts 0] \
        [--max-steps 500]

`cost`: CPU seconds (`time.process_time`, best of 2 calls) of the compiled residuals and of
the residuals-and-Jacobian that `trust_region_reflective` calls once per accepted step, at
the first `--points` starts; the solver's steps (accepted, rejected) per experiment; and the
forward-mode sensitivity columns the solve carries (states + model parameters) against the
model parameters that depend on estimated ones. `near`: fits from the nominal (reference)
point moved by `spread` decades (normal, per parameter, on the PEtab scale, clipped to the
bounds): does the optimizer reach the reference from nearby? `failures`: for starts whose
first point fails, the status of diffsim's solve and of scipy's `Radau` at the same
tolerances on every experiment: is the failure the model's (blow-up, non-finite right-hand
side) or the solver's? `trace`: one start's fit (`--max-steps` evaluations at most), every
call of the compiled residuals and residuals-and-Jacobian timed: where its CPU time goes.
"""

import argparse
import time
from pathlib import Path


def _load(folder: Path, name: str):
    import jax

    jax.config.update("jax_enable_x64", True)
    from diffsim import petab
    from diffsim.inverse import with_box_bounds

    loaded = petab.load(folder / name / f"{name}.yaml")
    problem = with_box_bounds(loaded.with_options(max_steps=20000))  # as the study
    starts = petab.latin_hypercube_starts(loaded, 51, seed=0)[1:]  # the study's 50 starts
    return loaded, problem, starts


def _experiments(problem, x):
    """`(y0, p)` of every experiment at estimates `x` (pre-equilibration not applied)."""
    y0, p = problem.initial_states(problem.theta(x))
    sim = problem.layout.experiments[:, 1]
    return y0[sim], p[sim]


def cost(folder: Path, name: str, points: int) -> None:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from diffsim.inverse._trf import _compiled

    loaded, problem, starts = _load(folder, name)
    lay = loaded.layout
    needed = int(np.isin(lay.parameter_index, lay.estimated).any(axis=0).sum())
    states, params = len(loaded.model.states), len(loaded.model.parameters)
    print(
        f"{name}: {states} states, {params} model parameters ({needed} depend on estimated "
        f"ones), {loaded.space.size} estimated, {len(lay.experiments)} experiments "
        f"(pre-equilibration: {bool(lay.preequilibrated)}), {len(lay.measurement)} "
        f"measurements; forward-mode columns per solve: {states + params}"
    )
    zs = [problem.space.to_internal(jnp.asarray(x)) for x in starts[:points]]
    clock = time.process_time()
    residuals, both = _compiled(problem, "forward", jnp.asarray(zs[0]))
    print(f"compile residuals + Jacobian: {time.process_time() - clock:.1f} CPU s")

    def stats(x):
        y0, p = _experiments(problem, x)
        solution = jax.vmap(lambda y, q: problem._solve(y, q, lay.times))(y0, p)
        return solution.stats, solution.status

    stats = jax.jit(stats)
    for k, z in enumerate(zs):
        timed = {}
        for label, function in (("residuals", residuals), ("residuals+Jacobian", both)):
            runs = []
            for _ in range(2):
                clock = time.process_time()
                jax.block_until_ready(function(jnp.asarray(z)))
                runs.append(time.process_time() - clock)
            timed[label] = min(runs)
        s, status = stats(problem.space.to_values(z))
        print(
            f"start {k}: residuals {timed['residuals']:.3f} CPU s, residuals+Jacobian "
            f"{timed['residuals+Jacobian']:.3f} CPU s "
            f"({timed['residuals+Jacobian'] / timed['residuals']:.1f}x); per experiment: "
            f"accepted steps {np.asarray(s['num_accepted']).tolist()}, rejected "
            f"{np.asarray(s['num_rejected']).tolist()}, status {np.asarray(status).tolist()}",
            flush=True,
        )


def near(folder: Path, name: str, spread: list[float], max_steps: int, seed: int) -> None:
    import equinox as eqx
    import numpy as np

    from diffsim.inverse import fit
    from diffsim.petab._starts import _scaled

    loaded, problem, _ = _load(folder, name)
    lay = loaded.layout
    i = lay.estimated
    low = np.asarray([_scaled(lay.lower[k], lay.scales[k]) for k in i])
    high = np.asarray([_scaled(lay.upper[k], lay.scales[k]) for k in i])
    nominal = np.asarray(loaded.nominal_scaled())
    log_likelihood = eqx.filter_jit(problem.log_likelihood)
    print(f"{name}: log L at the nominal point {float(log_likelihood(lay.nominal[i])):.3f}")
    rng = np.random.default_rng(seed)
    for d in spread:
        margin = 1e-6 * (high - low)
        moved = nominal + d * rng.standard_normal(nominal.size)
        scaled = np.clip(moved, low + margin, high - margin)
        x0 = np.asarray(loaded.x_from_scaled(scaled))
        clock = time.process_time()
        result = fit(
            problem,
            "trust_region_reflective",
            starts=x0,
            max_steps=max_steps,
            options={"x_scale": 1.0},
        )
        print(
            f"spread {d} decades: start log L {float(log_likelihood(x0)):.3f} -> "
            f"{float(log_likelihood(result.x)):.3f}, code {int(result.code)}, "
            f"{int(result.num_steps)} accepted steps, {time.process_time() - clock:.1f} CPU s",
            flush=True,
        )


def failures(folder: Path, name: str, indices: list[int]) -> None:
    import jax
    import jax.numpy as jnp
    import numpy as np
    from scipy.integrate import solve_ivp

    loaded, problem, starts = _load(folder, name)
    lay = loaded.layout
    rhs = jax.jit(loaded.model.rhs)
    jacobian = jax.jit(jax.jacfwd(loaded.model.rhs, argnums=1))
    solve = jax.jit(lambda y, q: problem._solve(y, q, lay.times))
    t_end = float(lay.times.max())
    for k in indices:
        y0s, ps = _experiments(problem, starts[k])
        for e, (y0, p) in enumerate(zip(y0s, ps, strict=True)):
            ours = solve(y0, p)
            with np.errstate(all="ignore"):
                try:
                    radau = solve_ivp(
                        lambda t, y, p=p: np.asarray(rhs(t, jnp.asarray(y), p)),
                        (0.0, t_end),
                        np.asarray(y0),
                        method="Radau",
                        rtol=problem.options.rtol,
                        atol=problem.options.atol,
                        jac=lambda t, y, p=p: np.asarray(jacobian(t, jnp.asarray(y), p)),
                    )
                    scipy_says = (
                        f"reached t = {radau.t[-1]:.4g} of {t_end:g} (max |y| "
                        f"{np.abs(radau.y).max():.3g}): {radau.message}"
                    )
                except ValueError as error:  # a non-finite right-hand side
                    scipy_says = f"stopped: {error}"
            print(
                f"start {k}, experiment {e}: diffsim status {int(ours.status)} after "
                f"{int(ours.stats['num_steps'])} steps; scipy Radau {scipy_says}",
                flush=True,
            )


def trace(folder: Path, name: str, index: int, max_steps: int) -> None:
    import jax
    import numpy as np

    from diffsim.inverse import _trf, fit

    _, problem, starts = _load(folder, name)
    calls = {"residuals": [], "residuals+Jacobian": []}

    def timed(function, label):
        def run(z):
            clock = time.process_time()
            out = jax.block_until_ready(function(z))
            calls[label].append(time.process_time() - clock)
            return out

        return run

    compiled = _trf._compiled

    def compiled_and_timed(problem, mode, example):
        clock = time.process_time()
        residuals, both = compiled(problem, mode, example)
        print(f"compile: {time.process_time() - clock:.1f} CPU s")
        return timed(residuals, "residuals"), timed(both, "residuals+Jacobian")

    _trf._compiled = compiled_and_timed
    clock = time.process_time()
    result = fit(
        problem,
        "trust_region_reflective",
        starts=starts[index],
        max_steps=max_steps,
        options={"x_scale": 1.0},
    )
    total = time.process_time() - clock
    for label, times in calls.items():
        print(
            f"{label}: {len(times)} calls, {sum(times):.1f} CPU s (median "
            f"{np.median(times):.3f}, largest {max(times):.3f})"
        )
    print(f"start {index}: {int(result.num_steps)} accepted steps, {total:.1f} CPU s in all")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("cost", "near", "failures", "trace"))
    parser.add_argument("collection", type=Path)
    parser.add_argument("name")
    parser.add_argument("--points", type=int, default=2)
    parser.add_argument("--spread", default="0.3,1,1.5")
    parser.add_argument("--max-steps", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--starts", default="0,1,2")
    args = parser.parse_args()
    if args.what == "cost":
        cost(args.collection, args.name, args.points)
    elif args.what == "near":
        spread = [float(v) for v in args.spread.split(",")]
        near(args.collection, args.name, spread, args.max_steps, args.seed)
    elif args.what == "failures":
        failures(args.collection, args.name, [int(v) for v in args.starts.split(",")])
    else:
        trace(args.collection, args.name, int(args.starts.split(",")[0]), args.max_steps)


if __name__ == "__main__":
    main()
