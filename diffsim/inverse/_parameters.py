"""Named unknowns and the map between their values and the optimizer's vector."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

from ._transforms import AbstractTransform, make_transform


class Parameter(eqx.Module):
    """One named quantity of a fit: a model parameter or an unknown initial state.

    **Fields:**
    - `name`: the name used in reports (initial states are named like `"y(0)"`).
    - `init`: the starting value (or the value, when `fixed`).
    - `lower`, `upper`: optional bounds (the estimate stays strictly inside).
    - `transform`: `"none"`, `"log"` or `"positive"` (see `make_transform`).
    - `fixed`: held at `init` instead of estimated.
    - `true`: the true value when known (synthetic data), for reports.
    - `group`: the spatial unknown (field) this is one cell of, or `None` for a scalar.

    **Example:** a positive rate with bounds, and a fixed one.

    ```python
    from diffsim import inverse

    k = inverse.Parameter("k", init=1.0, lower=1e-3, upper=10.0, transform="log", true=0.8)
    n = inverse.Parameter("N", init=763.0, fixed=True)
    space = inverse.parameter_space((k, n))
    assert space.names == ("k",)  # only free parameters are estimated
    ```
    """

    name: str = eqx.field(static=True)
    init: float = eqx.field(static=True)
    lower: float | None = eqx.field(static=True, default=None)
    upper: float | None = eqx.field(static=True, default=None)
    transform: str = eqx.field(static=True, default="none")
    fixed: bool = eqx.field(static=True, default=False)
    true: float | None = eqx.field(static=True, default=None)
    group: str | None = eqx.field(static=True, default=None)

    def check(self, where: str) -> AbstractTransform:
        """Validate bounds and the starting value; return the transform of a free parameter.

        **Raises:** `ValueError` naming `where` when the starting or true value is not finite,
        lies outside the bounds, or (for a transformed parameter) on a bound or not positive.
        """
        transform = make_transform(self.transform, self.lower, self.upper, where=where)
        low = -math.inf if self.lower is None else self.lower
        high = math.inf if self.upper is None else self.upper
        for key in ("init", "true"):
            value = getattr(self, key)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{where}.{key}: value {value} is not finite")
            if value is not None and not low <= value <= high:
                raise ValueError(
                    f"{where}.{key}: value {value} is outside the bounds "
                    f"[{self.lower}, {self.upper}]"
                )
        if self.fixed:
            return transform
        if not low < self.init < high:
            raise ValueError(f"{where}.init: value {self.init} must lie strictly inside the bounds")
        if self.transform in ("log", "positive") and self.init <= 0:
            raise ValueError(f"{where}.init: transform {self.transform!r} needs a positive value")
        if self.true is not None and self.transform in ("log", "positive") and self.true <= 0:
            raise ValueError(f"{where}.true: transform {self.transform!r} needs a positive value")
        return transform


class ParameterSpace(eqx.Module):
    """The free parameters of a fit and the transforms between values `x` and optimizer `z`.

    **Fields:**
    - `parameters`: the free `Parameter`s, in vector order.
    - `transforms`: one transform per free parameter.

    **Example:** values and optimizer coordinates, both ways.

    ```python
    import jax.numpy as jnp
    from diffsim import inverse

    space = inverse.parameter_space(
        (inverse.Parameter("k", 2.0, transform="log"), inverse.Parameter("c", -1.0))
    )
    z = space.to_internal(jnp.array([2.0, -1.0]))
    assert jnp.allclose(z, jnp.array([jnp.log(2.0), -1.0]))
    assert jnp.allclose(space.to_values(z), jnp.array([2.0, -1.0]))
    assert space.size == 2 and jnp.allclose(space.derivative(z), jnp.array([2.0, 1.0]))
    ```
    """

    parameters: tuple[Parameter, ...] = eqx.field(static=True)
    transforms: tuple[AbstractTransform, ...] = eqx.field(static=True)

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the free parameters, in vector order."""
        return tuple(p.name for p in self.parameters)

    @property
    def size(self) -> int:
        """The number of free parameters."""
        return len(self.parameters)

    def to_values(self, z: ArrayLike) -> Array:
        """Parameter values `x` for the optimizer vector `z` (last axis indexes parameters)."""
        z = jnp.asarray(z)
        return jnp.stack([t.forward(z[..., i]) for i, t in enumerate(self.transforms)], axis=-1)

    def to_internal(self, x: ArrayLike) -> Array:
        """The optimizer vector `z` for parameter values `x` (last axis indexes parameters)."""
        x = jnp.asarray(x, dtype=float)
        return jnp.stack([t.inverse(x[..., i]) for i, t in enumerate(self.transforms)], axis=-1)

    def derivative(self, z: ArrayLike) -> Array:
        """`dx_i/dz_i` for each parameter: the transforms act elementwise, so this is diagonal."""
        z = jnp.asarray(z)
        return jnp.stack(
            [jax.grad(t.forward)(z[i]) for i, t in enumerate(self.transforms)], axis=-1
        )

    def initial_values(self) -> Array:
        """The starting values `init` of the free parameters."""
        return jnp.asarray([p.init for p in self.parameters], dtype=float)


def parameter_space(
    parameters: tuple[Parameter, ...], paths: tuple[str, ...] | None = None
) -> ParameterSpace:
    """Validate `parameters` and build the `ParameterSpace` of the free ones.

    **Arguments:**
    - `parameters`: all parameters, fixed ones included.
    - `paths`: the key path of each parameter for error messages (default
      `parameters.<name>`).

    **Raises:** `ValueError` naming the key path of the first invalid parameter.

    **Example:** an `init` outside its bounds is refused, naming the parameter.

    ```python
    from diffsim import inverse

    try:
        inverse.parameter_space((inverse.Parameter("k", init=-1.0, transform="log"),))
    except ValueError as error:
        assert "parameters.k" in str(error)
        print(error)
    else:
        raise AssertionError("a negative init of a log parameter was accepted")
    ```
    """
    names = [p.name for p in parameters]
    if len(set(names)) != len(names):
        raise ValueError("parameters: parameter names must be distinct")
    paths = paths or tuple(f"parameters.{name}" for name in names)
    transforms = tuple(p.check(where) for p, where in zip(parameters, paths, strict=False))
    free = tuple(i for i, p in enumerate(parameters) if not p.fixed)
    return ParameterSpace(
        parameters=tuple(parameters[i] for i in free), transforms=tuple(transforms[i] for i in free)
    )
