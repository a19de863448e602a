"""The solver interface: one step of a one-step method on a flat state vector."""

import abc
from typing import NamedTuple

import equinox as eqx
from jaxtyping import Array

from ._tableau import ButcherTableau


class Step(NamedTuple):
    """Result of one attempted step.

    `y1` the new state; `error` the local error estimate (`None` without an embedded method);
    `num_fevals` right-hand-side evaluations spent; `converged` False where an implicit stage
    failed to converge (the step must then be rejected).
    """

    y1: Array
    error: Array | None
    num_fevals: Array
    converged: Array


class AbstractSolver(eqx.Module):
    """A one-step method: a Butcher tableau and how its stages are solved.

    `step(fn, t, y, h, args, scale)` advances the flat state `y` from `t` to `t + h`, where
    `fn(t, y, args)` is the flat right-hand side and `scale` the error scale
    `atol + rtol * |y|` (used by implicit stages for their Newton tolerance).
    A step with `h = 0` returns `y` unchanged, which the fixed-grid loops rely on.
    """

    tableau: eqx.AbstractVar[ButcherTableau]

    @property
    def order(self) -> int:
        return self.tableau.order

    @property
    def adaptive(self) -> bool:
        """Whether the method has an embedded error estimate for adaptive steps."""
        return self.tableau.e is not None

    @abc.abstractmethod
    def step(self, fn, t, y, h, args, scale) -> Step: ...
