"""Benchmark of the ODE core against a bare `jax.lax.scan` RK4 and diffrax, in one process.

For each problem and method: forward and gradient time (median of `--repeats` runs after
compilation), their ratio, compile times, and XLA's compiled temporary memory of the gradient.
Then a scaling study: gradient memory and time against the number of steps.

    python experiments/bench_ode.py [--repeats 7] [--dtype float64] [--quick] [--large]

diffrax is optional (`pip install -e ".[bench]"`); without it its rows are skipped.
"""

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import diffsim

try:
    import diffrax
except ImportError:  # optional peer
    diffrax = None


# -- problems -------------------------------------------------------------------------------
def lotka_volterra(t, y, p):
    a, b, c, d = p
    return jnp.stack([a * y[0] - b * y[0] * y[1], -c * y[1] + d * y[0] * y[1]])


def lorenz96(t, y, forcing):
    return (jnp.roll(y, -1) - jnp.roll(y, 2)) * jnp.roll(y, 1) - y + forcing


def reaction_diffusion(t, u, p):
    """Fisher–KPP on a periodic 1D grid: u_t = D u_xx + r u (1 - u)."""
    diffusivity, rate = p
    dx = 1.0 / u.shape[0]
    lap = (jnp.roll(u, 1) - 2 * u + jnp.roll(u, -1)) / dx**2
    return diffusivity * lap + rate * u * (1 - u)


LORENZ96 = "lorenz-96 (64 states, 10000 steps, 101 outputs)"


def problems(large):
    n_rd = 65536 if large else 4096
    x = np.linspace(0.0, 1.0, n_rd, endpoint=False)
    # D chosen so that RK4 with dt = 0.01 is stable (D dt / dx^2 = 0.16).
    d_rd = 0.16 * (1.0 / n_rd) ** 2 / 0.01
    return {
        "lotka-volterra (2 states, 1000 steps, 101 outputs)": dict(
            rhs=lotka_volterra,
            y0=np.array([10.0, 5.0]),
            params=np.array([1.1, 0.4, 0.4, 0.1]),
            ts=np.linspace(0.0, 10.0, 101),
            dt=0.01,
        ),
        # A horizon of ~2 Lyapunov times: long rollouts of a chaotic system have gradients
        # dominated by round-off amplification, which would hide any real difference.
        LORENZ96: dict(
            rhs=lorenz96,
            y0=8.0 + 0.01 * np.sin(np.arange(64.0)),
            params=np.full(64, 8.0),
            ts=np.linspace(0.0, 1.0, 101),
            dt=1e-4,
        ),
        f"reaction-diffusion ({n_rd} states, 1000 steps, 11 outputs)": dict(
            rhs=reaction_diffusion,
            y0=0.5 + 0.4 * np.sin(2 * np.pi * x),
            params=np.array([d_rd, 1.0]),
            ts=np.linspace(0.0, 10.0, 11),
            dt=0.01,
        ),
    }


def cast(problem, dtype):
    return {k: (v.astype(dtype) if isinstance(v, np.ndarray) else v) for k, v in problem.items()}


# -- methods: each maps (problem) -> solve(params) -> ys --------------------------------------
def bare_scan(pb):
    rhs, y0, ts, dt = pb["rhs"], jnp.asarray(pb["y0"]), pb["ts"], pb["dt"]
    n = int(round((ts[1] - ts[0]) / dt))
    h = (ts[1] - ts[0]) / n

    def solve(p):
        def rk4(y, t):
            k1 = rhs(t, y, p)
            k2 = rhs(t + h / 2, y + h / 2 * k1, p)
            k3 = rhs(t + h / 2, y + h / 2 * k2, p)
            k4 = rhs(t + h, y + h * k3, p)
            return y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4), None

        def interval(y, t0):
            y, _ = jax.lax.scan(rk4, y, t0 + h * jnp.arange(n))
            return y, y

        _, ys = jax.lax.scan(interval, y0, jnp.asarray(ts[:-1]))
        return jnp.concatenate([y0[None], ys])

    return solve


def diffsim_method(adjoint):
    def make(pb):
        def solve(p):
            return diffsim.solve_ode(
                pb["rhs"], pb["y0"], pb["ts"], p, solver="rk4", dt=pb["dt"], adjoint=adjoint
            ).ys

        return solve

    return make


def diffrax_rk4(pb):
    class RK4(diffrax.AbstractERK):
        tableau = diffrax.ButcherTableau(
            c=np.array([0.5, 0.5, 1.0]),
            b_sol=np.array([1 / 6, 1 / 3, 1 / 3, 1 / 6]),
            b_error=np.zeros(4),
            a_lower=(np.array([0.5]), np.array([0.0, 0.5]), np.array([0.0, 0.0, 1.0])),
        )
        interpolation_cls = diffrax.ThirdOrderHermitePolynomialInterpolation.from_k

        def order(self, terms):
            return 4

    ts, dt = pb["ts"], pb["dt"]
    steps = int(round((ts[-1] - ts[0]) / dt))
    term = diffrax.ODETerm(lambda t, y, p: pb["rhs"](t, y, p))

    def solve(p):
        return diffrax.diffeqsolve(
            term,
            RK4(),
            t0=ts[0],
            t1=ts[-1],
            dt0=dt,
            y0=jnp.asarray(pb["y0"]),
            args=p,
            saveat=diffrax.SaveAt(ts=ts),
            stepsize_controller=diffrax.ConstantStepSize(),
            max_steps=steps + 1,
        ).ys

    return solve


def methods():
    out = {
        "bare lax.scan": bare_scan,
        "diffsim direct": diffsim_method("direct"),
        "diffsim checkpoint": diffsim_method("checkpoint"),
    }
    if diffrax is not None:
        out["diffrax (recursive ckpt)"] = diffrax_rk4
    return out


# -- measurement -----------------------------------------------------------------------------
def compile_fn(fn, x):
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(x).compile()
    return compiled, time.perf_counter() - start


def median_time(compiled, x, repeats):
    jax.block_until_ready(compiled(x))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(x))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def temp_bytes(compiled):
    analysis = compiled.memory_analysis()
    return getattr(analysis, "temp_size_in_bytes", float("nan")) if analysis else float("nan")


def measure(solve, params, repeats):
    def loss(p):
        return jnp.sum(solve(p) ** 2)

    fwd, fwd_compile = compile_fn(loss, params)
    grad, grad_compile = compile_fn(jax.grad(loss), params)
    return dict(
        fwd=median_time(fwd, params, repeats),
        grad=median_time(grad, params, repeats),
        fwd_compile=fwd_compile,
        grad_compile=grad_compile,
        grad_mem=temp_bytes(grad),
        value=float(fwd(params)),
        gradient=np.asarray(grad(params)),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    parser.add_argument("--quick", action="store_true", help="skip the scaling study")
    parser.add_argument("--large", action="store_true", help="GPU sizes (65536-state RD)")
    args = parser.parse_args()
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    dtype = np.dtype(args.dtype)
    print(f"backend={jax.default_backend()} devices={jax.devices()} dtype={args.dtype}")

    header = (
        "| problem | method | fwd ms | grad ms | grad/fwd | fwd vs bare | grad vs bare "
        "| compile fwd s | compile grad s | grad temp MiB | max rel grad diff |"
    )
    print(header)
    print("|" + "---|" * 11)
    for name, pb in problems(args.large).items():
        pb = cast(pb, dtype)
        params = jnp.asarray(pb["params"])
        results = {m: measure(make(pb), params, args.repeats) for m, make in methods().items()}
        base = results["bare lax.scan"]
        for m, r in results.items():
            diff = np.max(np.abs(r["gradient"] - base["gradient"])) / np.max(
                np.abs(base["gradient"])
            )
            print(
                f"| {name} | {m} | {r['fwd'] * 1e3:.3f} | {r['grad'] * 1e3:.3f} "
                f"| {r['grad'] / r['fwd']:.1f} | {r['fwd'] / base['fwd']:.2f} "
                f"| {r['grad'] / base['grad']:.2f} | {r['fwd_compile']:.2f} "
                f"| {r['grad_compile']:.2f} | {r['grad_mem'] / 2**20:.2f} | {diff:.1e} |"
            )

    if args.quick:
        return
    print("\nScaling: gradient of lorenz-96 (64 states) against the number of RK4 steps")
    print("| steps | method | grad ms | grad temp MiB | grad / diffsim fwd |")
    print("|---|---|---|---|---|")
    base_pb = cast(problems(False)[LORENZ96], dtype)
    for steps in (1000, 4000, 16000, 64000):
        pb = dict(base_pb, dt=1.0 / steps)
        params = jnp.asarray(pb["params"])
        fwd_ref = None
        for m, make in methods().items():
            r = measure(make(pb), params, max(3, args.repeats // 2))
            if m == "diffsim direct":
                fwd_ref = r["fwd"]
            ratio = f"{r['grad'] / fwd_ref:.2f}" if fwd_ref else ""
            print(
                f"| {steps} | {m} | {r['grad'] * 1e3:.2f} | {r['grad_mem'] / 2**20:.2f} | {ratio} |"
            )


if __name__ == "__main__":
    main()
