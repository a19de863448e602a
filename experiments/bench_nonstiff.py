"""Non-stiff work–precision: right-hand-side evaluations to reach an accuracy, diffsim vs diffrax.

Problems (Hairer, Nørsett & Wanner I, Sec. II.10): the Arenstorf orbit over one period (the
orbit is closed, so the error is `|y(T) - y0|`) and Pleiades (7 bodies, 28 states, t in [0, 3],
reference from scipy's DOP853 at rtol 1e-13). Both libraries run Tsit5 from one process with
the same tolerances; evaluations are counted by a host callback inside the right-hand side (the
same count for both), and the time is the median of several runs after compilation. diffrax
runs with its default controller (I: pcoeff 0, icoeff 1) and with gains matched to diffsim's PI
(pcoeff 0.4, icoeff 0.3).

    python experiments/bench_nonstiff.py [--repeats 5] [--out docs/figures/benchmarks]

The last column is diffsim's evaluations divided by what diffrax (matched gains) needs for the
same error, interpolated log-log along diffrax's work–precision line: below 1 means fewer.
With `--out DIR` the points are also written to `DIR/nonstiff.json` and drawn (error against
evaluations and against time, one column per problem) in `DIR/nonstiff.png`.
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

import diffsim

jax.config.update("jax_enable_x64", True)

try:
    import diffrax
except ImportError:  # the optional `bench` extra
    diffrax = None

MU = 0.012277471
ARENSTORF_T = 17.0652165601579625588917206249
ARENSTORF_Y0 = np.array([0.994, 0.0, 0.0, -2.00158510637908252240537862224])
PLEIADES_MASS = np.arange(1.0, 8.0)
PLEIADES_Y0 = np.concatenate(
    [
        [3, 3, -1, -3, 2, -2, 2],  # x
        [3, -3, 2, 0, 0, -4, 4],  # y
        [0, 0, 0, 0, 0, 1.75, -1.5],  # x'
        [0, 0, 0, -1.25, 1, 0, 0],  # y'
    ]
).astype(float)

_calls = [0]


def _count(_):
    _calls[0] += 1


def arenstorf(t, y, p):
    x, yy, vx, vy = y
    d1 = ((x + MU) ** 2 + yy**2) ** 1.5
    d2 = ((x - (1 - MU)) ** 2 + yy**2) ** 1.5
    ax = x + 2 * vy - (1 - MU) * (x + MU) / d1 - MU * (x - (1 - MU)) / d2
    ay = yy - 2 * vx - (1 - MU) * yy / d1 - MU * yy / d2
    return jnp.stack([vx, vy, ax, ay])


def pleiades(t, y, p):
    x, yy, vx, vy = y[:7], y[7:14], y[14:21], y[21:]
    dx = x[None, :] - x[:, None]
    dy = yy[None, :] - yy[:, None]
    r3 = (dx**2 + dy**2 + jnp.eye(7)) ** 1.5
    w = PLEIADES_MASS[None, :] / r3 * (1 - jnp.eye(7))
    return jnp.concatenate([vx, vy, jnp.sum(w * dx, axis=1), jnp.sum(w * dy, axis=1)])


def counted(rhs):
    def f(t, y, p):
        jax.debug.callback(_count, t)
        return rhs(t, y, p)

    return f


def reference(rhs, y0, t1):
    sol = scipy.integrate.solve_ivp(
        lambda t, y: np.asarray(rhs(t, y, None)),
        (0.0, t1),
        y0,
        method="DOP853",
        rtol=1e-13,
        atol=1e-13,
    )
    return sol.y[:, -1]


def run_diffsim(rhs, y0, t1, rtol):
    def solve(y0):
        return diffsim.solve_ode(
            rhs,
            y0,
            jnp.array([0.0, t1]),
            None,
            solver="tsit5",
            rtol=rtol,
            atol=rtol,
            max_steps=100_000,
        ).ys[-1]

    return solve


def run_diffrax(rhs, y0, t1, rtol, pcoeff, icoeff):
    term = diffrax.ODETerm(rhs)
    ctrl = diffrax.PIDController(rtol=rtol, atol=rtol, pcoeff=pcoeff, icoeff=icoeff)

    def solve(y0):
        return diffrax.diffeqsolve(
            term,
            diffrax.Tsit5(),
            0.0,
            t1,
            None,
            y0,
            stepsize_controller=ctrl,
            max_steps=100_000,
            saveat=diffrax.SaveAt(t1=True),
        ).ys[-1]

    return solve


def measure(make, rhs, y0, t1, exact, repeats, *extra):
    timed = jax.jit(make(rhs, y0, t1, *extra))
    timed(y0).block_until_ready()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        timed(y0).block_until_ready()
        times.append(time.perf_counter() - start)
    _calls[0] = 0
    y1 = jax.jit(make(counted(rhs), y0, t1, *extra))(y0)
    jax.block_until_ready(y1)
    jax.effects_barrier()
    error = float(np.max(np.abs(np.asarray(y1) - exact)))
    return error, _calls[0], statistics.median(times)


def equal_accuracy_ratio(fevals, error, peer_errors, peer_fevals):
    """diffsim's evaluations over the peer's at diffsim's error (log-log interpolation)."""
    order = np.argsort(peer_errors)
    le, lf = np.log(np.asarray(peer_errors)[order]), np.log(np.asarray(peer_fevals)[order])
    if not le[0] <= np.log(error) <= le[-1]:
        return float("nan")
    return fevals / float(np.exp(np.interp(np.log(error), le, lf)))


SOLVERS = ("diffsim Tsit5", "diffrax Tsit5 (I)", "diffrax Tsit5 (PI 0.4/0.3)")


def plot(points, path):
    """Error against evaluations (top) and time (bottom), one column per problem."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = list(dict.fromkeys(p["problem"] for p in points))
    fig, axes = plt.subplots(2, len(problems), figsize=(4.5 * len(problems), 6.4), squeeze=False)
    for col, problem in enumerate(problems):
        for solver in SOLVERS:
            pts = [q for q in points if q["problem"] == problem and q["solver"] == solver]
            style = dict(lw=2.5, color="k") if solver.startswith("diffsim") else dict(lw=1.2)
            for row, key in enumerate(("rhs_evals", "seconds")):
                x = [q[key] for q in pts]
                axes[row, col].loglog(x, [q["error"] for q in pts], "o-", ms=3, label=solver,
                                      **style)  # fmt: skip
        axes[0, col].set_title(problem)
        axes[0, col].set_xlabel("right-hand side evaluations")
        axes[1, col].set_xlabel("time after compilation [s]")
        for ax in axes[:, col]:
            ax.set_ylabel("error (max abs)")
            ax.grid(True, which="major", alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Non-stiff work–precision (float64, CPU): lower left is better")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", help="folder for nonstiff.json and nonstiff.png")
    args = parser.parse_args()
    if diffrax is None:
        raise SystemExit("bench_nonstiff.py: diffrax is not installed (pip install '.[bench]')")
    rtols = [1e-3, 1e-4, 1e-6, 1e-8, 1e-10, 1e-12]
    problems = {
        "Arenstorf": (arenstorf, ARENSTORF_Y0, ARENSTORF_T, ARENSTORF_Y0),
        "Pleiades": (pleiades, PLEIADES_Y0, 3.0, reference(pleiades, PLEIADES_Y0, 3.0)),
    }
    setup = f"jax {jax.__version__}, diffrax {diffrax.__version__}, {jax.devices()[0].platform}"
    print(setup)
    points = []
    for name, (rhs, y0, t1, exact) in problems.items():
        y0 = jnp.asarray(y0)
        rows = []
        for rtol in rtols:
            rows.append(
                (
                    rtol,
                    measure(run_diffsim, rhs, y0, t1, exact, args.repeats, rtol),
                    measure(run_diffrax, rhs, y0, t1, exact, args.repeats, rtol, 0.0, 1.0),
                    measure(run_diffrax, rhs, y0, t1, exact, args.repeats, rtol, 0.4, 0.3),
                )
            )
        print(f"\n{name}: Tsit5, error (max abs) / rhs evaluations / time [ms]")
        print(
            "| rtol | diffsim | diffrax (I) | diffrax (PI 0.4/0.3) | evals ratio at diffsim's "
            "error: vs diffrax I, PI |"
        )
        print("|---|---|---|---|---|")
        for rtol, ours, plain, matched in rows:
            ratios = [
                equal_accuracy_ratio(
                    ours[1], ours[0], [r[k][0] for r in rows], [r[k][1] for r in rows]
                )
                for k in (2, 3)
            ]
            cells = [f"{e:.2e} / {n} / {1e3 * s:.2f}" for e, n, s in (ours, plain, matched)]
            print(f"| {rtol:.0e} | " + " | ".join(cells) + f" | {ratios[0]:.2f}, {ratios[1]:.2f} |")
            for solver, (error, evals, seconds) in zip(
                SOLVERS, (ours, plain, matched), strict=True
            ):
                points.append(dict(problem=name, solver=solver, rtol=rtol, error=error,
                                   rhs_evals=evals, seconds=seconds))  # fmt: skip
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        record = dict(setup=setup, repeats=args.repeats, points=points)
        (out / "nonstiff.json").write_text(json.dumps(record, indent=1) + "\n")
        plot(points, out / "nonstiff.png")


if __name__ == "__main__":
    main()
