"""Choose the terms of a recovered equation by how well its refit explains the measured data.

Sparse regression ranks term sets by how well they reproduce a network's output along a
trajectory. But that output's error is smooth and correlated along the trajectory (the
network is only as good as the data that trained it), so an information criterion computed on
it keeps adding terms that fit the network's error. Here every candidate term set is refitted
as an ODE to the measured data and scored by the data's own information criterion, with the
data's noise levels: `chi² + 2k` (AIC) or `chi² + k ln N` (BIC), `k` the number of
coefficients (Mangan, Kutz, Brunton & Proctor 2017, "Model selection for dynamical systems via
sparse regression and information criteria"). The candidates are the term sets of the
sparse regression's threshold sweep (the sparsest first); from the best one, single terms are
removed, added or swapped, or one target's terms replaced by a single term, while the score
improves (stepwise selection on the data).
"""

import itertools
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from ..inverse import SolverOptions
from ._library import TermLibrary
from ._sparse import CRITERIA, SparseModel
from ._trajectory_problem import REFIT_OPTIONS


class Selection(eqx.Module):
    """The outcome of `select_terms`.

    **Fields:**
    - `model`: the chosen terms, their coefficients refitted to the data (a `SparseModel`).
    - `chi_square`: its chi-square on the data; `score`: its information criterion.
    - `criterion`: `"aic"` or `"bic"`; `num`: the number of data values.
    - `tried`: `(equations, chi-square, number of coefficients, score)` of every refit, in
      the order tried.

    **Example:**

    ```python
    # slow
    import numpy as np
    from diffsim import neural

    ts = np.linspace(0.0, 1.0, 11)
    data = np.exp(-2.0 * ts)[:, None]
    library = neural.TermLibrary(("x",), degree=2)
    sparse = neural.sparse_regression(data, -2.0 * data, library, names=("x",))
    chosen = neural.select_terms(sparse, library, lambda t, y, u: u, ts, data, [1.0], sigma=0.01)
    assert str(chosen.model) == "x = -2*x" and chosen.chi_square < 1e-6
    assert chosen.num == 11 and len(chosen.tried) >= 1
    ```
    """

    model: SparseModel
    chi_square: float
    score: float
    criterion: str = eqx.field(static=True)
    num: int = eqx.field(static=True)
    tried: tuple = eqx.field(static=True)


def _supports(sparse: SparseModel, target: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The distinct term sets of the sweep for one target, with their coefficients."""
    found = {}
    chosen = sparse.coefficients[:, target]
    for column in (chosen, *sparse.path[:, :, target]):
        key = tuple(np.flatnonzero(column))
        if key and key not in found:
            found[key] = column
    return [(np.asarray(k), c) for k, c in found.items()]


def _moves(mask: np.ndarray):
    """The term sets one step from `mask` `(terms, targets)`: one term removed, one added,
    one swapped for another in the same target, or a target's terms replaced by a single
    term (flattened masks)."""
    for j in range(mask.shape[1]):
        column = mask[:, j]
        for k in range(mask.shape[0]):
            single = mask.copy()
            single[:, j] = False
            single[k, j] = True
            yield single.ravel()
        for i in np.flatnonzero(column):
            moved = mask.copy()
            moved[i, j] = False
            yield moved.ravel()
        for k in np.flatnonzero(~column):
            moved = mask.copy()
            moved[k, j] = True
            yield moved.ravel()
            for i in np.flatnonzero(column):
                swapped = moved.copy()
                swapped[i, j] = False
                yield swapped.ravel()


def select_terms(
    sparse: SparseModel,
    library: TermLibrary,
    equation: Callable,
    ts,
    ys,
    y0,
    *,
    sigma,
    criterion: str = "bic",
    options: SolverOptions = REFIT_OPTIONS,
    max_candidates: int = 16,
    inputs=None,
) -> Selection:
    """The terms whose refitted ODE explains the measured data best (AIC or BIC on the data).

    Candidates: the sparse regression's term sets, then stepwise moves from the best (remove,
    add or swap one term, or replace a target's terms by one) while the score improves.

    The recovered model is the UDE with its learned term replaced by library terms:
    `dy/dt = equation(t, y, learned)` with `learned_j = Σ_k c_kj term_k(y)` (the targets of
    `sparse` are the learned term's components, in order). Each candidate's coefficients are
    refitted to the data (weighted least squares, `scipy.optimize.least_squares` with the
    exact Jacobian of the solve in forward mode), starting from the sparse regression's
    values; one compilation serves every candidate (the term set is a mask).

    **Arguments:**
    - `sparse`: the sparse regression of the learned term (`sparse_regression`).
    - `library`: its `TermLibrary`.
    - `equation`: `equation(t, y, learned) -> dy/dt` (JAX), e.g. the known terms plus
      `learned` for `[alpha*x + u_0, -delta*y + u_1]`.
    - `ts`, `ys`, `y0`, `sigma`: the data (as `trajectory_problem`; NaN marks a missing value).
    - `criterion`: `"aic"` or `"bic"`.
    - `options`: the solver settings of the refits (the gradient strategy is forward mode).
    - `max_candidates`: the most combinations of per-target term sets of the sweep refitted
      (the sparsest first); the stepwise moves start from the best of them.
    - `inputs`: the indices of the states the library reads (default all, in order).

    **Returns:** a `Selection`.

    **Example:** the learned term of `x' = 1.3*x + u(x, y)` is `-0.9*x*y` plus a smooth error;
    sparse regression on it keeps spurious terms, the refits to the data keep `x*y` alone.

    ```python
    # slow
    import jax.numpy as jnp
    import numpy as np
    import diffsim
    from diffsim import neural

    def lotka_volterra(t, u, p):
        return jnp.stack([1.3 * u[0] - 0.9 * u[0] * u[1], 0.8 * u[0] * u[1] - 1.8 * u[1]])

    ts = np.linspace(0.0, 3.0, 31)
    u0 = np.array([0.44249296, 4.6280594])
    data = np.asarray(diffsim.solve_ode(lotka_volterra, u0, ts, None, rtol=1e-10).ys)
    x, y = data.T
    wrong = 0.05 * np.sin(3.0 * ts)  # what a network's error might look like
    learned = np.stack([-0.9 * x * y + wrong, 0.8 * x * y - wrong], axis=1)
    library = neural.TermLibrary(("x", "y"), degree=2)
    sparse = neural.sparse_regression(data, learned, library, names=("x", "y"), ridge=1e-2)
    equation = lambda t, u, learned: jnp.stack([1.3 * u[0], -1.8 * u[1]]) + learned
    chosen = neural.select_terms(sparse, library, equation, ts, data, u0, sigma=0.05)
    assert list(chosen.model.active("x")) == ["x*y"] == list(chosen.model.active("y"))
    ```
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion: unknown criterion {criterion!r} (use aic or bic)")
    ts = np.asarray(ts, dtype=float)
    data = np.asarray(ys, dtype=float)
    weights = 1.0 / np.broadcast_to(np.asarray(sigma, dtype=float), data.shape)
    observed = np.isfinite(data)
    num = int(observed.sum())
    penalty = 2.0 if criterion == "aic" else float(np.log(num))
    shape = sparse.coefficients.shape
    forward = options.replace(adjoint="forward")

    reads = slice(None) if inputs is None else np.asarray(inputs)

    def rhs(t, y, c):
        return equation(t, y, library.row(y[reads]) @ c)

    def residuals(c):
        solution = forward.solve_ode(rhs, jnp.asarray(y0, float), ts, c.reshape(shape))
        r = jnp.where(observed, (solution.ys - jnp.nan_to_num(data)) * weights, 0.0)
        return jnp.where(solution.status == 0, r, jnp.inf).ravel()

    # One compilation: the Jacobian (forward mode, a few columns) with the residuals.
    both = jax.jit(jax.jacfwd(lambda c: (residuals(c), residuals(c)), has_aux=True))
    last = {}

    def evaluate(c):
        key = np.asarray(c).tobytes()
        if key not in last:
            last.clear()
            last[key] = both(c)
        return last[key]

    residual_fn = lambda c: evaluate(c)[1]  # noqa: E731
    jacobian_fn = lambda c: evaluate(c)[0]  # noqa: E731
    tried, fitted = [], {}

    def refit(mask, start):
        key = tuple(np.flatnonzero(mask))
        if key in fitted:
            return fitted[key]
        active = np.flatnonzero(mask)
        full = np.zeros(mask.size)

        def fill(v):
            full[active] = v
            return jnp.asarray(full)

        if active.size == 0:
            r = np.asarray(residual_fn(jnp.zeros(mask.size)))
            chi2 = float(r @ r) if np.all(np.isfinite(r)) else np.inf
            fitted[key] = (chi2, chi2, np.zeros(shape))
            tried.append(("(no terms)", chi2, 0, chi2))
            return fitted[key]
        try:
            result = scipy.optimize.least_squares(
                lambda v: np.asarray(residual_fn(fill(v))),
                start.ravel()[active],
                jac=lambda v: np.asarray(jacobian_fn(fill(v)))[:, active],
                method="lm",
                max_nfev=50 * (active.size + 1),
            )
            chi2 = float(2.0 * result.cost) if np.all(np.isfinite(result.fun)) else np.inf
            coefficients = np.zeros(mask.size)
            coefficients[active] = result.x
        except ValueError:  # not finite at the start: the candidate's solve blows up
            chi2, coefficients = np.inf, np.zeros(mask.size)
        score = chi2 + penalty * active.size
        candidate = eqx.tree_at(lambda m: m.coefficients, sparse, coefficients.reshape(shape))
        tried.append((str(candidate).replace("\n", "; "), chi2, int(active.size), score))
        fitted[key] = (score, chi2, coefficients.reshape(shape))
        return fitted[key]

    per_target = [_supports(sparse, j) for j in range(shape[1])]
    combos = sorted(
        itertools.product(*per_target), key=lambda combo: sum(s.size for s, _ in combo)
    )[:max_candidates]
    best = None
    for combo in combos:
        mask, start = np.zeros(shape, bool), np.zeros(shape)
        for j, (support, column) in enumerate(combo):
            mask[support, j], start[:, j] = True, column
        candidate = refit(mask.ravel(), start)
        if best is None or candidate[0] < best[0]:
            best = candidate
    while best is not None and np.isfinite(best[0]):
        better = min(
            (refit(mask, best[2]) for mask in _moves(best[2] != 0.0)),
            key=lambda candidate: candidate[0],
            default=None,
        )
        if better is None or better[0] >= best[0]:
            break
        best = better
    if best is None:
        raise ValueError("select_terms: the sparse regression found no terms to refit")
    score, chi2, coefficients = best
    return Selection(
        model=eqx.tree_at(lambda m: m.coefficients, sparse, coefficients),
        chi_square=chi2,
        score=score,
        criterion=criterion,
        num=num,
        tried=tuple(tried),
    )
