"""Turn a PDE config with `model.solve_with: pinn` into a `PinnInverseProblem`.

The grid problem of the same config is built first (data, noise levels, unknowns, the solver
of the reference); the same model, coefficient expressions, initial and boundary conditions
then become the loss terms of a network.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .. import nn, pinn
from ..inverse import parse_expression
from ..pde import Dirichlet, Grid, Neumann, Periodic
from ._build_pde import AXES, _model_factory, _periodic, _sides, build_pde_problem
from ._pde_schema import SIDES, FileInitialCondition, PdeRunConfig, PinnConfig

#: Collocation points when `pinn.collocation.points` is left out (and the sampler is not data).
DEFAULT_POINTS = 1000

#: Where `PINNProblem`'s messages point in a config.
_KEYS = {
    "hard": "pinn.hard",
    "t_span": "pinn.time",
    "n_initial": "pinn.initial_points",
    "n_boundary": "pinn.boundary_points",
    "boundary": "model.boundary",
    "params": "model.coefficients",
    "model": "model.equation",
}


class _Known:
    """Expressions of the coordinates and the parameters, evaluated pointwise for a PINN."""

    def __init__(self, config: PdeRunConfig, fixed: dict[str, float]):
        self.ndim = len(config.model.grid.shape)
        self.axes = AXES[: self.ndim]
        self.symbols = (*self.axes, *config.parameters)
        self.fixed = fixed
        self.free = [n for n in config.parameters if n not in fixed]

    def parse(self, value, where, *, known: bool):
        """A float, or an `Expression`; `known`: refuse expressions of free unknowns."""
        if isinstance(value, (int, float)):
            return float(value)
        expression = parse_expression(value, self.symbols, where=where)
        unknown = [s for s in expression.symbols if s in self.free]
        if known and unknown:
            raise ValueError(
                f"{where}: a PINN needs this known (an expression of {', '.join(self.axes)} and "
                f"fixed parameters); it uses the unknown {unknown[0]!r}"
            )
        return expression

    def at(self, expression, values: dict):
        """A constant, or a function of the point `x` when the expression reads coordinates."""
        if isinstance(expression, float):
            return expression
        env = {**self.fixed, **values}
        if any(a in expression.symbols for a in self.axes):
            return lambda x: expression({**env, **{a: x[i] for i, a in enumerate(self.axes)}})
        return expression(env)


def _model(config: PdeRunConfig, known: _Known):
    """The model with a pointwise equation, its boundary conditions and states."""
    spec = config.model
    if ":" in spec.equation or spec.equation == "navier_stokes":
        raise ValueError(
            f"model.equation: {spec.equation!r} has no pointwise equation for a PINN (use a "
            "built-in local model: heat, advection_diffusion, burgers, wave, fisher_kpp, "
            "gray_scott, allen_cahn)"
        )
    periodic = _periodic(config)
    pointwise = spec.model_copy(update={"discretization": "finite_volume"})
    make, parameters, optional, states = _model_factory(
        config.model_copy(update={"model": pointwise}), periodic
    )
    sides, names = _sides(config), SIDES[known.ndim]
    kinds = {"dirichlet": Dirichlet, "neumann": Neumann}
    per_axis = []
    for axis in range(known.ndim):
        pair = []
        for side in names[2 * axis : 2 * axis + 2]:
            bc = sides[side]
            if bc.type == "absorbing":
                raise ValueError(
                    f"model.boundary.{side}: 'absorbing' is not accepted by a PINN "
                    "(use dirichlet, neumann or periodic)"
                )
            if bc.type == "periodic":
                pair.append(Periodic())
                continue
            value = known.at(known.parse(bc.value, f"model.boundary.{side}.value", known=True), {})
            pair.append(kinds[bc.type](float(value)))
        per_axis.append(tuple(pair))
    lower, upper = spec.grid.box()
    grid = Grid(spec.grid.shape, lower, upper)
    return make(grid, tuple(per_axis) if known.ndim > 1 else per_axis[0]), parameters, states


def _coefficients(config: PdeRunConfig, known: _Known, parameters):
    """`values -> params`: the model's coefficients from the unknowns' values."""
    spec = config.model
    expressions = {}
    for key in parameters:
        where = f"model.coefficients.{key}"
        value = spec.coefficients.get(key, key if key in config.parameters else None)
        if value is None:
            continue  # optional (the grid build has refused a missing one)
        if isinstance(value, list):
            expressions[key] = [
                known.parse(v, f"{where}[{i}]", known=False) for i, v in enumerate(value)
            ]
        else:
            expressions[key] = known.parse(value, where, known=False)

    def coefficients(values):
        return {
            key: tuple(known.at(e, values) for e in value)
            if isinstance(value, list)
            else known.at(value, values)
            for key, value in expressions.items()
        }

    return coefficients


def _initial(config: PdeRunConfig, known: _Known, states):
    """`u0(x)`: a scalar for one state, else one entry per state."""
    given = config.model.initial_condition
    single = not isinstance(given, dict)
    given = {states[0]: given} if single else given
    parts = []
    for state in states:
        where = "model.initial_condition" + ("" if single else f".{state}")
        value = given[state]
        if isinstance(value, FileInitialCondition):
            raise ValueError(
                f"{where}.file: a PINN needs the initial condition as an expression of "
                f"{', '.join(known.axes)}"
            )
        parts.append(known.parse(value, where, known=True))

    def u0(x):
        values = [known.at(p, {}) for p in parts]
        values = [jnp.asarray(v(x) if callable(v) else v) for v in values]
        return values[0] if len(values) == 1 else jnp.stack(values)

    return u0


def _network(spec, in_size: int, out_size, periodic_axes, seed: int):
    """The configured network; `periodic_axes` are the spatial axes with periodic ends."""
    key_embedding, key = jax.random.split(jax.random.PRNGKey(seed))
    embedding = None
    if spec.embedding == "fourier":
        embedding = nn.FourierFeatures(
            in_size, spec.features, spec.scale, dtype=spec.dtype, key=key_embedding
        )
    elif spec.embedding == "periodic":
        if not periodic_axes:
            raise ValueError(
                "pinn.network.embedding: 'periodic' needs a periodic axis (model.boundary)"
            )
        # The network sees coordinates scaled to [-1, 1]: the period is 2 there.
        embedding = nn.PeriodicEmbedding({1 + a: 2.0 for a in periodic_axes}, spec.harmonics)
    cls = nn.MLP if spec.kind == "mlp" else nn.ModifiedMLP
    return cls(
        in_size,
        out_size,
        spec.width,
        spec.depth,
        spec.activation,
        spec.init,
        embedding=embedding,
        factorization=None if spec.factorization is None else tuple(spec.factorization),
        dtype=spec.dtype,
        key=key,
    )


def _collocation(spec, data_points: np.ndarray) -> pinn.Collocation:
    if spec.sampler == "data":
        return pinn.Collocation(len(data_points), pinn.Given(data_points))
    adaptive = None
    if spec.adaptive is not None:
        a = spec.adaptive
        adaptive = pinn.ResidualAdaptive(a.every, a.candidates, a.power, a.floor)
    return pinn.Collocation(
        spec.points or DEFAULT_POINTS,
        pinn.SAMPLERS[spec.sampler](),
        spec.resample_every,
        adaptive,
    )


def _located(error: ValueError) -> ValueError:
    """`PINNProblem`'s message with its key mapped to the config's key path."""
    text = str(error)
    head, _, rest = text.partition(":")
    first, dot, tail = head.partition(".")
    if first in _KEYS:
        return ValueError(f"{_KEYS[first]}{dot}{tail}:{rest}")
    return ValueError(text)


def _check_statistics(config: PdeRunConfig) -> None:
    """A PINN's data term is an unweighted mean square: no priors, Gaussian data of a
    known noise level."""
    for name, spec in config.parameters.items():
        if spec.prior is not None:
            raise ValueError(f"parameters.{name}.prior: a PINN run takes no priors")
    for name, spec in config.observations.items():
        if spec.likelihood != "gaussian":
            raise ValueError(
                f"observations.{name}.likelihood: a PINN's data term is a mean square "
                "(gaussian only)"
            )
        if spec.sigma == "estimate":
            raise ValueError(
                f"observations.{name}.sigma: a PINN run does not estimate the noise level "
                "(its error bars scale with the data misfit; see fit.scale_covariance)"
            )


def build_pinn_problem(config: PdeRunConfig, base_dir: str | Path = ".") -> pinn.PinnInverseProblem:
    """The `PinnInverseProblem` of a config with `model.solve_with: pinn`.

    **Raises:** `ValueError` (or `DataError`) with one line naming the key path or data file.

    **Example:** the shipped Burgers identification config, solved by a network.

    ```python
    # slow
    import pathlib

    import diffsim

    configs = pathlib.Path(diffsim.__file__).parents[1] / "configs"  # in a source checkout
    config = diffsim.load_config(configs / "burgers_identification_pinn.yaml")
    problem = diffsim.config.build_pinn_problem(config, base_dir=configs)
    assert isinstance(problem, diffsim.pinn.PinnInverseProblem)
    print(problem.space.names)
    ```
    """
    _check_statistics(config)
    base = build_pde_problem(config, base_dir)
    settings = config.pinn or PinnConfig()
    known = _Known(config, dict(base.fixed))
    model, parameters, states = _model(config, known)
    coefficients = _coefficients(config, known, parameters)
    initial = _initial(config, known, states)

    t0 = config.data.t0
    t_span = settings.time or (t0, float(np.max(base.times)))
    if settings.time is None and not t_span[1] > t0:
        raise ValueError("pinn.time: the data hold no time after data.t0; give pinn.time")
    kept = np.isfinite(base.observed)
    sigma = np.unique(base.sigma[kept])
    if sigma.size > 1 and np.ptp(sigma) > 1e-12 * np.max(sigma):
        raise ValueError(
            "observations: a PINN's data term is an unweighted mean square; give one noise "
            "level for all values (observations.<state>.sigma, no sigma column)"
        )
    data = pinn.Observations(
        jnp.asarray(base.times[kept]),
        jnp.asarray(base.coordinates[kept]),
        jnp.asarray(base.observed[kept]),
        float(sigma[0]),
        None if len(states) == 1 else jnp.asarray(base.variables[kept]),
    )
    unknowns = {
        p.name: pinn.Unknown(p.init, p.transform, p.lower, p.upper, where=f"parameters.{p.name}")
        for p in base.space.parameters
    }
    spec = settings.collocation
    data_points = np.column_stack([base.times[kept], base.coordinates[kept]])
    collocation = _collocation(spec, data_points)
    try:
        problem = pinn.PINNProblem(
            model,
            t_span,
            unknowns=unknowns,
            initial=initial,
            data=data,
            n_initial=settings.initial_points,
            n_boundary=settings.boundary_points,
            hard=tuple(settings.hard),
            sampler=pinn.LatinHypercube() if spec.sampler == "data" else collocation.sampler,
            coefficients=coefficients,
        )
    except ValueError as error:
        raise _located(error) from None
    net = settings.network
    periodic_axes = [a for a, p in enumerate(_periodic(config)) if p]
    network = _network(
        net,
        1 + known.ndim,
        "scalar" if len(states) == 1 else len(states),
        periodic_axes,
        settings.seed,
    )
    weighting = (
        pinn.Fixed(dict(settings.weighting.weights))
        if settings.weighting.kind == "fixed"
        else pinn.GradNorm(settings.weighting.every, settings.weighting.momentum)
    )
    causal = settings.causal
    training = pinn.Training(
        collocation=collocation,
        adam_steps=settings.adam.steps,
        learning_rate=settings.adam.learning_rate,
        lbfgs_steps=settings.lbfgs.steps,
        lbfgs_float64=settings.lbfgs.float64,
        weighting=weighting,
        causal=None if causal is None else pinn.Causal(causal.epsilon, causal.chunks),
        seed=settings.seed,
        log_every=settings.log_every,
        checkpoint_every=settings.checkpoint_every,
    )
    embedding = "" if net.embedding == "none" else f", {net.embedding} embedding"
    description = (
        f"{net.kind} {net.width}x{net.depth} {net.activation}{embedding}, {net.dtype}; "
        f"{collocation.n} collocation points"
    )
    return pinn.PinnInverseProblem(
        base=base,
        pinn=problem,
        network=network,
        training=training,
        description=description,
        reference=settings.reference,
    )
