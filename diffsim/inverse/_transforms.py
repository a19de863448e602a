"""Maps from an unconstrained optimizer variable `z` to a parameter value `x` (and back).

Optimizers move freely in `z`; the transform keeps `x` positive or inside its bounds.
"""

import abc
import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike


class AbstractTransform(eqx.Module):
    """A smooth bijection `x = forward(z)` from the real line onto the allowed values of `x`."""

    @abc.abstractmethod
    def forward(self, z: ArrayLike) -> Array:
        """The parameter value for the optimizer variable `z`."""

    @abc.abstractmethod
    def inverse(self, x: ArrayLike) -> Array:
        """The optimizer variable for the parameter value `x`."""


class Identity(AbstractTransform):
    """`x = z`: an unbounded parameter."""

    def forward(self, z):
        return jnp.asarray(z)

    def inverse(self, x):
        return jnp.asarray(x)


class LowerBound(AbstractTransform):
    """`x = lower + exp(z)`: values above `lower`."""

    lower: float = eqx.field(static=True)

    def forward(self, z):
        return self.lower + jnp.exp(z)

    def inverse(self, x):
        return jnp.log(x - self.lower)


class UpperBound(AbstractTransform):
    """`x = upper - exp(z)`: values below `upper`."""

    upper: float = eqx.field(static=True)

    def forward(self, z):
        return self.upper - jnp.exp(z)

    def inverse(self, x):
        return jnp.log(self.upper - x)


class Interval(AbstractTransform):
    """`x = lower + (upper - lower) sigmoid(z)`: values strictly between the bounds."""

    lower: float = eqx.field(static=True)
    upper: float = eqx.field(static=True)

    def forward(self, z):
        return self.lower + (self.upper - self.lower) * jax.nn.sigmoid(z)

    def inverse(self, x):
        u = (x - self.lower) / (self.upper - self.lower)
        return jnp.log(u) - jnp.log1p(-u)


class Softplus(AbstractTransform):
    """`x = log(1 + exp(z))`: positive values, nearly linear away from zero."""

    def forward(self, z):
        return jax.nn.softplus(z)

    def inverse(self, x):
        x = jnp.asarray(x)
        return x + jnp.log(-jnp.expm1(-x))


class Exp(AbstractTransform):
    """`x = exp(inner(z))`: optimize `log x` (with optional bounds applied to `log x`)."""

    inner: AbstractTransform

    def forward(self, z):
        return jnp.exp(self.inner.forward(z))

    def inverse(self, x):
        return self.inner.inverse(jnp.log(x))


TRANSFORMS = ("none", "log", "positive")


def make_transform(
    kind: str, lower: float | None = None, upper: float | None = None, *, where: str = "parameter"
) -> AbstractTransform:
    """Choose the transform for a parameter from its kind and optional bounds.

    **Arguments:**
    - `kind`: `"none"` (optimize `x`), `"log"` (optimize `log x`; bounds then act on `log x`),
      or `"positive"` (softplus; no bounds).
    - `lower`, `upper`: optional bounds; `x` stays strictly inside them.
    - `where`: key path prefix for error messages.

    **Raises:** `ValueError` for an unknown kind, `lower >= upper`, a non-positive bound with
    `"log"`, or bounds with `"positive"`.

    **Example:** a log transform keeps a parameter positive; bounds act on its logarithm.

    ```python
    import jax.numpy as jnp
    from diffsim import inverse

    log = inverse.make_transform("log")
    assert jnp.isclose(log.forward(jnp.log(3.0)), 3.0)  # optimizer coordinate -> value
    assert jnp.isclose(log.inverse(3.0), jnp.log(3.0))
    try:
        inverse.make_transform("log", lower=-1.0, where="parameters.k")
    except ValueError as error:
        print(error)  # a log parameter cannot have a negative bound
    ```
    """
    if kind not in TRANSFORMS:
        raise ValueError(
            f"{where}.transform: unknown transform {kind!r} (use {', '.join(TRANSFORMS)})"
        )
    for bound in (lower, upper):
        if bound is not None and not math.isfinite(bound):
            raise ValueError(f"{where}.bounds: bounds must be finite numbers or null")
    if lower is not None and upper is not None and not lower < upper:
        raise ValueError(f"{where}.bounds: lower bound {lower} is not below upper bound {upper}")
    if kind == "positive":
        if lower is not None or upper is not None:
            raise ValueError(
                f"{where}: 'positive' takes no bounds; use transform 'log' with bounds"
            )
        return Softplus()
    if kind == "log":
        if (lower is not None and lower <= 0) or (upper is not None and upper <= 0):
            raise ValueError(f"{where}.bounds: transform 'log' needs positive bounds")
        lower = None if lower is None else math.log(lower)
        upper = None if upper is None else math.log(upper)
        return Exp(_bounded(lower, upper))
    return _bounded(lower, upper)


def _bounded(lower: float | None, upper: float | None) -> AbstractTransform:
    if lower is None and upper is None:
        return Identity()
    if upper is None:
        return LowerBound(lower)
    if lower is None:
        return UpperBound(upper)
    return Interval(lower, upper)
