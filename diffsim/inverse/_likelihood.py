"""Likelihoods of the data as signed deviance residuals, so least squares fits them exactly.

For a likelihood whose saturated value (the best any model could do for a data value)
does not depend on the unknowns, `-2 log L = sum(d_i) + C` with deviance terms
`d_i = 2 (l_i(m_i) - l_i(y_i)) >= 0` (`l = -log p(y | m)`) and a constant `C`. The
residuals `sign(m_i - y_i) sqrt(d_i)` therefore make chi-square the deviance: the
Levenberg-Marquardt and Gauss-Newton steps become Fisher scoring (Gauss-Newton on the
deviance residuals, IRLS in GLM terms), and profile likelihoods, likelihood-ratio
thresholds and the verdict keep working unchanged. This covers:

- `gaussian`: `(m - y) / sigma` (the default);
- `poisson`: counts, variance `m`;
- `negative_binomial`: over-dispersed counts, variance `m + m^2 / k`, `k` (the dispersion)
  given;
- `lognormal`: `(log m - log y) / sigma`, `sigma` the standard deviation of `log y`.

Estimated Gaussian or log-normal noise levels `sigma_j` (free parameters) are: their
normalization `n_j log sigma_j^2` becomes one extra residual per level (`noise_rows`).
An estimated negative-binomial dispersion is not supported.
"""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import scipy.special
from jaxtyping import Array

KINDS = ("gaussian", "poisson", "negative_binomial", "lognormal")
GAUSSIAN, POISSON, NEGATIVE_BINOMIAL, LOGNORMAL = range(4)


def _xlogy_ratio(y, m):
    """`y log(y / m)`, 0 where `y == 0`."""
    safe = jnp.where(y > 0, y, 1.0)
    return jnp.where(y > 0, y * (jnp.log(safe) - jnp.log(m)), 0.0)


class ErrorModel(eqx.Module):
    """The likelihood of every data value.

    **Fields:**
    - `kinds`: per value, an index into `KINDS` (shape of the data).
    - `dispersion`: per value, the negative-binomial `k` (1 where unused).

    **Example:** Poisson counts: a prediction equal to the data has a zero deviance residual.

    ```python
    import jax.numpy as jnp
    import numpy as np
    from diffsim import inverse

    poisson = inverse.ErrorModel(kinds=np.array([1, 1]), dispersion=np.ones(2))
    data = jnp.array([4.0, 9.0])
    r = poisson.residuals(jnp.array([4.0, 4.0]), data, jnp.ones(2))
    assert r[0] == 0.0 and r[1] < 0  # signed like model - data: the model is below the count
    assert poisson.names() == ["poisson"]
    ```
    """

    kinds: np.ndarray
    dispersion: np.ndarray
    sigma_index: np.ndarray | None = None
    noise_parameters: np.ndarray = eqx.field(default_factory=lambda: np.zeros(0, int))
    noise_counts: np.ndarray = eqx.field(default_factory=lambda: np.zeros(0))
    noise_floor: np.ndarray = eqx.field(default_factory=lambda: np.zeros(0))

    @property
    def estimates_noise(self) -> bool:
        """Whether some noise level is a free parameter."""
        return len(self.noise_parameters) > 0

    def noise_levels(self, sigma: Array, x: Array) -> Array:
        """`sigma`, with the estimated noise levels (free parameters `x`) where they apply."""
        if self.sigma_index is None:
            return sigma
        index = jnp.asarray(self.sigma_index)
        return jnp.where(index >= 0, jnp.asarray(x)[jnp.maximum(index, 0)], sigma)

    def noise_rows(self, x: Array) -> Array:
        """Residuals `sqrt(2 n_j log(sigma_j / floor_j))` of the estimated noise levels: with
        them chi-square is `-2 log L` up to a constant also in `sigma_j` (the normalization
        `n_j log sigma_j^2` of the Gaussian), and `sigma_j > floor_j` keeps them real."""
        sigma = jnp.asarray(x)[self.noise_parameters]
        return jnp.sqrt(2 * self.noise_counts * jnp.log(sigma / self.noise_floor))

    def residuals(self, prediction: Array, data: Array, sigma: Array, x=None) -> Array:
        """Signed deviance residuals `sign(m - y) sqrt(d)` (see the module docstring); NaN
        where a count model predicts a non-positive mean (the solve is then rejected).
        `x`: the free parameters, for estimated noise levels."""
        if x is not None:
            sigma = self.noise_levels(sigma, x)
        m, y = prediction, data
        positive = jnp.where(m > 0, m, 1.0)
        k = jnp.asarray(self.dispersion)
        poisson = 2 * (_xlogy_ratio(y, positive) - (y - m))
        negative_binomial = 2 * (
            _xlogy_ratio(y, positive) - (y + k) * (jnp.log(y + k) - jnp.log(positive + k))
        )
        deviance = jnp.where(self.kinds == POISSON, poisson, negative_binomial)
        diff = m - y
        # near m = y the deviance is (m - y)^2 / var(y); using it there keeps sqrt's
        # derivative finite and avoids the cancellation in the formulas above
        variance = jnp.where(self.kinds == POISSON, positive, positive + positive**2 / k)
        # (every branch stays finite, so that no 0 * inf reaches a reverse-mode gradient)
        exact = (jnp.abs(diff) >= 1e-6 * jnp.sqrt(variance)) & (deviance > 0)
        root = jnp.sqrt(jnp.where(exact, deviance, 1.0))
        counts = jnp.where(exact, jnp.sign(diff) * root, diff / jnp.sqrt(variance))
        counts = jnp.where(m > 0, counts, jnp.nan)
        lognormal = (jnp.log(positive) - jnp.log(jnp.where(y > 0, y, 1.0))) / sigma
        lognormal = jnp.where(m > 0, lognormal, jnp.nan)
        gaussian = diff / sigma
        return jnp.select(
            [self.kinds == GAUSSIAN, self.kinds == LOGNORMAL], [gaussian, lognormal], counts
        )

    def constant(self, data: np.ndarray, sigma: np.ndarray) -> float:
        """`C` in `-2 log L = sum(residuals^2) + C` (missing values skipped)."""
        y, sigma = np.asarray(data, float), np.asarray(sigma, float)
        if self.sigma_index is not None:  # the rest of log sigma^2 is in `noise_rows`
            floor = np.zeros(int(np.max(self.sigma_index, initial=-1)) + 1)
            floor[self.noise_parameters] = self.noise_floor
            index = np.asarray(self.sigma_index)
            sigma = np.where(index >= 0, floor[np.maximum(index, 0)], sigma)
        kinds, k = np.asarray(self.kinds), np.asarray(self.dispersion, float)
        present = np.isfinite(y)
        y = np.where(present, y, 1.0)
        gaussian = np.log(2 * np.pi * sigma**2)
        lognormal = gaussian + 2 * np.log(np.where(y > 0, y, 1.0))
        # minus twice the log probability of y at the saturated mean m = y
        poisson = -2 * _poisson_logpmf(y, y)
        negative_binomial = -2 * _nbinom_logpmf(y, y, k)
        terms = np.select(
            [kinds == GAUSSIAN, kinds == LOGNORMAL, kinds == POISSON],
            [gaussian, lognormal, poisson],
            negative_binomial,
        )
        return float(np.sum(np.where(present, terms, 0.0)))

    def names(self) -> list[str]:
        """The likelihoods in use, by name."""
        return [KINDS[i] for i in sorted(set(np.asarray(self.kinds).reshape(-1).tolist()))]


def _nbinom_logpmf(y, m, k):
    """log NB(y; mean m, dispersion k), variance `m + m^2 / k`."""
    return (
        scipy.special.gammaln(y + k)
        - scipy.special.gammaln(k)
        - scipy.special.gammaln(y + 1)
        + k * np.log(k / (k + m))
        + scipy.special.xlogy(y, m / (k + m))
    )


def _poisson_logpmf(y, m):
    return scipy.special.xlogy(y, m) - m - scipy.special.gammaln(y + 1)
