"""PEtab's noise models: normal and Laplace noise on linear, log and log10 scales.

For a measurement `z`, a model value `y` and a scale `h` (`lin`, `log`, `log10`), with
`d = h(y) - h(z)`:

- normal:  `log L = -log(2 pi sigma^2)/2 - d^2/(2 sigma^2) - log h'(z)^-1`
- Laplace: `log L = -log(2 b) - |d|/b - log h'(z)^-1`

where the last term (`log z` for `log`, `log(z ln 10)` for `log10`, 0 for `lin`) is the
Jacobian of the scale that PEtab's definition includes.
"""

import math

import jax.numpy as jnp
import numpy as np

SCALES = ("lin", "log", "log10")
DISTRIBUTIONS = ("normal", "laplace")
# `2 log(sigma) + OFFSET` stays positive for sigma > exp(-50): the square root of it is a
# residual whose square sums to -2 log L (up to a constant) when sigma is estimated.
OFFSET = 100.0


def transform(values, scales: np.ndarray, xp=jnp):
    """`h(values)` per row for PEtab observable transformations `scales` (`lin`, `log`,
    `log10`, one per row); `xp` is `jax.numpy` (traced values) or `numpy` (host data).
    Linear rows never reach the logarithm, so a zero there gives no NaN gradient."""
    logged = xp.where(scales == "lin", 1.0, values)
    with np.errstate(divide="ignore", invalid="ignore"):
        return xp.where(
            scales == "log", xp.log(logged), xp.where(scales == "log10", xp.log10(logged), values)
        )


def jacobian_term(measurements: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """`log h'(z)^-1` per measurement (host, constant): `log z`, `log(z ln 10)` or 0."""
    z = np.asarray(measurements, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            scales == "log", np.log(z), np.where(scales == "log10", np.log(z * math.log(10)), 0.0)
        )


def log_likelihood_terms(d, sigma, laplace):
    """`log L` per measurement without the scale's Jacobian term (`laplace` a bool mask)."""
    normal = -0.5 * jnp.log(2 * jnp.pi * sigma**2) - 0.5 * (d / sigma) ** 2
    return jnp.where(laplace, -jnp.log(2 * sigma) - jnp.abs(d) / sigma, normal)


def standardized(d, sigma, laplace):
    """Residuals whose squares are the data terms of `-2 log L`: `d/sigma` (normal) or
    `sign(d) sqrt(2|d|/b)` (Laplace)."""
    d_laplace = jnp.where(laplace, d, 1.0)  # keeps sqrt's infinite slope at 0 off normal rows
    root = jnp.sign(d_laplace) * jnp.sqrt(2 * jnp.abs(d_laplace) / sigma)
    return jnp.where(laplace, root, d / sigma)


def normalization(sigma, laplace):
    """Residuals whose squares are the noise-level terms of `-2 log L` plus `OFFSET`."""
    return jnp.sqrt(jnp.where(laplace, 2 * jnp.log(2 * sigma), 2 * jnp.log(sigma)) + OFFSET)
