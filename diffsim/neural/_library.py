"""Candidate terms for sparse regression: monomials of the states and chosen functions."""

import itertools
from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..inverse._expressions import FUNCTIONS, parse_expression


class TermLibrary(eqx.Module):
    """Candidate terms: monomials of the states up to a degree, and functions of each state.

    Every monomial of `states` up to `degree` (the constant `1` included), then every
    one-argument function of `functions` applied to every state (`sin(x)`, `exp(y)`, ...).

    Term names are expressions of the whitelist parser, so a recovered equation is text that
    `diffsim.inverse.model_from_equations` reads back.

    **Arguments:**
    - `states`: the state names, in column order of the data.
    - `degree`: the highest total degree of the monomials.
    - `functions`: names of one-argument functions of `diffsim.inverse.parse_expression`.

    **Example:**

    ```python
    import numpy as np
    from diffsim import neural

    library = neural.TermLibrary(("x", "y"), degree=2, functions=("sin",))
    assert library.terms == ("1", "x", "y", "x**2", "x*y", "y**2", "sin(x)", "sin(y)")
    theta = library(np.array([[2.0, 3.0], [1.0, 0.0]]))  # one row per state
    assert theta.shape == (2, 8) and theta[0, 4] == 6.0
    ```
    """

    states: tuple[str, ...] = eqx.field(static=True)
    degree: int = eqx.field(static=True)
    functions: tuple[str, ...] = eqx.field(static=True)

    def __init__(self, states: Sequence[str], degree: int = 2, functions: Sequence[str] = ()):
        if int(degree) < 0:
            raise ValueError(f"library: degree must be at least 0, got {degree}")
        for name in functions:
            if name not in FUNCTIONS or FUNCTIONS[name][1] != 1:
                unary = ", ".join(k for k, (_, arity) in FUNCTIONS.items() if arity == 1)
                raise ValueError(f"library.functions: unknown function {name!r} (use {unary})")
        self.states = tuple(states)
        self.degree = int(degree)
        self.functions = tuple(functions)

    @property
    def terms(self) -> tuple[str, ...]:
        """The term names, in column order: `1`, `x`, `y`, `x**2`, `x*y`, ..., `sin(x)`."""
        names = []
        for order in range(self.degree + 1):
            for combo in itertools.combinations_with_replacement(self.states, order):
                factors = [
                    s if combo.count(s) == 1 else f"{s}**{combo.count(s)}"
                    for s in dict.fromkeys(combo)
                ]
                names.append("*".join(factors) or "1")
        names += [f"{f}({s})" for f in self.functions for s in self.states]
        return tuple(names)

    def row(self, y) -> Array:
        """The terms at one state `y` (shape `(n,)`), shape `(len(terms),)`; traceable (JAX).

        **Example:**

        ```python
        import jax.numpy as jnp
        from diffsim import neural

        library = neural.TermLibrary(("x", "y"), degree=2)
        assert jnp.allclose(library.row(jnp.array([2.0, 3.0])), jnp.array([1, 2, 3, 4, 6, 9]))
        ```
        """
        env = {s: y[i] for i, s in enumerate(self.states)}
        return jnp.stack(
            [jnp.broadcast_to(parse_expression(term, self.states)(env), ()) for term in self.terms]
        ).astype(jnp.result_type(y, float))

    def __call__(self, ys) -> np.ndarray:
        """The library matrix `Θ(Y)`, shape `(N, len(terms))`, for states `ys` of shape `(N, n)`."""
        ys = np.asarray(ys, dtype=float)
        if ys.ndim != 2 or ys.shape[1] != len(self.states):
            raise ValueError(
                f"library: expected states of shape (N, {len(self.states)}), got {ys.shape}"
            )
        env = {s: ys[:, i] for i, s in enumerate(self.states)}
        columns = [
            np.broadcast_to(np.asarray(parse_expression(term, self.states)(env)), ys.shape[:1])
            for term in self.terms
        ]
        return np.stack(columns, axis=1)
