"""Step-size control: the starting step and the PI controller of adaptive solves."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, PyTree


def rms_norm(x):
    """Root-mean-square norm, the error norm of Hairer, Nørsett & Wanner."""
    return jnp.sqrt(jnp.mean(jnp.abs(x) ** 2))


def _as_array(x):
    return None if x is None else jnp.asarray(x)


def _as_arrays(tree):
    return jax.tree.map(jnp.asarray, tree)


class PIController(eqx.Module):
    """Proportional–integral step-size controller (Gustafsson), as in diffrax's `PIDController`.

    The next step is `h * safety * err**(-(pcoeff + icoeff)/q) * prev_err**(pcoeff/q)`, clipped
    to `[factor_min, factor_max]` and to `[dtmin, dtmax]`, where `err` is the scaled RMS error
    estimate of the step (`atol + rtol * max(|y0|, |y1|)` per component), `prev_err` that of the
    last accepted step and `q` the order of the embedded estimate plus one. A step is accepted
    when `err <= 1`; after a rejection the step never grows.

    **Arguments:**
    - `rtol`, `atol`: tolerances, traced arrays (a sweep over them does not recompile); `atol`
      may be per component: an array of the state's flat size, or a pytree like the state.
    - `pcoeff`, `icoeff`: the controller gains (default 0.4 and 0.3: exponents 0.7/q, 0.4/q).
    - `dtmin`: a step that would have to be smaller fails the solve with
      `step_size_too_small`; `dtmax`: the largest step taken. `None`: no bound.
    - `safety`, `factor_min`, `factor_max`: the usual safety factor and growth bounds.

    **Example:** tight tolerances and a largest step.

    ```python
    import jax
    import jax.numpy as jnp

    import diffsim

    jax.config.update("jax_enable_x64", True)


    def rhs(t, y, params):
        return jnp.stack([y[1], -y[0]])  # a harmonic oscillator: y = (cos t, -sin t)


    controller = diffsim.PIController(rtol=1e-10, atol=1e-12, dtmax=0.1)
    ts = jnp.array([0.0, 10.0])
    sol = diffsim.solve_ode(rhs, jnp.array([1.0, 0.0]), ts, None, controller=controller)
    assert abs(sol.ys[-1, 0] - jnp.cos(10.0)) < 1e-8
    assert sol.stats["num_accepted"] >= 100  # no step longer than dtmax
    ```
    """

    rtol: Array = eqx.field(converter=jnp.asarray, default=1e-6)
    atol: "ArrayLike | PyTree" = eqx.field(converter=_as_arrays, default=1e-9)
    pcoeff: float = 0.4
    icoeff: float = 0.3
    dtmin: Array | None = eqx.field(converter=_as_array, default=None)
    dtmax: Array | None = eqx.field(converter=_as_array, default=None)
    safety: float = 0.9
    factor_min: float = 0.2
    factor_max: float = 10.0

    def cast(self, y0) -> "PIController":
        """This controller with its arrays in the real dtype of the state `y0` (a pytree), and
        a per-component `atol` (array or pytree like `y0`) flattened like the state."""
        leaves = jax.tree.leaves(y0)
        real = jnp.real(jnp.ravel(leaves[0])).dtype
        atol = self.atol
        if jax.tree.structure(atol) == jax.tree.structure(y0):
            atol = jnp.concatenate(
                [
                    jnp.ravel(jnp.broadcast_to(a, jnp.shape(y)))
                    for a, y in zip(jax.tree.leaves(atol), leaves, strict=True)
                ]
            )
        elif jax.tree.structure(atol) != jax.tree.structure(0.0):
            raise ValueError("`atol` must be a number, or an array or pytree like `y0`")

        def cast(x):
            return None if x is None else jnp.asarray(x).astype(real)

        return eqx.tree_at(
            lambda c: (c.rtol, c.atol, c.dtmin, c.dtmax),
            self,
            (cast(self.rtol), cast(atol), cast(self.dtmin), cast(self.dtmax)),
            is_leaf=lambda x: x is None,
        )

    def scale(self, y0, y1):
        return self.atol + self.rtol * jnp.maximum(jnp.abs(y0), jnp.abs(y1))

    def error_norm(self, error, y0, y1):
        """Scaled error of a step; inf when it is not finite."""
        err = rms_norm(error / self.scale(y0, y1))
        return jnp.where(jnp.isfinite(err), err, jnp.inf)

    def factor(self, err, prev_err, q):
        accepted = err <= 1
        safe_err = jnp.maximum(err, 1e-10)
        pi = (
            self.safety
            * safe_err ** (-(self.pcoeff + self.icoeff) / q)
            * prev_err ** (self.pcoeff / q)
        )
        integral = self.safety * safe_err ** (-1.0 / q)
        factor = jnp.where(accepted, pi, jnp.minimum(integral, 1.0))
        return jnp.clip(
            jnp.nan_to_num(factor, nan=self.factor_min), self.factor_min, self.factor_max
        )

    def clip(self, h):
        """`h` within `[dtmin, dtmax]`, and whether it had to be raised to `dtmin` (a rejected
        step that needs a step below `dtmin` fails the solve)."""
        if self.dtmax is not None:
            h = jnp.minimum(h, self.dtmax)
        if self.dtmin is None:
            return h, jnp.asarray(False)
        return jnp.maximum(h, self.dtmin), h < self.dtmin

    def initial_step(self, fn, t0, y0, f0, args, order):
        """Starting step of Hairer, Nørsett & Wanner (Sec. II.4); costs one evaluation more
        than `f0 = fn(t0, y0)`."""
        scale = self.scale(y0, y0)
        d0, d1 = rms_norm(y0 / scale), rms_norm(f0 / scale)
        h0 = jnp.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / d1)
        f1 = fn(t0 + h0, y0 + h0 * f0, args)
        d2 = rms_norm((f1 - f0) / scale) / h0
        dmax = jnp.maximum(d1, d2)
        h1 = jnp.where(
            dmax <= 1e-15, jnp.maximum(1e-6, h0 * 1e-3), (0.01 / dmax) ** (1.0 / (order + 1))
        )
        return jnp.minimum(100 * h0, h1)
