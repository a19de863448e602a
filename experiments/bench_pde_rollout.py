"""Long PDE rollouts: gradient time and XLA temporary memory against the number of steps.

For a 2D heat equation (finite volumes, RK4; gradient of `Σ u(T)²` with respect to the whole
diffusivity field) and 2D Navier–Stokes (spectral, RK4; gradient with respect to the initial
vorticity), compares
- `direct`: `diffsim.pde.solve(..., adjoint="direct")` (JAX reverse mode through the scan),
- `checkpoint`: `adjoint=diffsim.Checkpoint()` (binomial, √(2N) snapshots),
- `scan`: a bare `jax.lax.scan` of the same RK4 step, differentiated by JAX,
- `diffrax`: `diffrax.diffeqsolve` with `RK4`, the same step and its default
  `RecursiveCheckpointAdjoint` (skipped if diffrax is not installed),
and the forward solve alone. Memory is XLA's compiled temporary allocation
(`jax.jit(f).lower(x).compile().memory_analysis().temp_size_in_bytes`); a strategy whose
temporaries would not fit in the device's memory is compiled but not run.

    python experiments/bench_pde_rollout.py          # CPU: heat 100² (10⁴ unknowns), minutes
    python experiments/bench_pde_rollout.py --large    # GPU: heat 1024², Navier–Stokes 512²
"""

import argparse
import json
import time

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import diffsim  # noqa: E402
from diffsim import pde  # noqa: E402

try:
    import diffrax
except ImportError:  # optional comparison
    diffrax = None

if diffrax is not None:

    class DiffraxRK4(diffrax.AbstractERK):
        """The classical RK4 as a diffrax solver (diffrax ships none), for a like-for-like
        comparison."""

        tableau = diffrax.ButcherTableau(
            a_lower=(np.array([0.5]), np.array([0.0, 0.5]), np.array([0.0, 0.0, 1.0])),
            b_sol=np.array([1 / 6, 1 / 3, 1 / 3, 1 / 6]),
            b_error=np.zeros(4),
            c=np.array([0.5, 0.5, 1.0]),
        )
        interpolation_cls = diffrax.ThirdOrderHermitePolynomialInterpolation.from_k

        def order(self, terms):
            return 4


def heat_case(n):
    grid = pde.uniform_grid((n, n))
    model = pde.Heat(grid, pde.Dirichlet(0.0))
    x, y = grid.coordinates()
    u0 = jnp.asarray(np.sin(np.pi * x) * np.sin(np.pi * y) + 0.3 * np.sin(3 * np.pi * x))
    kappa = jnp.full(grid.shape, 1.0)
    dt = 0.4 * pde.stable_step(model, u0, {"diffusivity": 2.0}, "rk4")
    # differentiate with respect to the diffusivity field (n² inputs: reverse mode)
    return "heat2d", model, u0, kappa, lambda k: {"diffusivity": k}, lambda k: u0, dt


def navier_stokes_case(n):
    grid = pde.uniform_grid((n, n), 0, 2 * np.pi)
    model = pde.NavierStokes2D(grid)
    x, y = grid.coordinates()
    omega0 = jnp.asarray(np.sin(4 * x) * np.cos(3 * y) + 0.5 * np.cos(x + 2 * y))
    params = {"viscosity": 1e-3}
    dt = 0.4 * pde.stable_step(model, omega0, params, "rk4")
    # differentiate with respect to the initial vorticity
    return "navier_stokes2d", model, omega0, omega0, lambda w: params, lambda w: w, dt


def rk4_step(model, params, dt):
    def step(u, t):
        k1 = model.rhs(t, u, params)
        k2 = model.rhs(t + dt / 2, u + dt / 2 * k1, params)
        k3 = model.rhs(t + dt / 2, u + dt / 2 * k2, params)
        k4 = model.rhs(t + dt, u + dt * k3, params)
        return u + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

    return step


def losses(case, steps):
    name, model, u0, x0, params_of, state_of, dt = case
    horizon = steps * dt
    ts = np.array([0.0, horizon])

    def core(adjoint):
        def loss(x):
            sol = pde.solve(
                model, state_of(x), ts, params_of(x), solver="rk4", dt=dt, adjoint=adjoint
            )
            return jnp.sum(sol.ys[-1] ** 2)

        return loss

    def scan(x):
        step = rk4_step(model, params_of(x), dt)
        final, _ = jax.lax.scan(
            lambda u, i: (step(u, i * dt), None), state_of(x), jnp.arange(steps)
        )
        return jnp.sum(final**2)

    functions = {
        "forward": (core("direct"), False),
        "direct": (core("direct"), True),
        "checkpoint": (core(diffsim.Checkpoint()), True),
        "scan": (scan, True),
    }
    if diffrax is not None:

        def with_diffrax(x):
            params = params_of(x)
            sol = diffrax.diffeqsolve(
                diffrax.ODETerm(lambda t, u, p: model.rhs(t, u, p)),
                DiffraxRK4(),
                0.0,
                horizon,
                dt,
                state_of(x),
                args=params,
                saveat=diffrax.SaveAt(t1=True),
                stepsize_controller=diffrax.ConstantStepSize(),
                max_steps=steps + 1,
            )
            return jnp.sum(sol.ys[-1] ** 2)

        functions["diffrax"] = (with_diffrax, True)
    return functions, x0


def measure(function, x, gradient, budget, repeats):
    f = jax.jit(jax.grad(function) if gradient else function)
    clock = time.perf_counter()
    try:
        compiled = f.lower(x).compile()
    except jax.errors.JaxRuntimeError as error:  # e.g. XLA's autotuner out of device memory
        print(f"  (compilation failed: {str(error).splitlines()[0][:120]})", flush=True)
        return {"compile_s": time.perf_counter() - clock, "temp_bytes": None, "time_s": None}
    compile_s = time.perf_counter() - clock
    temp = compiled.memory_analysis().temp_size_in_bytes
    if temp > budget:
        return {"compile_s": compile_s, "temp_bytes": temp, "time_s": None}
    jax.block_until_ready(compiled(x))
    times = []
    for _ in range(repeats):
        clock = time.perf_counter()
        jax.block_until_ready(compiled(x))
        times.append(time.perf_counter() - clock)
    return {"compile_s": compile_s, "temp_bytes": temp, "time_s": min(times)}


def device_memory() -> int:
    stats = jax.devices()[0].memory_stats() or {}
    return int(stats.get("bytes_limit", 8 * 2**30))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--large", action="store_true", help="GPU sizes: heat 1024², NS 512²")
    parser.add_argument("--steps", type=int, nargs="*", help="numbers of steps")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--cases", nargs="*", default=["heat", "ns"], help="heat and/or ns")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    if args.large:
        cases = [
            (heat_case, 1024, args.steps or [1000, 4000, 10000]),
            (navier_stokes_case, 512, args.steps or [1000, 4000]),
        ]
    else:
        cases = [
            (heat_case, 100, args.steps or [1000, 4000, 10000]),
            (navier_stokes_case, 64, args.steps or [1000, 4000]),
        ]
    chosen = {"heat": heat_case, "ns": navier_stokes_case}
    cases = [
        (make(n), steps) for make, n, steps in cases if make in [chosen[c] for c in args.cases]
    ]
    budget = int(0.8 * device_memory())
    device = jax.devices()[0]
    print(f"device: {device.platform} {device.device_kind}; memory budget {budget / 2**30:.1f} GiB")
    rows = []
    header = (
        "| case | state | steps | strategy | time (s) | vs forward | temp memory (MiB) "
        "| compile (s) |"
    )
    print(header)
    print("|" + "---|" * 8)
    for case, step_counts in cases:
        for steps in step_counts:
            functions, x0 = losses(case, steps)
            forward_time = None
            for strategy, (function, gradient) in functions.items():
                result = measure(function, x0, gradient, budget, args.repeats)
                if strategy == "forward":
                    forward_time = result["time_s"]
                row = {
                    "case": case[0],
                    "state": int(case[2].size),
                    "steps": steps,
                    "strategy": strategy,
                    **result,
                }
                rows.append(row)
                t = result["time_s"]
                ratio = f"{t / forward_time:.2f}" if t and forward_time else "-"
                shown = f"{t:.3f}" if t is not None else "not run (memory)"
                temp = result["temp_bytes"]
                temp = f"{temp / 2**20:.1f}" if temp is not None else "compile failed"
                print(
                    f"| {case[0]} | {row['state']} | {steps} | {strategy} | {shown} | {ratio} | "
                    f"{temp} | {result['compile_s']:.1f} |",
                    flush=True,
                )
    if args.out:
        with open(args.out, "w") as handle:
            json.dump({"device": str(device), "rows": rows}, handle, indent=1)


if __name__ == "__main__":
    main()
