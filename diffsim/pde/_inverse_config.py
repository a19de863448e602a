"""The config of a PDE inverse problem (`configs/pde_*.yaml`), validated with pydantic."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

PROBLEMS = (
    "heat_diffusivity",
    "heat_diffusivity_field",
    "heat_initial_condition",
    "burgers_viscosity",
    "wave_speed",
    "advection_diffusion_source",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GridConfig(_Strict):
    """The inversion grid: `cells` uniform cells (the box is the problem's own)."""

    cells: Annotated[int, Field(ge=8, le=4096)] = 32


class DataConfig(_Strict):
    """Synthetic data: simulated on a grid `refine` times finer (with a matching smaller step),
    sampled at `sensors` positions and `times` instants, plus Gaussian noise of standard
    deviation `noise` times the largest clean value."""

    refine: Annotated[int, Field(ge=1, le=16)] = 3
    sensors: Annotated[int, Field(ge=1)] = 16
    times: Annotated[int, Field(ge=1)] = 8
    noise: Annotated[float, Field(ge=0)] = 0.01
    seed: int = 0


class RegularizationConfig(_Strict):
    """Smoothness penalty `weight · ∫ |∂ₓ field|²` on field unknowns (0 turns it off)."""

    weight: Annotated[float, Field(ge=0)] = 0.0


class FitSettings(_Strict):
    """The optimizer."""

    method: Literal["levenberg_marquardt", "lbfgs", "adam"] = "levenberg_marquardt"
    max_steps: Annotated[int, Field(ge=1)] = 50
    learning_rate: Annotated[float, Field(gt=0)] = 1e-2
    tolerance: Annotated[float, Field(gt=0)] = 1e-10


class ReportSettings(_Strict):
    """What the run folder gets besides `result.json`."""

    plots: bool = True
    dpi: Annotated[int, Field(ge=30, le=600)] = 110


class PDEInverseConfig(_Strict):
    """A PDE inverse problem: which one, its grid, data, regularization and optimizer.

    `truth` and `init` override the problem's true values and starting guesses by name (see
    `docs/pde.md` for the names each problem knows).
    """

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")] = "pde_run"
    description: str = ""
    problem: Literal[PROBLEMS]
    grid: GridConfig = GridConfig()
    data: DataConfig = DataConfig()
    regularization: RegularizationConfig = RegularizationConfig()
    truth: dict[str, float] = {}
    init: dict[str, float] = {}
    fit: FitSettings = FitSettings()
    report: ReportSettings = ReportSettings()
