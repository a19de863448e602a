"""Priors on parameters as extra residuals: a least-squares fit then gives the MAP estimate.

A normal prior `N(mean, sd)` on `x` adds the residual `(x - mean) / sd`, a log-normal prior
the residual `(log x - mean) / sd` (`mean`, `sd` of `log x`), so that chi-square is
`-2 log(likelihood * prior) + constant`. A uniform prior is the parameter's bounds (its
density is constant inside), handled by the transform, not here.
"""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

PRIOR_KINDS = ("normal", "lognormal")


class Priors(eqx.Module):
    """Normal and log-normal priors on some of the free parameters.

    **Fields:**
    - `indices`: positions of the parameters with a prior in the free-parameter vector.
    - `lognormal`: per prior, whether it is log-normal (else normal).
    - `mean`, `sd`: per prior (of `log x` for a log-normal one).

    **Example:** a log-normal prior on the second free parameter, as residuals.

    ```python
    import jax.numpy as jnp
    import numpy as np
    from diffsim import inverse

    priors = inverse.Priors(
        indices=np.array([1]), lognormal=np.array([True]), mean=np.array([0.0]), sd=np.array([0.5])
    )
    r = priors.residuals(jnp.array([7.0, jnp.e]))  # x = (7, e): log x1 = 1 is 2 sd from 0
    assert jnp.allclose(r, jnp.array([2.0]))
    ```
    """

    indices: np.ndarray
    lognormal: np.ndarray
    mean: np.ndarray
    sd: np.ndarray

    def residuals(self, x: ArrayLike) -> Array:
        """`(x - mean) / sd` (or of `log x`) for each prior, in order."""
        values = jnp.asarray(x)[self.indices]
        values = jnp.where(self.lognormal, jnp.log(jnp.where(self.lognormal, values, 1.0)), values)
        return (values - self.mean) / self.sd

    def constant(self) -> float:
        """`-2 log prior - sum(residuals^2)` without the log-normal Jacobian `2 log x`."""
        return float(np.sum(np.log(2 * np.pi * np.asarray(self.sd) ** 2)))
