"""The configuration of a PDE run: model on a grid, boundary and initial conditions, coefficient
expressions, spatial unknowns and sensor data."""

from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from ..nn import ACTIVATIONS, INITIALIZATIONS
from ._schema import (
    ExperimentBase,
    FitConfig,
    NonNegative,
    ObservationConfig,
    ParameterConfig,
    Positive,
    Seed,
    SolverConfig,
    TimeGrid,
    _FileConfig,
    _RunBase,
    _Strict,
)
from ._sweep import EnsembleConfig, SweepConfig

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


def _file_initial_condition(value):
    """A mapping with `file` (and `column`) is one initial condition read from a file (not
    one per state)."""
    if isinstance(value, dict) and "file" in value and set(value) <= {"file", "column"}:
        return FileInitialCondition(**value)
    return value


InitialCondition = Number | FileInitialCondition | dict[str, Number | FileInitialCondition]


class PdeModelConfig(_Strict):
    """A PDE on a grid: the equation, discretization, boundary and initial conditions and the
    model's coefficients (numbers or expressions of x, y and the unknowns)."""

    equation: str
    grid: GridConfig
    discretization: Literal["finite_volume", "spectral"] = "finite_volume"
    boundary: BoundaryConfig | dict[str, BoundaryConfig] = BoundaryConfig(type="periodic")
    initial_condition: InitialCondition
    coefficients: dict[str, Number | list[Number]] = {}
    states: list[str] | None = None
    interpolation: Literal["linear", "spectral"] | None = None
    solve_with: Literal["grid", "pinn"] = "grid"

    @field_validator("initial_condition", mode="before")
    @classmethod
    def _file(cls, value):
        return _file_initial_condition(value)

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
    sampled at every sensor and time, plus noise of standard deviation `noise · max|u|`
    (per state; a state with another `likelihood` is drawn from it instead)."""

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


class PdeExperimentConfig(ExperimentBase):
    """One data set of a PDE joint fit (`experiments:`): its sensor `data`, and what differs
    from the shared config: `parameters` and noise levels (see `ExperimentBase`), the
    `initial_condition` and the `boundary` (each replacing the model's; expressions may use
    the scalar unknowns, a local one included). The grid, equation and solver are shared."""

    data: PdeDataConfig
    initial_condition: InitialCondition | None = None
    boundary: BoundaryConfig | dict[str, BoundaryConfig] | None = None

    @field_validator("initial_condition", mode="before")
    @classmethod
    def _file(cls, value):
        return _file_initial_condition(value)


Count = Annotated[int, Field(ge=1)]
Terms = Literal["residual", "initial", "boundary", "data"]


class PinnNetworkConfig(_Strict):
    """The network `u_θ(t, x[, y])` of a PINN (see `diffsim.nn`): `mlp` or `modified_mlp`,
    with an optional input embedding (`fourier`: `features` random Fourier features of
    frequency `scale`; `periodic`: `harmonics` per periodic axis, exact periodicity) and
    random weight `factorization` `[mean, std]`."""

    kind: Literal["mlp", "modified_mlp"] = "mlp"
    width: Count = 20
    depth: Annotated[int, Field(ge=1, le=64)] = 4
    activation: Literal[tuple(ACTIVATIONS)] = "tanh"
    init: Literal[tuple(INITIALIZATIONS)] = "glorot"
    embedding: Literal["none", "fourier", "periodic"] = "none"
    features: Count = 32
    scale: Positive = 1.0
    harmonics: Count = 5
    factorization: tuple[float, Positive] | None = None
    dtype: Literal["float32", "float64"] = "float32"


class PinnAdaptiveConfig(_Strict):
    """Residual-based adaptive refinement of the collocation points (RAR-D)."""

    every: Count = 1000
    candidates: Count = 10
    power: NonNegative = 2.0
    floor: NonNegative = 1.0


class PinnCollocationConfig(_Strict):
    """Where the PDE residual is enforced: `points` drawn by `sampler` in the time-space box
    (`data`: the data points themselves, as Raissi et al.; then `points` is not given),
    redrawn every `resample_every` Adam steps (0: never) or refined by `adaptive`."""

    points: Count | None = None
    sampler: Literal["latin_hypercube", "sobol", "uniform", "data"] = "latin_hypercube"
    resample_every: Annotated[int, Field(ge=0)] = 0
    adaptive: PinnAdaptiveConfig | None = None

    @model_validator(mode="after")
    def _points(self):
        if self.sampler == "data" and self.points is not None:
            raise ValueError("'points' is not used with sampler 'data' (the data points are used)")
        if self.sampler == "data" and (self.resample_every or self.adaptive is not None):
            raise ValueError("sampler 'data' gives fixed points: no resampling or refinement")
        return self


class PinnWeightingConfig(_Strict):
    """Loss weights: `fixed` (`weights` per term, 1 when left out) or `gradnorm` (balanced by
    gradient norms every `every` Adam steps, with `momentum`)."""

    kind: Literal["fixed", "gradnorm"] = "fixed"
    weights: dict[Terms, NonNegative] = {}
    every: Count = 100
    momentum: Annotated[float, Field(ge=0, lt=1)] = 0.9

    @model_validator(mode="after")
    def _weights_are_fixed(self):
        if self.kind == "gradnorm" and self.weights:
            raise ValueError("'weights' are set by 'gradnorm'; give them with kind 'fixed'")
        return self


class PinnCausalConfig(_Strict):
    """Causal weighting of the residual in time (`chunks` time slices, `epsilon`)."""

    epsilon: Positive = 1.0
    chunks: Count = 32


class PinnAdamConfig(_Strict):
    """The first phase: Adam (optax) for `steps` steps at `learning_rate`."""

    steps: Annotated[int, Field(ge=0)] = 1000
    learning_rate: Positive = 1e-3


class PinnLbfgsConfig(_Strict):
    """The second phase: at most `steps` L-BFGS iterations (scipy), in float64 if `float64`."""

    steps: Annotated[int, Field(ge=0)] = 1000
    float64: bool = True


class PinnConfig(_Strict):
    """How a PINN solves the model (`model.solve_with: pinn`; see `docs/pinn.md`).

    `time` is the interval `[t0, t1]` of the residual (default: `data.t0` to the last data
    time); `initial_points` and `boundary_points` (per boundary end) are the points of the
    initial and boundary terms; `hard` imposes conditions exactly through the ansatz;
    `reference` solves the model on `model.grid` with `solver` to measure the network's error.
    """

    network: PinnNetworkConfig = PinnNetworkConfig()
    collocation: PinnCollocationConfig = PinnCollocationConfig()
    initial_points: Count = 100
    boundary_points: Count = 50
    hard: list[Literal["initial", "boundary"]] = []
    weighting: PinnWeightingConfig = PinnWeightingConfig()
    causal: PinnCausalConfig | None = None
    adam: PinnAdamConfig = PinnAdamConfig()
    lbfgs: PinnLbfgsConfig = PinnLbfgsConfig()
    time: tuple[float, float] | None = None
    seed: Seed = 0
    log_every: Count = 100
    checkpoint_every: Count = 1000
    reference: bool = True

    @field_validator("time")
    @classmethod
    def _width(cls, value):
        if value is not None and not value[1] > value[0]:
            raise ValueError(f"the time interval has zero width ({value[0]} to {value[1]})")
        return value


class PdeRunConfig(_RunBase):
    """A PDE inverse problem (see `docs/pde.md`).

    With `model.solve_with: pinn` the model is solved by a physics-informed network as the
    `pinn` section says (see `docs/pinn.md`).

    **Example:** a `model` with an `equation` makes a PDE config.

    ```python
    import diffsim

    config = diffsim.config.validate_config({
        "model": {
            "equation": "heat",
            "grid": {"cells": 32},
            "boundary": {"left": {"dirichlet": 0.0}, "right": {"dirichlet": 0.0}},
            "initial_condition": "sin(pi*x)",
        },
        "parameters": {"diffusivity": {"init": 0.5}},
        "data": {"synthetic": {"times": [0.1], "sensors": {"x": [0.5]}}},
    })
    assert isinstance(config, diffsim.config.PdeRunConfig) and config.solver.name == "rk4"
    ```
    """

    model: PdeModelConfig
    fields: dict[str, FieldConfig] = {}
    observations: dict[str, ObservationConfig] = {}
    experiments: list[PdeExperimentConfig] | None = None
    data: PdeDataConfig | None = None
    solver: SolverConfig = SolverConfig(name="rk4")
    fit: FitConfig = FitConfig(max_steps=50)
    pinn: PinnConfig | None = None
    sweep: SweepConfig | None = None
    ensemble: EnsembleConfig | None = None

    def experiment_model(self, index: int) -> PdeModelConfig:
        """The model of experiment `index`: the shared one with the experiment's initial
        condition and boundary in place of its own."""
        experiment = self.experiments[index]
        update = {
            key: getattr(experiment, key)
            for key in ("initial_condition", "boundary")
            if getattr(experiment, key) is not None
        }
        if not update:
            return self.model
        try:
            return PdeModelConfig.model_validate({**self.model.model_dump(), **update})
        except ValidationError as error:
            first = error.errors()[0]  # the model's checks name the key in their message
            where = ".".join(str(part) for part in first["loc"])
            reason = first["msg"].removeprefix("Value error, ")
            text = f"{where}: {reason}" if where else reason
            raise ValueError(f"experiments.{index}.{text}") from None

    @model_validator(mode="after")
    def _joint_fits(self):
        """Experiments share the grid model's scalar unknowns (fields and PINNs refused)."""
        if self.experiments is None:
            return self
        if self.model.solve_with == "pinn":
            raise ValueError(
                "experiments: joint fits are solved on the grid; model.solve_with: pinn trains "
                "one network on one data set"
            )
        if self.fields:
            raise ValueError(
                f"fields.{next(iter(self.fields))}: a joint fit (experiments) estimates scalar "
                "parameters only; give the field as one data set's fit"
            )
        for index in range(len(self.experiments)):
            self.experiment_model(index)
        return self

    @model_validator(mode="after")
    def _pinn_section(self):
        if self.model.solve_with == "grid" and self.pinn is not None:
            raise ValueError("pinn: only used with model.solve_with: pinn")
        if self.model.solve_with == "pinn":
            default = PdeRunConfig.model_fields["fit"].default
            unused = [
                key
                for key in FitConfig.model_fields
                if key != "scale_covariance" and getattr(self.fit, key) != getattr(default, key)
            ]
            if unused:
                raise ValueError(
                    f"fit.{unused[0]}: not used when model.solve_with is pinn (the network is "
                    "trained as the pinn section says)"
                )
            if self.fields:
                raise ValueError(
                    f"fields.{next(iter(self.fields))}: a PINN identifies scalar parameters only"
                )
        return self

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
