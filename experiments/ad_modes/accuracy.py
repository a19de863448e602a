"""1. Accuracy: finite differences against the exact derivative over step sizes (the V)."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import sympy
from matplotlib.figure import Figure

from diffsim import ad

from .findings import Finding, Section, markdown_table

X0 = 1.5
SCHEMES = {
    "forward": "forward difference",
    "central": "central difference",
    "complex": "complex step",
}


def squire_trapp(x):
    """The classic test function of complex-step differentiation (Squire & Trapp, 1998)."""
    return jnp.exp(x) / jnp.sqrt(jnp.sin(x) ** 3 + jnp.cos(x) ** 3)


def squire_trapp_derivative(x):
    """Its derivative by hand: f' = f (1 - 3/2 (sin^2 cos - cos^2 sin) / (sin^3 + cos^3))."""
    s, c = jnp.sin(x), jnp.cos(x)
    return squire_trapp(x) * (1 - 1.5 * (s**2 * c - c**2 * s) / (s**3 + c**3))


def exact_derivative() -> float:
    """The derivative at X0 from SymPy's expression of the same JAX function, to 30 digits."""
    (x,), (expression,) = ad.to_sympy(squire_trapp, X0)
    return float(sympy.diff(expression, x).evalf(30, subs={x: sympy.Rational(3, 2)}))


def run(folder: Path, quick: bool) -> Section:
    exact = exact_derivative()
    x0 = jnp.asarray(X0)
    steps = 10.0 ** -np.arange(1, 16.01, 0.5 if quick else 0.25)
    errors = {}
    for scheme in SCHEMES:
        derivative = jax.jit(
            lambda h, scheme=scheme: ad.jacobian(
                squire_trapp, x0, mode="numerical", scheme=scheme, step=h
            )
        )
        errors[scheme] = np.array([abs(float(derivative(h)) - exact) / abs(exact) for h in steps])
    modes = {
        "manual": ad.jacobian(squire_trapp, x0, mode="manual", derivative=squire_trapp_derivative),
        "symbolic": ad.jacobian(squire_trapp, x0, mode="symbolic"),
        "forward AD": ad.jacobian(squire_trapp, x0, mode="forward"),
        "reverse AD": ad.jacobian(squire_trapp, x0, mode="reverse"),
    }
    mode_errors = {name: abs(float(value) - exact) / abs(exact) for name, value in modes.items()}
    _plot(folder / "accuracy.png", steps, errors, mode_errors["reverse AD"])

    best = {
        scheme: (float(errors[scheme].min()), float(steps[errors[scheme].argmin()]))
        for scheme in SCHEMES
    }
    ends = {scheme: (float(errors[scheme][0]), float(errors[scheme][-1])) for scheme in SCHEMES}
    tiny = steps <= 1e-8
    complex_worst_small_h = float(errors["complex"][tiny].max())
    ad_error = mode_errors["reverse AD"]
    findings = [
        Finding(
            "Numerical differences: too large a step gives truncation error, too small a step "
            "round-off error.",
            f"Forward differences: relative error {ends['forward'][0]:.1e} at h = 1e-1, "
            f"minimum {best['forward'][0]:.1e} at h = {best['forward'][1]:.0e}, "
            f"{ends['forward'][1]:.1e} at h = 1e-16; central: {ends['central'][0]:.1e}, "
            f"minimum {best['central'][0]:.1e} at h = {best['central'][1]:.0e}, "
            f"{ends['central'][1]:.1e}.",
            "confirmed",
        ),
        Finding(
            "AD gives exact derivatives up to machine precision; numerical ones are prone "
            "to rounding errors.",
            f"Reverse-mode AD: relative error {_error_text(ad_error)}; the best "
            f"step of central differences reaches only {best['central'][0]:.1e}, which can "
            "only be found knowing the answer.",
            "confirmed",
        ),
        Finding(
            "(not in the lesson) The round-off half of the step-size dilemma comes from "
            "subtraction.",
            f"The complex step, which subtracts nothing, stays at {complex_worst_small_h:.1e} "
            "or below for every h <= 1e-8, provided f is built from complex-analytic operations.",
            "qualified",
        ),
    ]
    table = markdown_table(
        ["method", "relative error", "evaluations of f for n inputs"],
        [
            [
                SCHEMES["forward"] + f" (best h = {best['forward'][1]:.0e})",
                f"{best['forward'][0]:.1e}",
                "n + 1",
            ],
            [
                SCHEMES["central"] + f" (best h = {best['central'][1]:.0e})",
                f"{best['central'][0]:.1e}",
                "2n",
            ],
            [
                SCHEMES["complex"] + f" (best h = {best['complex'][1]:.0e})",
                f"{best['complex'][0]:.1e}",
                "n (complex)",
            ],
        ]
        + [[name, f"{error:.1e}", _cost(name)] for name, error in mode_errors.items()],
    )
    body = (
        f"f(x) = exp(x) / sqrt(sin(x)^3 + cos(x)^3) at x = {X0}; the exact derivative "
        f"f'({X0}) = {exact:.17g} comes from SymPy's expression of the same JAX function, "
        "evaluated with 30 digits. The lines are the relative errors of the three difference "
        'schemes of `diffsim.ad.jacobian(mode="numerical")` for steps 1e-1 to 1e-16; '
        "the dashed line is reverse-mode AD (exact results are drawn at 1e-17).\n\n"
        "![accuracy](accuracy.png)\n\n" + table
    )
    data = {
        "exact": exact,
        "steps": steps.tolist(),
        "errors": {scheme: errors[scheme].tolist() for scheme in SCHEMES},
        "mode_errors": mode_errors,
    }
    return Section("1. Accuracy: the step-size dilemma", findings, body, data)


def _error_text(error: float) -> str:
    eps = float(jnp.finfo(jnp.float64).eps)
    if error == 0:
        return "0, the correctly rounded exact value"
    return f"{error:.1e} ({error / eps:.1f} eps)"


def _cost(name: str) -> str:
    return {
        "manual": "1 (your formula)",
        "symbolic": "1 (the derived expression)",
        "forward AD": "n forward passes (JVPs)",
        "reverse AD": "1 forward + 1 backward pass",
    }[name]


def _plot(path: Path, steps, errors, ad_error):
    floor = 1e-17
    ax = Figure(figsize=(7, 4.5)).add_subplot()
    for scheme, label in SCHEMES.items():
        ax.loglog(steps, np.maximum(errors[scheme], floor), "o-", ms=3, label=label)
    ax.axhline(max(ad_error, floor), color="k", ls="--", label="reverse-mode AD")
    ax.set_xlabel("step size h")
    ax.set_ylabel("relative error of f'(1.5)")
    ax.invert_xaxis()
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    ax.set_title("truncation error (left) against round-off error (right)")
    ax.figure.tight_layout()
    ax.figure.savefig(path, dpi=120)
