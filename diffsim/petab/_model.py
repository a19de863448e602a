"""`SbmlModel`: an SBML model as SymPy expressions, and the JAX functions made from them."""

import dataclasses
from typing import TYPE_CHECKING

import jax.numpy as jnp

from ._sympy_jax import Evaluator

if TYPE_CHECKING:
    import sympy as sp


@dataclasses.dataclass(frozen=True, eq=False)
class SbmlModel:
    """An SBML model as expressions (host data; built once per problem).

    **Fields:**
    - `name`: the model id.
    - `states`: the integrated quantities (species, then parameters with rate rules).
    - `species`: the names of all species (a PEtab condition may set their initial values).
    - `parameters`: the model's constant parameters and compartment sizes, in vector order.
    - `defaults`: the SBML value of each of `parameters`.
    - `rates`: `d state / dt` for each state (over states, parameters, definitions, `time`).
    - `definitions`: assignment rules and reaction rates by name (evaluated when named).
    - `initial`: the initial value of each state (over parameters and other initial values).

    **Example:** the right-hand side at the initial state, for the SBML default parameters.

    ```python
    import jax.numpy as jnp

    from diffsim import petab

    model = petab.load(
        "tests/data/petab/Boehm_JProteomeRes2014/Boehm_JProteomeRes2014.yaml"
    ).model
    p = jnp.asarray(model.defaults)
    y0 = model.initial_state(p)
    dydt = model.rhs(0.0, y0, p)
    assert dydt.shape == (len(model.states),) and bool(jnp.all(jnp.isfinite(dydt)))
    ```
    """

    name: str
    states: tuple[str, ...]
    species: tuple[str, ...]
    parameters: tuple[str, ...]
    defaults: tuple[float, ...]
    rates: "tuple[sp.Expr, ...]"
    definitions: "dict[str, sp.Expr]"
    initial: "dict[str, sp.Expr]"

    def names(self) -> set[str]:
        """Every name an observable formula may use from the model."""
        return {*self.states, *self.parameters, *self.definitions, "time"}

    def rhs(self, t, y, p):
        """`dy/dt` for states `y` and parameter vector `p` (order of `parameters`)."""
        values = {"time": t, **self._named(self.states, y), **self._named(self.parameters, p)}
        evaluate = Evaluator(values, self.definitions)
        return jnp.stack([jnp.broadcast_to(evaluate(r), jnp.shape(t)) for r in self.rates])

    def initial_state(self, p):
        """The states at time 0 for parameter vector `p`."""
        values = {"time": 0.0, **self._named(self.parameters, p)}
        evaluate = Evaluator(values, {**self.definitions, **self.initial})
        return jnp.stack([jnp.asarray(evaluate.lookup(s), float) for s in self.states])

    def evaluator(self, t, y, p, extra) -> Evaluator:
        """An `Evaluator` over states `y` (last axis), parameters `p`, time `t` and `extra`
        names (observable placeholders, PEtab parameters); arrays broadcast together."""
        values = {
            "time": t,
            **self._named(self.states, y),
            **self._named(self.parameters, p),
            **extra,
        }
        return Evaluator(values, self.definitions)

    @staticmethod
    def _named(names, vector):
        return {name: vector[..., i] for i, name in enumerate(names)}
