"""From a trained universal ODE to equations, as a run does it.

Sparse regression explains the learned term along the fitted trajectory with a polynomial
library; the terms are chosen by refits to the measured data (`select_terms`); the recovered
equation (the UDE with each network output replaced by its terms) is refitted as a plain ODE
model with error bars (`diffsim.fit`, `estimate_uncertainty`) and extrapolated against the
truth, with the coefficients' uncertainty propagated to the extrapolation (delta method).
"""

from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..inverse import (
    OdeProblem,
    Parameter,
    ParameterSpace,
    estimate_uncertainty,
    fit,
)
from ..models import ODEModel
from ._library import TermLibrary
from ._recovered import coefficient_name
from ._selection import select_terms
from ._sparse import sparse_regression
from ._ude import UniversalODE


class Recovery(eqx.Module):
    """How a trained network's term is turned into equations (a config's `neural.recover`).

    **Fields:** `degree` of the polynomial library; `ridge` of the thresholded least squares;
    `criterion` (`"aic"` or `"bic"`) of the threshold sweep and of the refits; `select`:
    choose the terms by refits to the data (else keep the sparse regression's).

    **Example:**

    ```python
    from diffsim import neural

    assert neural.Recovery().degree == 3 and neural.Recovery(degree=2, select=False).degree == 2
    ```
    """

    degree: int = eqx.field(static=True, default=3)
    ridge: float = eqx.field(static=True, default=1e-2)
    criterion: str = eqx.field(static=True, default="bic")
    select: bool = eqx.field(static=True, default=True)


class Recovered(eqx.Module):
    """The outcome of `recover_equations`.

    **Fields:**
    - `problem`: the refit of the recovered equation (an `OdeProblem`; its free parameters
      are the UDE's free physical ones, then one coefficient per recovered term).
    - `x`, `stderr`: the refitted values and their standard errors (in `problem.space` order).
    - `summary`: what a report shows, JSON-ready (terms, coefficients with error bars, true
      terms when known, extrapolation scores).
    - `arrays`: the recovered model beyond the data (`extrapolation_recovered`, its band's
      standard deviation `extrapolation_recovered_sd`), when an extrapolation was asked for.

    **Example:** see `recover_equations`; a run keeps it in `UdeProblem.recovered`.

    ```python
    from diffsim import neural

    assert "summary" in neural.Recovered.__dataclass_fields__
    ```
    """

    problem: OdeProblem
    x: np.ndarray
    stderr: np.ndarray
    summary: dict
    arrays: dict


def _output_names(inputs: tuple[str, ...], outputs: int) -> tuple[str, ...]:
    return tuple(f"nn({', '.join(inputs)})[{i}]" for i in range(outputs))


def _recovered_model(ude: UniversalODE, library: TermLibrary, mask, names, base_model) -> ODEModel:
    """The UDE with output `j` of its network replaced by `Σ_k c_kj term_k` (named `c`)."""
    rows, cols = np.nonzero(mask)
    shape = mask.shape

    def vector_field(t, y, p):
        c = (
            jnp.zeros(shape, jnp.result_type(float))
            .at[rows, cols]
            .set(jnp.stack([jnp.asarray(p[n], jnp.result_type(float)) for n in names]))
        )
        physical = {k: p[k] for k in ude.physical}
        return ude.equation(t, y, physical, lambda features: library.row(features) @ c)

    return ODEModel(
        name=f"{base_model.name}_recovered",
        states=ude.states,
        parameters=(*base_model.parameters, *names),
        vector_field=vector_field,
        description="the universal ODE with its network replaced by the recovered terms",
    )


def _terms(model, targets) -> dict:
    return {t: {k: float(v) for k, v in model.active(s).items()} for s, t in targets.items()}


def recover_equations(
    base: OdeProblem,
    ude: UniversalODE,
    network,
    values: Mapping,
    recovery: Recovery | None = None,
    *,
    truth=None,
    until: float | None = None,
    scale_covariance: bool = False,
    points: int = 400,
    level: float = 0.95,
) -> Recovered:
    """Recover equations from a trained UDE and refit them to the data of `base`.

    **Arguments:**
    - `base`: the UDE's `OdeProblem` (data, noise levels, observables, initial state).
    - `ude`, `network`: the universal ODE and its trained network (it must read states only).
    - `values`: every parameter value of `base` at the trained optimum (`base.values(x)`).
    - `recovery`: the settings (default `Recovery()`).
    - `truth`: the true network outputs (`TrueTerms`) when known: the true terms and the
      truth the extrapolation is scored against.
    - `until`: extrapolate the refitted equation (and the truth) from `t0` to this time.
    - `scale_covariance`: scale the coefficients' covariance by the reduced chi-square.
    - `points`, `level`: the extrapolation's time points and band level.

    **Returns:** a `Recovered`.

    **Raises:** `ValueError` naming `neural.inputs` when the network reads more than states.

    **Example:** Lotka–Volterra whose "network" is the true interaction: the terms, their
    coefficients and the extrapolation come back exactly.

    ```python
    # slow
    import jax.numpy as jnp
    import numpy as np
    from diffsim import neural

    equations = {"x": "alpha*x + nn(x, y)[0]", "y": "-delta*y + nn(x, y)[1]"}
    ude = neural.ude_from_equations(equations, ["alpha", "delta"], inputs=["x", "y"], outputs=2)
    truth = neural.TrueTerms(("-0.9*x*y", "0.8*x*y"), ("x", "y"))
    ts, u0 = np.linspace(0.0, 3.0, 31), np.array([0.44249296, 4.6280594])
    clean = np.asarray(neural.REFIT_OPTIONS.replace(rtol=1e-10, atol=1e-12).solve_ode(
        ude, u0, ts, {"physical": {"alpha": 1.3, "delta": 1.8}, "network": truth}).ys)
    base = neural.trajectory_problem(ude.with_network(truth), {}, ts, clean, u0,
                                     sigma=0.05, fixed={"alpha": 1.3, "delta": 1.8})
    recovered = neural.recover_equations(base, ude, truth, base.values(jnp.zeros(0)),
                                         neural.Recovery(degree=2), truth=truth, until=10.0)
    terms = recovered.summary["terms"]
    assert recovered.summary["exact_terms"] and list(terms["nn(x, y)[0]"]) == ["x*y"]
    assert abs(terms["nn(x, y)[1]"]["x*y"]["estimate"] - 0.8) < 1e-6
    assert recovered.summary["extrapolation"]["rel_l2"] < 1e-5
    ```
    """
    recovery = Recovery() if recovery is None else recovery
    if ude.inputs is None:
        raise ValueError("neural.inputs: only a network of the states can be turned into equations")
    inputs = tuple(ude.states[i] for i in ude.inputs)
    physical = {k: values[k] for k in ude.physical}
    y0 = base.initial_state(values)
    ts = np.asarray(base.data.ts, float)
    prepend = base.t0 < ts[0]
    grid = np.concatenate([[base.t0], ts]) if prepend else ts
    params = {"physical": physical, "network": network}
    solution = base.options.solve_ode(ude, y0, grid, params)
    path = np.asarray(solution.ys)[1:] if prepend else np.asarray(solution.ys)
    learned = ude.learned(network, path)
    outputs = learned.shape[1]
    targets = tuple(f"nn{i}" for i in range(outputs))
    shown = dict(zip(targets, _output_names(inputs, outputs), strict=True))
    library = TermLibrary(inputs, degree=recovery.degree)
    features = path[:, list(ude.inputs)]
    sparse = sparse_regression(
        features,
        learned,
        library,
        names=targets,
        criterion=recovery.criterion,
        ridge=recovery.ridge,
    )

    # The terms: refits to the data need every state observed from t0 with a known start.
    direct = tuple(base.data.names) == ude.states and not prepend
    note = ""
    selected = recovery.select and direct
    if selected:
        equation = lambda t, y, u: ude.equation(t, y, physical, lambda _: u)  # noqa: E731
        selection = select_terms(
            sparse,
            library,
            equation,
            ts,
            base.data.values,
            y0,
            sigma=base.sigma,
            criterion=recovery.criterion,
            options=base.options,
            inputs=ude.inputs,
        )
        chosen = selection.model
        note = (
            f"terms chosen by {len(selection.tried)} refits to the data "
            f"({recovery.criterion.upper()} {selection.score:.4g} on the data)"
        )
    else:
        chosen = sparse
        note = "terms of the sparse regression on the learned term"
        if recovery.select:
            note += " (refits to the data need every state observed from t0)"
    if not np.any(chosen.coefficients):
        raise ValueError("neural.recover: the sparse regression found no terms")

    # The refit: the UDE's free physical parameters and one coefficient per term.
    mask = chosen.coefficients != 0.0
    rows, cols = np.nonzero(mask)
    names = tuple(
        coefficient_name(targets[j], library.terms[k]) for k, j in zip(rows, cols, strict=True)
    )
    model = _recovered_model(ude, library, mask, names, base.model)
    coefficients = tuple(
        Parameter(name=n, init=float(chosen.coefficients[k, j]))
        for n, k, j in zip(names, rows, cols, strict=True)
    )
    # The UDE's free physical parameters start from their trained values.
    trained = tuple(
        eqx.tree_at(lambda q: q.init, q, float(values[q.name])) for q in base.space.parameters
    )
    space = ParameterSpace(
        parameters=trained + coefficients,
        transforms=base.space.transforms + tuple(c.check("recovered") for c in coefficients),
    )
    problem = OdeProblem(
        model=model,
        space=space,
        fixed=base.fixed,
        initial_state=base.initial_state,
        observables=base.observables,
        data=base.data,
        sigma=base.sigma,
        t0=base.t0,
        options=base.options.replace(adjoint="auto"),
        noise=base.noise,
    )
    if selected and base.space.size == 0:
        # The selection refitted exactly these coefficients to the data as an ODE (the
        # physical parameters held as here): its optimum is the refit.
        x = np.asarray(space.initial_values())
        z = space.to_internal(jnp.asarray(x))
        uncertainty = estimate_uncertainty(problem, z, scale_covariance=scale_covariance)
        chi_square, message = selection.chi_square, "refitted while the terms were chosen"
    else:
        refit = fit(problem)
        uncertainty = estimate_uncertainty(
            problem,
            refit.z,
            jacobian=refit.jacobian,
            residuals=refit.residuals,
            scale_covariance=scale_covariance,
        )
        x, chi_square, message = np.asarray(refit.x), refit.chi_square, refit.message
    stderr = np.asarray(uncertainty.stderr)
    estimate = dict(zip(problem.space.names, zip(x, stderr, strict=True), strict=True))

    true_model = None
    if truth is not None:
        true_model = sparse_regression(
            features, ude.learned(truth, path), library, names=targets, criterion="bic"
        )
    terms = {}
    for n, k, j in zip(names, rows, cols, strict=True):
        entry = {"parameter": n, "estimate": float(estimate[n][0]), "stderr": float(estimate[n][1])}
        if true_model is not None:
            entry["true"] = float(true_model.coefficients[k, j])
        terms.setdefault(shown[targets[j]], {})[library.terms[k]] = entry
    summary = {
        "library": f"polynomials in ({', '.join(inputs)}) up to degree {recovery.degree}: "
        f"{len(library.terms)} terms",
        "how": note,
        "sparse_terms": _terms(sparse, shown),
        "terms": terms,
        "physical": {
            n: {"estimate": float(estimate[n][0]), "stderr": float(estimate[n][1])}
            for n in base.space.names
        },
        "chi_square": float(chi_square),
        "num_points": int(np.isfinite(base.data.values).sum()),
        "fit_message": message,
        "covariance_scale": float(uncertainty.scale),
    }
    if true_model is not None:
        found = {t: sorted(v) for t, v in terms.items()}
        true_terms = {shown[t]: sorted(true_model.active(t)) for t in targets}
        summary["true_terms"] = _terms(true_model, shown)
        summary["exact_terms"] = found == {t: v for t, v in true_terms.items() if v}

    arrays = {}
    if until is not None and until > float(ts[-1]):
        arrays, scores = _extrapolation(
            problem, x, uncertainty.covariance, ude, physical, truth, until, points, level
        )
        summary["extrapolation"] = scores
    return Recovered(problem=problem, x=x, stderr=stderr, summary=summary, arrays=arrays)


def _extrapolation(problem, x, covariance, ude, physical, truth, until, points, level):
    """The refitted equation from `t0` to `until` with its delta-method band; scored against
    the truth (the UDE with its true network outputs) when known."""
    forecast = problem.forecast_arrays(x, covariance, until, points=points, level=level)
    ts, states = forecast["forecast_ts"], forecast["states_fit"]
    arrays = {"extrapolation_recovered": states}
    observed_states = tuple(problem.data.names) == ude.states
    if observed_states:
        arrays["extrapolation_recovered_sd"] = forecast["forecast_sd"]
    scores = {"until": float(until), "level": float(level)}
    if truth is None:
        return arrays, scores
    y0 = problem.initial_state(problem.values(jnp.asarray(x)))
    true = problem.options.solve_ode(ude, y0, ts, {"physical": physical, "network": truth})
    if int(true.status) != 0 or not np.all(np.isfinite(states)):
        scores["rel_l2"] = float("inf")
        return arrays, scores
    true_states = np.asarray(true.ys)
    beyond = ts > float(problem.data.ts[-1])
    relative = lambda a, b: float(np.linalg.norm(a - b) / np.linalg.norm(b))  # noqa: E731
    scores["rel_l2"] = relative(states, true_states)
    scores["rel_l2_beyond_data"] = relative(states[beyond], true_states[beyond])
    if observed_states:
        sd = forecast["forecast_sd"]
        z = float(jax.scipy.stats.norm.ppf(0.5 + level / 2))
        inside = np.abs(states - true_states) <= z * sd
        # What the coefficients' error bars alone make the extrapolation miss by, in the same
        # relative L2 measure: sqrt(E||delta y||^2) / ||y||.
        scores["expected_rel_l2"] = float(np.sqrt(np.sum(sd**2)) / np.linalg.norm(true_states))
        scores["truth_inside_band"] = float(np.mean(inside[beyond]))
    return arrays, scores
