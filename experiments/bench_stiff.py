"""Work–precision of the stiff solver on the IVP test set against scipy and diffrax.

For each problem of `experiments/ivp_testset.py` (HIRES, OREGO, VDPOL, ROBER, POLLU, E5) and
each rtol (atol = rtol × the problem's scale), solves to the end time with
- diffsim `solver="stiff"` (Kværnø 5 ESDIRK, jitted once per problem: the tolerance is traced),
- scipy `solve_ivp` Radau, BDF and LSODA, given the exact Jacobian (jitted `jax.jacfwd`),
- diffrax `Kvaerno5` with its default controller (I control) and with PI gains matched to
  ours (pcoeff 0.4, icoeff 0.3; jitted once per problem),
all in this process, float64 on the CPU. Prints per problem the error against the test set's
published end value (mixed error, see ivp_testset.py), the median wall time after compilation,
the compile time (first call minus a run), steps, rhs evaluations, Jacobians and LU
factorisations; then, for each diffsim point, how much longer each peer takes to reach the same
error (interpolated log–log along the peer's curve) and the ratio of errors at equal rtol.

    python experiments/bench_stiff.py [--problems HIRES,ROBER] [--rtols 1e-4,1e-6] [--repeats 3]
        [--out docs/figures/benchmarks]

With `--out DIR` the measured points are also written to `DIR/stiff.json` and drawn, error
against time, one panel per problem, in `DIR/stiff.png` (the figure of docs/benchmarks.md).
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import scipy.integrate

jax.config.update("jax_enable_x64", True)

from ivp_testset import PROBLEMS  # noqa: E402  (this script's folder is on the path)

import diffsim  # noqa: E402

MAX_STEPS = 200_000


def _timed(run, repeats):
    """`(result, median seconds, first-call seconds)`."""
    start = time.perf_counter()
    result = jax.block_until_ready(run())
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = jax.block_until_ready(run())
        times.append(time.perf_counter() - start)
    return result, statistics.median(times), first


def diffsim_runner(p):
    ts = np.array([0.0, p.t1])

    @jax.jit
    def solve(y0, rtol):
        sol = diffsim.solve_ode(
            lambda t, y, _: p.rhs(t, y),
            y0,
            ts,
            solver="stiff",
            rtol=rtol,
            atol=rtol * p.atol_scale,
            max_steps=MAX_STEPS,
            throw=False,
        )
        return sol.ys[-1], sol.status, sol.stats

    def run(rtol):
        return lambda: solve(jnp.asarray(p.y0), jnp.asarray(rtol))

    def record(out):
        y, status, stats = out
        stats = {k: int(v) for k, v in stats.items()}
        return dict(
            y=np.asarray(y),
            ok=int(status) == 0,
            steps=stats["num_steps"],
            nfev=stats["num_fevals"],
            njev=stats["num_jacobians"],
            nlu=stats["num_factorizations"],
        )

    return run, record


def scipy_runner(p, method):
    f = jax.jit(p.rhs)
    jac = jax.jit(jax.jacfwd(p.rhs, argnums=1))
    f(0.0, p.y0), jac(0.0, p.y0)  # compile outside the timings

    def run(rtol):
        return lambda: scipy.integrate.solve_ivp(
            lambda t, y: np.asarray(f(t, y)),
            (0.0, p.t1),
            p.y0,
            method=method,
            rtol=rtol,
            atol=rtol * p.atol_scale,
            jac=lambda t, y: np.asarray(jac(t, y)),
        )

    def record(sol):
        return dict(
            y=sol.y[:, -1],
            ok=sol.status == 0,
            steps=sol.t.size - 1,
            nfev=sol.nfev,
            njev=sol.njev,
            nlu=sol.nlu,
        )

    return run, record


def diffrax_runner(p, matched):
    import diffrax

    term = diffrax.ODETerm(lambda t, y, _: p.rhs(t, y))
    gains = dict(pcoeff=0.4, icoeff=0.3) if matched else {}

    @jax.jit
    def solve(y0, rtol):
        controller = diffrax.PIDController(rtol=rtol, atol=rtol * p.atol_scale, **gains)
        sol = diffrax.diffeqsolve(
            term,
            diffrax.Kvaerno5(),
            0.0,
            p.t1,
            None,
            y0,
            stepsize_controller=controller,
            max_steps=MAX_STEPS,
            throw=False,
        )
        return sol.ys[-1], sol.result == diffrax.RESULTS.successful, sol.stats

    def run(rtol):
        return lambda: solve(jnp.asarray(p.y0), jnp.asarray(rtol))

    def record(out):
        y, ok, stats = out
        return dict(
            y=np.asarray(y),
            ok=bool(ok),
            steps=int(stats["num_steps"]),
            nfev=None,
            njev=None,
            nlu=None,
        )

    return run, record


def runners(p):
    yield "diffsim", diffsim_runner(p)
    for method in ("Radau", "BDF", "LSODA"):
        yield f"scipy {method}", scipy_runner(p, method)
    try:
        import diffrax  # noqa: F401
    except ImportError:
        return
    yield "diffrax Kvaerno5", diffrax_runner(p, matched=False)
    yield "diffrax Kvaerno5 PI", diffrax_runner(p, matched=True)


def _fmt(x):
    return "-" if x is None else str(x)


def _time_at(curve, error):
    """Time to reach `error` along a solver's (error, time) points, log–log interpolated;
    None outside the points it reached."""
    pts = sorted((e, t) for e, t, ok in curve if ok and np.isfinite(e) and e > 0)
    if len(pts) < 2 or not pts[0][0] <= error <= pts[-1][0]:
        return None
    errs, times = np.log10([e for e, _ in pts]), np.log10([t for _, t in pts])
    order = np.argsort(errs)
    return 10 ** np.interp(np.log10(error), errs[order], times[order])


def bench_problem(p, rtols, repeats, points):
    """Print the tables of one problem; append its measured points to `points`."""
    print(f"\n## {p.name} (n = {p.y0.size}, t1 = {p.t1:g}, atol = {p.atol_scale:g} rtol)\n")
    print("| solver | rtol | error | time ms | compile s | steps | rhs evals | Jacobians | LUs |")
    print("|---|---|---|---|---|---|---|---|---|")
    curves = {}
    for name, (run, record) in runners(p):
        curve = curves.setdefault(name, [])
        for rtol in rtols:
            out, median, first = _timed(run(rtol), repeats)
            r = record(out)
            error = p.error(r["y"]) if r["ok"] else np.inf
            compile_s = (
                first - median if rtol == rtols[0] and not name.startswith("scipy") else None
            )
            curve.append((error, median, r["ok"]))
            points.append(
                dict(problem=p.name, solver=name, rtol=rtol, error=error, seconds=median,
                     ok=bool(r["ok"]), steps=int(r["steps"]))
            )  # fmt: skip
            print(
                f"| {name} | {rtol:.0e} | {error:.1e}{'' if r['ok'] else ' (failed)'} | "
                f"{1e3 * median:.1f} | {'-' if compile_s is None else f'{compile_s:.1f}'} | "
                f"{r['steps']} | {_fmt(r['nfev'])} | {_fmt(r['njev'])} | {_fmt(r['nlu'])} |",
                flush=True,
            )
    peers = [name for name in curves if name != "diffsim"]
    print("\nPeer time / diffsim time at diffsim's error (>1: diffsim faster); error / Radau's "
          "error at equal rtol:\n")  # fmt: skip
    print("| rtol | diffsim error | " + " | ".join(peers) + " | error vs Radau |")
    print("|---|---|" + "---|" * len(peers) + "---|")
    for rtol, (error, t, ok), radau in zip(
        rtols, curves["diffsim"], curves["scipy Radau"], strict=True
    ):
        ratios = []
        for peer in peers:
            tp = _time_at(curves[peer], error) if ok else None
            ratios.append("-" if tp is None else f"{tp / t:.2g}")
        vs_radau = error / radau[0] if ok and radau[2] else np.nan
        print(f"| {rtol:.0e} | {error:.1e} | " + " | ".join(ratios) + f" | {vs_radau:.2g} |")


def plot(points, path):
    """Error against median time, one panel per problem, one line per solver."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = list(dict.fromkeys(p["problem"] for p in points))
    solvers = list(dict.fromkeys(p["solver"] for p in points))
    cols = min(3, len(problems))
    rows = -(-len(problems) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, problem in zip(axes.flat, problems, strict=False):
        for solver in solvers:
            pts = [
                (q["seconds"], q["error"])
                for q in points
                if q["problem"] == problem and q["solver"] == solver and q["ok"]
            ]
            if pts:
                style = dict(lw=2.5, color="k") if solver == "diffsim" else dict(lw=1.2)
                ax.loglog(*zip(*pts, strict=True), "o-", ms=3, label=solver, **style)
        ax.set_title(problem)
        ax.set_xlabel("time after compilation [s]")
        ax.set_ylabel("error (mixed)")
        ax.grid(True, which="major", alpha=0.3)
    for ax in axes.flat[len(problems) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("Stiff work–precision (IVP test set, float64, CPU): lower left is better")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default=",".join(PROBLEMS))
    parser.add_argument("--rtols", default="1e-4,1e-5,1e-6,1e-7,1e-8,1e-9,1e-10")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", help="folder for stiff.json and stiff.png")
    args = parser.parse_args()
    rtols = [float(r) for r in args.rtols.split(",")]
    setup = f"jax {jax.__version__}, scipy {scipy.__version__}, float64, {jax.devices()[0]}"
    print(setup)
    points = []
    for name in args.problems.split(","):
        bench_problem(PROBLEMS[name], rtols, args.repeats, points)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        record = dict(setup=setup, repeats=args.repeats, points=points)
        (out / "stiff.json").write_text(json.dumps(record, indent=1) + "\n")
        plot(points, out / "stiff.png")


if __name__ == "__main__":
    main()
