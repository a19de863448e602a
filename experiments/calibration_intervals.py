"""Calibration study: how often do 95 % intervals cover the true parameters?

Two models with known truth, refitted on `--seeds` independent noise realizations:

- **SEIR** with only the infectious compartment observed early in the outbreak: the
  transmission rate `beta` and the incubation rate `sigma` are strongly correlated (the
  data mostly see the growth rate), so the sum of squares is far from quadratic;
- **Lotka-Volterra** with 10 % relative noise on both populations.

For each seed the data are the clean solution plus Gaussian noise of the stated sigma; the
fit starts from the truth (the study is about intervals, not about finding the minimum).
Compared, per parameter, over the seeds whose fit converged:

- linearized: `estimate +/- 1.96 stderr` (covariance `(J^T J)^{-1}`, sigma known);
- profile likelihood: `{theta : chi2_profile(theta) - chi2_min <= 3.84}`.

Everything is batched across seeds: the fits are one vmapped Levenberg-Marquardt batch
(`diffsim.inverse.refit_batch` with the noise as a residual shift), the profiles one vmapped
walk (`profile_walk`: 6 steps of 2/3 stderr, then up to 6 steps four times longer, at most
30 Levenberg-Marquardt steps per refit; each side stops once it rises above the threshold, so
only open sides are refitted).

    python experiments/calibration_intervals.py [--seeds 200] [--models seir lv] [--chunk 50]
"""

import argparse
import json
import time

import jax
import numpy as np
import scipy.stats

jax.config.update("jax_enable_x64", True)

from diffsim.config import build_problem, validate_config  # noqa: E402
from diffsim.inverse import refit_batch  # noqa: E402
from diffsim.inverse._profile import profile_walk  # noqa: E402

MODELS = {
    "seir": {
        "name": "seir_calibration",
        "model": "seir",
        "parameters": {
            "beta": {"init": 1.5, "true": 1.5, "transform": "log"},
            "sigma": {"init": 0.4, "true": 0.4, "transform": "log"},
            "gamma": {"init": 0.5, "true": 0.5, "transform": "log"},
            "N": 1000.0,
        },
        "initial_state": {"S": 990.0, "E": 5.0, "I": 5.0, "R": 0.0},
        "observations": {"I": {"sigma": 3.0}},
        "data": {"synthetic": {"times": {"start": 1, "stop": 14, "num": 14}, "noise": False}},
        "solver": {"rtol": 1e-9, "atol": 1e-9, "max_steps": 1000},
    },
    "lv": {
        "name": "lv_calibration",
        "model": "lotka_volterra",
        "parameters": {
            "alpha": {"init": 1.5, "true": 1.5, "transform": "log"},
            "beta": {"init": 1.0, "true": 1.0, "transform": "log"},
            "gamma": {"init": 3.0, "true": 3.0, "transform": "log"},
            "delta": {"init": 1.0, "true": 1.0, "transform": "log"},
        },
        "initial_state": {"x": 10.0, "y": 5.0},
        "observations": {"x": {"sigma_relative": 0.1}, "y": {"sigma_relative": 0.1}},
        "data": {"synthetic": {"times": {"start": 0, "stop": 10, "num": 25}, "noise": False}},
        "solver": {"rtol": 1e-9, "atol": 1e-11, "max_steps": 1000},
    },
}


def _chunk(problem, z_true, truth, shifts, level):
    """Fit and profile one batch of seeds; per-seed coverage and statistics."""
    space = problem.space
    clock = time.perf_counter()
    z_hat, chi2, codes = refit_batch(problem, z_true, shifts=shifts, max_steps=200)
    fit_seconds = time.perf_counter() - clock

    jacobians = np.asarray(jax.jit(jax.vmap(jax.jacfwd(problem.residuals)))(z_hat))
    covariance_z = np.linalg.inv(np.einsum("sri,srj->sij", jacobians, jacobians))
    stderr_z = np.sqrt(np.einsum("sii->si", covariance_z))
    quantile = scipy.stats.norm.ppf(0.5 + level / 2)
    # linearized intervals in parameter values (the covariance maps through dx/dz)
    slope = np.asarray(jax.vmap(space.derivative)(z_hat))
    x_hat = np.asarray(space.to_values(z_hat))
    linear_covered = np.abs(x_hat - truth) <= quantile * stderr_z * np.abs(slope)

    threshold = scipy.stats.chi2.ppf(level, 1)
    clock = time.perf_counter()
    scalars, _, _, crossings = profile_walk(
        problem,
        z_hat,
        chi2,
        np.where(np.isfinite(stderr_z), stderr_z * 4 / 6, 0.1),
        threshold,
        shifts=shifts,
        points=6,
        widen=1,
        max_steps=30,
    )
    profile_seconds = time.perf_counter() - clock
    low = np.where(np.isnan(crossings[:, 0::2]), -np.inf, crossings[:, 0::2])
    high = np.where(np.isnan(crossings[:, 1::2]), np.inf, crossings[:, 1::2])
    offset = z_true[scalars][None, :] - z_hat[:, scalars]
    variances = np.einsum("sii->si", covariance_z)
    return {
        "scalars": scalars,
        "ok": codes > 0,
        "linear_covered": linear_covered,
        "profile_covered": (low <= offset) & (offset <= high),
        "open": np.isnan(crossings).sum(axis=1),
        "correlation": covariance_z / np.sqrt(np.einsum("si,sj->sij", variances, variances)),
        "standardized": (x_hat - truth) / (stderr_z * np.abs(slope)),
        "fit_seconds": fit_seconds,
        "profile_seconds": profile_seconds,
    }


def study(name: str, seeds: int, level: float = 0.95, chunk: int | None = None) -> dict:
    problem = build_problem(validate_config(MODELS[name]))
    space = problem.space
    truth = np.asarray([p.true for p in space.parameters])
    z_true = np.asarray(space.to_internal(truth))
    size = problem.observed.size
    noise = np.asarray(jax.random.normal(jax.random.key(2026), (seeds, size)))
    shifts = np.zeros((seeds, problem.num_residuals))
    shifts[:, :size] = noise  # data = clean + sigma * noise: residuals shift by the noise

    chunk = chunk or seeds
    parts = []
    for start in range(0, seeds, chunk):
        parts.append(_chunk(problem, z_true, truth, shifts[start : start + chunk], level))
        done = start + len(parts[-1]["ok"])
        ok = np.concatenate([p["ok"] for p in parts])
        covered = np.concatenate([p["profile_covered"] for p in parts])[ok].mean(axis=0)
        print(f"{name}: {done}/{seeds} seeds, profile coverage so far {covered}", flush=True)
    scalars = parts[0]["scalars"]
    joined = {
        key: np.concatenate([p[key] for p in parts])
        for key in (
            "ok",
            "linear_covered",
            "profile_covered",
            "open",
            "correlation",
            "standardized",
        )
    }
    ok = joined["ok"]
    names = space.names
    return {
        "model": name,
        "seeds": seeds,
        "converged": int(ok.sum()),
        "level": level,
        "linearized": {
            n: float(joined["linear_covered"][ok, i].mean()) for i, n in enumerate(names)
        },
        "profile": {
            names[i]: float(joined["profile_covered"][ok, k].mean()) for k, i in enumerate(scalars)
        },
        "profile_open_sides": int(joined["open"][ok].sum()),
        "median_correlation": {
            f"{names[a]}-{names[b]}": float(np.median(joined["correlation"][ok, a, b]))
            for a in range(len(names))
            for b in range(a + 1, len(names))
        },
        "standardized_error_std": {
            n: float(np.std(joined["standardized"][ok, i])) for i, n in enumerate(names)
        },
        "fit_seconds": sum(p["fit_seconds"] for p in parts),
        "profile_seconds": sum(p["profile_seconds"] for p in parts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--out", help="write the figures as JSON here")
    parser.add_argument(
        "--chunk", type=int, help="seeds per batch (progress and partial coverage after each)"
    )
    args = parser.parse_args()
    results = []
    for name in args.models:
        result = study(name, args.seeds, chunk=args.chunk)
        results.append(result)
        print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
