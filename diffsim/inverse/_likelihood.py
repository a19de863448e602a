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
So is an estimated negative-binomial dispersion `k_j`: the saturated term
`-2 log NB(y; y, k)` depends on `k`, and its excess over the Poisson limit `k -> inf`,
summed over the data of `k_j`, is non-negative and becomes one extra residual.
"""

import equinox as eqx
import jax.numpy as jnp
import jax.scipy.special
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
    - `sigma_index`: per value, the free parameter that is its noise level (`-1`: `sigma`).
    - `noise_parameters`: the estimated noise levels, then the estimated dispersions
      (indices of free parameters; one extra residual each).
    - `noise_counts`, `noise_floor`: per estimated noise level, its number of data values
      and the floor it stays above.
    - `dispersion_index`: per value, the free parameter that is its dispersion (`-1`:
      `dispersion`).

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
    dispersion_index: np.ndarray | None = None

    @property
    def estimates_noise(self) -> bool:
        """Whether some noise level is a free parameter."""
        return len(self.noise_parameters) > 0

    def noise_levels(self, sigma: Array, x: Array | None) -> Array:
        """`sigma`, with the estimated noise levels (free parameters `x`) where they apply."""
        if self.sigma_index is None or x is None:
            return sigma
        index = jnp.asarray(self.sigma_index)
        return jnp.where(index >= 0, jnp.asarray(x)[jnp.maximum(index, 0)], sigma)

    def dispersions(self, x: Array | None = None) -> Array:
        """`dispersion`, with the estimated dispersions (free parameters `x`) where they apply."""
        if self.dispersion_index is None or x is None:
            return jnp.asarray(self.dispersion)
        index = jnp.asarray(self.dispersion_index)
        return jnp.where(index >= 0, jnp.asarray(x)[jnp.maximum(index, 0)], self.dispersion)

    def noise_rows(self, x: Array, data: Array) -> Array:
        """One residual per estimated noise level and dispersion, so that chi-square is
        `-2 log L` up to a constant also in them: `sqrt(2 n_j log(sigma_j / floor_j))` (the
        normalization `n_j log sigma_j^2` of the Gaussian; `sigma_j > floor_j` keeps it
        real), and for a dispersion `k` the root of `sum_i s(y_i, k)`, the saturated
        `-2 log NB(y_i; y_i, k)` less its Poisson limit (non-negative, 0 as `k -> inf`).
        `data`: the data (shape of `kinds`; NaN: missing)."""
        x = jnp.asarray(x)
        levels = len(self.noise_counts)
        sigma = x[self.noise_parameters[:levels]]
        rows = [jnp.sqrt(2 * self.noise_counts * jnp.log(sigma / self.noise_floor))]
        y = jnp.asarray(data)
        present = jnp.isfinite(y)
        y = jnp.where(present, y, 0.0)
        gammaln = jax.scipy.special.gammaln
        for j in range(levels, len(self.noise_parameters)):
            parameter = self.noise_parameters[j]
            k = x[parameter]
            excess = -2 * (
                gammaln(y + k) - gammaln(k) - y * jnp.log(k + y) + k * jnp.log(k / (k + y)) + y
            )
            chosen = present & (jnp.asarray(self.dispersion_index) == parameter)
            rows.append(jnp.sqrt(jnp.maximum(jnp.sum(jnp.where(chosen, excess, 0.0)), 0.0))[None])
        return jnp.concatenate(rows)

    def observation_sd(self, mean: Array, sigma: Array, x=None) -> Array:
        """The standard deviation of a new observation around the model value `mean`, per
        value: `sigma` (Gaussian; estimated where it is), `sqrt(m)` (Poisson),
        `sqrt(m + m^2 / k)` (negative binomial); for log-normal values, of `log y`."""
        m = jnp.maximum(jnp.asarray(mean), 0.0)
        sigma = self.noise_levels(sigma, x)
        counts = jnp.where(self.kinds == POISSON, m, m + m**2 / self.dispersions(x))
        is_count = (self.kinds == POISSON) | (self.kinds == NEGATIVE_BINOMIAL)
        return jnp.where(is_count, jnp.sqrt(counts), sigma)

    def draw(self, mean: np.ndarray, sigma: np.ndarray, x=None, *, seed: int) -> np.ndarray:
        """Data drawn from each value's likelihood around the model values `mean` (host
        arrays), with the noise levels and dispersions of the free parameters `x` where
        they are estimated: Poisson, negative binomial, `mean * exp(sigma * N(0, 1))`,
        `mean + sigma * N(0, 1)`."""
        rng = np.random.default_rng(seed)
        mean = np.asarray(mean, float)
        positive = np.maximum(mean, 0.0)
        k = np.asarray(self.dispersions(x))
        sigma = np.broadcast_to(np.asarray(self.noise_levels(sigma, x)), mean.shape)
        draws = {
            "poisson": rng.poisson(positive).astype(float),
            "negative_binomial": rng.negative_binomial(k, k / (k + positive)).astype(float),
            "lognormal": mean * np.exp(sigma * rng.standard_normal(mean.shape)),
            "gaussian": mean + sigma * rng.standard_normal(mean.shape),
        }
        values = np.empty(mean.shape)
        for name, draw in draws.items():
            chosen = self.kinds == KINDS.index(name)
            values[chosen] = draw[chosen]
        return values

    def residuals(self, prediction: Array, data: Array, sigma: Array, x=None) -> Array:
        """Signed deviance residuals `sign(m - y) sqrt(d)` (see the module docstring); NaN
        where a count model predicts a non-positive mean (the solve is then rejected).
        `x`: the free parameters, for estimated noise levels."""
        if x is not None:
            sigma = self.noise_levels(sigma, x)
        m, y = prediction, data
        positive = jnp.where(m > 0, m, 1.0)
        k = self.dispersions(x)
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
            floor = np.ones(max(int(np.max(self.sigma_index, initial=-1)) + 1, 1))
            floor[self.noise_parameters[: len(self.noise_floor)]] = self.noise_floor
            index = np.asarray(self.sigma_index)
            sigma = np.where(index >= 0, floor[np.maximum(index, 0)], sigma)
        kinds, k = np.asarray(self.kinds), np.asarray(self.dispersion, float)
        present = np.isfinite(y)
        y = np.where(present, y, 1.0)
        gaussian = np.log(2 * np.pi * sigma**2)
        lognormal = gaussian + 2 * np.log(np.where(y > 0, y, 1.0))
        # minus twice the log probability of y at the saturated mean m = y (an estimated
        # dispersion's excess over the Poisson limit is in `noise_rows`)
        poisson = -2 * _poisson_logpmf(y, y)
        negative_binomial = -2 * _nbinom_logpmf(y, y, k)
        if self.dispersion_index is not None:
            negative_binomial = np.where(self.dispersion_index >= 0, poisson, negative_binomial)
        terms = np.select(
            [kinds == GAUSSIAN, kinds == LOGNORMAL, kinds == POISSON],
            [gaussian, lognormal, poisson],
            negative_binomial,
        )
        return float(np.sum(np.where(present, terms, 0.0)))

    def per_value(self, columns: np.ndarray) -> "ErrorModel":
        """The error model of a flat list of values, value `i` being entry `(i, columns[i])`
        of this model's `(N, M)` table (`columns[i] = -1`: Gaussian with its `sigma`). For
        data in long form (PDE sensors): the table puts each value in its observable's
        column, so that models built per column apply."""
        rows = np.arange(len(columns))
        picked = np.maximum(columns, 0)
        own = np.asarray(columns) >= 0
        take = lambda a, other: None if a is None else np.where(own, a[rows, picked], other)
        return eqx.tree_at(
            lambda e: (e.kinds, e.dispersion, e.sigma_index, e.dispersion_index),
            self,
            (
                take(np.asarray(self.kinds), GAUSSIAN),
                take(np.asarray(self.dispersion), 1.0),
                take(self.sigma_index, -1),
                take(self.dispersion_index, -1),
            ),
            is_leaf=lambda leaf: leaf is None,
        )

    def repeated(self, index: np.ndarray, shape: tuple[int, ...]) -> "ErrorModel":
        """The likelihoods of new values of shape `shape` (forecasts), whose last axis
        follows the values `index` of the flat data (no noise rows: these stay with the
        data)."""
        take = lambda a: None if a is None else np.broadcast_to(np.asarray(a)[index], shape)
        return ErrorModel(
            kinds=take(self.kinds),
            dispersion=take(self.dispersion),
            sigma_index=take(self.sigma_index),
            dispersion_index=take(self.dispersion_index),
        )

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
