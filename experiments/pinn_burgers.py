"""PINN for Burgers' equation in Raissi et al.'s set-up: forward solve and identification.

Forward (Raissi, Perdikaris & Karniadakis 2019, section 3.1.1): u_t + u u_x = ν u_xx on
x ∈ [−1, 1], t ∈ [0, 1], u0 = −sin πx, u(t, ±1) = 0, ν = 0.01/π; 100 initial/boundary points
(50 at t = 0, 25 per end), Latin hypercube collocation, a 2-20×8-1 tanh network; relative L2
error against the exact Cole–Hopf solution on the 256 × 100 grid (paper: 6.7e-4).

Identification (section 4.1.2): λ1, λ2 of u_t + λ1 u u_x = λ2 u_xx from 2000 samples
(configs/data/burgers_identification.csv, 1 % noise, or exact samples with --noise 0), the
data points being the collocation points; loss MSE(data) + MSE(residual) + MSE(u(t, ±1)),
the last the zero Dirichlet ends at 50 points each. `--raissi-loss` leaves the ends out
(Raissi et al.'s loss).

Adam runs in float32, then L-BFGS in float64. Times are wall-clock on this machine,
compilation included.

    python experiments/pinn_burgers.py forward [--seeds 0 1 2] [--collocation 10000]
        [--adam 1000] [--lbfgs 1000] [--resample-every 0] [--checkpoint PATH] [--quiet]
    python experiments/pinn_burgers.py evaluate --checkpoint PATH [--seeds 0]
    python experiments/pinn_burgers.py identify [--noise 0.01] [--seeds 0] [--adam 1000]
        [--lbfgs 1000] [--raissi-loss] [--log-every 0]
        [--uncertainty] [--json PATH] [--quiet]

`--uncertainty` adds Gauss–Newton standard errors of λ1, λ2 (`pinn.coefficient_uncertainty`);
`--json` writes the last seed's figures (used by experiments/burgers_pinn_vs_solver.py);
for `identify` with λ1's and λ2's errors (%) and the loss at every logged step
(`--log-every K`, default a tenth of all steps). Ctrl-C (or `timeout -s INT`) stops
training where it is and still reports: a run can be given a time budget.
`--checkpoint PATH` saves the forward network every 500 steps (PATH with `.seedN` appended);
`evaluate` reads such a checkpoint (float64) and prints its error: a long run can be watched.
`--resample-every K` draws a fresh collocation set every K Adam steps (0: Raissi's one set;
L-BFGS always runs on the last set). `--trace K` (forward) prints the error against Cole–Hopf
every K steps during training (from a checkpoint written every K steps; the error printed at
step s is that of the checkpoint written K steps earlier). Each seed's row gives the Adam
steps and L-BFGS iterations done, wall and process CPU seconds and the load average.
"""

import argparse
import json
import os
import pathlib
import resource
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))  # run as a script
from diffsim import nn, pde, pinn  # noqa: E402
from experiments.burgers_cole_hopf import LAMBDA2, T_GRID, X_GRID, exact, samples  # noqa: E402

jax.config.update("jax_enable_x64", True)
DATA = pathlib.Path(__file__).resolve().parent.parent / "configs/data/burgers_identification.csv"


def initial(x):
    return -jnp.sin(jnp.pi * x[0])


def burgers_model():
    """Burgers on [-1, 1] with zero Dirichlet ends (the grid fixes the box only)."""
    return pde.Burgers(pde.uniform_grid(256, -1.0, 1.0), pde.Dirichlet(0.0))


def reference():
    """Exact u on Raissi's 256 × 100 grid, and the grid's (t, x) points."""
    tt, xx = np.meshgrid(T_GRID, X_GRID, indexing="ij")
    return exact(tt, xx), np.column_stack([tt.ravel(), xx.ravel()])


def relative_error(problem, trainable, u_ref, tx):
    fn = problem.field(trainable)
    dtype = jax.tree_util.tree_leaves(trainable)[0].dtype
    pred = jax.vmap(lambda p: fn(p[0], p[1:]))(jnp.asarray(tx, dtype))
    return float(np.linalg.norm(np.asarray(pred) - u_ref.ravel()) / np.linalg.norm(u_ref))


def network(seed, dtype="float32"):
    """Raissi's 2-20×8-1 tanh network."""
    return nn.MLP(2, "scalar", 20, 8, "tanh", dtype=dtype, key=jax.random.PRNGKey(seed))


def train(
    problem,
    collocation,
    seed,
    adam,
    lbfgs,
    learning_rate,
    quiet,
    checkpoint=None,
    every=500,
    weighting=None,
    log_every=0,
):
    """Raissi's network: Adam in float32, then L-BFGS in float64; with `quiet` a callable,
    it is the progress callback (and progress is logged every `every` steps); else progress
    is logged every `log_every` steps (0: a tenth of all steps)."""
    callback = (
        quiet if callable(quiet) else None if quiet else lambda p: print(p.line(), flush=True)
    )
    return pinn.train(
        problem,
        network(seed),
        collocation=collocation,
        seed=seed,
        adam_steps=adam,
        learning_rate=learning_rate,
        lbfgs_steps=lbfgs,
        lbfgs_float64=True,
        weighting=weighting,
        callback=callback,
        log_every=every if callable(quiet) else log_every or max(1, (adam + lbfgs) // 10),
        checkpoint=checkpoint,
        checkpoint_every=every,
    )


def forward_problem(hard=()):
    """Raissi's forward problem: 50 initial points, 25 per boundary end."""
    return pinn.PINNProblem(
        burgers_model(),
        (0.0, 1.0),
        {"viscosity": LAMBDA2},
        initial=initial,
        n_initial=50,
        n_boundary=25,
        hard=hard,
    )


def forward(
    seed,
    n_collocation,
    adam,
    lbfgs,
    learning_rate=1e-3,
    quiet=False,
    checkpoint=None,
    resample=0,
    trace=0,
):
    """Train the forward PINN; returns (relative L2 error, trained, trace). `trace > 0`:
    the error of the checkpoint written every `trace` steps, as (step, loss, error) rows
    (step: the step at which the checkpoint was read, `trace` after it was written)."""
    problem = forward_problem()
    collocation = pinn.Collocation(n_collocation, resample_every=resample)
    u_ref, tx = reference()
    rows, verbose = [], not quiet
    if trace:
        checkpoint = checkpoint or pathlib.Path(tempfile.mkdtemp()) / "forward.eqx"

        def watch(p):
            error = evaluate(checkpoint) if checkpoint.exists() else float("nan")
            rows.append((p.step, p.loss, error))
            if verbose:
                print(f"{p.line()}  rel L2 {error:.3e} (checkpoint {trace} steps back)", flush=True)

        quiet = watch
    trained = train(
        problem, collocation, seed, adam, lbfgs, learning_rate, quiet, checkpoint, trace or 500
    )
    return relative_error(problem, trained.trainable, u_ref, tx), trained, rows


def evaluate(checkpoint):
    """The relative L2 error of a forward checkpoint (saved in float64 after L-BFGS, or in
    float32 during Adam: both are tried)."""
    problem, u_ref, tx = forward_problem(), *reference()
    for dtype in ("float64", "float32"):
        try:
            trainable = pinn.load(checkpoint, problem.init(network(0, dtype)))
        except RuntimeError:  # saved in the other dtype
            continue
        return relative_error(problem, trainable, u_ref, tx)
    raise ValueError(f"{checkpoint}: not a checkpoint of Raissi's network")


def load_data(noise, seed=0):
    """(t, x, u, sigma): the shipped CSV at 1 % noise, else exact samples with that noise."""
    if noise == 0.01:
        t, x, u = np.loadtxt(DATA, delimiter=",", comments="#", skiprows=4).T
        header = DATA.read_text().splitlines()[2]
        sigma = float(header.rsplit("=", 1)[1])
        return t, x, u, sigma
    d = samples(seed=seed, noise=noise)
    return d["t"], d["x"], d["u"], d["sigma"]  # 0 for exact data: stderr from the misfit


def identify(
    noise,
    seed,
    adam,
    lbfgs,
    learning_rate=1e-3,
    quiet=False,
    raissi_loss=False,
    log_every=0,
):
    """Identify (λ1, λ2); returns (relative errors in %, trained, problem). `raissi_loss`:
    without the zero Dirichlet term at x = ±1."""
    t, x, u, sigma = load_data(noise)
    data = pinn.Observations(jnp.asarray(t), jnp.asarray(x)[:, None], jnp.asarray(u), sigma)
    problem = pinn.PINNProblem(
        burgers_model(),
        (0.0, 1.0),
        unknowns={
            "advection": pinn.Unknown(0.0),
            "viscosity": pinn.Unknown(float(np.exp(-6.0)), "log"),
        },
        data=data,
    )
    points = np.column_stack([t, x])
    collocation = pinn.Collocation(len(points), pinn.Given(points))
    weighting = pinn.Fixed({"boundary": 0.0}) if raissi_loss else None
    trained = train(
        problem,
        collocation,
        seed,
        adam,
        lbfgs,
        learning_rate,
        quiet,
        weighting=weighting,
        log_every=log_every,
    )
    errors = coefficient_errors(trained.params["advection"], trained.params["viscosity"])
    return errors, trained, problem


def coefficient_errors(lambda1, lambda2):
    """Relative errors (%) of λ1 and λ2."""
    return 100 * abs(lambda1 - 1.0), 100 * abs(lambda2 - LAMBDA2) / LAMBDA2


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=["forward", "identify", "evaluate"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--collocation", type=int, default=10000)
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--adam", type=int, default=1000)
    parser.add_argument("--lbfgs", type=int, default=1000)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--uncertainty", action="store_true")
    parser.add_argument("--json", type=pathlib.Path, default=None)
    parser.add_argument("--resample-every", type=int, default=0)
    parser.add_argument("--checkpoint", type=pathlib.Path, default=None)
    parser.add_argument("--trace", type=int, default=0)
    parser.add_argument("--raissi-loss", action="store_true")
    parser.add_argument("--log-every", type=int, default=0)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.task == "evaluate":
        print(f"{args.checkpoint}: rel L2 {evaluate(args.checkpoint):.3e}")
        return
    rows, figures = [], {}
    for seed in args.seeds:
        start, cpu, load = time.perf_counter(), time.process_time(), os.getloadavg()[0]
        if args.task == "forward":
            path = args.checkpoint
            path = None if path is None else path.with_name(f"{path.name}.seed{seed}")
            error, trained, trace = forward(
                seed,
                args.collocation,
                args.adam,
                args.lbfgs,
                args.learning_rate,
                args.quiet,
                path,
                args.resample_every,
                args.trace,
            )
            summary = f"rel L2 {error:.3e}"
            figures = {"seed": seed, "rel_l2": error, "trace": trace}
        else:
            (e1, e2), trained, problem = identify(
                args.noise,
                seed,
                args.adam,
                args.lbfgs,
                args.learning_rate,
                args.quiet,
                args.raissi_loss,
                args.log_every,
            )
            p = trained.params
            summary = (
                f"lambda1 {p['advection']:.6f} ({e1:.3f} %)  "
                f"lambda2 {p['viscosity']:.6e} ({e2:.3f} %)"
            )
            figures = {"lambda1": p["advection"], "lambda2": p["viscosity"]}
            figures.update(lambda1_error_pct=e1, lambda2_error_pct=e2)
            h = trained.history
            figures["history"] = [
                [step, loss, *coefficient_errors(a, v)]
                for step, loss, a, v in zip(
                    h["step"], h["loss"], h["param_advection"], h["param_viscosity"], strict=True
                )
            ]  # step, loss, λ1 and λ2 error (%)
            figures.update(raissi_loss=args.raissi_loss)
        train_wall = time.perf_counter() - start
        if args.task == "identify" and args.uncertainty:
            se = pinn.coefficient_uncertainty(problem, trained.trainable, trained.collocation)
            figures.update(
                lambda1_stderr=se["advection"]["stderr"], lambda2_stderr=se["viscosity"]["stderr"]
            )
            summary += (
                f"  stderr {se['advection']['stderr']:.2e} / {se['viscosity']['stderr']:.2e} "
                f"({time.perf_counter() - start - train_wall:.0f} s)"
            )
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        load = (load, os.getloadavg()[0])
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (KiB on Linux)
        figures.update(train_s=train_wall, total_s=wall, cpu_s=cpu, load=load, peak_mib=peak)
        figures.update(steps=trained.steps, status=trained.status)
        rows.append(
            f"seed {seed}  {summary}  adam {trained.steps['adam']} steps "
            f"{trained.seconds['adam']:.0f} s  lbfgs {trained.steps['lbfgs']} iterations "
            f"{trained.seconds['lbfgs']:.0f} s  total {wall:.0f} s wall, {cpu:.0f} s CPU  "
            f"load {load[0]:.1f} -> {load[1]:.1f}  peak {peak:.0f} MiB  ({trained.status})"
        )
        print(rows[-1], flush=True)
    print(
        f"\n{args.task}: adam {args.adam} (float32, lr {args.learning_rate}), "
        f"lbfgs {args.lbfgs} (float64)"
    )
    print("\n".join(rows))
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
