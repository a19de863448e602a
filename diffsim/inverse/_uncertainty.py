"""Standard errors and correlations from the residual Jacobian at the optimum."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._jacobian_mode import REVERSE_ONLY_ADJOINTS, choose_gradient_mode
from ._problem import AbstractProblem

RANK_TOLERANCE = 1e-10
_NO_SVD = (np.zeros(0), np.zeros((0, 0)))


class Uncertainty(eqx.Module):
    """Linearized uncertainty of the estimates: `cov = s^2 (J^T J)^{-1}`.

    **Fields:**
    - `covariance`: `(P, P)` matrix in parameter values (NaN when singular).
    - `stderr`: standard errors, `sqrt(diag(covariance))` (NaN when singular).
    - `correlation`: `(P, P)` correlation matrix (NaN when singular).
    - `singular`: whether `J^T J` could not be inverted reliably.
    - `message`: an explanation for reports (empty when the error bars are fine).
    - `condition_number`: largest over smallest singular value of the scaled Jacobian.
    - `scale`: the factor `s^2` applied (reduced chi-square, or 1).
    - `singular_values`: singular values of the column-normalized Jacobian, largest first
      (empty when it was not computed).
    - `directions`: `(P, P)`: row `k` is the parameter combination of singular value `k`.

    **Example:** only the product `a·b` is in the data, so no error bars, and why.

    ```python
    import jax.numpy as jnp

    import diffsim

    config = diffsim.config.validate_config({
        "name": "product",
        "model": {"equations": {"y": "-a * b * y"}},
        "parameters": {"a": {"init": 1.0, "true": 1.0}, "b": {"init": 0.8, "true": 0.8}},
        "initial_state": {"y": 1.0},
        "observations": {"y": {"sigma": 0.01}},
        "data": {"synthetic": {"times": {"start": 0.0, "stop": 2.0, "num": 5}, "seed": 0}},
        "solver": {"name": "rk4", "dt": 0.1},
    })
    problem = diffsim.build_problem(config)
    errors = diffsim.inverse.estimate_uncertainty(problem, jnp.array([1.0, 0.8]))
    assert errors.singular and jnp.isnan(errors.stderr).all()
    print(errors.message)  # names the combination of a and b the data cannot separate
    ```
    """

    covariance: np.ndarray
    stderr: np.ndarray
    correlation: np.ndarray
    singular: bool
    message: str
    condition_number: float
    scale: float
    singular_values: np.ndarray = eqx.field(default_factory=lambda: np.zeros(0))
    directions: np.ndarray = eqx.field(default_factory=lambda: np.zeros((0, 0)))


def unavailable_uncertainty(
    num_free: int,
    message: str,
    *,
    condition: float = np.nan,
    scale: float = np.nan,
    svd: tuple = _NO_SVD,
) -> Uncertainty:
    """An `Uncertainty` without error bars (all NaN), with `message` saying why.

    The singular values and directions `svd` are kept when they were computed.

    **Example:**

    ```python
    import numpy as np
    from diffsim import inverse

    errors = inverse.unavailable_uncertainty(2, "the fit did not converge")
    assert np.isnan(errors.stderr).all() and errors.covariance.shape == (2, 2)
    assert errors.message == "the fit did not converge"
    ```
    """
    nan = np.full((num_free, num_free), np.nan)
    return Uncertainty(nan, np.full(num_free, np.nan), nan, True, message, condition, scale, *svd)


def residual_jacobian(problem: AbstractProblem, z) -> np.ndarray:
    """`d residuals / dz` at `z`, compiled, in the mode the problem's adjoint allows (forward
    mode cannot differentiate through the `checkpoint` and `backsolve` adjoints)."""
    mode, _ = choose_gradient_mode(
        problem.space.size, problem.num_residuals, "auto", problem.options.adjoint
    )
    jacobian = jax.jacfwd if mode == "forward" else jax.jacrev
    return np.asarray(jax.jit(jacobian(lambda z: problem.residuals(z)))(jnp.asarray(z)))


def _hessian_root(problem: AbstractProblem, z) -> np.ndarray:
    """A `(P, P)` matrix `R` with `R^T R = H / 2`, `H` the Hessian of chi-square at `z`
    (negative curvature clipped to zero: reported as singular)."""
    z = jnp.asarray(z)
    loss = lambda z: problem.chi_square(z)
    if problem.options.adjoint in REVERSE_ONLY_ADJOINTS:
        # no second derivative through a custom VJP: central differences of the exact gradient
        gradient = jax.jit(jax.vmap(jax.grad(loss)))
        steps = 1e-5 * jnp.maximum(1.0, jnp.abs(z))
        shifts = jnp.diag(steps)
        hessian = (gradient(z + shifts) - gradient(z - shifts)) / (2 * steps[:, None])
        hessian = (hessian + hessian.T) / 2
    else:
        hessian = jax.jit(jax.jacfwd(jax.jacfwd(loss)))(z)
    values, vectors = np.linalg.eigh(np.asarray(hessian) / 2)
    return (vectors * np.sqrt(np.maximum(values, 0.0))) @ vectors.T


def estimate_uncertainty(
    problem: AbstractProblem,
    z: np.ndarray,
    *,
    jacobian: np.ndarray | None = None,
    residuals: np.ndarray | None = None,
    scale_covariance: bool = True,
) -> Uncertainty:
    """Covariance, standard errors and correlations of the estimates at optimizer point `z`.

    The Jacobian of the weighted residuals with respect to parameter *values* is
    `J_x = J_z / (dx/dz)` (transforms act elementwise). Its columns are normalized before the
    singular value decomposition so that parameters of very different sizes do not look
    singular; a relative singular value below `1e-10` (or a zero column) means the data cannot
    determine some combination of parameters, and no error bars are given.

    **Arguments:**
    - `problem`: the problem.
    - `z`: the optimum in optimizer coordinates.
    - `jacobian`, `residuals`: `d residuals / dz` and the residuals at `z` when already known
      (else computed).
    - `scale_covariance`: multiply by the reduced chi-square (lmfit's default; right when the
      noise level is unknown or only relative).

    **Returns:** an `Uncertainty`.

    **Example:** the standard error of a decay rate at the truth.

    ```python
    import jax.numpy as jnp

    import diffsim

    config = diffsim.config.validate_config({
        "name": "decay",
        "model": {"equations": {"y": "-k * y"}},
        "parameters": {"k": {"init": 0.5, "true": 0.8, "transform": "log"}},
        "initial_state": {"y": 1.0},
        "observations": {"y": {"sigma": 0.01}},
        "data": {"synthetic": {"times": {"start": 0.0, "stop": 2.0, "num": 5}, "seed": 0}},
        "solver": {"name": "rk4", "dt": 0.1},
    })
    problem = diffsim.build_problem(config)
    z = problem.space.to_internal(jnp.array([0.8]))
    errors = diffsim.inverse.estimate_uncertainty(problem, z, scale_covariance=False)
    assert not errors.singular and 0 < errors.stderr[0] < 0.05
    assert errors.correlation.tolist() == [[1.0]]
    ```
    """
    z = jnp.asarray(z)
    if residuals is None:
        residuals = jax.jit(lambda z: problem.residuals(z))(z)  # a problem is unhashable
    residuals = np.asarray(residuals)
    names = problem.space.names
    num_free = len(names)
    # Prior rows (a smoothness penalty) act as pseudo-observations of the unknowns: with them
    # the Gauss-Newton posterior exists even with as many cells as data values.
    num_prior = residuals.size - problem.observed.size
    dof = problem.num_points + num_prior - num_free
    chi_square = float(residuals @ residuals)
    scale = chi_square / dof if (scale_covariance and dof > 0) else 1.0

    def singular(message, condition=np.inf, svd=_NO_SVD):
        return unavailable_uncertainty(num_free, message, condition=condition, scale=scale, svd=svd)

    if not np.all(np.isfinite(residuals)):
        return singular(
            "Error bars cannot be estimated: the model cannot be simulated at the estimate "
            "(the residuals are not finite)."
        )
    if jacobian is None:
        jacobian = residual_jacobian(problem, z)
    if problem.errors is not None and problem.errors.estimates_noise:
        # The noise rows' Gauss-Newton curvature is not the likelihood's: use the exact
        # Hessian of chi-square (-2 log L), as J^T J = H / 2, and no rescaling (the noise
        # level is estimated).
        jacobian = _hessian_root(problem, z)
        scale = 1.0
    slope = np.asarray(problem.space.derivative(z))
    values = np.asarray(problem.space.to_values(z))
    at_bound = [
        f"{n} = {v:.6g}"
        for n, v, d in zip(names, values, slope, strict=False)
        if not abs(d) > 1e-12 * max(abs(v), 1e-300)
    ]
    if at_bound:
        return singular(
            "Error bars cannot be estimated: the estimate sits on a bound of its transform "
            f"({', '.join(at_bound)}); widen the bounds or check the model."
        )
    jac = np.asarray(jacobian) / slope[None, :]
    if not np.all(np.isfinite(jac)):
        return singular("Error bars cannot be estimated: the Jacobian is not finite.")
    if dof <= 0:
        return singular(
            f"Error bars cannot be estimated: {problem.num_points} data points (and "
            f"{num_prior} prior terms) for "
            f"{num_free} free parameters leave no degrees of freedom."
        )
    norms = np.linalg.norm(jac, axis=0)
    if np.any(norms == 0):
        dead = ", ".join(n for n, v in zip(names, norms, strict=False) if v == 0)
        return singular(
            f"Error bars cannot be estimated: the Jacobian is singular (the data do not depend "
            f"on {dead})."
        )
    _, s, vt = np.linalg.svd(jac / norms, full_matrices=False)
    condition = float(s[0] / s[-1]) if s[-1] > 0 else np.inf
    if s[-1] <= RANK_TOLERANCE * s[0]:
        direction = vt[-1]
        involved = [n for n, v in zip(names, direction, strict=False) if abs(v) > 0.3]
        return singular(
            "Error bars cannot be estimated: the Jacobian is singular (condition number "
            f"{condition:.1e}); the data cannot separate {', '.join(involved)}.",
            condition,
            (s, vt),
        )
    inverse = (vt.T / s**2) @ vt
    covariance = scale * inverse / np.outer(norms, norms)
    stderr = np.sqrt(np.diag(covariance))
    correlation = covariance / np.outer(stderr, stderr)
    return Uncertainty(covariance, stderr, correlation, False, "", condition, scale, s, vt)


def curve_sd(curve, x, covariance, adjoint: str = "auto") -> np.ndarray:
    """Standard deviation of a model curve from the parameters' covariance (delta method).

    `sd^2 = g^T C g`, with `g` the gradient of each curve value with respect to the
    parameters `x` and `C` their covariance (NaN when the covariance is not available); the
    Jacobian is taken in the mode the solver's `adjoint` supports.

    **Arguments:** `curve(x)`: the curve values (any shape); `x` `(P,)`; `covariance`
    `(P, P)`.

    **Returns:** an array of the curve's shape.
    """
    x = jnp.asarray(x)
    size = int(np.prod(jax.eval_shape(curve, x).shape))
    mode, _ = choose_gradient_mode(x.size, size, "auto", adjoint)
    jacobian = jax.jacfwd if mode == "forward" else jax.jacrev
    gradient = np.asarray(jax.jit(jacobian(curve))(x))
    variance = np.einsum("...p,pq,...q->...", gradient, np.asarray(covariance, float), gradient)
    return np.sqrt(np.maximum(variance, 0.0))
