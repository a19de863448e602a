"""The configuration of a PDE run: model on a grid, boundary and initial conditions, coefficient
expressions, spatial unknowns and sensor data."""

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from ._schema import (
    FitConfig,
    NonNegative,
    ObservationConfig,
    ParameterConfig,
    Seed,
    SolverConfig,
    TimeGrid,
    _FileConfig,
    _RunBase,
    _Strict,
)

EQUATIONS = (
    "heat",
    "advection_diffusion",
    "burgers",
    "wave",
    "fisher_kpp",
    "gray_scott",
    "allen_cahn",
    "navier_stokes",
)
SIDES = {1: ("left", "right"), 2: ("left", "right", "bottom", "top")}
Number = float | str
PerAxis = float | list[float]


class GridConfig(_Strict):
    """A uniform cell-centred grid on the box `[lower, upper]` (one entry per axis, 1D or 2D)."""

    cells: int | list[int]
    lower: PerAxis = 0.0
    upper: PerAxis = 1.0

    @model_validator(mode="after")
    def _consistent(self):
        cells = [self.cells] if isinstance(self.cells, int) else self.cells
        if len(cells) not in (1, 2):
            raise ValueError(f"1D or 2D grids only, got {len(cells)} axes")
        if any(n < 3 for n in cells):
            raise ValueError(f"at least 3 cells per axis, got {cells}")
        for key in ("lower", "upper"):
            value = getattr(self, key)
            if isinstance(value, list) and len(value) != len(cells):
                raise ValueError(f"'{key}' needs one entry per axis ({len(cells)})")
        lower, upper = self.box()
        if any(not hi > lo for lo, hi in zip(lower, upper, strict=True)):
            raise ValueError(f"need upper > lower on every axis, got {lower} and {upper}")
        return self

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.cells,) if isinstance(self.cells, int) else tuple(self.cells)

    def box(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        n = len(self.shape)
        as_tuple = lambda v: tuple(float(a) for a in v) if isinstance(v, list) else (float(v),) * n
        return as_tuple(self.lower), as_tuple(self.upper)


class BoundaryConfig(_Strict):
    """One boundary side: `periodic`, `dirichlet` (a value), `neumann` (an outward derivative)
    or `absorbing` (waves leave). `value` may be an expression of scalar unknowns."""

    type: Literal["periodic", "dirichlet", "neumann", "absorbing"]
    value: Number = 0.0

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, value):
        if isinstance(value, str):
            return {"type": value}
        if isinstance(value, dict) and len(value) == 1:
            ((key, given),) = value.items()
            if key in ("dirichlet", "neumann"):
                return {"type": key, "value": given}
        return value


class FileInitialCondition(_Strict):
    """An initial condition read from a CSV/NPZ file with columns `x` (`y`) and the state's
    name (`column` to use another), linearly interpolated onto the grid."""

    file: str
    column: str | None = None


class PdeModelConfig(_Strict):
    """A PDE on a grid: the equation, discretization, boundary and initial conditions and the
    model's coefficients (numbers or expressions of x, y and the unknowns)."""

    equation: str
    grid: GridConfig
    discretization: Literal["finite_volume", "spectral"] = "finite_volume"
    boundary: BoundaryConfig | dict[str, BoundaryConfig] = BoundaryConfig(type="periodic")
    initial_condition: Number | FileInitialCondition | dict[str, Number | FileInitialCondition]
    coefficients: dict[str, Number | list[Number]] = {}
    states: list[str] | None = None
    interpolation: Literal["linear", "spectral"] | None = None

    @field_validator("initial_condition", mode="before")
    @classmethod
    def _file(cls, value):
        if isinstance(value, dict) and "file" in value and set(value) <= {"file", "column"}:
            return FileInitialCondition(**value)
        return value

    @field_validator("equation")
    @classmethod
    def _known(cls, value):
        if value not in EQUATIONS and ":" not in value:
            raise ValueError(
                f"unknown equation {value!r} (use {', '.join(EQUATIONS)} or module:function)"
            )
        return value

    @model_validator(mode="after")
    def _sides(self):
        if isinstance(self.boundary, dict):
            sides = SIDES[len(self.grid.shape)]
            allowed = (*sides, "all")
            for side in self.boundary:
                if side not in allowed:
                    raise ValueError(f"boundary.{side}: unknown side (use {', '.join(allowed)})")
            missing = [s for s in sides if s not in self.boundary and "all" not in self.boundary]
            if missing:
                raise ValueError(f"boundary: no condition for side {missing[0]!r}")
        if ":" in self.equation and not self.states:
            raise ValueError("a module:function equation needs 'states' (the state names)")
        if ":" not in self.equation and self.states is not None:
            raise ValueError("'states' is only used with module:function equations")
        return self


class FieldConfig(ParameterConfig):
    """A spatial unknown: one value per cell of a coarse inversion grid (`cells`, default the
    solver grid's), interpolated onto the solver grid, with a smoothness penalty
    `smoothness · ∫|∇z|²` on its optimizer variable `z` (log f for `transform: log`).
    `true` may be an expression of x (and y)."""

    cells: int | list[int] | None = None
    smoothness: NonNegative = 0.0
    interpolation: Literal["linear", "constant"] = "linear"
    true: Number | None = None
    init: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _number_is_fixed(cls, value):
        if isinstance(value, dict) and True in value:  # YAML reads the key `true` as a boolean
            value = {("true" if key is True else key): v for key, v in value.items()}
        return value


class AxisPoints(_Strict):
    """Sensor positions along one axis: a list, or `num` evenly spaced points strictly inside
    `[start, stop]`."""

    start: float
    stop: float
    num: Annotated[int, Field(ge=1)]


class PdeSyntheticData(_Strict):
    """Data simulated at the true values on a grid `refine` times finer (with a finer step),
    sampled at every sensor and time, plus noise of standard deviation `noise · max|u|`."""

    times: TimeGrid | list[float]
    sensors: dict[str, AxisPoints | list[float]]
    refine: Annotated[int, Field(ge=1, le=16)] = 3
    noise: NonNegative = 0.01
    seed: Seed = 0


class PdeFileData(_FileConfig):
    """Sensor data from a CSV/NPZ file (long: t, x[, y], variable, value[, sigma]; or wide:
    t, x[, y] and one column per state); `columns` renames (our name: the file's)."""


class PdeDataConfig(_Strict):
    """Where the sensor data come from: exactly one of `synthetic` or `file`; `t0` is the time
    of the initial condition."""

    synthetic: PdeSyntheticData | None = None
    file: PdeFileData | None = None
    t0: float = 0.0

    @model_validator(mode="after")
    def _exactly_one(self):
        if (self.synthetic is None) == (self.file is None):
            raise ValueError("give exactly one of 'synthetic' or 'file'")
        return self


class PdeRunConfig(_RunBase):
    """A PDE inverse problem (see `docs/pde.md`)."""

    model: PdeModelConfig
    fields: dict[str, FieldConfig] = {}
    observations: dict[str, ObservationConfig] = {}
    data: PdeDataConfig
    solver: SolverConfig = SolverConfig(name="rk4")
    fit: FitConfig = FitConfig(max_steps=50)

    @field_validator("observations", mode="before")
    @classmethod
    def _list_of_states(cls, value):
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return {v: {} for v in value}
        return value

    @field_validator("solver", mode="before")
    @classmethod
    def _rk4_by_default(cls, value):
        if isinstance(value, dict) and "name" not in value:
            return {"name": "rk4", **value}
        return value
