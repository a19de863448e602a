"""PEtab problems (issue 17): log-likelihoods at the nominal parameters equal the values
AMICI's benchmark tests assert, gradients pass the Taylor test and agree between forward and
reverse mode, the noise models are PEtab's, and bad input is one line naming file, row and
column (exit status 2, nothing written).

The four problems in tests/data/petab are copied from Benchmark-Models-PEtab (BSD-3).
"""

import json
import math
import shutil
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import diffsim
from diffsim import petab
from diffsim.inverse import SolverOptions, TaylorTest, taylor_test_flat
from diffsim.petab import _noise
from diffsim.petab._steady import steady_state_for
from diffsim.run import main

DATA = Path(__file__).parent / "data" / "petab"
# AMICI-dev/AMICI tests/benchmark_models/benchmark_models.yaml (`llh` at the nominal values).
REFERENCE = {
    "Boehm_JProteomeRes2014": -138.22199693517703,
    "Crauste_CellSystems2017": -190.96521897435176,
    "Elowitz_Nature2000": 63.20279991419332,
    "Fujita_SciSignal2010": 53.08377736998929,
}
BOEHM = DATA / "Boehm_JProteomeRes2014" / "Boehm_JProteomeRes2014.yaml"
# Our own small problem with pre-equilibration and a conservation law (A + B).
PREEQ = DATA / "preequilibration" / "problem.yaml"


@pytest.fixture(scope="module")
def boehm():
    """Boehm's problem and ONE compiled program shared by this module's Boehm tests:
    `derivatives(s, v)` = (log L, its forward-mode derivative along `v`, its reverse-mode
    gradient) at PEtab-scaled `s`, from one linearization and its transpose."""
    problem = petab.load(BOEHM)
    llh = problem.log_likelihood_scaled

    def derivatives(s, v):
        value, linear = jax.linearize(llh, s)
        (gradient,) = jax.linear_transpose(linear, s)(jnp.ones_like(value))
        return value, linear(v), gradient

    return problem, jax.jit(derivatives)


def _log_likelihood(derivatives, size):
    """log L alone, through `derivatives` (no second compilation)."""
    return lambda s: derivatives(s, jnp.zeros(size))[0]


@pytest.mark.parametrize(
    "name",
    [
        "Boehm_JProteomeRes2014",  # estimated noise levels
        "Elowitz_Nature2000",  # log10-normal noise
        "Fujita_SciSignal2010",  # 16 conditions, piecewise input
        # like Boehm (one condition, linear noise); ~20 s to compile: with -m slow
        pytest.param("Crauste_CellSystems2017", marks=pytest.mark.slow),
    ],
)
def test_log_likelihood_matches_amici_reference(name, boehm):
    if name in BOEHM.name:
        problem, derivatives = boehm
        f = _log_likelihood(derivatives, problem.space.size)
    else:
        problem = petab.load(DATA / name / f"{name}.yaml")
        f = eqx.filter_jit(problem.log_likelihood_scaled)
    value = float(f(problem.nominal_scaled()))
    assert math.isclose(value, REFERENCE[name], rel_tol=1e-3, abs_tol=1e-3), value
    assert int(problem.status(problem.x_from_scaled(problem.nominal_scaled()))) == 0


def test_gradient_taylor_and_forward_vs_reverse(boehm):
    """At a point away from the optimum (where the gradient is large): the reverse-mode
    gradient passes the Taylor test (finite differences along v), a 1 % error in it fails,
    and forward mode agrees with it. (The three come from one compiled program; a gradient
    strategy through the solver is chosen by the solver, see test_gradients.py.)"""
    problem, derivatives = boehm
    v = jnp.asarray(np.random.default_rng(0).standard_normal(problem.space.size))
    s = problem.nominal_scaled() + 0.1 * v
    _, directional, reverse = derivatives(s, v)
    assert reverse.dtype == jnp.float64 and jnp.linalg.norm(reverse) > 10
    np.testing.assert_allclose(directional, reverse @ v, rtol=1e-8)
    # Both Taylor tests take log L at s + h v from the program that computes the gradient.
    steps = 1e-2 * 0.5 ** np.arange(8)
    f0 = derivatives(s, v)[0]
    fh = [derivatives(s + h * v, v)[0] for h in steps]
    eps = np.finfo(np.float64).eps
    result = TaylorTest.from_values(steps, f0, fh, reverse @ v, eps)
    assert result.passed, result.table()
    wrong = reverse * (1 + 0.01 * jnp.sign(v))
    assert not TaylorTest.from_values(steps, f0, fh, wrong @ v, eps).passed


def test_fit_residuals_give_minus_two_log_likelihood(boehm):
    """chi-square of the least-squares form = -2 log L + a constant (noise levels estimated:
    the constant does not depend on the parameters)."""
    problem, derivatives = boehm
    f = _log_likelihood(derivatives, problem.space.size)
    z0 = problem.space.to_internal(problem.space.initial_values())
    z = jnp.stack([z0, z0 + 0.01 * jnp.arange(z0.size)])
    chi = jax.jit(jax.vmap(problem.chi_square))(z)
    scaled = jnp.log10(problem.space.to_values(z))  # Boehm's parameters are all log10-scaled
    llh = jnp.stack([f(scaled[0]), f(scaled[1])])
    assert problem.prior(z0).shape == (len(problem.layout.measurement),)
    np.testing.assert_allclose(chi[1] - chi[0], -2 * (llh[1] - llh[0]), rtol=1e-9)
    assert abs(chi[1] - chi[0]) > 1.0  # the two points differ enough to test something


@pytest.mark.parametrize("scale", ["lin", "log", "log10"])
@pytest.mark.parametrize("laplace", [False, True])
def test_noise_models_match_scipy(scale, laplace):
    """PEtab's densities of the measurement z (scale Jacobian included) vs scipy.stats."""
    rng = np.random.default_rng(1)
    y, z, sigma = rng.uniform(0.5, 3, 20), rng.uniform(0.5, 3, 20), rng.uniform(0.1, 1, 20)
    scales = np.full(20, scale)
    d = _noise.transform(y, scales) - _noise.transform(z, scales, np)
    ours = _noise.log_likelihood_terms(d, sigma, laplace) - _noise.jacobian_term(z, scales)
    h = {"lin": lambda v: v, "log": np.log, "log10": np.log10}[scale]
    jacobian = {"lin": 1.0, "log": 1 / z, "log10": 1 / (z * np.log(10))}[scale]
    density = stats.laplace if laplace else stats.norm
    expected = density.logpdf(h(z), loc=h(y), scale=sigma) + np.log(jacobian)
    np.testing.assert_allclose(ours, expected, rtol=1e-12)
    r = _noise.standardized(d, sigma, laplace)
    assert np.allclose(
        r**2 / 2,
        -density.logpdf(h(z), loc=h(y), scale=sigma)
        - (np.log(2 * sigma) if laplace else 0.5 * np.log(2 * np.pi * sigma**2)),
    )


# -- pre-equilibration: steady states differentiated by the implicit function theorem -------


class _Switch:
    """A <-> B (rates k1 (1 + stim), k2), B -> B + C (k3), C -> 0 (k4): A + B is conserved;
    the steady state is B = T k1' / (k1' + k2), A = T - B, C = k3 B / k4 with T = A0 + B0."""

    states = ("A", "B", "C")

    @staticmethod
    def rhs(t, y, p):
        k1, k2, k3, k4, stim = p
        a, b, c = y
        flip = k1 * (1 + stim) * a - k2 * b
        return jnp.stack([-flip, flip, k3 * b - k4 * c])

    @staticmethod
    def steady(y0, p):
        k1, k2, k3, k4, stim = p
        total = y0[0] + y0[1]
        b = total * k1 * (1 + stim) / (k1 * (1 + stim) + k2)
        return jnp.stack([total - b, b, k3 * b / k4])


def test_steady_state_sensitivities_match_analytic():
    """IFT sensitivities of the steady state w.r.t. initial state and parameters equal the
    analytic ones (the conservation law A + B is found; without it J is singular)."""
    steady = steady_state_for(_Switch, np.asarray([[0.5, 1.0, 2.0, 0.8, 0.0]]))
    assert steady.gradient == "implicit"
    np.testing.assert_allclose(np.abs(steady.laws), [[2**-0.5, 2**-0.5, 0]], atol=1e-12)
    options = SolverOptions(solver="kvaerno5", rtol=1e-10, atol=1e-12, max_steps=20000)
    solve = lambda y0, p, ts: options.solve_ode(_Switch.rhs, y0, ts, p)
    y0, p = jnp.asarray([3.0, 0.2, 0.1]), jnp.asarray([0.5, 1.0, 2.0, 0.8, 1.0])
    ours, status = jax.jit(
        jax.jacfwd(lambda y0, p: steady(solve, _Switch.rhs, y0, p), (0, 1), has_aux=True)
    )(y0, p)
    expected = jax.jacfwd(_Switch.steady, (0, 1))(y0, p)
    for got, want in zip(ours, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)
    assert int(status) == 0
    # Why the law is needed: J = df/dy is singular at the steady state.
    jacobian = jax.jacfwd(_Switch.rhs, 1)(0.0, _Switch.steady(y0, p), p)
    assert np.linalg.matrix_rank(np.asarray(jacobian), tol=1e-10) == 2


def test_parameter_dependent_conservation_law_falls_back():
    """A law weighted by compartment sizes (V1 A + V2 B, V estimated) is not a constant
    row: the gradient then goes through the solve, and the reason says so."""

    class TwoCompartments:
        states = ("A", "B")

        @staticmethod
        def rhs(t, y, p):
            k, v1, v2 = p
            flux = k * y[0]
            return jnp.stack([-flux / v1, flux / v2])

    steady = steady_state_for(TwoCompartments, np.asarray([[1.0, 1.0, 2.0]]))
    assert steady.gradient == "through_solve" and "depends on the parameters" in steady.reason


def test_input_switching_at_the_last_time_does_not_reach_the_solve():
    """Kvaerno5's stage at `t + 1.23 h` lies past the last output time on the last step; an
    input switched off there (`time <= t_end`, as Fujita's stimulus) must not be seen: the
    solve of `dy/dt = k [t <= 1]` is exact, `y(1) = k`, with no rejected step."""
    from diffsim.petab._problem import _TimeHeldAfter

    def rhs(t, y, k):
        return jnp.where(t <= 1.0, k, 0.0) * jnp.ones_like(y)

    def solve(f):
        ts = np.asarray([0.0, 1.0])
        return diffsim.solve_ode(f, jnp.zeros(1), ts, 3.0, solver="kvaerno5", rtol=1e-8, atol=1e-10)

    held, plain = solve(_TimeHeldAfter(rhs, 1.0)), solve(rhs)
    assert abs(float(held.ys[-1, 0]) - 3.0) < 1e-12 and int(held.stats["num_rejected"]) == 0
    # Unheld, the last step sees the input off: rejected again and again (with Fujita's
    # strong inputs down to `step_size_too_small`), and y(1) is off by more than round-off.
    assert int(plain.stats["num_rejected"]) > 10 and abs(float(plain.ys[-1, 0]) - 3.0) > 1e-9


@pytest.mark.slow
def test_preequilibration_gradient_implicit_vs_through_solve():
    """On the shipped problem with pre-equilibration: the log-likelihood gradient by the
    implicit function theorem passes the Taylor test and equals the one through the solve."""
    problem = petab.load(PREEQ)
    assert problem.steady.gradient == "implicit" and problem.steady.laws.shape == (1, 3)
    s = problem.nominal_scaled()
    summary = petab.evaluate(problem)  # what --evaluate writes: value, gradient, status
    assert summary["status"] == 0 and math.isfinite(summary["log_likelihood"])
    implicit = jnp.asarray(list(summary["gradient"].values()))
    solve = problem.with_steady_gradient("through_solve").with_options(adjoint="direct")
    through = jax.jit(jax.grad(solve.log_likelihood_scaled))(s)
    np.testing.assert_allclose(implicit, through, rtol=1e-7)
    v = jnp.asarray(np.random.default_rng(2).standard_normal(s.size))
    f = eqx.filter_jit(problem.log_likelihood_scaled)
    steps = 1e-2 * 0.5 ** np.arange(8)
    assert taylor_test_flat(f, s, implicit, v, steps=steps).passed


def test_solution_starts_where_simulate_does():
    """`solution` (the solve the runner inspects when a start fails) starts where `simulate`'s
    first experiment does: at the pre-equilibration steady state, not the initial state."""
    problem = petab.load(PREEQ)
    x = problem.x_from_scaled(problem.nominal_scaled())
    both = eqx.filter_jit(lambda x: (problem.simulate(problem.theta(x)), problem.solution(x)))
    (ys, _, status), solution = both(x)  # one compilation
    assert int(status) == 0 and int(solution.status) == 0
    np.testing.assert_allclose(solution.ys, ys[0], rtol=1e-12)


# -- bad input: one line naming file, row and column; exit status 2; nothing written ---------


@pytest.fixture
def copy(tmp_path):
    folder = tmp_path / "boehm"
    shutil.copytree(BOEHM.parent, folder)
    return folder


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def _run_bad(folder: Path, capsys, *flags) -> str:
    out = folder.parent / "out"
    status = main([str(folder / BOEHM.name), "--out", str(out), *flags])
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert not out.exists()
    return err


def test_missing_table(copy, capsys):
    (copy / "measurementData_Boehm_JProteomeRes2014.tsv").unlink()
    err = _run_bad(copy, capsys, "--evaluate")
    assert "measurement_files" in err and "measurementData_Boehm_JProteomeRes2014.tsv" in err


def test_formula_names_unknown_parameter(copy, capsys):
    _edit(copy / "observables_Boehm_JProteomeRes2014.tsv", "(100 * pApB", "(k_unknown * pApB")
    err = _run_bad(copy, capsys, "--evaluate")
    assert "observables_Boehm_JProteomeRes2014.tsv row 1 column 'observableFormula'" in err
    assert "'k_unknown'" in err


def test_unsupported_sbml_feature(copy, capsys):
    event = (
        '<listOfEvents><event id="e1"><trigger><math xmlns="http://www.w3.org/1998/Math/MathML">'
        '<apply><gt/><csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/symbols/'
        'time">t</csymbol><cn>1</cn></apply></math></trigger><listOfEventAssignments>'
        '<eventAssignment variable="STAT5A"><math xmlns="http://www.w3.org/1998/Math/MathML">'
        "<cn>1</cn></math></eventAssignment></listOfEventAssignments></event></listOfEvents>"
    )
    _edit(
        copy / "model_Boehm_JProteomeRes2014.xml",
        "</listOfReactions>",
        "</listOfReactions>" + event,
    )
    err = _run_bad(copy, capsys, "--evaluate")
    assert "model_Boehm_JProteomeRes2014.xml" in err and "events are not supported" in err


def test_condition_column_neither_parameter_nor_species(copy, capsys):
    path = copy / "experimentalCondition_Boehm_JProteomeRes2014.tsv"
    _edit(path, "conditionName\n", "conditionName\tnot_in_model\n")
    _edit(path, "condition1\n", "condition1\t1.0\n")
    err = _run_bad(copy, capsys)
    assert "experimentalCondition_Boehm_JProteomeRes2014.tsv column 'not_in_model'" in err


def test_measurement_row_with_unknown_condition(copy, capsys):
    path = copy / "measurementData_Boehm_JProteomeRes2014.tsv"
    lines = path.read_text().splitlines(keepends=True)
    lines[3] = lines[3].replace("model1_data1", "no_such_condition", 1)
    path.write_text("".join(lines))
    err = _run_bad(copy, capsys, "--validate")
    assert "row 3 column 'simulationConditionId'" in err and "'no_such_condition'" in err


def test_evaluate_refused_for_a_diffsim_config(tmp_path, capsys):
    config = tmp_path / "decay.yaml"
    config.write_text(
        "model: {equations: {y: '-k * y'}}\nparameters: {k: {init: 0.5}}\n"
        "initial_state: {y: 1.0}\nobservations: {y: {sigma: 0.01}}\n"
        "data: {synthetic: {times: [0, 1, 2]}}\n"
    )
    assert main([str(config), "--evaluate", "--out", str(tmp_path / "out")]) == 2
    assert "--evaluate" in capsys.readouterr().err


def test_validate_petab_file(capsys):
    assert main([str(BOEHM), "--validate"]) == 0
    assert "9 estimated parameters, 48 measurements" in capsys.readouterr().out


CONFIG = DATA / "boehm_config.yaml"  # a diffsim config with model: {petab: ...}


def test_config_pointing_at_petab_problem(capsys):
    assert main([str(CONFIG), "--validate"]) == 0
    assert "9 estimated parameters, 48 measurements" in capsys.readouterr().out


@pytest.mark.parametrize(
    "setting, message",
    [
        ("model.petab=missing.yaml", "model.petab: PEtab problem file"),
        ("uncertainty.bootstrap.samples=10", "bootstrap is not available for PEtab"),
        ("fit.no_such_key=1", "fit.no_such_key"),
    ],
)
def test_config_pointing_at_petab_bad_input(setting, message, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([str(CONFIG), "--set", setting, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {CONFIG}") and message in err and err.count("\n") == 1, err
    assert not out.exists()


def _with_prior(folder: Path, kind: str, parameters: str) -> None:
    path = folder / "parameters_Boehm_JProteomeRes2014.tsv"
    lines = path.read_text().splitlines()
    lines[0] += "\tobjectivePriorType\tobjectivePriorParameters"
    lines[1] += f"\t{kind}\t{parameters}"
    lines[2:] = [line + "\t\t" for line in lines[2:]]
    path.write_text("\n".join(lines) + "\n")


def test_parameter_scale_normal_prior(copy):
    """A normal prior on log10(x) is the residual (log10 x - mean) / sd (first parameter)."""
    _with_prior(copy, "parameterScaleNormal", "-1.5;0.5")
    problem = petab.load(copy / BOEHM.name)
    x = problem.space.initial_values()
    expected = (np.log10(float(x[0])) + 1.5) / 0.5
    np.testing.assert_allclose(problem.priors.residuals(x), [expected], rtol=1e-12)


def test_laplace_prior_refused(copy, capsys):
    _with_prior(copy, "laplace", "0;1")
    err = _run_bad(copy, capsys, "--validate")
    assert "parameters_Boehm_JProteomeRes2014.tsv row 1 column 'objectivePriorType'" in err
    assert "'laplace' is not supported" in err


def test_export_parameters_table(copy):
    """The exported table holds the estimates as nominal values; loading it round-trips."""
    from diffsim.petab._write import write_parameters

    problem = petab.load(copy / BOEHM.name)
    x = 1.01 * np.asarray(problem.space.initial_values())
    write_parameters(problem, x, copy / "parameters_Boehm_JProteomeRes2014.tsv")
    again = petab.load(copy / BOEHM.name)
    np.testing.assert_allclose(again.space.initial_values(), x, rtol=1e-14)
    assert again.space.names == problem.space.names


@pytest.mark.slow
def test_command_line_fit(tmp_path, capsys):
    """A two-start fit from a config pointing at Boehm's problem reaches the reference
    optimum (within 0.1); the verdict and AIC are PEtab's (noise levels are estimated);
    profile intervals, the observables and the waterfall are in the report."""
    out = tmp_path / "fit"
    status = main([str(CONFIG), "--out", str(out), "--set", "fit.multistart.count=2"])
    assert status == 0, capsys.readouterr()
    result = json.loads((out / "result.json").read_text())
    llh = result["log_likelihood"]
    assert llh > REFERENCE["Boehm_JProteomeRes2014"] - 0.1
    assert len(result["starts_log_likelihood"]) == 2
    stats = result["statistics"]
    assert math.isclose(stats["aic"], -2 * llh + 2 * 9, rel_tol=1e-9)
    assert stats["chi_square"] < 2 * 48  # the deviance, not chi-square with the noise rows
    assert result["quality"]["verdict"] != "poor"
    free = [p for p in result["parameters"].values() if not p["fixed"]]
    assert len(free) == 9 and all("profile" in p["intervals"] for p in free)
    report = (out / "report.md").read_text()
    for heading in ("## PEtab", "## Multistart waterfall", "## Observables"):
        assert heading in report, heading
    for name in ("report.md", "waterfall.png", "observables.png", "fitted_parameters.tsv"):
        assert (out / name).is_file(), name


@pytest.mark.slow
def test_command_line_fit_of_petab_file_is_bounded(tmp_path, capsys):
    """A PEtab file fitted as is uses the bounded method (one start, the nominal point) and
    stays at the reference optimum, whose k_exp_hetero lies on its lower bound (1e-5)."""
    out = tmp_path / "fit"
    assert main([str(BOEHM), "--out", str(out)]) == 0, capsys.readouterr()
    result = json.loads((out / "result.json").read_text())
    assert result["method"] == "trust_region_reflective"
    assert result["log_likelihood"] > REFERENCE["Boehm_JProteomeRes2014"] - 0.1
    estimate = result["parameters"]["k_exp_hetero"]["estimate"]
    assert 1e-5 <= estimate < 1.01e-5  # feasible: the bounds are kept, not approached


@pytest.mark.slow  # two compilations (~12 s); the Boehm gradient tests run the direct path
def test_direct_tangent_solves_match_refinement():
    """The stiff solver of PEtab problems solves its stage tangents directly
    (`DenseLU(refine_iters=0)`, cheaper for many forward-mode columns): the same Jacobian as
    refinement, to round-off, on Robertson's reaction (rates over nine orders of magnitude)."""
    model = diffsim.models.robertson()
    y0 = jnp.asarray(model.default_initial_state)
    ts = jnp.asarray([0.0, 1.0, 1e3])
    tableau = diffsim.SOLVERS["kvaerno5"].tableau

    def jacobian(linear_solver):
        solver = diffsim.ESDIRK(tableau, linear_solver=linear_solver)

        def final(p):
            return diffsim.solve_ode(model, y0, ts, p, solver=solver, rtol=1e-8, atol=1e-12).ys

        p = {k: jnp.asarray(v) for k, v in model.default_parameters.items()}
        return jnp.stack(jax.tree.leaves(jax.jit(jax.jacfwd(final))(p)))

    direct, refined = jacobian(diffsim.DenseLU(refine_iters=0)), jacobian(diffsim.DenseLU())
    scale = float(jnp.max(jnp.abs(refined)))
    assert scale > 1.0
    np.testing.assert_allclose(direct, refined, rtol=1e-9, atol=1e-12 * scale)
