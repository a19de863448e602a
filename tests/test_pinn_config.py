"""PINN runs from configs (`model.solve_with: pinn`): the config builds the same physics as a
hand-made `PINNProblem`, a tiny run through the command line writes the run folder, and bad
input is one line naming the key (exit status 2)."""

import json
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml

from diffsim import pde, pinn
from diffsim.config import build_problem, load_config, validate_config
from diffsim.run import main

CONFIG = Path("configs/burgers_identification_pinn.yaml")
TINY = [
    "pinn.network.width=8",
    "pinn.network.depth=2",
    "pinn.network.dtype=float64",  # one compile serves Adam and L-BFGS
    "pinn.adam.steps=40",
    "pinn.lbfgs.steps=20",
    "pinn.log_every=10",
    "report.html=false",
]


def _function(t, x):
    """A smooth test function u(t, x) (not a solution: its residual is not zero)."""
    return jnp.sin(2 * x[0] - t) * jnp.exp(-0.3 * t) + 0.2 * x[0] ** 2


def test_shipped_config_builds_the_burgers_identification():
    config = load_config(CONFIG)
    problem = build_problem(config, CONFIG.parent)
    assert isinstance(problem, pinn.PinnInverseProblem)
    assert problem.space.names == ("lambda1", "lambda2")
    assert problem.pinn.t_span == (0.0, 0.99)  # data.t0 to the last data time
    assert problem.pinn.data.u.shape == (2000,) and problem.training.collocation.n == 2000
    values = {"lambda1": 1.3, "lambda2": 0.02}
    assert problem.pinn.coefficients(values) == {"advection": 1.3, "viscosity": 0.02}
    # The same residual as a hand-made PINNProblem of Burgers' equation with those values.
    model = pde.Burgers(pde.uniform_grid(16, -1.0, 1.0), pde.Periodic())
    trainable = pinn.Trainable(None, {"lambda1": jnp.asarray(1.3), "lambda2": jnp.log(0.02)})
    params = problem.pinn.parameters(trainable)
    tx = jnp.asarray([[0.3, 0.2], [0.7, -0.6]])
    got = jax.vmap(lambda p: problem.pinn.model.residual(_function, p[0], p[1:], params))(tx)
    want = jax.vmap(lambda p: model.residual(_function, p[0], p[1:], values_of(values)))(tx)
    np.testing.assert_allclose(got, want, rtol=1e-14)
    u0 = problem.pinn.initial(jnp.asarray([0.25]))
    np.testing.assert_allclose(u0, -np.sin(np.pi * 0.25), rtol=1e-15)


def values_of(values):
    return {"advection": values["lambda1"], "viscosity": values["lambda2"]}


def test_coefficient_expressions_of_x_and_unknowns(tmp_path):
    """`diffusivity: kappa*(1 + x**2)` becomes a function of the point, with kappa trained."""
    data = yaml.safe_load(Path("configs/pde_heat_diffusivity.yaml").read_text())
    data["model"]["coefficients"] = {"diffusivity": "kappa*(1 + x**2)"}
    data["model"]["solve_with"] = "pinn"
    data.pop("fit", None)
    name = next(iter(data["parameters"]))
    data["parameters"] = {"kappa": data["parameters"][name]}
    problem = build_problem(validate_config(data), "configs")
    kappa = 0.7
    params = problem.pinn.coefficients({"kappa": kappa})
    x = jnp.asarray([0.4])
    assert float(params["diffusivity"](x)) == pytest.approx(kappa * 1.16, rel=1e-15)
    grid = problem.pinn.model.grid
    hand = pinn.PINNProblem(
        pde.Heat(grid, problem.pinn.model.bcs),
        problem.pinn.t_span,
        {"diffusivity": lambda x: kappa * (1 + x[0] ** 2)},
    )
    r_config = problem.pinn.model.residual(_function, 0.2, x, params)
    r_hand = hand.model.residual(_function, 0.2, x, hand.params)
    np.testing.assert_allclose(r_config, r_hand, rtol=1e-14)


def test_tiny_run_writes_the_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    args = [str(CONFIG), "--out", str(out), "--quiet", "--no-cache"]
    code = main(args + [a for s in TINY for a in ("--set", s)])
    assert code in (0, 1), capsys.readouterr().err
    result = json.loads((out / "result.json").read_text())
    assert result["kind"] == "pinn" and result["num_steps"] == 60
    for name in ("lambda1", "lambda2"):
        p = result["parameters"][name]
        assert np.isfinite(p["estimate"]) and p["stderr"] > 0
        assert p["estimate"] != p["init"]  # trained alongside the network
    details = result["model"]["pinn"]
    assert details["status"] == "ok" and set(details["final_loss"]) == {
        "residual",
        "initial",
        "boundary",
        "data",
    }
    assert 0 < details["reference"]["relative_l2_error"] < 2
    assert "Schur complement" in details["uncertainty_method"]
    assert result["gradient"]["taylor_test"]["passed"]
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines][:4] == [0, 10, 20, 30]
    assert set(lines[0]["terms"]) == {"residual", "initial", "boundary", "data"}
    for figure in ("space_time", "pinn_losses", "pinn_field", "pinn_residual"):
        assert (out / f"{figure}.png").is_file(), figure
    for name in ("config.yaml", "fitted.yaml"):  # rerunnable as they are
        rerun = validate_config(yaml.safe_load((out / name).read_text()))
        assert rerun.model.solve_with == "pinn" and rerun.pinn.adam.steps == 40
    report = (out / "report.md").read_text()
    assert "How the error bars were obtained" in report and "pinn_losses.png" in report
    # The checkpoint restores the trained network (float64 after L-BFGS in float64).
    problem = build_problem(load_config(CONFIG, TINY), CONFIG.parent)
    like = jax.tree_util.tree_map(
        lambda a: a.astype(jnp.float64) if eqx.is_inexact_array(a) else a,
        problem.pinn.init(problem.network),
    )
    restored = pinn.load(out / "network.eqx", like)
    arrays = np.load(out / "arrays.npz")
    field = problem.pinn.field(restored)
    t, x = float(arrays["output_ts"][5]), float(arrays["grid_axis0"][100])
    assert float(field(t, jnp.asarray([x]))) == pytest.approx(
        arrays["solution_fit"][5, 100], rel=1e-12
    )


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["pinn.network.activation=relu6"], "pinn.network.activation: Input should be"),
        (
            ["pinn.collocation.sampler=sobol", "pinn.collocation.points=0"],
            "pinn.collocation.points: Input should be greater than or equal to 1",
        ),
        (["model.grid.upper=-1.0"], "model.grid: need upper > lower on every axis"),
        (["pinn.time=[0.5, 0.5]"], "pinn.time: the time interval has zero width"),
        (
            ["model.discretization=finite_volume", "solver.name=rk4", "model.boundary=absorbing"],
            "model.boundary.left: 'absorbing' is not accepted by a PINN",
        ),
        (
            [
                "model.discretization=finite_volume",
                "solver.name=rk4",
                "model.boundary={left: {neumann: 0}, right: {dirichlet: 0}}",
                "pinn.hard=[boundary]",
            ],
            "pinn.hard: 'boundary' needs Dirichlet or periodic ends",
        ),
        (["model.initial_condition=-sin(pi*x)*lambda1"], "model.initial_condition: a PINN needs"),
        (["fit.method=adam"], "fit.method: not used when model.solve_with is pinn"),
        (
            ["parameters.lambda1.prior={normal: [1.0, 0.1]}"],
            "parameters.lambda1.prior: a PINN run takes no priors",
        ),
        (
            ["observations={u: {likelihood: poisson}}"],
            "observations.u.likelihood: a PINN's data term is a mean square",
        ),
        (["model.solve_with=grid"], "pinn: only used with model.solve_with: pinn"),
    ],
)
def test_bad_input_is_one_line_naming_the_key(tmp_path, capsys, overrides, message):
    out = tmp_path / "out"
    args = [str(CONFIG), "--out", str(out), "--quiet", "--no-cache"]
    assert main(args + [a for s in overrides for a in ("--set", s)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not out.exists()
