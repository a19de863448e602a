"""Sparse regression (SINDy): which few library terms make up a derivative or a learned term.

Sequentially thresholded least squares (Brunton, Proctor & Kutz 2016) for a sweep of
thresholds; for every target the threshold whose model has the lowest information criterion
(AIC or BIC) is chosen.
"""

import math

import equinox as eqx
import numpy as np

from ._library import TermLibrary

CRITERIA = ("aic", "bic")
# Residuals below this fraction of the target's norm are round-off: models that fit down to
# it are ranked by their number of terms alone.
_RESIDUAL_FLOOR = 1e-10


def stlsq(
    theta: np.ndarray,
    target: np.ndarray,
    threshold: float,
    *,
    ridge: float = 0.0,
    iterations: int = 20,
) -> np.ndarray:
    """Sequentially thresholded least squares for one target column.

    (Ridge) least squares on all terms; then repeatedly drop the terms whose coefficient is
    below `threshold` in magnitude and refit on the rest, until the set of terms stops
    changing; the kept terms are finally refitted by plain least squares (no shrinkage).
    `ridge` adds `ridge * ||xi||²` to the mean squared residual while terms are dropped: on
    nearly collinear columns (a library along one trajectory) plain least squares gives
    large cancelling coefficients, and the ridge lets the few terms that matter stand out.

    **Returns:** the coefficients, shape `(len(terms),)` (zeros for dropped terms).

    **Example:**

    ```python
    import numpy as np
    from diffsim import neural

    x = np.linspace(0.0, 1.0, 50)
    theta = np.stack([np.ones_like(x), x, x**2], axis=1)
    xi = neural.stlsq(theta, 2.0 * x - 0.5 * x**2, threshold=0.1)
    assert np.allclose(xi, [0.0, 2.0, -0.5])
    ```
    """
    num = theta.shape[0]

    def solve(columns):
        a = theta[:, columns]
        if ridge == 0.0:
            return np.linalg.lstsq(a, target, rcond=None)[0]
        return np.linalg.solve(a.T @ a / num + ridge * np.eye(a.shape[1]), a.T @ target / num)

    keep = np.ones(theta.shape[1], dtype=bool)
    for _ in range(iterations):
        xi = np.zeros(theta.shape[1])
        if keep.any():
            xi[keep] = solve(keep)
        small = np.abs(xi) < threshold
        if not np.any(small & keep):
            break
        keep &= ~small
    xi = np.zeros(theta.shape[1])
    if keep.any():
        xi[keep] = np.linalg.lstsq(theta[:, keep], target, rcond=None)[0]
    return xi


def information_criterion(rss: float, count: int, num: int, scale: float, kind: str) -> float:
    """AIC `N ln(RSS/N) + 2k` or BIC `N ln(RSS/N) + k ln N` of a least-squares model.

    `k` is the number of terms; `RSS` is floored at round-off of the target's scale.

    **Example:** a third term must lower the RSS enough to pay for itself.

    ```python
    from diffsim import neural

    two = neural.information_criterion(rss=1.0, count=2, num=100, scale=10.0, kind="bic")
    three = neural.information_criterion(rss=0.99, count=3, num=100, scale=10.0, kind="bic")
    assert two < three  # 1 % less RSS is not worth ln(100) ≈ 4.6
    ```
    """
    rss = max(rss, (_RESIDUAL_FLOOR * scale) ** 2)
    penalty = 2.0 if kind == "aic" else math.log(num)
    return num * math.log(rss / num) + penalty * count


class SparseModel(eqx.Module):
    """The outcome of `sparse_regression`: which terms, with which coefficients.

    **Fields:**
    - `terms`: the library's term names; `targets`: the names of the regressed quantities.
    - `coefficients`: shape `(len(terms), len(targets))`; zero for terms not chosen.
    - `thresholds`: the swept thresholds; `criterion`: `"aic"` or `"bic"`.
    - `scores`: the criterion per threshold and target, shape `(len(thresholds), len(targets))`.
    - `counts`: the number of terms per threshold and target (same shape).
    - `chosen`: the threshold chosen for each target.
    - `path`: the coefficients at every threshold, shape
      `(len(thresholds), len(terms), len(targets))` (the candidates of `select_terms`).

    **Example:**

    ```python
    import numpy as np
    from diffsim import neural

    x = np.linspace(0.0, 1.0, 50)
    sparse = neural.sparse_regression(x[:, None], 2.0 * x - 0.5 * x**2,
                                      neural.TermLibrary(("x",), degree=3), names=("x",))
    assert list(sparse.active("x")) == ["x", "x**2"]  # the terms chosen, with coefficients
    assert np.allclose(list(sparse.active("x").values()), [2.0, -0.5])
    assert sparse.expression("x") == "2*x - 0.5*x**2"
    ```
    """

    terms: tuple[str, ...] = eqx.field(static=True)
    targets: tuple[str, ...] = eqx.field(static=True)
    coefficients: np.ndarray
    thresholds: np.ndarray
    criterion: str = eqx.field(static=True)
    scores: np.ndarray
    counts: np.ndarray
    chosen: np.ndarray
    path: np.ndarray

    def active(self, target: str) -> dict[str, float]:
        """`{term: coefficient}` of the terms chosen for `target`."""
        column = self.coefficients[:, self.targets.index(target)]
        return {t: float(c) for t, c in zip(self.terms, column, strict=True) if c != 0.0}

    def expression(self, target: str, *, digits: int = 6) -> str:
        """The recovered right-hand side of `target` as text, e.g. `-0.9*x*y` (`0` if none)."""
        text = ""
        for term, c in self.active(target).items():
            sign = "-" if c < 0 else "+"
            factor = f"{abs(c):.{digits}g}" + ("" if term == "1" else f"*{term}")
            text += f" {sign} {factor}" if text else ("-" if c < 0 else "") + factor
        return text or "0"

    def __str__(self) -> str:
        return "\n".join(f"{target} = {self.expression(target)}" for target in self.targets)


def sparse_regression(
    ys,
    targets,
    library: TermLibrary,
    *,
    names=None,
    thresholds=None,
    criterion: str = "aic",
    normalize: bool = True,
    ridge: float = 0.0,
) -> SparseModel:
    """Find the few `library` terms of `ys` that make up each column of `targets`.

    Targets are derivatives, or a learned term evaluated along a trajectory.

    **Arguments:**
    - `ys`: states, shape `(N, n)` in the order of `library.states`.
    - `targets`: what to explain, shape `(N, m)`.
    - `library`: the candidate terms.
    - `names`: the `m` target names (default `f1`, `f2`, ...).
    - `thresholds`: the thresholds to sweep; default 40 values spaced logarithmically from
      `1e-4` to 1 times the largest least-squares coefficient.
    - `criterion`: `"aic"` or `"bic"`: the score that picks each target's threshold (lowest
      wins; ties go to the larger threshold, the sparser model).
    - `normalize`: threshold the coefficients of library columns scaled to unit RMS, so that
      terms of different magnitudes compete fairly (the reported coefficients are unscaled).
    - `ridge`: the ridge penalty of `stlsq` while terms are dropped (on the scaled columns).

    **Returns:** a `SparseModel` (print it for the recovered terms).

    **Example:** from clean derivatives of a known polynomial system.

    ```python
    import numpy as np
    from diffsim import neural

    t = np.linspace(0.0, 2.0, 40)
    ys = np.stack([np.cos(t), np.sin(t)], axis=1)  # x' = -y, y' = x
    derivatives = np.stack([-ys[:, 1], ys[:, 0]], axis=1)
    sparse = neural.sparse_regression(ys, derivatives, neural.TermLibrary(("x", "y"), degree=2),
                                      names=("x", "y"))
    assert str(sparse).splitlines() == ["x = -1*y", "y = 1*x"]
    ```
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion: unknown criterion {criterion!r} (use aic or bic)")
    theta = library(ys)
    scales = np.sqrt(np.mean(theta**2, axis=0)) if normalize else np.ones(theta.shape[1])
    scales = np.where(scales > 0, scales, 1.0)
    theta = theta / scales
    targets = np.asarray(targets, dtype=float)
    if targets.ndim == 1:
        targets = targets[:, None]
    if targets.shape[0] != theta.shape[0]:
        raise ValueError(f"targets: expected {theta.shape[0]} rows, got {targets.shape[0]}")
    names = (
        tuple(names) if names is not None else tuple(f"f{i + 1}" for i in range(targets.shape[1]))
    )
    if len(names) != targets.shape[1]:
        raise ValueError(f"names: expected {targets.shape[1]} names, got {len(names)}")
    if thresholds is None:
        largest = np.max(np.abs(np.linalg.lstsq(theta, targets, rcond=None)[0]))
        thresholds = largest * np.logspace(-4, 0, 40)
    thresholds = np.sort(np.asarray(thresholds, dtype=float))
    num = theta.shape[0]
    fits = np.zeros((len(thresholds), theta.shape[1], targets.shape[1]))
    scores = np.zeros((len(thresholds), targets.shape[1]))
    for i, threshold in enumerate(thresholds):
        for j in range(targets.shape[1]):
            xi = stlsq(theta, targets[:, j], threshold, ridge=ridge)
            rss = float(np.sum((theta @ xi - targets[:, j]) ** 2))
            scale = float(np.linalg.norm(targets[:, j]))
            fits[i, :, j] = xi
            scores[i, j] = information_criterion(
                rss, int(np.count_nonzero(xi)), num, scale, criterion
            )
    # Lowest score; among equal scores, the largest threshold.
    best = len(thresholds) - 1 - np.argmin(scores[::-1], axis=0)
    coefficients = np.stack([fits[best[j], :, j] for j in range(targets.shape[1])], axis=1)
    coefficients = coefficients / scales[:, None]
    return SparseModel(
        terms=library.terms,
        targets=names,
        coefficients=coefficients,
        thresholds=thresholds,
        criterion=criterion,
        scores=scores,
        counts=np.count_nonzero(fits, axis=1),
        chosen=thresholds[best],
        path=fits / scales[None, :, None],
    )
