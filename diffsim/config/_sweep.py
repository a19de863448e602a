"""The `sweep:` and `ensemble:` sections: many simulations (or fits) of one configured model.

A sweep runs the model at chosen parameter values (a grid, or random points with a seed); an
ensemble draws the parameters from distributions and reports quantile bands. Both are
checked here for their own shape; whether a swept name is a parameter of the model is checked
against the built problem (`diffsim.runner.check_study`).
"""

from typing import Annotated, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from ._schema import PriorConfig, _Strict

MAX_MEMBERS = 1_000_000
"""Most points of a sweep or members of an ensemble (each is a solve or a fit)."""
Count = Annotated[int, Field(ge=1, le=MAX_MEMBERS)]


class AxisConfig(_Strict):
    """The values of one swept parameter: a list (`[0.5, 1.0, 2.0]`, or `values:`), or a
    range from `low` to `high`: `num` evenly spaced values on a grid, uniform random draws
    in random mode; `scale: log` spaces (or draws) them evenly in `log` (`low > 0`)."""

    values: Annotated[list[float], Field(min_length=1)] | None = None
    low: float | None = None
    high: float | None = None
    num: Count | None = None
    scale: Literal["linear", "log"] = "linear"

    @model_validator(mode="before")
    @classmethod
    def _list_is_values(cls, value):
        if isinstance(value, list):
            return {"values": value}
        return value

    @model_validator(mode="after")
    def _list_or_range(self):
        if self.values is not None:
            if (self.low, self.high, self.num) != (None, None, None) or self.scale != "linear":
                raise ValueError("give either values or a range (low, high), not both")
            return self
        if self.low is None or self.high is None:
            raise ValueError("give a list of values, or a range with low and high")
        if not self.low < self.high:
            raise ValueError("needs low < high")
        if self.scale == "log" and self.low <= 0:
            raise ValueError("scale: log needs low > 0")
        return self

    def grid(self) -> np.ndarray:
        """The values of a grid axis."""
        if self.values is not None:
            return np.asarray(self.values, float)
        if self.scale == "log":
            return np.geomspace(self.low, self.high, self.num)
        return np.linspace(self.low, self.high, self.num)

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """`size` random values: uniform in the range (in `log` with `scale: log`), or
        picked from the list with replacement."""
        if self.values is not None:
            return rng.choice(np.asarray(self.values, float), size)
        if self.scale == "log":
            return np.exp(rng.uniform(np.log(self.low), np.log(self.high), size))
        return rng.uniform(self.low, self.high, size)


class SweepConfig(_Strict):
    """Run the model at every point of a grid of parameter values, or at `samples` random
    points; the other parameters stay at their `init` (fixed ones at their value).

    `run: simulate` solves the model at each point; `run: fit` holds the swept unknowns at
    the point and fits the others (one start, the config's `init`).
    """

    parameters: dict[str, AxisConfig]
    mode: Literal["grid", "random"] = "grid"
    samples: Count | None = None
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 0
    run: Literal["simulate", "fit"] = "simulate"
    until: float | None = None

    @field_validator("parameters")
    @classmethod
    def _not_empty(cls, value):
        if not value:
            raise ValueError("give at least one parameter to sweep")
        return value

    @model_validator(mode="after")
    def _mode(self):
        if self.run == "fit" and self.until is not None:
            raise ValueError("until: only with run: simulate (a fit covers the data's times)")
        ranges = {k: v for k, v in self.parameters.items() if v.values is None}
        if self.mode == "grid":
            if self.samples is not None:
                raise ValueError("samples: only with mode: random (a grid has num per range)")
            for name, spec in ranges.items():
                if spec.num is None:
                    raise ValueError(f"parameters.{name}.num: a grid range needs num")
            if self.size > MAX_MEMBERS:
                raise ValueError(
                    f"parameters: the grid has {self.size} points (most {MAX_MEMBERS})"
                )
        else:
            if self.samples is None:
                raise ValueError("samples: mode: random needs the number of points")
            for name, spec in ranges.items():
                if spec.num is not None:
                    raise ValueError(f"parameters.{name}.num: only with mode: grid")
        return self

    def points(self) -> tuple[tuple[str, ...], np.ndarray]:
        """`(names, values)`: the swept parameters and the points, shape `(size, len(names))`;
        a grid varies the last parameter fastest. Every process draws the same points."""
        names = tuple(self.parameters)
        if self.mode == "grid":
            axes = np.meshgrid(*(a.grid() for a in self.parameters.values()), indexing="ij")
            return names, np.stack([axis.ravel() for axis in axes], axis=-1)
        rng = np.random.default_rng(self.seed)
        values = [axis.draw(rng, self.samples) for axis in self.parameters.values()]
        return names, np.stack(values, axis=-1)

    @property
    def size(self) -> int:
        """The number of points."""
        if self.mode == "random":
            return self.samples
        size = 1
        for values in self.parameters.values():
            size *= values.num if values.values is None else len(values.values)
        return size


class EnsembleConfig(_Strict):
    """Simulate `members` draws of the parameters, each from its distribution (`normal:
    [mean, sd]`, `lognormal: [mean, sd]` of the log, or `uniform: [low, high]`), and report
    the `quantiles` of every observation over the members at each time."""

    parameters: dict[str, PriorConfig]
    members: Count = 200
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 0
    quantiles: tuple[float, float, float] = (0.05, 0.5, 0.95)
    until: float | None = None

    @field_validator("parameters")
    @classmethod
    def _not_empty(cls, value):
        if not value:
            raise ValueError("give at least one parameter and its distribution")
        return value

    @field_validator("quantiles")
    @classmethod
    def _increasing(cls, value):
        if not 0 < value[0] < value[1] < value[2] < 1:
            raise ValueError("give three increasing levels strictly between 0 and 1")
        return value

    def draws(self) -> tuple[tuple[str, ...], np.ndarray]:
        """`(names, values)`: the members' parameter values, shape `(members, len(names))`."""
        rng = np.random.default_rng(self.seed)
        columns = []
        for spec in self.parameters.values():
            if spec.normal is not None:
                columns.append(rng.normal(*spec.normal, self.members))
            elif spec.lognormal is not None:
                columns.append(np.exp(rng.normal(*spec.lognormal, self.members)))
            else:
                columns.append(rng.uniform(*spec.uniform, self.members))
        return tuple(self.parameters), np.stack(columns, axis=-1)
