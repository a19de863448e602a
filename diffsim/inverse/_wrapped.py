"""Problems built around another one: they share its data, noise, solver and fixed values.

A universal ODE (`UdeProblem`) and a PINN (`PinnInverseProblem`) are each configured as a
plain ODE or grid PDE problem first (`base`); the base already holds the data, their noise
levels, the solver settings and the parameters held fixed, so the wrapper forwards them
instead of copying them. `TrainedProblem` is the seam for model kinds whose unknowns are found
by training a network rather than by `fit`: the runner calls its three methods in place of
`fit`, the Taylor test of the fit's gradient and `estimate_uncertainty`.
"""

import abc
from collections.abc import Callable
from pathlib import Path

import equinox as eqx
import numpy as np

from ._fit import FitResult
from ._options import SolverOptions
from ._problem import AbstractProblem
from ._uncertainty import Uncertainty


class WrappedProblem(AbstractProblem):
    """A problem whose data, noise levels, solver settings and fixed values are its `base`'s.

    Subclasses declare `base` (the problem they are built around) and `space`.

    **Example:** a universal ODE's problem is built around an `OdeProblem`.

    ```python
    import diffsim

    assert issubclass(diffsim.neural.UdeProblem, diffsim.inverse.WrappedProblem)
    assert issubclass(diffsim.inverse.WrappedProblem, diffsim.AbstractProblem)
    ```
    """

    base: eqx.AbstractVar[AbstractProblem]

    @property
    def options(self) -> SolverOptions:
        return self.base.options

    @property
    def observed(self) -> np.ndarray:
        return self.base.observed

    @property
    def sigma(self) -> np.ndarray:
        return self.base.sigma

    @property
    def fixed(self) -> dict[str, float]:
        return self.base.fixed


class TrainedProblem(WrappedProblem):
    """A wrapped problem whose unknowns are found by training (a network), not by `fit`.

    The runner trains it (`train`), checks the gradient training used (`taylor_check`) and
    asks it for its error bars (`uncertainty`); fit, result and report are otherwise shared.
    Profile and bootstrap intervals refit with `fit`, so they are not computed for it.

    **Example:** the problems whose unknowns a network is trained for.

    ```python
    import diffsim

    assert issubclass(diffsim.pinn.PinnInverseProblem, diffsim.inverse.TrainedProblem)
    assert issubclass(diffsim.inverse.TrainedProblem, diffsim.inverse.WrappedProblem)
    ```
    """

    @abc.abstractmethod
    def train(
        self,
        *,
        callback: Callable | None = None,
        checkpoint: str | Path | None = None,
    ) -> tuple["TrainedProblem", FitResult]:
        """`(problem holding the trained state, FitResult)`; `callback(progress)` reports
        progress, `checkpoint` is a file the trained state is saved to."""

    @abc.abstractmethod
    def taylor_check(self) -> dict:
        """The Taylor test of the training loss's gradient, as the result schema stores it."""

    @abc.abstractmethod
    def uncertainty(self, *, scale_covariance: bool = True) -> Uncertainty:
        """The error bars of the trained unknowns (say in `Uncertainty.message` how)."""
