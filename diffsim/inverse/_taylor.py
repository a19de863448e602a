"""The Taylor test of a gradient on a flat vector: right when the corrected remainder
shrinks like h^2. A fit checks the gradient its optimizer used with it; `diffsim.ad`
re-exports it for pytrees."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

# A remainder below this many ulps of the values it is computed from is round-off.
_ROUNDOFF_ULPS = 64
_PASSING_RATE = 1.8


class TaylorTest(eqx.Module):
    """The outcome of `taylor_test`.

    **Fields:**

    - `steps`: the step sizes `h`.
    - `remainder0`: `|f(x + h v) - f(x)|`, which shrinks like `h` (rate 1).
    - `remainder1`: `|f(x + h v) - f(x) - h <g, v>|`, which shrinks like `h^2` (rate 2) when
      `g` is the gradient, and only like `h` when it is not.
    - `rate0`, `rate1`: the observed orders, least-squares slopes of log remainder against
      log h over the steps whose remainder is above round-off (`nan` if fewer than two are).
    - `passed`: the verdict: `rate1 > 1.8` and also over the three smallest steps above
      round-off (so that a small gradient error, which shows only at small `h`, is caught);
      or `remainder1` at round-off for all steps but one.
    - `reason`: the verdict in words.

    **Example:** the first-order remainder shrinks at rate 2 only with the right gradient.

    ```python
    import jax.numpy as jnp
    from diffsim import ad

    f = lambda x: jnp.sum(x**3)
    x = jnp.array([1.0, 2.0])
    good = ad.taylor_test(f, x)  # JAX's gradient
    bad = ad.taylor_test(f, x, grad=2 * x**2)  # a wrong derivative (3 x^2 is right)
    assert good.passed and abs(good.rate1 - 2) < 0.2
    assert not bad.passed and abs(bad.rate1 - 1) < 0.2 and bad.reason
    ```

    `from_values` gives the verdict from values computed elsewhere (here f = exp along v = 1):

    ```python
    import numpy as np
    from diffsim import inverse

    steps, eps = 1e-2 * 0.5 ** np.arange(6), np.finfo(np.float64).eps
    f0, fh = np.exp(0.3), np.exp(0.3 + steps)
    assert inverse.TaylorTest.from_values(steps, f0, fh, np.exp(0.3), eps).passed
    assert not inverse.TaylorTest.from_values(steps, f0, fh, 1.3, eps).passed
    ```
    """

    steps: np.ndarray
    remainder0: np.ndarray
    remainder1: np.ndarray
    rate0: float
    rate1: float
    passed: bool = eqx.field(static=True)
    reason: str = eqx.field(static=True)

    @classmethod
    def from_values(cls, steps, f0, fh, slope, eps) -> "TaylorTest":
        """The verdict from values already computed: `f0 = f(x)`, `fh[i] = f(x + steps[i] v)`,
        `slope = <g, v>`, and `eps`, the machine epsilon of the dtype they were computed in.
        `taylor_test_flat` evaluates `f` and calls it; call it directly when the values come
        from a program that computes them together with the gradient.
        """
        steps, fh = np.asarray(steps, dtype=np.float64), np.asarray(fh, dtype=np.float64)
        f0, slope = float(f0), float(slope)
        linear = steps * slope
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf when f is not finite
            remainder0 = np.abs(fh - f0)
            remainder1 = np.abs(fh - f0 - linear)
        if not (np.isfinite(f0) and np.all(np.isfinite(fh)) and np.isfinite(slope)):
            nan = float("nan")
            return cls(steps, remainder0, remainder1, nan, nan, False, "f or <g, v> is not finite")
        floor = _ROUNDOFF_ULPS * eps * np.maximum(np.maximum(abs(f0), np.abs(fh)), np.abs(linear))
        rate0 = _rate(steps, remainder0, floor)
        rate1 = _rate(steps, remainder1, floor)

        above = remainder1 > floor
        tail = _rate(steps[above][-3:], remainder1[above][-3:], 0.0)
        if np.sum(above) < 2:
            passed, reason = True, "the corrected remainder is at round-off level"
        elif rate1 > _PASSING_RATE and tail > _PASSING_RATE:
            passed, reason = True, f"the corrected remainder shrinks like h^{rate1:.2f}"
        elif rate1 > _PASSING_RATE:
            passed, reason = (
                False,
                f"the corrected remainder shrinks like h^2 at large steps but like h^{tail:.2f} at "
                "the smallest: the gradient is slightly wrong (or f is not smooth at that scale)",
            )
        else:
            passed, reason = (
                False,
                f"the corrected remainder shrinks like h^{rate1:.2f}, not h^2: "
                "the gradient is wrong",
            )
        return cls(steps, remainder0, remainder1, rate0, rate1, passed, reason)

    def table(self) -> str:
        """The remainders per step, the local rates between steps and the verdict."""
        lines = [f"{'h':>10}  {'remainder0':>11}  {'rate':>5}  {'remainder1':>11}  {'rate':>5}"]
        for i, h in enumerate(self.steps):
            local = ["", ""]
            if i > 0:
                scale = np.log(h / self.steps[i - 1])
                for j, r in enumerate((self.remainder0, self.remainder1)):
                    with np.errstate(divide="ignore", invalid="ignore"):
                        local[j] = f"{np.log(r[i] / r[i - 1]) / scale:.2f}"
            lines.append(
                f"{h:>10.3g}  {self.remainder0[i]:>11.3e}  {local[0]:>5}  "
                f"{self.remainder1[i]:>11.3e}  {local[1]:>5}"
            )
        verdict = "PASSED" if self.passed else "FAILED"
        lines.append(
            f"rate0 = {self.rate0:.3f}, rate1 = {self.rate1:.3f}: {verdict} ({self.reason})"
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def taylor_test_flat(f, x, g, v, *, steps=None) -> TaylorTest:
    """Check the gradient `g` of a scalar function `f` of a 1-D float vector `x` along `v`.

    Along `v`, `f(x + h v) = f(x) + h <g, v> + O(h^2)` holds only for the true gradient. So
    the zeroth-order remainder shrinks at rate 1 and the first-order one at rate 2; with a
    wrong gradient the first-order remainder shrinks at rate 1 too. Run it in float64.

    **Arguments:**
    - `f`: a function from a 1-D array like `x` to a real scalar (it is jitted).
    - `x`, `g`, `v`: the point, the gradient to check and the direction (1-D, same length).
    - `steps`: the step sizes `h` (at least three, decreasing); by default twelve halvings
      from `1e-2` (float64; down to 5e-6) or six from `1e-1` (float32).

    **Returns:** a `TaylorTest`; print it for a table.

    **Example:**

    ```python
    import jax.numpy as jnp
    from diffsim import inverse

    f = lambda x: jnp.sum(jnp.sin(x))
    x = jnp.array([0.1, 0.2, 0.3])
    v = jnp.array([1.0, -1.0, 0.5])
    assert inverse.taylor_test_flat(f, x, jnp.cos(x), v).passed
    assert not inverse.taylor_test_flat(f, x, jnp.sin(x), v).passed  # a wrong gradient
    ```
    """
    x_flat, g_flat, v = jnp.asarray(x), jnp.asarray(g), jnp.asarray(v)
    if steps is None:
        double = x_flat.dtype == jnp.float64
        steps = (1e-2 if double else 1e-1) * 0.5 ** np.arange(12 if double else 6)
    steps = np.asarray(steps, dtype=np.float64)
    if steps.ndim != 1 or steps.size < 3 or np.any(steps <= 0):
        raise ValueError("`steps` must be at least three positive step sizes")

    f_flat = jax.jit(lambda flat: f(flat))
    f0 = float(f_flat(x_flat))
    fh = np.array([float(f_flat(x_flat + h * v)) for h in steps])
    slope = float(jnp.vdot(g_flat, v))
    return TaylorTest.from_values(steps, f0, fh, slope, float(jnp.finfo(x_flat.dtype).eps))


def _rate(steps, remainder, floor) -> float:
    """Least-squares slope of log(remainder) on log(h) over the points above round-off."""
    keep = remainder > floor
    if np.sum(keep) < 2:
        return float("nan")
    return float(np.polyfit(np.log(steps[keep]), np.log(remainder[keep]), 1)[0])


def taylor_summary(f, x, g, *, what: str = "") -> dict:
    """`taylor_test_flat` of `f` at `x` along a fixed random direction, as the plain dict that
    result.json and the report hold (`rate0`, `rate1`, `passed`, `reason`, `table`).

    The direction (key 0) is scaled to the length of `x` (at least 1), so the steps are
    relative to the point; `what` is appended to the reason, e.g. "(training loss, 87 unknowns)".
    """
    v = jax.random.normal(jax.random.key(0), x.shape, x.dtype)
    v = v * (jnp.maximum(1.0, jnp.linalg.norm(x)) / jnp.linalg.norm(v))
    check = taylor_test_flat(f, x, g, v)
    return {
        "rate0": float(check.rate0),
        "rate1": float(check.rate1),
        "passed": bool(check.passed),
        "reason": check.reason + (f" {what}" if what else ""),
        "table": check.table(),
    }
