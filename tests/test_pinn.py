"""diffsim.pinn: loss terms, exact-derivative residuals, sampling, weighting, constraints,
training (a smoke version of Raissi's Burgers problem), checkpoints and bad input."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.stats import qmc

from diffsim import nn, pde, pinn

KEY = jax.random.PRNGKey(0)
GRID = pde.uniform_grid(32, -1.0, 1.0)
NU = 0.01 / np.pi


def burgers_problem(**kwargs):
    return pinn.PINNProblem(
        pde.Burgers(GRID, pde.Dirichlet(0.0)),
        (0.0, 1.0),
        kwargs.pop("params", {"viscosity": NU}),
        initial=lambda x: -jnp.sin(jnp.pi * x[0]),
        **kwargs,
    )


class Exact(eqx.Module):
    """A "network" that is an exact solution: the Fisher–KPP travelling front, taking the
    PINN's scaled inputs z ∈ [-1, 1]² back to (t, x) ∈ [0, 1] × [-5, 5]."""

    rate: float = 2.0

    def __call__(self, z):
        t, x = (z[0] + 1) / 2, 5 * z[1]
        a, c = np.sqrt(self.rate / 6), 5 * np.sqrt(self.rate / 6)
        return (1 + jnp.exp(a * (x - c * t))) ** -2


def test_residual_of_an_exact_solution_is_zero():
    model = pde.FisherKPP(pde.uniform_grid(16, -5.0, 5.0))
    problem = pinn.PINNProblem(model, (0.0, 1.0), {"diffusivity": 1.0, "rate": 2.0})
    trainable = pinn.Trainable(Exact(), {})
    tx = jnp.asarray(qmc.LatinHypercube(d=2, seed=0).random(200) * [1, 10] - [0, 5])
    r = problem.residuals(trainable, tx)
    assert r.shape == (200,) and np.max(np.abs(r)) < 1e-14
    wrong = pinn.PINNProblem(model, (0.0, 1.0), {"diffusivity": 1.0, "rate": 2.2})
    assert np.max(np.abs(wrong.residuals(trainable, tx))) > 1e-3


def test_loss_gradient_taylor_test():
    """The gradient pinn.train uses (network and unknowns; residual term summed over slices,
    padded to whole slices) against forward mode of the one-pass total loss and by the
    Taylor remainder's rate 2, float64."""
    from diffsim.pinn import _train

    problem = burgers_problem(
        params={}, unknowns={"viscosity": pinn.Unknown(0.01, "log")}, n_initial=8, n_boundary=4
    )
    net = nn.MLP(2, "scalar", 8, 2, "tanh", dtype="float64", key=KEY)
    dynamic, static = eqx.partition(problem.init(net), eqx.is_inexact_array)
    flat, unravel = jax.flatten_util.ravel_pytree(dynamic)
    points = problem.points(0)
    n = _train._CHUNK + 44
    tx = jnp.asarray(pinn.LatinHypercube().sample(n, problem.lower, problem.upper, 1))
    weights = {"residual": 2.0, "initial": 0.5, "boundary": 1.0}

    @jax.jit
    def total(theta):
        terms = problem.loss_terms(eqx.combine(unravel(theta), static), tx, points)
        return sum(weights[k] * v for k, v in terms.items()), terms

    evaluate = _train._Evaluator(problem, static, unravel, None)
    (value, terms), g = evaluate(flat, tx, points, weights)
    loss = lambda theta: total(theta)[0]  # noqa: E731
    one_pass = total(flat)[1]
    assert list(terms) == list(one_pass) and one_pass["residual"] > 1e-3
    for k in terms:
        np.testing.assert_allclose(terms[k], one_pass[k], rtol=1e-13)
    np.testing.assert_allclose(value, loss(flat), rtol=1e-13)
    direction = jax.random.normal(jax.random.PRNGKey(1), flat.shape, flat.dtype)
    forward = jax.jit(lambda d: jax.jvp(loss, (flat,), (d,))[1])(direction)
    np.testing.assert_allclose(g @ direction, forward, rtol=1e-12)
    remainders = [
        abs(loss(flat + h * direction) - loss(flat) - h * g @ direction) for h in (4e-3, 2e-3, 1e-3)
    ]
    rates = [math.log2(a / b) for a, b in zip(remainders, remainders[1:], strict=False)]
    assert all(abs(r - 2) < 0.1 for r in rates), rates


class Opaque(eqx.Module):
    """A diffsim network seen as any callable: its residual takes the nested-jvp path."""

    net: eqx.Module

    def __call__(self, z):
        return self.net(z)


MODELS = [
    (pde.Burgers(GRID, pde.Dirichlet(0.0)), {"viscosity": 0.01}, 1, ("initial", "boundary")),
    (pde.Heat(GRID), {"diffusivity": lambda x: 1 + x[0] ** 2, "source": 0.5}, 1, ()),
    (pde.Wave(GRID, pde.Dirichlet(0.0)), {"speed": 1.3}, 1, ()),
    (pde.AllenCahn(GRID), {"diffusivity": 1e-4, "rate": 5.0}, 1, ()),
    (
        pde.GrayScott(pde.uniform_grid((4, 4), -1.0, 1.0)),
        {
            "diffusivity_u": lambda x: 0.1 + x[0] * x[1],
            "diffusivity_v": 0.05,
            "feed": 0.04,
            "kill": 0.06,
        },
        2,
        (),
    ),  # fmt: skip
    (pde.FisherKPP(pde.uniform_grid((4, 4), -1.0, 1.0)), {"diffusivity": 0.1, "rate": 1.0}, 1, ()),
]


def test_jet_residuals_equal_nested_jvp():
    """The Taylor-mode residual (network jet + local quadratic) equals nested jax.jvp of the
    same network for every kind of model: scalar and two-field states, 1-D and 2-D, field
    coefficients, hard constraints (the ansatz's factors), float64 to round-off."""
    cases = []
    for i, (model, params, components, hard) in enumerate(MODELS):
        ndim = model.grid.ndim
        initial = (lambda x: -jnp.sin(jnp.pi * x[0])) if hard else None
        problem = pinn.PINNProblem(model, (0.0, 1.0), params, initial=initial, hard=hard)
        out = "scalar" if components == 1 else components
        cls = nn.ModifiedMLP if i % 2 else nn.MLP
        net = cls(1 + ndim, out, 6, 2, dtype="float64", key=jax.random.PRNGKey(i))
        tx = jnp.asarray(np.random.default_rng(i).uniform(-0.9, 0.9, (6, 1 + ndim)))
        cases.append((problem, net, tx))

    @jax.jit
    def both(nets, txs):
        pairs = []
        for (problem, _, _), net, tx in zip(cases, nets, txs, strict=True):
            jet = problem.residuals(pinn.Trainable(net, {}), tx)
            nested = problem.residuals(pinn.Trainable(Opaque(net), {}), tx)
            pairs.append((jet, nested))
        return pairs

    for jet, nested in both([c[1] for c in cases], [c[2] for c in cases]):
        assert jet.shape == nested.shape and np.max(np.abs(nested)) > 1e-3
        np.testing.assert_allclose(jet, nested, rtol=1e-12, atol=1e-12 * np.max(np.abs(nested)))


def test_float32_network_under_strict_promotion():
    problem = burgers_problem(n_initial=4, n_boundary=2)
    net = nn.MLP(2, "scalar", 8, 2, dtype="float32", key=KEY)
    trainable = problem.init(net)
    points = jax.tree_util.tree_map(lambda a: a.astype(jnp.float32), problem.points(0))
    tx = jnp.ones((5, 2), jnp.float32) * 0.5
    with jax.numpy_dtype_promotion("strict"):
        assert problem.residuals(trainable, tx).dtype == jnp.float32
        assert problem.initial_loss(trainable, points).dtype == jnp.float32
        assert problem.boundary_loss(trainable, points).dtype == jnp.float32


def test_hard_constraints_hold_exactly():
    problem = burgers_problem(hard=("initial", "boundary"))
    net = nn.MLP(2, "scalar", 8, 2, dtype="float64", key=KEY)
    fn = problem.field(problem.init(net))
    x = jnp.linspace(-1, 1, 11)
    np.testing.assert_allclose(
        jax.vmap(lambda xi: fn(0.0, xi[None]))(x), -np.sin(np.pi * x), atol=1e-15
    )
    t = jnp.linspace(0, 1, 7)
    for end in (-1.0, 1.0):
        assert np.max(np.abs(jax.vmap(lambda ti, e=end: fn(ti, jnp.array([e])))(t))) < 1e-15
    assert problem.initial_loss(problem.init(net), problem.points(0)) is None
    assert problem.boundary_loss(problem.init(net), problem.points(0)) is None
    with pytest.raises(ValueError, match="u0 to take the boundary values"):
        pinn.PINNProblem(
            pde.Burgers(GRID, pde.Dirichlet(0.0)),
            (0.0, 1.0),
            {"viscosity": NU},
            initial=lambda x: jnp.cos(x[0]),
            hard=("initial", "boundary"),
        )


def test_neumann_and_periodic_boundary_terms():
    # u = cos(πx) e^-t: zero slope at ±1 (Neumann 0), and periodic on [-1, 1].
    class Cosine(eqx.Module):
        def __call__(self, z):
            t = (z[0] + 1) / 2
            return jnp.cos(jnp.pi * z[1]) * jnp.exp(-t)

    for bc in (pde.Neumann(0.0), pde.Periodic()):
        problem = pinn.PINNProblem(pde.Heat(GRID, bc), (0.0, 1.0), {"diffusivity": 1.0})
        loss = problem.boundary_loss(pinn.Trainable(Cosine(), {}), problem.points(0))
        assert float(loss) < 1e-28
    problem = pinn.PINNProblem(pde.Heat(GRID, pde.Neumann(0.5)), (0.0, 1.0), {"diffusivity": 1.0})
    loss = problem.boundary_loss(pinn.Trainable(Cosine(), {}), problem.points(0))
    np.testing.assert_allclose(loss, 0.25, rtol=1e-12)


def test_samplers_cover_the_box():
    lower, upper = (0.0, -1.0), (1.0, 1.0)
    for name, cls in pinn.SAMPLERS.items():
        pts = cls().sample(256, lower, upper, seed=3)
        assert pts.shape == (256, 2), name
        assert np.all(pts >= lower) and np.all(pts <= upper), name
        np.testing.assert_array_equal(pts, cls().sample(256, lower, upper, seed=3))
        assert not np.array_equal(pts, cls().sample(256, lower, upper, seed=4)), name
    lhs = pinn.LatinHypercube().sample(50, lower, upper, seed=0)
    for axis in range(2):  # one point per stratum in every coordinate
        strata = np.floor((lhs[:, axis] - lower[axis]) / (upper[axis] - lower[axis]) * 50)
        assert sorted(strata) == list(range(50))
    sobol = pinn.Sobol().sample(256, lower, upper, seed=0)
    uniform = pinn.Uniform().sample(256, lower, upper, seed=0)
    unit = lambda p: (p - lower) / np.subtract(upper, lower)  # noqa: E731
    assert qmc.discrepancy(unit(sobol)) < qmc.discrepancy(unit(uniform))


def test_residual_adaptive_refinement_concentrates_points():
    rule = pinn.ResidualAdaptive(candidates=10, power=2.0, floor=0.1)
    candidates = np.linspace(0, 1, 2000)[:, None]
    residual = np.exp(-(((candidates[:, 0] - 0.8) / 0.02) ** 2))
    chosen = rule.choose(candidates, residual, 200, seed=0)
    near = np.mean(np.abs(chosen[:, 0] - 0.8) < 0.05)
    assert near > 0.5  # vs 0.1 for uniform points
    assert len(np.unique(chosen[:, 0])) == 200


def test_causal_weights():
    causal = pinn.Causal(epsilon=10.0, chunks=4)
    t = jnp.array([0.1, 0.3, 0.6, 0.9])
    squared = jnp.array([0.0, 1.0, 0.0, 0.0])
    loss, w = causal.loss(squared, t, 0.0, 1.0)
    np.testing.assert_allclose(w, [1, 1, np.exp(-10), np.exp(-10)], rtol=1e-12)
    np.testing.assert_allclose(loss, 0.25, rtol=1e-12)
    # The weights are not differentiated: d loss / d squared = w / (chunks · count).
    g = jax.grad(lambda s: causal.loss(s, t, 0.0, 1.0)[0])(squared)
    np.testing.assert_allclose(g, np.asarray(w) / 4, rtol=1e-12)
    # so the loss is Σ g_i squared_i: pinn.train sums the residual term that way, by slices.
    squared = jnp.array([0.3, 1.0, 0.2, 0.1])
    g = jax.grad(lambda s: causal.loss(s, t, 0.0, 1.0)[0])(squared)
    np.testing.assert_allclose(g @ squared, causal.loss(squared, t, 0.0, 1.0)[0], rtol=1e-14)


def test_gradient_norm_balancing_update():
    rule = pinn.GradNorm(momentum=0.5)
    weights = rule.update({"residual": 1.0, "initial": 1.0}, {"residual": 9.0, "initial": 1.0})
    np.testing.assert_allclose(weights["residual"], 0.5 + 0.5 * 10 / 9)
    np.testing.assert_allclose(weights["initial"], 0.5 + 0.5 * 10)


def test_unknowns_use_the_inverse_transforms():
    u = pinn.Unknown(0.003, "log")
    assert u.transform.forward(u.transform.inverse(0.003)) == pytest.approx(0.003, rel=1e-14)
    assert float(u.transform.forward(-50.0)) > 0
    bounded = pinn.Unknown(0.5, "none", 0.0, 1.0)
    assert 0 < float(bounded.transform.forward(100.0)) <= 1
    with pytest.raises(ValueError, match="unknown transform 'exp'"):
        pinn.Unknown(1.0, "exp")
    with pytest.raises(ValueError, match="outside"):
        pinn.Unknown(2.0, "none", 0.0, 1.0)


def test_burgers_smoke_training_and_checkpoint(tmp_path):
    """CI smoke version of Raissi's forward problem: 2000 collocation points (Latin hypercube,
    redrawn every Adam step), a 2-32×4-1 tanh network in float32 with hard initial/boundary
    constraints, 4000 Adam steps with a cosine-decaying learning rate (5e-3 → 5e-5). Rel. L2
    error against Cole–Hopf, measured for seeds 0, 1, 2, 3 (network and sampling):
    1.6e-2, 1.6e-2, 2.8e-2, 2.7e-2 (an untrained or mis-differentiated network is at ~1).
    It replaced 2000 float64 steps at the same CPU cost (float32 steps cost half), which
    reached 4.9e-2, 4.9e-2, 4.6e-2: too close to the bound; 3000 float32 steps give 4.3e-2
    on seed 2, and L-BFGS on one set of 2000 points misplaces the shock on some seeds
    (5.2e-2 after 1500 Adam + 300 L-BFGS on seed 0; docs/pinn.md)."""
    from experiments.burgers_cole_hopf import T_GRID, X_GRID, exact

    problem = burgers_problem(n_initial=50, n_boundary=25, hard=("initial", "boundary"))
    net = nn.MLP(2, "scalar", 32, 4, "tanh", dtype="float32", key=jax.random.PRNGKey(0))
    lines = []
    trained = pinn.train(
        problem,
        net,
        collocation=pinn.Collocation(2000, resample_every=1),
        adam_steps=4000,
        learning_rate=optax.cosine_decay_schedule(5e-3, 4000, 0.01),
        callback=lambda p: lines.append(p.line()),
        log_every=1000,
        checkpoint=tmp_path / "net.eqx",
    )
    assert trained.status == "ok"
    tt, xx = np.meshgrid(T_GRID[::4], X_GRID[::4], indexing="ij")  # as measured
    fn = problem.field(trained.trainable)
    t, x = (jnp.asarray(a.ravel(), jnp.float32) for a in (tt, xx))
    pred = jax.vmap(lambda t, x: fn(t, x[None]))(t, x)
    ref = exact(tt, xx).ravel()
    error = np.linalg.norm(np.asarray(pred, np.float64) - ref) / np.linalg.norm(ref)
    assert error <= 5e-2, error
    assert lines[0].startswith("adam      0  loss") and "residual" in lines[0]
    assert trained.history["loss"][-1] < trained.history["loss"][0]
    restored = pinn.load(tmp_path / "net.eqx", problem.init(net))
    x = jnp.array([0.3])
    assert problem.field(restored)(0.5, x) == problem.field(trained.trainable)(0.5, x)


@pytest.mark.slow
def test_identification_moves_the_unknown():
    """A few steps on data from u = sin(πx) e^{-νπ²t} (heat) pull ν toward the truth."""
    nu = 0.1
    rng = np.random.default_rng(0)
    t, x = rng.uniform(0, 1, 300), rng.uniform(-1, 1, 300)
    u = np.sin(np.pi * x) * np.exp(-nu * np.pi**2 * t)
    problem = pinn.PINNProblem(
        pde.Heat(GRID),
        (0.0, 1.0),
        unknowns={"diffusivity": pinn.Unknown(0.3, "log")},
        data=pinn.Observations(jnp.asarray(t), jnp.asarray(x)[:, None], jnp.asarray(u), 0.0),
    )
    net = nn.MLP(2, "scalar", 16, 2, "tanh", dtype="float64", key=KEY)
    trained = pinn.train(
        problem,
        net,
        collocation=pinn.Collocation(500),
        adam_steps=300,
        learning_rate=1e-2,
        lbfgs_steps=100,
    )
    assert abs(trained.params["diffusivity"] - nu) < 0.01


def test_coefficient_uncertainty_is_the_gauss_newton_block():
    """With fewer network weights than rows, the Schur-complement standard errors equal the
    square roots of the diagonal of (JᵀJ)⁻¹'s unknowns block; they scale with σ."""
    rng = np.random.default_rng(1)
    t, x = rng.uniform(0, 1, 40), rng.uniform(-1, 1, 40)
    u = np.sin(np.pi * x) * np.exp(-0.1 * np.pi**2 * t)

    def problem_with(sigma):
        return pinn.PINNProblem(
            pde.Burgers(GRID),
            (0.0, 1.0),
            unknowns={
                "viscosity": pinn.Unknown(0.1, "log"),
                "advection": pinn.Unknown(0.2),
            },
            data=pinn.Observations(jnp.asarray(t), jnp.asarray(x)[:, None], jnp.asarray(u), sigma),
        )

    problem = problem_with(0.01)
    net = nn.MLP(2, "scalar", 3, 1, "tanh", dtype="float64", key=KEY)
    trainable = problem.init(net)
    tx = np.column_stack([t, x])[:30]
    result = pinn.coefficient_uncertainty(problem, trainable, tx, chunk=4)
    from diffsim.pinn._uncertainty import _weighted_rows

    flat, unravel = jax.flatten_util.ravel_pytree(trainable)
    jac = jax.jacfwd(lambda th: _weighted_rows(problem, unravel(th), jnp.asarray(tx), 0.01))(flat)
    assert jac.shape[0] > jac.shape[1]
    cov = np.linalg.inv(np.asarray(jac.T @ jac))
    # Unknowns come last, in sorted order: advection, viscosity.
    np.testing.assert_allclose(
        result["advection"]["stderr_internal"], np.sqrt(cov[-2, -2]), rtol=1e-6
    )
    np.testing.assert_allclose(
        result["viscosity"]["stderr_internal"], np.sqrt(cov[-1, -1]), rtol=1e-6
    )
    # Delta method through the log transform: stderr = value × stderr of log(value).
    np.testing.assert_allclose(
        result["viscosity"]["stderr"],
        result["viscosity"]["value"] * result["viscosity"]["stderr_internal"],
        rtol=1e-12,
    )
    doubled = pinn.coefficient_uncertainty(problem_with(0.02), trainable, tx, chunk=4)
    np.testing.assert_allclose(
        doubled["advection"]["stderr"], 2 * result["advection"]["stderr"], rtol=1e-9
    )


def test_observations_of_one_component_of_a_system():
    """`component` picks the measured field of each value (u of Gray-Scott's (u, v))."""
    t, x = jnp.asarray([0.1, 0.5, 0.9]), jnp.asarray([[0.2], [-0.4], [0.7]])
    data = pinn.Observations(t, x, jnp.zeros(3), component=jnp.asarray([0, 1, 0]))

    def fn(t, x):
        return jnp.stack([t + x[0], 10 * t * x[0]])

    np.testing.assert_allclose(data.predicted(fn), [0.3, -2.0, 1.6], rtol=1e-15)
    assert pinn.Observations(t, x, jnp.zeros(3)).predicted(lambda t, x: t).shape == (3,)


def test_coefficients_from_expressions_of_the_unknowns():
    """With `coefficients`, unknowns may have any names; the model's parameters follow them."""
    problem = burgers_problem(
        params={},
        unknowns={"log_nu": pinn.Unknown(-5.0)},
        coefficients=lambda v: {"viscosity": jnp.exp(v["log_nu"])},
    )
    trainable = pinn.Trainable(None, {"log_nu": jnp.asarray(-4.0)})
    assert float(problem.parameters(trainable)["viscosity"]) == pytest.approx(np.exp(-4.0))
    with pytest.raises(ValueError, match="params.speed: unknown parameter"):
        burgers_problem(
            params={},
            unknowns={"a": pinn.Unknown(1.0)},
            coefficients=lambda v: {"viscosity": v["a"], "speed": 1.0},
        )


def test_checkpoints_during_lbfgs(tmp_path):
    """L-BFGS saves every `checkpoint_every` steps, not only at the end: at the progress
    record of step 3 the checkpoint of step 2 is on disk."""
    problem = burgers_problem(n_initial=8, n_boundary=4, hard=("initial", "boundary"))
    net = nn.MLP(2, "scalar", 4, 1, "tanh", dtype="float64", key=KEY)
    path = tmp_path / "net.eqx"
    seen = {}

    def callback(p):
        if p.phase == "lbfgs" and p.step == 3:
            seen["saved"] = path.exists()

    pinn.train(
        problem,
        net,
        collocation=pinn.Collocation(16),
        adam_steps=0,
        lbfgs_steps=4,
        callback=callback,
        log_every=3,
        checkpoint=path,
        checkpoint_every=2,
    )
    assert seen == {"saved": True}


def test_non_finite_loss_is_a_status():
    problem = burgers_problem(params={"viscosity": jnp.nan}, n_initial=4, n_boundary=2)
    net = nn.MLP(2, "scalar", 4, 1, dtype="float64", key=KEY)
    trained = pinn.train(problem, net, collocation=pinn.Collocation(16), adam_steps=5)
    assert trained.status.startswith("the loss became nan at Adam step 0")
    assert np.all(np.isfinite(jax.flatten_util.ravel_pytree(trained.trainable)[0]))


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: pinn.Collocation(0), "collocation.n: needs at least 1 point"),
        (
            lambda: pinn.PINNProblem(pde.Burgers(GRID), (1.0, 1.0), {"viscosity": NU}),
            "t_span: the time interval has zero width",
        ),
        (lambda: pde.uniform_grid(16, 1.0, 1.0), "need upper > lower"),
        (
            lambda: pinn.PINNProblem(pde.Wave(GRID, pde.Absorbing()), (0, 1), {"speed": 1.0}),
            "Absorbing .* not accepted by a PINN",
        ),
        (
            lambda: pinn.PINNProblem(
                pde.NavierStokes2D(pde.uniform_grid((8, 8))), (0, 1), {"viscosity": 1.0}
            ),
            "no pointwise equation",
        ),
        (lambda: burgers_problem(params={"viscosity": NU, "speed": 1.0}), "params.speed: unknown"),
        (lambda: burgers_problem(params={}), "params.viscosity: missing"),
        (lambda: burgers_problem(hard=("everything",)), "hard: unknown constraint"),
        (lambda: nn.MLP(2, 1, 8, 2, "tanhh", key=KEY), "unknown activation 'tanhh'"),
    ],
)
def test_bad_input(build, message):
    with pytest.raises(ValueError, match=message):
        build()
