"""Burgers identification data from the exact Cole–Hopf solution (independent of diffsim).

The set-up of Raissi, Perdikaris & Karniadakis (2019), "Physics-informed neural networks",
J. Comput. Phys. 378, 686–707, section 4.1.2: `u_t + λ1 u u_x = λ2 u_xx` on x ∈ [−1, 1],
t ∈ [0, 0.99], u(0, x) = −sin(πx), u(t, ±1) = 0, λ1 = 1, λ2 = 0.01/π, on their 256 × 100 grid,
of which `n` points are drawn at random and given Gaussian noise of standard deviation
`noise · std(u)` (std over the whole grid).

With λ1 = 1 the Cole–Hopf transform gives, for t > 0,

    u(t, x) = −∫ sin(π(x−η)) f(x−η) G(η) dη / ∫ f(x−η) G(η) dη,
    f(y) = exp(−cos(πy) / (2πλ2)),   G(η) = exp(−η² / (4λ2 t)).

With η = √(4λ2 t)·z both integrals become `∫ g(z) exp(E(z)) dz` with
`E = −z² − cos(π(x−η))/(2πλ2)`. `E` spans about 1/(πλ2) ≈ 100 units, so the weights are
normalized by their maximum (log space) before summing; the trapezoidal rule on a uniform
z-grid is spectrally accurate for these smooth, rapidly decaying integrands. Only λ1 = 1 is
offered (the data of another λ1 would need another initial condition).

Check (the issue's): max |u_x| at t = 1.6037/π is 152.00516 (`max_slope`).

    python experiments/burgers_cole_hopf.py [--lambda2 0.0031831] [--seed 0] [--n 2000]
        [--noise 0.01] [--out configs/data/burgers_identification.csv]
"""

import argparse
import pathlib

import numpy as np

LAMBDA2 = 0.01 / np.pi
#: Raissi's grid (the `burgers_shock.mat` file): 256 points in x, 100 times in t.
X_GRID = np.linspace(-1.0, 1.0, 256)
T_GRID = np.linspace(0.0, 0.99, 100)
#: Quadrature nodes in z: weights exp(E) with E <= -z² + 1/(πλ2); |z| <= 16 covers every
#: node whose weight exceeds e^-150 of the largest.
Z = np.linspace(-16.0, 16.0, 6401)


def exact(t, x, lambda2=LAMBDA2):
    """u(t, x) of Burgers' equation with u(0, x) = −sin(πx), λ1 = 1, by Cole–Hopf.

    **Arguments:** `t`, `x`: broadcastable arrays (t >= 0); `lambda2`: the viscosity.

    **Returns:** u with the broadcast shape of `t` and `x` (float64).
    """
    t, x = np.broadcast_arrays(np.asarray(t, float), np.asarray(x, float))
    u = -np.sin(np.pi * x)  # t = 0
    late = np.flatnonzero(t > 0)
    for block in np.array_split(late, max(1, len(late) // 1024)):  # bounded memory
        tt, xx = t.flat[block][:, None], x.flat[block][:, None]
        y = xx - np.sqrt(4.0 * lambda2 * tt) * Z[None, :]
        exponent = -(Z[None, :] ** 2) - np.cos(np.pi * y) / (2.0 * np.pi * lambda2)
        weight = np.exp(exponent - exponent.max(axis=1, keepdims=True))
        u.flat[block] = -np.sum(np.sin(np.pi * y) * weight, axis=1) / np.sum(weight, axis=1)
    return u


def max_slope(t, lambda2=LAMBDA2, h=1e-6):
    """max over x of |u_x(t, x)| (central differences on a fine grid refined around x = 0)."""
    x = np.concatenate([np.linspace(-1.0, 1.0, 4001), np.linspace(-0.02, 0.02, 4001)])
    slope = (exact(t, x + h, lambda2) - exact(t, x - h, lambda2)) / (2 * h)
    return float(np.max(np.abs(slope)))


def samples(lambda2=LAMBDA2, seed=0, n=2000, noise=0.01):
    """`n` noisy samples of u on Raissi's grid, drawn without replacement.

    **Returns:** a dict of float64 arrays `t`, `x`, `u` (noisy), `u_exact` and the scalar
    `sigma` = `noise · std(u)` over the whole grid.
    """
    tt, xx = np.meshgrid(T_GRID, X_GRID, indexing="ij")
    u = exact(tt, xx, lambda2)
    rng = np.random.default_rng(seed)
    pick = rng.choice(u.size, size=n, replace=False)
    sigma = noise * float(np.std(u))
    clean = u.reshape(-1)[pick]
    return {
        "t": tt.reshape(-1)[pick],
        "x": xx.reshape(-1)[pick],
        "u": clean + sigma * rng.standard_normal(n),
        "u_exact": clean,
        "sigma": sigma,
    }


def write_csv(path, data, *, lambda2, seed, noise):
    """Write `t,x,u` rows with a `#` header saying how they were made."""
    header = (
        f"# Burgers u_t + u u_x = lambda2 u_xx, u(0,x) = -sin(pi x), lambda2 = {lambda2!r}:\n"
        f"# exact Cole-Hopf solution (experiments/burgers_cole_hopf.py), {len(data['t'])} "
        f"random points of Raissi's 256 x 100 grid, seed {seed},\n"
        f"# Gaussian noise sigma = {noise} * std(u) = {data['sigma']!r}\n"
    )
    rows = np.column_stack([data["t"], data["x"], data["u"]])
    with open(path, "w") as f:
        f.write(header + "t,x,u\n")
        np.savetxt(f, rows, delimiter=",", fmt="%.17g")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lambda2", type=float, default=LAMBDA2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--out", type=pathlib.Path, default=None)
    args = parser.parse_args(argv)
    data = samples(args.lambda2, args.seed, args.n, args.noise)
    if args.out is None:
        print(f"max |u_x| at t = 1.6037/pi: {max_slope(1.6037 / np.pi, args.lambda2):.5f}")
        print(f"sigma = {data['sigma']:.6g}")
    else:
        write_csv(args.out, data, lambda2=args.lambda2, seed=args.seed, noise=args.noise)
        print(f"wrote {len(data['t'])} rows to {args.out} (sigma = {data['sigma']:.6g})")


if __name__ == "__main__":
    main()
