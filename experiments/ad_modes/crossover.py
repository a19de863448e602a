"""3. Forward against reverse mode: full Jacobians of f: R^n -> R^m over a grid of n and m."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from .findings import Finding, Section, best_time

HIDDEN = 128


def network(n: int, m: int):
    """f(x) = W2 tanh(W1 x) with a hidden layer of width `HIDDEN`, random weights."""
    k1, k2 = jax.random.split(jax.random.key(n * 10007 + m))
    w1 = jax.random.normal(k1, (HIDDEN, n)) / jnp.sqrt(n)
    w2 = jax.random.normal(k2, (m, HIDDEN)) / jnp.sqrt(HIDDEN)
    return lambda x: w2 @ jnp.tanh(w1 @ x)


def run(folder: Path, quick: bool) -> Section:
    sizes = [1, 16, 256] if quick else [1, 4, 16, 64, 256, 1024]
    forward = np.zeros((len(sizes), len(sizes)))
    reverse = np.zeros_like(forward)
    for i, m in enumerate(sizes):
        for j, n in enumerate(sizes):
            f = network(n, m)
            x = jnp.linspace(-1.0, 1.0, n)
            forward[i, j] = best_time(jax.jit(jax.jacfwd(f)), x)
            reverse[i, j] = best_time(jax.jit(jax.jacrev(f)), x)
    ratio = forward / reverse
    _plot(folder / "forward_vs_reverse.png", sizes, ratio)

    lopsided = [
        (i, j) for i, m in enumerate(sizes) for j, n in enumerate(sizes) if max(n / m, m / n) >= 4
    ]
    predicted = sum((ratio[i, j] > 1) == (sizes[j] > sizes[i]) for i, j in lopsided)
    wide, tall = ratio[0, -1], ratio[-1, 0]  # (m=1, n=max) and (m=max, n=1)
    findings = [
        Finding(
            "Forward mode suits few inputs and many outputs (n << m), reverse mode many inputs "
            "and few outputs (n >> m).",
            f"With n = 1 input and m = {sizes[-1]} outputs forward mode is {1 / tall:.1f}x "
            f"faster; with n = {sizes[-1]} and m = 1 reverse mode is {wide:.1f}x faster. "
            f"The predicted mode was faster in {predicted} of {len(lopsided)} cells with "
            "n/m >= 4 or m/n >= 4.",
            "confirmed" if predicted >= 0.8 * len(lopsided) else "qualified",
        ),
        Finding(
            "Reverse mode computes the gradient of one output with respect to all inputs in one "
            "pass (backpropagation: millions of parameters, one loss).",
            f"For m = 1 the reverse-mode time barely depends on n: {reverse[0, 0] * 1e6:.0f} us "
            f"at n = 1, {reverse[0, -1] * 1e6:.0f} us at n = {sizes[-1]}; forward mode: "
            f"{forward[0, 0] * 1e6:.0f} us to {forward[0, -1] * 1e6:.0f} us.",
            "confirmed",
        ),
    ]
    rows = [
        "| m \\ n | " + " | ".join(str(n) for n in sizes) + " |",
        "|---" * (len(sizes) + 1) + "|",
    ]
    for i, m in enumerate(sizes):
        rows.append(f"| {m} | " + " | ".join(f"{r:.2f}" for r in ratio[i]) + " |")
    body = (
        f"f(x) = W2 tanh(W1 x), hidden width {HIDDEN}, full Jacobian by `jax.jacfwd` (n "
        "batched JVPs) and `jax.jacrev` (m batched VJPs), both jitted, best of repeated runs "
        "after compilation. The table gives time(forward) / time(reverse): below 1 forward "
        "mode is faster. Tiny problems are dominated by fixed call overhead, so the ratio "
        "is near 1 there.\n\n![forward vs reverse](forward_vs_reverse.png)\n\n" + "\n".join(rows)
    )
    data = {
        "sizes": sizes,
        "forward_seconds": forward.tolist(),
        "reverse_seconds": reverse.tolist(),
    }
    return Section("3. Forward against reverse mode", findings, body, data)


def _plot(path: Path, sizes, ratio):
    ax = Figure(figsize=(6.5, 5.2)).add_subplot()
    log_ratio = np.log2(ratio)
    limit = max(1.0, float(np.abs(log_ratio).max()))
    image = ax.imshow(log_ratio, origin="lower", cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_xticks(range(len(sizes)), [str(s) for s in sizes])
    ax.set_yticks(range(len(sizes)), [str(s) for s in sizes])
    ax.set_xlabel("inputs n")
    ax.set_ylabel("outputs m")
    for i in range(len(sizes)):
        for j in range(len(sizes)):
            colour = "white" if abs(log_ratio[i, j]) > 0.6 * limit else "black"
            ax.text(j, i, f"{ratio[i, j]:.2g}", ha="center", va="center", fontsize=8, color=colour)
    ax.plot([-0.5, len(sizes) - 0.5], [-0.5, len(sizes) - 0.5], "k--", lw=0.8)
    ax.figure.colorbar(image, ax=ax, label="log2(time forward / time reverse)")
    ax.set_title("blue: forward mode faster, red: reverse mode faster")
    ax.figure.tight_layout()
    ax.figure.savefig(path, dpi=120)
