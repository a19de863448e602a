"""Sparse regression: exact recovery of polynomial systems from clean derivatives, the
information criterion's choice, recovered models refitted through the inverse layer."""

import jax.numpy as jnp
import numpy as np
import pytest

import diffsim
from diffsim import neural

RNG = np.random.default_rng(0)


def lorenz(ys):
    x, y, z = ys.T
    return np.stack([10 * (y - x), x * (28 - z) - y, x * y - 8 / 3 * z], axis=1)


def test_library_terms_and_columns():
    library = neural.TermLibrary(("x", "y"), degree=2, functions=("sin",))
    assert library.terms == ("1", "x", "y", "x**2", "x*y", "y**2", "sin(x)", "sin(y)")
    ys = RNG.normal(size=(5, 2))
    x, y = ys.T
    expected = np.stack([np.ones(5), x, y, x**2, x * y, y**2, np.sin(x), np.sin(y)], axis=1)
    np.testing.assert_allclose(library(ys), expected, rtol=1e-15)


@pytest.mark.parametrize("criterion", ["aic", "bic"])
def test_recovers_lorenz_exactly_from_clean_derivatives(criterion):
    ys = RNG.uniform(-5, 5, size=(200, 3))
    library = neural.TermLibrary(("x", "y", "z"), degree=3, functions=("sin", "exp"))
    model = neural.sparse_regression(
        ys, lorenz(ys), library, names=("x", "y", "z"), criterion=criterion
    )
    expected = {
        "x": {"x": -10.0, "y": 10.0},
        "y": {"x": 28.0, "y": -1.0, "x*z": -1.0},
        "z": {"z": -8 / 3, "x*y": 1.0},
    }
    for state, terms in expected.items():
        found = model.active(state)
        assert set(found) == set(terms), (state, found)
        for term, value in terms.items():
            assert found[term] == pytest.approx(value, rel=1e-10)
    assert str(model).splitlines()[2] == "z = -2.66667*z + 1*x*y"


def test_chosen_threshold_has_lowest_score_and_finds_a_function_term():
    ys = RNG.uniform(-2, 2, size=(150, 2))
    x, y = ys.T
    target = np.stack([0.5 * np.sin(y) - 2.0 * x, 3.0 * x * y], axis=1)
    library = neural.TermLibrary(("x", "y"), degree=2, functions=("sin", "cos"))
    model = neural.sparse_regression(ys, target, library, names=("x", "y"))
    assert model.active("x") == pytest.approx({"x": -2.0, "sin(y)": 0.5}, rel=1e-10)
    assert model.active("y") == pytest.approx({"x*y": 3.0}, rel=1e-10)
    for j in range(2):
        chosen = list(model.thresholds).index(model.chosen[j])
        assert model.scores[chosen, j] == model.scores[:, j].min()


def test_a_dense_model_loses_to_the_sparse_one_at_equal_fit():
    # Same residual, more terms: the criterion must prefer fewer terms.
    aic_sparse = neural.information_criterion(1e-3, 2, 100, 1.0, "aic")
    aic_dense = neural.information_criterion(1e-3, 5, 100, 1.0, "aic")
    bic_dense = neural.information_criterion(1e-3, 5, 100, 1.0, "bic")
    assert aic_sparse < aic_dense < bic_dense


def test_stlsq_drops_small_terms_and_refits():
    theta = RNG.normal(size=(50, 4))
    target = theta @ np.array([2.0, 0.0, -3.0, 0.0]) + 1e-3 * theta[:, 1]
    xi = neural.stlsq(theta, target, threshold=0.1)
    assert xi[1] == 0.0 and xi[3] == 0.0
    np.testing.assert_allclose(xi[[0, 2]], np.linalg.lstsq(theta[:, [0, 2]], target)[0])


def test_recovered_equation_refits_as_a_plain_ode_model():
    true = {"alpha": 1.3, "beta": 0.9, "gamma": 0.8, "delta": 1.8}

    def rhs(t, u, p):
        x, y = u
        return jnp.stack([p["alpha"] * x - p["beta"] * x * y, p["gamma"] * x * y - p["delta"] * y])

    ts = np.linspace(0.0, 3.0, 31)
    u0 = np.array([0.44249296, 4.6280594])
    ys = np.asarray(diffsim.solve_ode(rhs, jnp.asarray(u0), ts, true, rtol=1e-12, atol=1e-12).ys)
    derivatives = np.asarray([rhs(0.0, u, true) for u in ys])
    interaction = derivatives - np.stack([1.3 * ys[:, 0], -1.8 * ys[:, 1]], axis=1)
    sparse = neural.sparse_regression(
        ys, interaction, neural.TermLibrary(("x", "y"), 3), names=("x", "y")
    )
    assert str(sparse) == "x = -0.9*x*y\ny = 0.8*x*y"
    # Start the refit away from the truth; the known terms' parameters are refitted too.
    model, start = neural.recovered_model(
        sparse, {"x": "alpha*x", "y": "-delta*y"}, {"alpha": 1.0, "delta": 2.0}
    )
    assert model.description == "x' = (alpha*x) + x_x_y*x*y; y' = (-delta*y) + y_x_y*x*y"
    problem = neural.trajectory_problem(model, start, ts, ys, u0)
    result = diffsim.fit(problem)
    estimates = dict(zip(result.names, result.x, strict=True))
    assert estimates == pytest.approx(
        {"alpha": 1.3, "delta": 1.8, "x_x_y": -0.9, "y_x_y": 0.8}, rel=1e-6
    )


def test_bad_input_names_the_key():
    with pytest.raises(ValueError, match="library.functions: unknown function 'foo'"):
        neural.TermLibrary(("x",), 2, functions=("foo",))
    library = neural.TermLibrary(("x",), 2)
    with pytest.raises(ValueError, match="criterion: unknown criterion 'r2'"):
        neural.sparse_regression(np.ones((5, 1)), np.ones(5), library, criterion="r2")
    with pytest.raises(ValueError, match=r"library: expected states of shape \(N, 1\)"):
        library(np.ones((5, 2)))


def test_path_holds_the_fit_of_every_threshold():
    ys = RNG.normal(size=(200, 3))
    sparse = neural.sparse_regression(ys, lorenz(ys), neural.TermLibrary(("x", "y", "z"), 2))
    assert sparse.path.shape == (len(sparse.thresholds), len(sparse.terms), 3)
    for j in range(3):
        chosen = int(np.flatnonzero(sparse.thresholds == sparse.chosen[j])[0])
        np.testing.assert_array_equal(sparse.path[chosen, :, j], sparse.coefficients[:, j])
    np.testing.assert_array_equal(np.count_nonzero(sparse.path, axis=1), sparse.counts)


def test_ridge_stlsq_refits_the_kept_terms_without_shrinkage():
    theta = RNG.normal(size=(50, 4))
    target = theta @ np.array([2.0, 0.0, -3.0, 0.0])
    xi = neural.stlsq(theta, target, threshold=0.1, ridge=1.0)
    np.testing.assert_allclose(xi, [2.0, 0.0, -3.0, 0.0], atol=1e-12)


def test_fixed_parameters_of_a_refit_are_held():
    model = diffsim.inverse.model_from_equations({"x": "-k*x + c"}, ["k", "c"], name="decay")
    ts = np.linspace(0.0, 1.0, 11)
    problem = neural.trajectory_problem(
        model, {"k": 1.0}, ts, np.exp(-2.0 * ts)[:, None], [1.0], fixed={"c": 0.0}
    )
    assert problem.space.names == ("k",) and problem.fixed == {"c": 0.0}
    with pytest.raises(ValueError, match="parameters: no starting value for 'c'"):
        neural.trajectory_problem(model, {"k": 1.0}, ts, np.exp(-2.0 * ts)[:, None], [1.0])


@pytest.mark.slow
def test_selection_by_refits_to_data_keeps_the_true_terms():
    # The learned term carries a smooth error (as a trained network's does): BIC on the
    # learned term keeps spurious terms; refits to noisy data choose exactly x*y twice.
    true = {"alpha": 1.3, "beta": 0.9, "gamma": 0.8, "delta": 1.8}
    u0 = np.array([0.44249296, 4.6280594])
    ts = np.linspace(0.0, 3.0, 31)

    def rhs(t, u, p):
        x, y = u
        return jnp.stack([p["alpha"] * x - p["beta"] * x * y, p["gamma"] * x * y - p["delta"] * y])

    clean = np.asarray(diffsim.solve_ode(rhs, jnp.asarray(u0), ts, true, rtol=1e-12).ys)
    sigma = 0.05 * clean.mean(axis=0)
    data = clean + sigma * np.random.default_rng(2).standard_normal(clean.shape)
    x, y = clean.T
    error = 0.1 * np.exp(-ts)[:, None] * np.array([1.0, -1.0])
    learned = np.stack([-0.9 * x * y, 0.8 * x * y], axis=1) + error
    library = neural.TermLibrary(("x", "y"), 3)
    sparse = neural.sparse_regression(clean, learned, library, names=("x", "y"), ridge=1e-2)
    assert len(sparse.active("x")) + len(sparse.active("y")) > 2
    equation = lambda t, u, u_learned: jnp.stack([1.3 * u[0], -1.8 * u[1]]) + u_learned
    chosen = neural.select_terms(sparse, library, equation, ts, data, u0, sigma=sigma)
    assert str(chosen.model).count("*") == 4 and set(chosen.model.active("x")) == {"x*y"}
    assert set(chosen.model.active("y")) == {"x*y"}
    assert chosen.model.active("x")["x*y"] == pytest.approx(-0.9, rel=0.05)
    assert chosen.model.active("y")["x*y"] == pytest.approx(0.8, rel=0.05)
    # Its score is the lowest of all refits, and chi-square is at the noise level.
    assert chosen.score == min(row[3] for row in chosen.tried)
    assert 0.3 * chosen.num < chosen.chi_square < 2.0 * chosen.num
