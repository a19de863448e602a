"""The run configuration of ODE fits, and the sections every run shares: a pydantic schema
that rejects unknown keys and names key paths."""

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..inverse._jacobian_mode import GRADIENT_MODES, mode_adjoint_conflict
from ..nn import ACTIVATIONS

SOLVERS = ("euler", "heun", "rk4", "bosh3", "dopri5", "tsit5", "kvaerno5", "stiff", "etdrk4")
ADJOINTS = ("auto", "direct", "checkpoint", "backsolve", "forward")
Positive = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]
Seed = Annotated[int, Field(ge=0, lt=2**63)]
"""A random seed: 0 <= seed < 2**63."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelConfig(_Strict):
    """Which ODE system: exactly one of `builtin`, `equations` or `function`."""

    builtin: str | None = None
    equations: dict[str, str] | None = None
    function: str | None = None
    states: list[str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _name_only(cls, value):
        return {"builtin": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _exactly_one(self):
        given = [k for k in ("builtin", "equations", "function") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of 'builtin', 'equations' or 'function'"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.function is not None and not self.states:
            raise ValueError("a 'function' model needs 'states' (the state names, in order)")
        if self.function is None and self.states is not None:
            raise ValueError("'states' is only used with 'function' models")
        return self


class PriorConfig(_Strict):
    """A prior: exactly one of `normal: [mean, sd]`, `lognormal: [mean, sd]` (of the log) or
    `uniform: [low, high]` (the same as bounds)."""

    normal: tuple[float, Positive] | None = None
    lognormal: tuple[float, Positive] | None = None
    uniform: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _exactly_one(self):
        given = [k for k in ("normal", "lognormal", "uniform") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'normal', 'lognormal' or 'uniform'")
        if self.uniform is not None and not self.uniform[0] < self.uniform[1]:
            raise ValueError("uniform: [low, high] needs low < high")
        return self


class ParameterConfig(_Strict):
    """An unknown (or fixed) quantity: starting value, bounds, transform, true value, prior."""

    init: float | None = None
    bounds: tuple[float | None, float | None] | None = None
    transform: Literal["none", "log", "positive"] = "none"
    fixed: bool = False
    true: float | None = None
    prior: PriorConfig | None = None

    @model_validator(mode="after")
    def _uniform_is_bounds(self):
        if self.prior is not None and self.prior.uniform is not None:
            if self.bounds is not None and tuple(self.bounds) != tuple(self.prior.uniform):
                raise ValueError("prior.uniform: it sets the bounds; give one or the other")
            return self.model_copy(update={"bounds": tuple(self.prior.uniform)})
        return self

    @model_validator(mode="before")
    @classmethod
    def _number_is_fixed(cls, value):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return {"init": value, "fixed": True}
        if isinstance(value, dict) and True in value:  # YAML reads the key `true` as a boolean
            value = {("true" if key is True else key): v for key, v in value.items()}
        return value


class ObservationConfig(_Strict):
    """One observed quantity: an expression of states (default: the state of the same name),
    its likelihood, and (Gaussian) its noise level
    `sqrt(sigma^2 + (sigma_relative * |value|)^2)`; (log-normal) `sigma` of `log value`;
    (negative binomial) the `dispersion` `k` of variance `m + m^2 / k`. `sigma: estimate` and
    `dispersion: estimate` make the noise level or dispersion a free parameter
    (`sigma_<name>`, `dispersion_<name>`)."""

    expression: str | None = None
    likelihood: Literal["gaussian", "poisson", "negative_binomial", "lognormal"] = "gaussian"
    sigma: NonNegative | Literal["estimate"] | None = None
    sigma_relative: NonNegative = 0.0
    dispersion: Positive | Literal["estimate"] | None = None

    @model_validator(mode="after")
    def _some_noise(self):
        counts = self.likelihood in ("poisson", "negative_binomial")
        if counts and (self.sigma is not None or self.sigma_relative):
            raise ValueError(
                f"sigma: the {self.likelihood} likelihood sets the noise from the mean; "
                "leave sigma and sigma_relative out"
            )
        if (self.dispersion is None) == (self.likelihood == "negative_binomial"):
            raise ValueError(
                "dispersion: give it with likelihood negative_binomial (and only then)"
            )
        if self.sigma == "estimate" and self.sigma_relative:
            raise ValueError("sigma: estimate takes no sigma_relative")
        if self.likelihood == "lognormal" and (not self.sigma or self.sigma_relative):
            raise ValueError(
                "sigma: the lognormal likelihood needs sigma > 0, the standard deviation of "
                "log(value) (and no sigma_relative)"
            )
        if self.sigma == 0 and self.sigma_relative == 0:
            raise ValueError(
                "sigma: 0 means noise-free data, which no fit can weight (chi-square would "
                "divide by zero); give the noise standard deviation, or leave sigma out"
            )
        return self


class TimeGrid(_Strict):
    """Evenly spaced times `start, ..., stop` (`num` points)."""

    start: float
    stop: float
    num: Annotated[int, Field(ge=2)]

    @model_validator(mode="after")
    def _increasing(self):
        if not self.stop > self.start:
            raise ValueError("'stop' must be greater than 'start'")
        return self


class SyntheticDataConfig(_Strict):
    """Data simulated at the true parameter values plus Gaussian noise (the observations'
    `sigma` / `sigma_relative`); solved more accurately than the fit by default."""

    times: TimeGrid | list[float]
    seed: Seed = 0
    noise: bool = True
    rtol: Positive | None = None
    atol: Positive | None = None
    dt: Positive | None = None


class _FileConfig(_Strict):
    """A data file (path relative to the config file); a bare string is the path."""

    path: str
    columns: dict[str, str] = {}

    @model_validator(mode="before")
    @classmethod
    def _path_only(cls, value):
        return {"path": value} if isinstance(value, str) else value


class FileDataConfig(_FileConfig):
    """Data read from a CSV or NPZ file (path relative to the config file)."""

    time_column: str = "t"


class DataConfig(_Strict):
    """Where the observations come from: exactly one of `synthetic` or `file`."""

    synthetic: SyntheticDataConfig | None = None
    file: FileDataConfig | None = None
    t0: float | None = None

    @model_validator(mode="after")
    def _exactly_one(self):
        if (self.synthetic is None) == (self.file is None):
            raise ValueError("give exactly one of 'synthetic' or 'file'")
        return self


class SolverConfig(_Strict):
    """Solver settings, read into a typed `diffsim.inverse.SolverOptions`. For PDEs a fixed
    step `dt` left out is chosen stable for the starting values (explicit solvers)."""

    name: Literal[SOLVERS] = "tsit5"
    rtol: Positive = 1e-6
    atol: Positive = 1e-9
    dt: Positive | None = None
    max_steps: Annotated[int, Field(gt=0)] = 4096


class GradientConfig(_Strict):
    """How derivatives are taken: Jacobian mode and the ODE adjoint (a compatible pair)."""

    mode: Literal[GRADIENT_MODES] = "auto"
    adjoint: Literal[ADJOINTS] = "auto"

    @field_validator("adjoint")
    @classmethod
    def _compatible(cls, value, info: ValidationInfo):
        conflict = mode_adjoint_conflict(info.data.get("mode", "auto"), value)
        if conflict is not None:
            raise ValueError(conflict)
        return value


class MultistartConfig(_Strict):
    """Several starting points, optimized together (batched with `vmap`)."""

    count: Annotated[int, Field(ge=1)] = 1
    spread: Positive = 0.5
    seed: Seed = 0


class FitConfig(_Strict):
    """The optimizer and its stopping rules."""

    method: str = "levenberg_marquardt"
    max_steps: Annotated[int, Field(ge=1)] = 200
    learning_rate: Positive = 1e-2
    options: dict[str, float | int | bool | str] = {}
    ftol: NonNegative = 1e-8
    xtol: NonNegative = 1e-8
    gtol: NonNegative = 1e-8
    scale_covariance: bool = True
    multistart: MultistartConfig = MultistartConfig()

    @field_validator("method")
    @classmethod
    def _known(cls, value):
        known = (
            "levenberg_marquardt",
            "gauss_newton",
            "trust_region_reflective",
            "lbfgs",
            "adam",
        )
        if value not in known and not value.startswith("optax."):
            raise ValueError(f"unknown method {value!r} (use {', '.join(known)} or optax.<name>)")
        return value


class BootstrapConfig(_Strict):
    """A parametric bootstrap: refit `samples` data sets simulated from the estimate."""

    samples: Annotated[int, Field(ge=0, le=100_000)] = 0
    seed: Seed = 0

    @model_validator(mode="before")
    @classmethod
    def _count_only(cls, value):
        return (
            {"samples": value} if isinstance(value, int) and not isinstance(value, bool) else value
        )


class UncertaintyConfig(_Strict):
    """Confidence intervals beside the linearized standard errors: profile likelihood
    (`auto`: for at most 20 scalar unknowns) and an optional parametric bootstrap."""

    level: Annotated[float, Field(gt=0, lt=1)] = 0.95
    profile: bool | Literal["auto"] = "auto"
    bootstrap: BootstrapConfig = BootstrapConfig()


class ForecastConfig(_Strict):
    """Draw the fitted model up to `until` (beyond the data) with confidence and prediction
    bands, and every state of the model, observed or not: per experiment in a joint fit; at
    every sensor, and each field at `until`, in a PDE run."""

    until: float


class ReportConfig(_Strict):
    """What the run folder gets besides `result.json`."""

    title: str | None = None
    plots: bool = True
    html: bool = True
    dpi: Annotated[int, Field(ge=30, le=600)] = 110
    correlation_threshold: Annotated[float, Field(ge=0, le=1)] = 0.1
    points: Annotated[int, Field(ge=10)] = 400
    taylor_test: bool = True
    forecast: ForecastConfig | None = None


class NeuralAdamConfig(_Strict):
    """The first training phase of a universal ODE: Adam on the whole series."""

    steps: Annotated[int, Field(ge=0)] = 300
    learning_rate: Positive = 1e-2


class NeuralLbfgsConfig(_Strict):
    """The second training phase of a universal ODE: L-BFGS (optax) on the whole series."""

    steps: Annotated[int, Field(ge=0)] = 500


class RecoverConfig(_Strict):
    """From network to equations: sparse regression of the learned term over polynomials up to
    `degree` (ridge STLSQ, `criterion` over a threshold sweep), terms chosen by refits to the
    data when `select`, then the recovered equation refitted as a plain ODE."""

    degree: Annotated[int, Field(ge=1, le=5)] = 3
    ridge: NonNegative = 1e-2
    criterion: Literal["aic", "bic"] = "bic"
    select: bool = True


class NeuralConfig(_Strict):
    """The network of a universal ODE, called as `nn(inputs)[i]` in `model.equations`, how it
    is trained (`adam`, then `lbfgs`) and how its learned term is turned into equations
    (`recover`, `null` to skip)."""

    inputs: Annotated[list[str], Field(min_length=1)]
    outputs: Annotated[int, Field(ge=1)]
    width: Annotated[int, Field(ge=1)] = 5
    depth: Annotated[int, Field(ge=1, le=64)] = 3
    activation: Literal[tuple(ACTIVATIONS)] = "tanh"
    seed: Seed = 0
    # The true network outputs, expressions of the inputs (synthetic data): the report draws
    # the learned term and the extrapolation against them.
    truth: list[str] | None = None
    adam: NeuralAdamConfig = NeuralAdamConfig()
    lbfgs: NeuralLbfgsConfig = NeuralLbfgsConfig()
    # Stop training once chi-square per data value falls to this (1: the noise level, the
    # discrepancy principle); null: run every step.
    stop_below: Positive | None = None
    recover: RecoverConfig | None = RecoverConfig()


class _RunBase(_Strict):
    """What every run has, whatever its model kind."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=100)] = "run"
    description: str = ""
    seed: Seed = 0
    parameters: dict[str, ParameterConfig] = {}
    gradient: GradientConfig = GradientConfig()
    fit: FitConfig = FitConfig()
    uncertainty: UncertaintyConfig = UncertaintyConfig()
    report: ReportConfig = ReportConfig()

    @field_validator("name")
    @classmethod
    def _one_folder(cls, value):
        if set(value) == {"."}:
            raise ValueError("a run name cannot be '.' or '..' (it names a folder under runs/)")
        return value

    local: list[str] = []

    @field_validator("experiments", mode="before", check_fields=False)
    @classmethod
    def _named(cls, value):
        """Experiments without a `name` are named `exp1`, `exp2`, ... (their position);
        synthetic data without a `seed` get seed `i` (experiment `i` counted from 0), so that
        experiments draw different noise."""
        if not isinstance(value, list):
            return value
        out = []
        for i, item in enumerate(value):
            if isinstance(item, dict):
                item = {"name": f"exp{i + 1}", **item}
                synthetic = (item.get("data") or {}).get("synthetic")
                if isinstance(synthetic, dict) and "seed" not in synthetic:
                    data = {**item["data"], "synthetic": {**synthetic, "seed": i}}
                    item = {**item, "data": data}
            out.append(item)
        return out

    @model_validator(mode="after")
    def _data_or_experiments(self):
        """`data`, or `experiments` (each with its own data, uniquely named) and `local`."""
        if self.experiments is None:
            if self.data is None:
                raise ValueError("data: required key is missing")
            if self.local:
                raise ValueError("local: local parameters need 'experiments' (several data sets)")
            return self
        if not self.experiments:
            raise ValueError("experiments: the list is empty (give at least one data set)")
        if self.data is not None:
            raise ValueError(
                "data: a joint fit reads each experiment's own data (experiments[i].data); "
                "leave the top-level data out"
            )
        names = [e.name for e in self.experiments]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ValueError(f"experiments.{i}.name: {name!r} names two experiments")
        for i, name in enumerate(self.local):
            if name in self.local[:i]:
                raise ValueError(f"local: {name!r} is listed twice")
        return self

    def data_sections(self) -> list[tuple[str, object]]:
        """`(key path, data section)` of every data set: `data`, or each experiment's."""
        if self.experiments is None:
            return [("data", self.data)]
        return [(f"experiments.{i}.data", e.data) for i, e in enumerate(self.experiments)]

    @model_validator(mode="after")
    def _forecast_supported(self):
        # PDE runs solved by a network (model.solve_with: pinn) have no solver to run on
        if self.report.forecast is not None and getattr(self.model, "solve_with", "") == "pinn":
            raise ValueError(
                "report.forecast: forecasts are drawn by the grid solver, not for "
                "model.solve_with: pinn; leave it out"
            )
        return self


class ExperimentObservationConfig(_Strict):
    """The noise level of one observable in one experiment (another instrument or lab): it
    replaces the shared `sigma` / `sigma_relative` there. What is observed, and how
    (expression, likelihood), is shared."""

    sigma: Positive | None = None
    sigma_relative: NonNegative | None = None


class ExperimentBase(_Strict):
    """What an experiment of a joint fit has, whatever its model kind: a name, its
    `parameters` (a number: a known value in this experiment; a mapping `{init: ...}`: an
    unknown estimated for this experiment alone, reported as `name[experiment]`) and its
    noise levels (`observations`); the solver is shared."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=100)] | None = None
    parameters: dict[str, ParameterConfig] = {}
    observations: dict[str, ExperimentObservationConfig] = {}
    solver: dict | None = None  # refused below, with the reason

    @field_validator("solver")
    @classmethod
    def _shared_solver(cls, value):
        raise ValueError(
            "the experiments share the top-level solver (one compiled solve serves them all); "
            "set it at the top level"
        )


class ExperimentConfig(ExperimentBase):
    """One data set of an ODE joint fit (`experiments:`): its data, and what differs from
    the shared config (see `ExperimentBase`). In `initial_state` a number is a known value,
    a mapping an unknown of this experiment alone, a string an expression."""

    data: DataConfig
    initial_state: dict[str, float | str | ParameterConfig] = {}


class OdeRunConfig(_RunBase):
    """An ODE parameter-estimation run (see `docs/config.md`).

    With `experiments`, several data sets are fitted together: the parameters are shared
    unless named in `local` or set in an experiment; each experiment gives its own `data`.

    **Example:** defaults fill in what a config leaves out.

    ```python
    import diffsim

    config = diffsim.config.OdeRunConfig.model_validate({
        "model": "lotka_volterra",
        "parameters": {"alpha": {"init": 1.0, "transform": "log"}},
        "observations": {"x": {"sigma_relative": 0.05}},
        "data": {"file": "counts.csv"},
    })
    assert config.solver.name == "tsit5" and config.fit.method == "levenberg_marquardt"
    assert config.parameters["alpha"].transform == "log" and config.experiments is None
    ```
    """

    model: ModelConfig
    initial_state: dict[str, float | str | ParameterConfig] = {}
    observations: dict[str, ObservationConfig]
    data: DataConfig | None = None
    experiments: list[ExperimentConfig] | None = None
    solver: SolverConfig = SolverConfig()
    neural: NeuralConfig | None = None

    @model_validator(mode="after")
    def _joint_without_network(self):
        if self.experiments is not None and self.neural is not None:
            raise ValueError("experiments: joint fits of universal ODEs (neural) are not supported")
        return self

    sweep: "SweepConfig | None" = None
    ensemble: "EnsembleConfig | None" = None

    @field_validator("observations", mode="before")
    @classmethod
    def _list_of_states(cls, value):
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return {v: {} for v in value}
        return value

    @field_validator("observations")
    @classmethod
    def _not_empty(cls, value):
        if not value:
            raise ValueError("at least one observation is needed")
        return value

    @model_validator(mode="after")
    def _estimates_need_measured_data(self):
        synthetic = any(d.synthetic is not None for _, d in self.data_sections())
        for name, o in self.observations.items():
            key = "sigma" if o.sigma == "estimate" else "dispersion"
            if synthetic and "estimate" in (o.sigma, o.dispersion):
                raise ValueError(
                    f"observations.{name}.{key}: estimate needs data from a file (synthetic "
                    f"data are simulated with a given {key})"
                )
        return self


from ._sweep import EnsembleConfig, SweepConfig  # noqa: E402 (they build on the classes above)

OdeRunConfig.model_rebuild()
