"""`AbstractPDE`: a spatial discretisation whose time stepping comes from `diffsim.solve_ode`."""

import abc

import equinox as eqx
import jax
import numpy as np

from ._grid import Grid

#: How a parameter may be given: a scalar, a scalar or a field on the grid, or a velocity
#: (a scalar, or one scalar-or-field per axis).
SCALAR, FIELD, VELOCITY = "scalar", "scalar or field", "velocity"


def concrete_max_abs(x) -> float | None:
    """`max |x|` as a float when `x` is concrete, `None` when it is traced."""
    try:
        return float(np.max(np.abs(np.asarray(x))))
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def as_velocity(value, ndim: int) -> tuple:
    """A velocity parameter as one entry per axis."""
    if isinstance(value, (tuple, list)):
        return tuple(value)
    return (value,) * ndim if np.ndim(value) == 0 else (value,)


class AbstractPDE(eqx.Module):
    """A PDE semi-discretised in space (method of lines): `du/dt = rhs(t, u, params)`.

    A model is passed as the `rhs` of `diffsim.solve_ode` (or through `diffsim.pde.solve`,
    which also checks shapes and explicit step limits). Its configuration (grid, boundary
    conditions, scheme) is fixed at construction; everything that may be fitted lives in the
    `params` dict, as scalars or traced fields, so `jax.grad` reaches it.

    Subclasses declare `parameters` (name → `SCALAR`, `FIELD` or `VELOCITY`), `optional`
    (names that may be left out) and `state_names` (one per array of the state; a single
    field is a plain array, several a tuple).

    **Example:** a model names its parameters and refuses a state that does not fit its grid.

    ```python
    import jax.numpy as jnp
    from diffsim import pde

    model = pde.FisherKPP(pde.uniform_grid(32))
    assert isinstance(model, pde.AbstractPDE) and set(model.parameters) == {"diffusivity", "rate"}
    try:
        model.check(jnp.zeros(31), {"diffusivity": 1.0, "rate": 1.0})
    except ValueError as error:
        print(error)  # names the state and both shapes
    else:
        raise AssertionError("a state of the wrong shape was accepted")
    ```
    """

    grid: eqx.AbstractVar[Grid]
    parameters: eqx.AbstractClassVar[dict[str, str]]
    optional: eqx.AbstractClassVar[tuple[str, ...]]
    state_names: eqx.AbstractClassVar[tuple[str, ...]]

    @abc.abstractmethod
    def rhs(self, t, u, params):
        """`du/dt` for state `u` and parameter dict `params`."""

    @abc.abstractmethod
    def rates(self, u, params) -> tuple[float, float]:
        """Bounds on the linearised spectrum's `(real, imaginary)` extent, from concrete
        values: explicit steps must keep `h·rate` inside the solver's stability region."""

    def __call__(self, t, u, params):
        return self.rhs(t, u, params)

    def check(self, u, params) -> None:
        """Raise `ValueError` naming the state or parameter whose shape does not fit the grid,
        or a missing/unknown parameter name."""
        name = type(self).__name__
        parts = (u,) if len(self.state_names) == 1 else u
        if len(self.state_names) > 1 and (
            not isinstance(u, (tuple, list)) or len(u) != len(self.state_names)
        ):
            raise ValueError(
                f"{name}: the state must be a tuple ({', '.join(self.state_names)}), got "
                f"{type(u).__name__}"
            )
        for part, state_name in zip(parts, self.state_names, strict=True):
            if tuple(np.shape(part)) != self.grid.shape:
                raise ValueError(
                    f"{name}: state {state_name!r} has shape {tuple(np.shape(part))}, "
                    f"but the grid has shape {self.grid.shape}"
                )
        if not isinstance(params, dict):
            raise TypeError(f"{name}: params must be a dict with keys {list(self.parameters)}")
        unknown = [k for k in params if k not in self.parameters]
        if unknown:
            raise ValueError(
                f"{name}: unknown parameter {unknown[0]!r} (parameters: "
                f"{', '.join(self.parameters)})"
            )
        for key, kind in self.parameters.items():
            if key not in params:
                if key in self.optional:
                    continue
                raise ValueError(f"{name}: parameter {key!r} is missing")
            value = params[key]
            values = as_velocity(value, self.grid.ndim) if kind == VELOCITY else (value,)
            if kind == VELOCITY and len(values) != self.grid.ndim:
                raise ValueError(
                    f"{name}: parameter {key!r} needs one entry per axis ({self.grid.ndim})"
                )
            for entry in values:
                shape = tuple(np.shape(entry))
                allowed = [()] if kind == SCALAR else [(), self.grid.shape]
                if shape not in allowed:
                    expected = (
                        "a scalar" if kind == SCALAR else f"a scalar or shape {self.grid.shape}"
                    )
                    raise ValueError(
                        f"{name}: parameter {key!r} has shape {shape}; expected {expected}"
                    )
