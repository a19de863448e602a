"""Universal differential equation for Lotka–Volterra (Rackauckas et al. 2020, "Universal
differential equations for scientific machine learning", section 2.1).

Data: x' = αx - βxy, y' = γxy - δy with (α, β, γ, δ) = (1.3, 0.9, 0.8, 1.8),
u0 = (0.44249296, 4.6280594), t = 0, 0.1, ..., 3, noise 5 % of each state's mean. The UDE
x' = αx + U₁(x, y), y' = -δy + U₂(x, y) learns the interactions (U a 2→5→5→5→2 rbf network)
with α and δ, all fitted together (Adam, then L-BFGS). Sparse regression on U along the
trajectory recovers the terms; the recovered equation is refitted as a plain ODE model and
extrapolated to t = 20.

    python experiments/ude_lotka_volterra.py [--smoke] [--seed N]
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import diffsim  # noqa: E402
from diffsim import neural, nn  # noqa: E402
from diffsim.inverse import SolverOptions, estimate_uncertainty  # noqa: E402

TRUE = {"alpha": 1.3, "beta": 0.9, "gamma": 0.8, "delta": 1.8}
U0 = np.array([0.44249296, 4.6280594])
STATES = ("x", "y")
KNOWN = {"x": "alpha*x", "y": "-delta*y"}
OPTIONS = SolverOptions(solver="tsit5", rtol=1e-7, atol=1e-9, adjoint="checkpoint")


def lotka_volterra(t, u, p):
    x, y = u
    return jnp.stack([p["alpha"] * x - p["beta"] * x * y, p["gamma"] * x * y - p["delta"] * y])


def truth(ts):
    """The exact (tight-tolerance) trajectory at `ts`."""
    return np.asarray(
        diffsim.solve_ode(lotka_volterra, jnp.asarray(U0), ts, TRUE, rtol=1e-12, atol=1e-12).ys
    )


def make_data(seed: int, noise: float = 0.05):
    """Times, noisy states and the noise level (`noise` times each state's mean; with no
    noise, sigma stays 5 % of the mean so that the loss keeps its scale)."""
    ts = np.linspace(0.0, 3.0, 31)
    clean = truth(ts)
    sigma = max(noise, 0.05) * clean.mean(axis=0)
    scale = noise * clean.mean(axis=0)
    noisy = clean + scale * np.random.default_rng(seed).standard_normal(clean.shape)
    return ts, noisy, sigma


def hybrid(t, u, physical, network):
    """Known growth and decay; the network stands for everything else."""
    x, y = u
    learned = network(u)
    return jnp.stack([physical["alpha"] * x + learned[0], -physical["delta"] * y + learned[1]])


def known_rates(t, u, physical, network):
    """As `hybrid`, with α and δ known (Rackauckas et al.'s set-up)."""
    return hybrid(t, u, {"alpha": TRUE["alpha"], "delta": TRUE["delta"]}, network)


JOINT = neural.UniversalODE(hybrid, states=STATES, physical=("alpha", "delta"))
KNOWN_RATES = neural.UniversalODE(known_rates, states=STATES, physical=())


def train_ude(ude, ts, data, sigma, *, seed, adam_steps, lbfgs_steps):
    """Fit the network (and the physical parameters of `ude`, from 1.0 and 1.5) to the
    whole series: mean squared residual in units of the noise level."""
    network = nn.MLP(2, 2, 5, 3, "rbf", dtype="float64", key=jax.random.key(seed))
    start = {"alpha": jnp.asarray(1.0), "delta": jnp.asarray(1.5)}
    params = {"physical": {k: start[k] for k in ude.physical}, "network": network}
    windows = neural.Windows(ts=jnp.asarray(ts)[None], ys=jnp.asarray(data)[None])
    weights = jnp.asarray(1.0 / sigma)

    def loss(p, batch):
        ys, status = neural.predict_windows(ude, p, batch, OPTIONS)
        r = (ys - batch.ys) * weights
        return jnp.where(jnp.all(status == 0), jnp.mean(r * r), jnp.inf)

    return neural.train(
        loss,
        params,
        full_batch=windows,
        adam_steps=adam_steps,
        learning_rate=1e-2,
        lbfgs_steps=lbfgs_steps,
    )


def true_interaction(states):
    """(-βxy, γxy) at states `(N, 2)`."""
    x, y = np.asarray(states).T
    return np.stack([-TRUE["beta"] * x * y, TRUE["gamma"] * x * y], axis=1)


def relative_l2(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b)))


def run(
    *,
    seed: int = 1,
    noise: float = 0.05,
    joint: bool = False,
    adam_steps: int = 300,
    lbfgs_steps: int = 500,
    degree: int = 3,
    ridge: float = 1e-2,
    select: bool = True,
    verbose=True,
) -> dict:
    """The whole study; returns its figures.

    **Arguments:** `seed` of noise and network; `noise` level (fraction of each state's
    mean); `joint`: fit α and δ with the network (else they are known); training steps;
    `degree` of the sparse-regression library; `ridge` of its thresholded least squares;
    `select`: choose the terms by refits to the data (else keep the sparse regression's).
    """
    clock = time.perf_counter()
    ude = JOINT if joint else KNOWN_RATES
    ts, data, sigma = make_data(seed, noise)
    training = train_ude(
        ude, ts, data, sigma, seed=seed, adam_steps=adam_steps, lbfgs_steps=lbfgs_steps
    )
    params = training.params
    physical = {k: float(v) for k, v in params["physical"].items()}
    if not joint:
        physical = {"alpha": TRUE["alpha"], "delta": TRUE["delta"]}

    # Misfit: RMS of the residuals in units of the noise level (1 = at the noise level).
    windows = neural.Windows(ts=jnp.asarray(ts)[None], ys=jnp.asarray(data)[None])
    fitted = np.asarray(neural.predict_windows(ude, params, windows, OPTIONS)[0][0])
    misfit = float(np.sqrt(np.mean(((fitted - data) / sigma) ** 2)))
    stderr = (
        neural.physical_uncertainty(ude, params, ts, data, U0, sigma=sigma).stderr
        if joint
        else np.zeros(2)
    )

    # The learned interaction along the fitted trajectory at the data times (what sparse
    # regression explains, as Rackauckas et al. do), against the true one there and along
    # the true trajectory.
    path = np.asarray(diffsim.solve_ode(ude, jnp.asarray(U0), ts, params, rtol=1e-9, atol=1e-11).ys)
    learned = ude.learned(params["network"], path)
    interaction_error = relative_l2(learned, true_interaction(path))
    fine = np.linspace(0.0, 3.0, 301)
    states = truth(fine)
    interaction_error_true_path = relative_l2(
        ude.learned(params["network"], states), true_interaction(states)
    )

    # Sparse regression: candidate term sets by a threshold sweep (ridge STLSQ on scaled
    # columns); the terms are then chosen by refitting each candidate to the data (BIC on
    # the data, backward elimination).
    library = neural.TermLibrary(STATES, degree=degree)
    sparse = neural.sparse_regression(
        path, learned, library, names=STATES, criterion="bic", ridge=ridge
    )
    fixed = {} if joint else {"alpha": TRUE["alpha"], "delta": TRUE["delta"]}
    rates = np.array([physical["alpha"], -physical["delta"]])
    selection = (
        neural.select_terms(
            sparse, library, lambda t, u, learned: rates * u + learned, ts, data, U0, sigma=sigma
        )
        if select
        else None
    )
    recovered = sparse if selection is None else selection.model

    # Refit the recovered equation as a plain ODE model (error bars), then extrapolate.
    model, start = neural.recovered_model(recovered, KNOWN, physical)
    free = {k: v for k, v in start.items() if k not in fixed}
    problem = neural.trajectory_problem(model, free, ts, data, U0, sigma=sigma, fixed=fixed)
    refit = diffsim.fit(problem)
    refit_stderr = estimate_uncertainty(
        problem, refit.z, jacobian=refit.jacobian, residuals=refit.residuals, scale_covariance=False
    ).stderr
    estimates = dict(zip(refit.names, refit.x, strict=True))
    long = np.linspace(0.0, 20.0, 401)
    solution = diffsim.solve_ode(
        model, jnp.asarray(U0), long, {**fixed, **estimates}, rtol=1e-10, atol=1e-12, throw=False
    )
    extrapolation_error = (
        relative_l2(solution.ys, truth(long)) if int(solution.status) == 0 else float("inf")
    )

    terms = {s: sorted(recovered.active(s)) for s in STATES}
    beta = -estimates.get("x_x_y", np.nan)
    gamma = estimates.get("y_x_y", np.nan)
    figures = {
        "misfit_rms_sigma": misfit,
        "alpha_ude": physical["alpha"],
        "delta_ude": physical["delta"],
        "alpha_ude_stderr": float(stderr[0]),
        "delta_ude_stderr": float(stderr[1]),
        "interaction_rel_l2": interaction_error,
        "interaction_rel_l2_true_path": interaction_error_true_path,
        "sparse_terms": {s: sorted(sparse.active(s)) for s in STATES},
        "terms": terms,
        "exact_terms": terms == {"x": ["x*y"], "y": ["x*y"]},
        "refit": {k: float(v) for k, v in estimates.items()},
        "refit_stderr": dict(zip(refit.names, map(float, refit_stderr), strict=True)),
        "beta_rel_error": abs(beta - TRUE["beta"]) / TRUE["beta"],
        "gamma_rel_error": abs(gamma - TRUE["gamma"]) / TRUE["gamma"],
        "extrapolation_rel_l2_t20": extrapolation_error,
        "train_loss": float(training.losses[-1]),
        "compile_s": training.compile_seconds,
        "train_s": training.train_seconds,
        "total_s": time.perf_counter() - clock,
    }
    if verbose:
        print(
            f"UDE fit: alpha = {physical['alpha']:.4f} ± {stderr[0]:.4f}, "
            f"delta = {physical['delta']:.4f} ± {stderr[1]:.4f} (network held fixed)"
        )
        print(f"misfit: RMS residual = {misfit:.3f} sigma")
        print(
            f"learned interaction vs (-beta x y, gamma x y): rel L2 = {interaction_error:.4f} "
            f"along the fitted trajectory, {interaction_error_true_path:.4f} along the true one"
        )
        print(f"sparse regression ({sparse.criterion} on the learned term, degree {degree}):")
        print(sparse)
        if selection is not None:
            print(
                f"terms chosen by refits to the data ({len(selection.tried)} refits, "
                f"{selection.criterion} {selection.score:.1f}, chi-square "
                f"{selection.chi_square:.1f} for {selection.num} values):\n{selection.model}"
            )
        print("refit of the recovered equation:")
        for name, value in estimates.items():
            print(f"  {name} = {value:.5f} ± {figures['refit_stderr'][name]:.5f}")
        print(
            f"beta rel error {figures['beta_rel_error']:.4f}, "
            f"gamma rel error {figures['gamma_rel_error']:.4f}"
        )
        print(f"extrapolation to t = 20: rel L2 = {extrapolation_error:.4f}")
        print(
            f"time: compile {training.compile_seconds:.1f} s, "
            f"train {training.train_seconds:.1f} s, total {figures['total_s']:.1f} s"
        )
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a short run (fewer steps)")
    parser.add_argument("--seed", type=int, default=1, help="noise and network seed")
    parser.add_argument("--noise", type=float, default=0.05, help="noise / state mean")
    parser.add_argument("--joint", action="store_true", help="fit alpha, delta with the network")
    args = parser.parse_args()
    steps = {"adam_steps": 100, "lbfgs_steps": 100} if args.smoke else {}
    run(seed=args.seed, noise=args.noise, joint=args.joint, **steps)


if __name__ == "__main__":
    main()
