"""The PDE inverse problems that `configs/pde_*.yaml` name, built on synthetic data.

Each builder simulates the truth on a grid `data.refine` times finer than the inversion grid
(no "inverse crime": the fitted model cannot reproduce the data exactly), samples it at sensor
positions by linear interpolation, adds Gaussian noise, and returns a `FieldInverseProblem`
whose predictions come from the same PDE on the coarse grid.
"""

import jax
import jax.numpy as jnp
import numpy as np

from ._advection_diffusion import AdvectionDiffusion
from ._boundary import Dirichlet, Neumann
from ._burgers import Burgers
from ._grid import interpolate, uniform_grid
from ._heat import Heat
from ._inverse_config import PDEInverseConfig
from ._inverse_problem import FieldInverseProblem
from ._solve import solve, stable_step
from ._wave import Absorbing, Wave

#: True values and starting guesses each problem knows (overridable by `truth:`/`init:`).
DEFAULTS = {
    "heat_diffusivity": ({"diffusivity": 0.05}, {"diffusivity": 0.02}),
    "heat_diffusivity_field": ({"base": 0.04, "bump": 0.04}, {"diffusivity": 0.05}),
    "heat_initial_condition": ({"diffusivity": 0.01}, {"value": 0.0}),
    "burgers_viscosity": ({"viscosity": 0.05}, {"viscosity": 0.2}),
    "wave_speed": ({"left": 1.0, "middle": 1.5, "right": 1.2}, {"speed": 1.2}),
    "advection_diffusion_source": (
        {"location": 3.3, "strength": 1.0},
        {"location": 5.0, "strength": 0.5},
    ),
}


def _values(config: PDEInverseConfig):
    truth, init = DEFAULTS[config.problem]
    for key, given, known in (("truth", config.truth, truth), ("init", config.init, init)):
        for name in given:
            if name not in known:
                raise ValueError(
                    f"{key}.{name}: not a value of problem {config.problem!r} "
                    f"(it knows {', '.join(known)})"
                )
    return {**truth, **config.truth}, {**init, **config.init}


def _step(model, u0, params, fraction=0.4):
    return fraction * stable_step(model, u0, params, "rk4")


def _simulate(model, u0, ts, params, dt):
    return solve(model, u0, ts, params, solver="rk4", dt=dt, adjoint="direct").ys


def _sample(fields, grid, sensors):
    return jax.vmap(lambda u: interpolate(u, grid, sensors))(fields)


def _noisy(clean, config: PDEInverseConfig):
    clean = np.asarray(clean)
    scale = float(np.max(np.abs(clean)))
    sigma = config.data.noise * scale if config.data.noise > 0 else 1e-3 * scale
    noise = np.asarray(jax.random.normal(jax.random.key(config.data.seed), clean.shape))
    data = clean + (config.data.noise * scale) * noise
    return data, np.full(clean.shape, sigma)


def _smoothness(weight: float, dx: float):
    """Residuals whose squares sum to `weight ∫ |∂ₓ f|²`."""
    if weight == 0:
        return lambda f: jnp.zeros(0)
    return lambda f: jnp.sqrt(weight / dx) * jnp.diff(f)


def _times(config, horizon):
    return np.linspace(0.0, horizon, config.data.times + 1)


def _sensors(lower, upper, count):
    return np.linspace(lower, upper, count + 2)[1:-1]


def _problem(config, *, predict, fields, regularization, z0, clean, truth, sensors, times, grid):
    data, sigma = _noisy(clean, config)
    return FieldInverseProblem(
        name=config.problem,
        description=config.description,
        predict=predict,
        fields=fields,
        regularization=regularization,
        z0=np.asarray(z0, float),
        data=data,
        sigma=sigma,
        truth={k: np.asarray(v) for k, v in truth.items()},
        sensors=np.asarray(sensors),
        times=np.asarray(times[1:]),
        coordinates=grid.x,
    )


def _log_constant(config, key, models, steps, initial, ts, sensors) -> FieldInverseProblem:
    """A constant coefficient `key` fitted as its logarithm: data from the fine model, the fit on
    the coarse one (`models` and `steps` are `(fine, coarse)` pairs)."""
    truth, init = _values(config)
    (fine_model, model), (fine_dt, dt) = models, steps
    fine, grid = fine_model.grid, model.grid
    clean = _sample(
        _simulate(fine_model, initial(fine), ts, {key: truth[key]}, fine_dt)[1:], fine, sensors
    )

    def fields(z):
        return {key: jnp.exp(z[0])}

    def predict(z):
        return _sample(_simulate(model, initial(grid), ts, fields(z), dt)[1:], grid, sensors)

    return _problem(
        config,
        predict=predict,
        fields=fields,
        regularization=None,
        z0=[np.log(init[key])],
        clean=clean,
        truth={key: truth[key]},
        sensors=sensors,
        times=ts,
        grid=grid,
    )


def heat_diffusivity(config: PDEInverseConfig) -> FieldInverseProblem:
    """1D heat, zero ends: recover a constant diffusivity (fitted as its logarithm)."""
    truth, init = _values(config)
    grid = uniform_grid(config.grid.cells)
    fine = grid.refine(config.data.refine)
    ts = _times(config, 1.0)
    sensors = _sensors(0, 1, config.data.sensors)

    def initial(g):
        return jnp.asarray(np.sin(np.pi * g.x) + 0.5 * np.sin(3 * np.pi * g.x))

    limit = 4 * max(truth["diffusivity"], init["diffusivity"])
    fine_model, model = Heat(fine), Heat(grid)
    fine_dt = _step(fine_model, initial(fine), {"diffusivity": limit})
    dt = _step(model, initial(grid), {"diffusivity": limit})
    return _log_constant(
        config, "diffusivity", (fine_model, model), (fine_dt, dt), initial, ts, sensors
    )


def heat_diffusivity_field(config: PDEInverseConfig) -> FieldInverseProblem:
    """1D heat with ends held at 1 and 0: recover κ(x) (as log κ per cell), smoothness-
    regularized with weight `regularization.weight`."""
    truth, init = _values(config)
    grid = uniform_grid(config.grid.cells)
    fine = grid.refine(config.data.refine)
    ts = _times(config, 4.0)
    sensors = _sensors(0, 1, config.data.sensors)
    bc = (Dirichlet(1.0), Dirichlet(0.0))

    def kappa(g):
        return truth["base"] + truth["bump"] * np.exp(-(((g.x - 0.6) / 0.15) ** 2))

    def initial(g):
        return jnp.asarray(np.sin(np.pi * g.x))

    limit = 4 * max(truth["base"] + truth["bump"], init["diffusivity"])
    fine_model, model = Heat(fine, bc), Heat(grid, bc)
    fine_dt = _step(fine_model, initial(fine), {"diffusivity": limit})
    dt = _step(model, initial(grid), {"diffusivity": limit})
    truth_run = _simulate(
        fine_model, initial(fine), ts, {"diffusivity": jnp.asarray(kappa(fine))}, fine_dt
    )
    clean = _sample(truth_run[1:], fine, sensors)
    penalty = _smoothness(config.regularization.weight, grid.spacing[0])

    def fields(z):
        return {"diffusivity": jnp.exp(z)}

    def predict(z):
        return _sample(_simulate(model, initial(grid), ts, fields(z), dt)[1:], grid, sensors)

    return _problem(
        config,
        predict=predict,
        fields=fields,
        regularization=penalty,
        z0=np.full(grid.shape, np.log(init["diffusivity"])),
        clean=clean,
        truth={"diffusivity": kappa(grid)},
        sensors=sensors,
        times=ts,
        grid=grid,
    )


def heat_initial_condition(config: PDEInverseConfig) -> FieldInverseProblem:
    """1D heat with insulated ends: recover the initial temperature from later noisy
    snapshot(s) (backward diffusion is ill-posed: the smoothness weight matters)."""
    truth, init = _values(config)
    grid = uniform_grid(config.grid.cells)
    fine = grid.refine(config.data.refine)
    ts = _times(config, 0.5)
    sensors = _sensors(0, 1, config.data.sensors)
    params = {"diffusivity": truth["diffusivity"]}

    def profile(x):
        return 0.3 + np.exp(-(((x - 0.3) / 0.08) ** 2)) + 0.5 * np.exp(-(((x - 0.7) / 0.1) ** 2))

    fine_model, model = Heat(fine, Neumann(0.0)), Heat(grid, Neumann(0.0))
    fine_dt = _step(fine_model, jnp.asarray(profile(fine.x)), params)
    dt = _step(model, jnp.asarray(profile(grid.x)), params)
    clean = _sample(
        _simulate(fine_model, jnp.asarray(profile(fine.x)), ts, params, fine_dt)[1:], fine, sensors
    )
    penalty = _smoothness(config.regularization.weight, grid.spacing[0])

    def fields(z):
        return {"initial_condition": z}

    def predict(z):
        return _sample(_simulate(model, z, ts, params, dt)[1:], grid, sensors)

    return _problem(
        config,
        predict=predict,
        fields=fields,
        regularization=penalty,
        z0=np.full(grid.shape, init["value"]),
        clean=clean,
        truth={"initial_condition": profile(grid.x)},
        sensors=sensors,
        times=ts,
        grid=grid,
    )


def burgers_viscosity(config: PDEInverseConfig) -> FieldInverseProblem:
    """Periodic viscous Burgers: recover the viscosity from noisy space–time samples."""
    truth, init = _values(config)
    grid = uniform_grid(config.grid.cells, 0, 2 * np.pi)
    fine = grid.refine(config.data.refine)
    ts = _times(config, 1.5)
    sensors = _sensors(0, 2 * np.pi, config.data.sensors)

    def initial(g):
        return jnp.asarray(np.sin(g.x) + 0.5 * np.cos(2 * g.x))

    limit = {"viscosity": 2 * max(truth["viscosity"], init["viscosity"])}
    fine_model, model = Burgers(fine), Burgers(grid)
    fine_dt = _step(fine_model, 1.5 * initial(fine), limit)
    dt = _step(model, 1.5 * initial(grid), limit)
    return _log_constant(
        config, "viscosity", (fine_model, model), (fine_dt, dt), initial, ts, sensors
    )


def wave_speed(config: PDEInverseConfig) -> FieldInverseProblem:
    """A toy full-waveform inversion: a pulse travels through three layers between absorbing
    ends; receiver traces give the wave speed as a piecewise-constant profile of
    `grid.cells // 4` zones (fitted as log speed, optionally smoothness-regularized)."""
    truth, init = _values(config)
    grid = uniform_grid(config.grid.cells, 0, 10)
    fine = grid.refine(config.data.refine)
    ts = _times(config, 9.0)
    sensors = _sensors(0, 10, config.data.sensors)
    zones = max(1, config.grid.cells // 4)

    def speed(x):
        return np.where(x < 3.7, truth["left"], np.where(x < 6.6, truth["middle"], truth["right"]))

    def initial(g):
        return jnp.asarray(np.exp(-(((g.x - 1.5) / 0.4) ** 2))), jnp.zeros(g.shape)

    fastest = 2 * max(truth["left"], truth["middle"], truth["right"], init["speed"])
    fine_model, model = Wave(fine, Absorbing()), Wave(grid, Absorbing())
    fine_dt = _step(fine_model, initial(fine), {"speed": fastest})
    dt = _step(model, initial(grid), {"speed": fastest})
    truth_run = _simulate(
        fine_model, initial(fine), ts, {"speed": jnp.asarray(speed(fine.x))}, fine_dt
    )
    clean = _sample(truth_run[0][1:], fine, sensors)
    zone_of_cell = np.minimum((np.arange(grid.shape[0]) * zones) // grid.shape[0], zones - 1)
    penalty = _smoothness(config.regularization.weight, 10.0 / zones)

    def fields(z):
        return {"speed": jnp.exp(z)[zone_of_cell]}

    def predict(z):
        return _sample(_simulate(model, initial(grid), ts, fields(z), dt)[0][1:], grid, sensors)

    return _problem(
        config,
        predict=predict,
        fields=fields,
        regularization=penalty,
        z0=np.full(zones, np.log(init["speed"])),
        clean=clean,
        truth={"speed": speed(grid.x)},
        sensors=sensors,
        times=ts,
        grid=grid,
    )


def advection_diffusion_source(config: PDEInverseConfig) -> FieldInverseProblem:
    """Periodic advection–diffusion from rest: recover where a steady Gaussian source sits and
    how strong it is, from sensor time series downstream."""
    truth, init = _values(config)
    grid = uniform_grid(config.grid.cells, 0, 10)
    fine = grid.refine(config.data.refine)
    ts = _times(config, 6.0)
    sensors = _sensors(0, 10, config.data.sensors)
    width = 0.3

    def source(x, location, strength):
        return strength * jnp.exp(-((x - location) ** 2) / (2 * width**2))

    def params(g, location, strength):
        return {
            "velocity": 0.5,
            "diffusivity": 0.02,
            "source": source(jnp.asarray(g.x), location, strength),
        }

    fine_model, model = AdvectionDiffusion(fine), AdvectionDiffusion(grid)
    fine_dt = _step(fine_model, jnp.zeros(fine.shape), params(fine, 0.0, 1.0))
    dt = _step(model, jnp.zeros(grid.shape), params(grid, 0.0, 1.0))
    truth_params = params(fine, truth["location"], truth["strength"])
    clean = _sample(
        _simulate(fine_model, jnp.zeros(fine.shape), ts, truth_params, fine_dt)[1:], fine, sensors
    )

    def fields(z):
        return {"location": z[0], "strength": jnp.exp(z[1])}

    def predict(z):
        f = fields(z)
        p = params(grid, f["location"], f["strength"])
        return _sample(_simulate(model, jnp.zeros(grid.shape), ts, p, dt)[1:], grid, sensors)

    return _problem(
        config,
        predict=predict,
        fields=fields,
        regularization=None,
        z0=[init["location"], np.log(init["strength"])],
        clean=clean,
        truth={"location": truth["location"], "strength": truth["strength"]},
        sensors=sensors,
        times=ts,
        grid=grid,
    )


BUILDERS = {
    "heat_diffusivity": heat_diffusivity,
    "heat_diffusivity_field": heat_diffusivity_field,
    "heat_initial_condition": heat_initial_condition,
    "burgers_viscosity": burgers_viscosity,
    "wave_speed": wave_speed,
    "advection_diffusion_source": advection_diffusion_source,
}


def build_inverse_problem(config: PDEInverseConfig) -> FieldInverseProblem:
    """The `FieldInverseProblem` that `config.problem` names, with its synthetic data.

    **Raises:** `ValueError` naming the `truth.*`/`init.*` key of an unknown value name.
    """
    return BUILDERS[config.problem](config)
