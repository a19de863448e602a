"""Step-size control: the starting step and the PI controller of adaptive solves."""

import equinox as eqx
import jax.numpy as jnp


def rms_norm(x):
    """Root-mean-square norm, the error norm of Hairer, Nørsett & Wanner."""
    return jnp.sqrt(jnp.mean(jnp.abs(x) ** 2))


class PIController(eqx.Module):
    """Proportional–integral step-size controller (Gustafsson).

    The next step is `h * safety * err**(-beta1/q) * prev_err**(beta2/q)`, clipped to
    `[factor_min, factor_max]`, where `err` is the scaled RMS error estimate of the step, `prev_err`
    that of the last accepted step and `q` the order of the embedded estimate plus one. A step is
    accepted when `err <= 1`; after a rejection the step never grows.
    """

    rtol: float
    atol: float
    beta1: float = eqx.field(static=True, default=0.7)
    beta2: float = eqx.field(static=True, default=0.4)
    safety: float = eqx.field(static=True, default=0.9)
    factor_min: float = eqx.field(static=True, default=0.2)
    factor_max: float = eqx.field(static=True, default=10.0)

    def scale(self, y0, y1):
        return self.atol + self.rtol * jnp.maximum(jnp.abs(y0), jnp.abs(y1))

    def error_norm(self, error, y0, y1):
        """Scaled error of a step; inf when it is not finite."""
        err = rms_norm(error / self.scale(y0, y1))
        return jnp.where(jnp.isfinite(err), err, jnp.inf)

    def factor(self, err, prev_err, q):
        accepted = err <= 1
        safe_err = jnp.maximum(err, 1e-10)
        pi = self.safety * safe_err ** (-self.beta1 / q) * prev_err ** (self.beta2 / q)
        integral = self.safety * safe_err ** (-1.0 / q)
        factor = jnp.where(accepted, pi, jnp.minimum(integral, 1.0))
        return jnp.clip(
            jnp.nan_to_num(factor, nan=self.factor_min), self.factor_min, self.factor_max
        )

    def initial_step(self, fn, t0, y0, args, order):
        """Starting step of Hairer, Nørsett & Wanner (Sec. II.4); costs two evaluations."""
        f0 = fn(t0, y0, args)
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
