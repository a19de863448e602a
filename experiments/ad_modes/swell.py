"""2. Expression swell: SymPy's derivative against AD's program as a function is nested."""

import time
from pathlib import Path

import jax
import numpy as np
import sympy
from matplotlib.figure import Figure

from diffsim import ad

from .findings import Finding, Section, markdown_table


def logistic_map(depth: int):
    """x -> 4x(1 - x) composed `depth` times (the example of Baydin et al., 2018)."""

    def f(x):
        for _ in range(depth):
            x = 4 * x * (1 - x)
        return x

    return f


def run(folder: Path, quick: bool) -> Section:
    depths = list(range(1, 9 if quick else 13))
    rows = []
    for depth in depths:
        f = logistic_map(depth)
        (x,), (expression,) = ad.to_sympy(f, 0.3)
        start = time.perf_counter()
        derivative = sympy.diff(expression, x)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "depth": depth,
                "function_ops": int(sympy.count_ops(expression)),
                "symbolic_derivative_ops": int(sympy.count_ops(derivative)),
                "symbolic_seconds": seconds,
                "program_ops": len(jax.make_jaxpr(f)(0.3).jaxpr.eqns),
                "ad_gradient_ops": len(jax.make_jaxpr(jax.grad(f))(0.3).jaxpr.eqns),
            }
        )
    _plot(folder / "swell.png", rows)
    last = rows[-1]
    growth = last["symbolic_derivative_ops"] / rows[-2]["symbolic_derivative_ops"]
    ad_per_level = (last["ad_gradient_ops"] - rows[0]["ad_gradient_ops"]) / (depths[-1] - 1)
    findings = [
        Finding(
            "Symbolic differentiation: expression swell, derivatives can become exponentially "
            "large.",
            f"Depth {last['depth']}: SymPy's derivative has {last['symbolic_derivative_ops']:,} "
            f"operations (x{growth:.1f} per level) where AD's gradient program has "
            f"{last['ad_gradient_ops']} (+{ad_per_level:.0f} per level, "
            f"{last['ad_gradient_ops'] / last['program_ops']:.1f}x the function's "
            f"{last['program_ops']}).",
            "confirmed",
        ),
        Finding(
            "AD: computational cost proportional to one function evaluation.",
            "The gradient program of the logistic map stays a fixed multiple of the function: "
            + _range_of(r["ad_gradient_ops"] / r["program_ops"] for r in rows)
            + " its operations at every depth.",
            "confirmed",
        ),
    ]
    table = markdown_table(
        [
            "depth",
            "ops of f (SymPy tree)",
            "ops of f' (SymPy)",
            "sympy.diff time",
            "ops of f (jaxpr)",
            "ops of grad f (jaxpr)",
        ],
        [
            [
                r["depth"],
                f"{r['function_ops']:,}",
                f"{r['symbolic_derivative_ops']:,}",
                f"{r['symbolic_seconds'] * 1e3:.1f} ms",
                r["program_ops"],
                r["ad_gradient_ops"],
            ]
            for r in rows
        ],
    )
    body = (
        "f = the logistic map l -> 4 l (1 - l) composed `depth` times. SymPy's expressions are "
        "built by `diffsim.ad.to_sympy` from the JAX function itself and differentiated by "
        "`sympy.diff` (no simplification); sizes are `sympy.count_ops`. AD's size is the "
        "number of equations in the jaxpr of `jax.grad(f)`: the program that computes the "
        "gradient, which reuses intermediate values instead of repeating them.\n\n"
        "![swell](swell.png)\n\n" + table
    )
    return Section("2. Expression swell", findings, body, {"rows": rows})


def _range_of(ratios) -> str:
    ratios = [round(r, 1) for r in ratios]
    low, high = min(ratios), max(ratios)
    return f"{low}x" if low == high else f"{low}x to {high}x"


def _plot(path: Path, rows):
    depths = np.array([r["depth"] for r in rows])
    ax = Figure(figsize=(7, 4.5)).add_subplot()
    ax.semilogy(depths, [r["symbolic_derivative_ops"] for r in rows], "o-", label="SymPy: f'")
    ax.semilogy(depths, [r["function_ops"] for r in rows], "s-", label="SymPy: f")
    ax.semilogy(depths, [r["ad_gradient_ops"] for r in rows], "^-", label="AD: grad f program")
    ax.semilogy(depths, [r["program_ops"] for r in rows], "v-", label="f program (jaxpr)")
    ax.set_xlabel("nesting depth of the logistic map")
    ax.set_ylabel("operations")
    ax.grid(True, alpha=0.3)
    ax.legend()
    ax.set_title("expression swell: symbolic derivative against AD")
    ax.figure.tight_layout()
    ax.figure.savefig(path, dpi=120)
