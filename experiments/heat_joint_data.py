"""Sensor data of two heat experiments on one rod, from the exact solution (independent of
diffsim's solvers), for `configs/pde_heat_joint.yaml`.

`u_t = D u_xx` on x in [0, 1], u(t, 0) = u(t, 1) = 0, with the initial pulse
`u(0, x) = A sin(k pi x)`, has the exact solution `u = A exp(-D (k pi)^2 t) sin(k pi x)`.
Experiment `one_bump` starts from k = 1, A = 1.0; `two_bumps` from k = 2, A = 1.5; both with
D = 0.1, nine sensors at x = 0.1, ..., 0.9, ten times t = 0.05, ..., 0.5, and Gaussian
noise of standard deviation 0.02 (seeded). The two pulses decay at rates `D pi^2` and
`4 D pi^2`: fitted together they pin down the one diffusivity they share.

    python experiments/heat_joint_data.py [--out configs/data] [--seed 0]
"""

import argparse
import pathlib

import numpy as np

DIFFUSIVITY = 0.1
NOISE = 0.02
EXPERIMENTS = {"one_bump": (1, 1.0), "two_bumps": (2, 1.5)}  # name: (wave number k, A)
TIMES = np.linspace(0.05, 0.5, 10)
SENSORS = np.linspace(0.1, 0.9, 9)


def exact(t, x, k: int, amplitude: float, diffusivity: float = DIFFUSIVITY):
    """The exact solution `A exp(-D (k pi)^2 t) sin(k pi x)`."""
    return amplitude * np.exp(-diffusivity * (k * np.pi) ** 2 * t) * np.sin(k * np.pi * x)


def write(folder: pathlib.Path, seed: int) -> list[pathlib.Path]:
    """One CSV per experiment (`t,x,u`, a comment header saying how it was made)."""
    rng = np.random.default_rng(seed)
    t, x = (a.reshape(-1) for a in np.meshgrid(TIMES, SENSORS, indexing="ij"))
    paths = []
    for name, (k, amplitude) in EXPERIMENTS.items():
        u = exact(t, x, k, amplitude) + NOISE * rng.standard_normal(t.size)
        path = folder / f"heat_joint_{name}.csv"
        header = (
            f"# heat u_t = D u_xx, u(0,x) = {amplitude} sin({k} pi x), zero ends, D = "
            f"{DIFFUSIVITY}: exact solution plus Gaussian noise sigma = {NOISE} (seed {seed}),\n"
            "# written by experiments/heat_joint_data.py\n"
        )
        table = "\n".join(f"{a:.4f},{b:.4f},{c:.6f}" for a, b, c in zip(t, x, u, strict=True))
        path.write_text(header + "t,x,u\n" + table + "\n")
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("configs/data"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for path in write(args.out, args.seed):
        print(path)


if __name__ == "__main__":
    main()
