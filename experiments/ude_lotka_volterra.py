"""Universal differential equation for Lotka–Volterra (Rackauckas et al. 2020, "Universal
differential equations for scientific machine learning", section 2.1).

Data: x' = αx - βxy, y' = γxy - δy with (α, β, γ, δ) = (1.3, 0.9, 0.8, 1.8),
u0 = (0.44249296, 4.6280594), t = 0, 0.1, ..., 3, noise 5 % of each state's mean. The UDE
x' = αx + U₁(x, y), y' = -δy + U₂(x, y) learns the interactions (U a 2→5→5→5→2 rbf network)
(α and δ known, as in the paper, or fitted with the network: `--joint`), trained with Adam,
then L-BFGS. Sparse regression on U along the trajectory, the terms chosen by refits to the
data; the recovered equation is refitted as a plain ODE model and extrapolated to t = 20.

This is what `python -m diffsim.run configs/ude_lotka_volterra.yaml` does: the study runs
that config (`UdeProblem.train`) on data drawn with its own seed and noise level.

    python experiments/ude_lotka_volterra.py [--smoke] [--seed N ...] [--noise F] [--joint]
        [--true-structure | --ensemble K] [--set key=value] [--out results.json]

`--true-structure` fits the true model to each seed's data instead (the best a method that
finds the right terms can extrapolate); `--ensemble K` trains K networks on each seed's data
and averages their learned interactions.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import diffsim  # noqa: E402
from diffsim import inverse, neural  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "ude_lotka_volterra.yaml"
TRUE = {"alpha": 1.3, "beta": 0.9, "gamma": 0.8, "delta": 1.8}
U0 = np.array([0.44249296, 4.6280594])


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


TRUE_MODEL = inverse.model_from_equations(
    {"x": "alpha*x - beta*x*y", "y": "gamma*x*y - delta*y"},
    ["alpha", "beta", "gamma", "delta"],
    name="lotka_volterra",
)


def true_structure(seed: int, noise: float = 0.05, until: float = 20.0, points: int = 400):
    """The true model (terms βxy and γxy; α, δ known) fitted to the data of `seed` by the plain
    ODE fit and extrapolated to `until` on the recovered equation's grid (`points` times from
    0): the maximum-likelihood fit of the right structure, which is what a UDE whose recovered
    terms are exactly x·y refits to, so its error is what finding the right terms buys.

    **Returns:** chi-square and BIC (`chi² + k ln N`, as the term selection scores), β, γ
    (estimates and standard errors, reduced-chi-square scaled as in the config's refit), the
    relative L2 error of its interaction (-βxy, γxy) along the true trajectory on [0, 3]
    (301 times), the relative L2 error of the extrapolation against the truth from 0 to
    `until`, what the error bars alone account for, whether the fit converged.
    """
    ts, data, sigma = make_data(seed, noise)
    problem = neural.trajectory_problem(
        TRUE_MODEL,
        {"beta": 1.0, "gamma": 1.0},
        ts,
        data,
        U0,
        sigma=sigma,
        fixed={"alpha": TRUE["alpha"], "delta": TRUE["delta"]},
    )
    result = diffsim.fit(problem)
    uncertainty = inverse.estimate_uncertainty(problem, result.z, scale_covariance=True)
    forecast = problem.forecast_arrays(result.x, uncertainty.covariance, until, points=points)
    exact = truth(forecast["forecast_ts"])
    beta, gamma = map(float, result.x)
    states = truth(np.linspace(0.0, 3.0, 301))
    x, y = states.T
    interaction = np.stack([-beta * x * y, gamma * x * y], axis=1)
    return {
        "seed": seed,
        "success": bool(result.success),
        "chi_square": float(result.chi_square),
        "bic": float(result.chi_square + 2 * np.log(np.isfinite(data).sum())),
        "beta": beta,
        "gamma": gamma,
        "beta_stderr": float(uncertainty.stderr[0]),
        "gamma_stderr": float(uncertainty.stderr[1]),
        "gamma_rel_error": abs(gamma - TRUE["gamma"]) / TRUE["gamma"],
        "interaction_rel_l2_true_path": relative_l2(interaction, true_interaction(states)),
        "rel_l2_t20": relative_l2(forecast["states_fit"], exact),
        "expected_rel_l2": float(
            np.sqrt(np.sum(forecast["forecast_sd"] ** 2)) / np.linalg.norm(exact)
        ),
    }


def true_interaction(states):
    """(-βxy, γxy) at states `(N, 2)`."""
    x, y = np.asarray(states).T
    return np.stack([-TRUE["beta"] * x * y, TRUE["gamma"] * x * y], axis=1)


def relative_l2(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b)))


def build(folder: Path, *, seed=1, noise=0.05, joint=False, overrides=()):
    """The shipped config's `UdeProblem` on data of `seed` and `noise` (written to `folder`)."""
    ts, data, sigma = make_data(seed, noise)
    np.savetxt(
        folder / "data.csv",
        np.column_stack([ts, data]),
        delimiter=",",
        header="t,x,y",
        comments="",
    )
    changes = [
        f"data.file={folder / 'data.csv'}",
        f"observations.x.sigma={sigma[0]}",
        f"observations.y.sigma={sigma[1]}",
        f"neural.seed={seed}",
        "report.forecast.until=20",
    ]
    if joint:  # fitted with the network, from 1.0 and 1.5
        changes += ["parameters.alpha={init: 1.0}", "parameters.delta={init: 1.5}"]
    config = diffsim.load_config(CONFIG, [*changes, *overrides])
    return diffsim.build_problem(config, CONFIG.parent), ts, data, sigma


def run(
    *,
    seed: int = 1,
    noise: float = 0.05,
    joint: bool = False,
    adam_steps: int = 300,
    lbfgs_steps: int = 500,
    degree: int = 3,
    select: bool = True,
    overrides=(),
    verbose=True,
) -> dict:
    """The whole study; returns its figures.

    **Arguments:** `seed` of noise and network; `noise` level (fraction of each state's
    mean); `joint`: fit α and δ with the network (else they are known); training steps;
    `degree` of the sparse-regression library; `select`: choose the terms by refits to the
    data (else keep the sparse regression's); `overrides`: more `key=value` config changes.
    """
    clock, cpu = time.perf_counter(), time.process_time()
    settings = [
        f"neural.adam.steps={adam_steps}",
        f"neural.lbfgs.steps={lbfgs_steps}",
        f"neural.recover.degree={degree}",
        f"neural.recover.select={str(select).lower()}",
        *overrides,
    ]
    with tempfile.TemporaryDirectory() as folder:
        problem, ts, data, sigma = build(
            Path(folder), seed=seed, noise=noise, joint=joint, overrides=settings
        )
        problem, result = problem.train()
    x = result.x
    training, recovered = problem.training, problem.describe()["model"]["ude"]["recovered"]
    physical = dict(zip(problem.base.space.names, x, strict=False))
    stderr = np.full(len(physical), np.nan)
    if physical:
        stderr = problem.uncertainty(scale_covariance=False).stderr[: len(physical)]

    # The learned interaction along the fitted trajectory at the data times (what sparse
    # regression explains, as Rackauckas et al. do) and along the true trajectory.
    network = problem.trained_network(x)
    path = np.asarray(problem.solution(jnp.asarray(x)).ys)
    interaction_error = relative_l2(problem.ude.learned(network, path), true_interaction(path))
    states = truth(np.linspace(0.0, 3.0, 301))
    interaction_error_true_path = relative_l2(
        problem.ude.learned(network, states), true_interaction(states)
    )

    terms = recovered.get("terms", {})
    found = {target: sorted(entries) for target, entries in terms.items()}
    coefficient = lambda i: terms.get(f"nn(x, y)[{i}]", {}).get("x*y", {})  # noqa: E731
    beta, gamma = -coefficient(0).get("estimate", np.nan), coefficient(1).get("estimate", np.nan)
    extrapolation = recovered.get("extrapolation", {})
    figures = {
        "misfit_rms_sigma": training["misfit_rms_sigma"],
        "physical": {k: float(v) for k, v in physical.items()},
        "physical_stderr": dict(zip(physical, map(float, stderr), strict=True)),
        "interaction_rel_l2": interaction_error,
        "interaction_rel_l2_true_path": interaction_error_true_path,
        "sparse_terms": {t: sorted(v) for t, v in recovered.get("sparse_terms", {}).items()},
        "terms": found,
        "exact_terms": bool(recovered.get("exact_terms", False)),
        "beta": beta,
        "gamma": gamma,
        "beta_stderr": coefficient(0).get("stderr", np.nan),
        "gamma_stderr": coefficient(1).get("stderr", np.nan),
        "beta_rel_error": abs(beta - TRUE["beta"]) / TRUE["beta"],
        "gamma_rel_error": abs(gamma - TRUE["gamma"]) / TRUE["gamma"],
        "extrapolation_rel_l2_t20": extrapolation.get("rel_l2", np.inf),
        "extrapolation_expected_rel_l2": extrapolation.get("expected_rel_l2", np.nan),
        "truth_inside_band": extrapolation.get("truth_inside_band", np.nan),
        "train_loss": float(result.chi_square / np.isfinite(data).sum()),
        "compile_s": training["compile_s"],
        "train_s": training["train_s"],
        "recover_s": training["recover_s"],
        "total_s": time.perf_counter() - clock,
        "cpu_s": time.process_time() - cpu,
    }
    if verbose:
        for name, value in figures["physical"].items():
            print(f"UDE fit: {name} = {value:.4f} ± {figures['physical_stderr'][name]:.4f}")
        print(f"misfit: RMS residual = {figures['misfit_rms_sigma']:.3f} sigma")
        print(
            f"learned interaction vs (-beta x y, gamma x y): rel L2 = {interaction_error:.4f} "
            f"along the fitted trajectory, {interaction_error_true_path:.4f} along the true one"
        )
        print(f"sparse regression on the learned term: {figures['sparse_terms']}")
        print(f"{recovered.get('how', recovered.get('message'))}: {found}")
        print(
            f"beta = {beta:.5f} ± {figures['beta_stderr']:.5f} "
            f"(rel error {figures['beta_rel_error']:.4f}), gamma = {gamma:.5f} ± "
            f"{figures['gamma_stderr']:.5f} (rel error {figures['gamma_rel_error']:.4f})"
        )
        print(
            f"extrapolation to t = 20: rel L2 = {figures['extrapolation_rel_l2_t20']:.4f}; "
            "from the coefficients' error bars alone "
            f"{figures['extrapolation_expected_rel_l2']:.4f}; "
            f"truth inside the 95% band at {100 * figures['truth_inside_band']:.0f}% of the times"
        )
        print(
            f"time: compile {figures['compile_s']:.1f} s, train {figures['train_s']:.1f} s, "
            f"recover {figures['recover_s']:.1f} s, total {figures['total_s']:.1f} s wall, "
            f"{figures['cpu_s']:.1f} s CPU (this process)"
        )
    return figures


def ensemble(seed: int, members: int, *, noise: float = 0.05, overrides=()) -> dict:
    """The learned interaction of an ensemble: `members` networks (weights drawn with seeds
    `seed`, `seed + 1000`, ...) trained by the config's pipeline on the same data of `seed`,
    their outputs averaged. The number of members is fixed beforehand, nothing is chosen
    by the truth; returns each member's relative L2 error and the average's, along the true
    trajectory on [0, 3] (301 times) and along the first member's fitted trajectory."""
    states = truth(np.linspace(0.0, 3.0, 301))
    exact = true_interaction(states)
    outputs, fitted, members_error = [], [], []
    for k in range(members):
        changes = [*overrides, f"neural.seed={seed + 1000 * k}", "neural.recover=null"]
        with tempfile.TemporaryDirectory() as folder:
            problem, *_ = build(Path(folder), seed=seed, noise=noise, overrides=changes)
            problem, result = problem.train()
        network = problem.trained_network(result.x)
        if k == 0:
            path = np.asarray(problem.solution(jnp.asarray(result.x)).ys)
        outputs.append(np.asarray(problem.ude.learned(network, states)))
        fitted.append(np.asarray(problem.ude.learned(network, path)))
        members_error.append(relative_l2(outputs[-1], exact))
    return {
        "members": members,
        "member_rel_l2_true_path": members_error,
        "ensemble_rel_l2_true_path": relative_l2(np.mean(outputs, axis=0), exact),
        "ensemble_rel_l2_fitted_path": relative_l2(np.mean(fitted, axis=0), true_interaction(path)),
    }


def _save(out: Path, seed: int, key: str, figures: dict):
    """Add `figures` under `seeds[seed][key]` of the JSON file `out` (kept across runs)."""
    saved = json.loads(out.read_text()) if out.exists() else {"seeds": {}}
    saved["seeds"].setdefault(str(seed), {})[key] = figures
    out.write_text(json.dumps(saved, indent=1, default=float))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a short run (fewer steps)")
    parser.add_argument("--seed", type=int, nargs="+", default=[1], help="noise/network seeds")
    parser.add_argument("--noise", type=float, default=0.05, help="noise / state mean")
    parser.add_argument("--joint", action="store_true", help="fit alpha, delta with the network")
    parser.add_argument("--set", action="append", default=[], help="a config override key=value")
    parser.add_argument(
        "--true-structure",
        action="store_true",
        help="only fit the true model (beta x y, gamma x y) to the data of each seed",
    )
    parser.add_argument(
        "--ensemble", type=int, default=0, help="only train this many networks and average them"
    )
    parser.add_argument("--out", type=Path, default=None, help="add the figures to this JSON")
    args = parser.parse_args()
    steps = {"adam_steps": 100, "lbfgs_steps": 100} if args.smoke else {}
    for seed in args.seed:
        cpu = time.process_time()
        if args.true_structure:
            key, figures = "true_structure", true_structure(seed, args.noise)
        elif args.ensemble:
            key = f"ensemble_{args.ensemble}"
            figures = ensemble(seed, args.ensemble, noise=args.noise, overrides=args.set)
        else:
            key = "joint" if args.joint else "study"
            figures = run(
                seed=seed, noise=args.noise, joint=args.joint, overrides=args.set, **steps
            )
        figures["cpu_s"] = time.process_time() - cpu
        if key != "study":
            print(f"seed {seed}: {key}: {json.dumps(figures, default=float)}")
        if args.out is not None:
            _save(args.out, seed, key, figures | {"settings": args.set, "noise": args.noise})


if __name__ == "__main__":
    main()
