"""Loss weighting: fixed weights, gradient-norm balancing, and causal weighting in time."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


class Fixed(eqx.Module):
    """Constant weights per term (`{"residual": 1.0, "initial": 10.0, ...}`; missing: 1).

    ```python
    from diffsim import pinn

    weights = pinn.Fixed({"initial": 10.0}).initial(["residual", "initial"])
    assert weights == {"residual": 1.0, "initial": 10.0}
    ```
    """

    weights: dict = eqx.field(default_factory=dict)

    def initial(self, names) -> dict:
        return {k: float(self.weights.get(k, 1.0)) for k in names}


class GradNorm(eqx.Module):
    """Gradient-norm balancing of the loss terms (Wang, Sankaran, Wang & Perdikaris 2023).

    From "An expert's guide to training PINNs": every `every` steps,
    `λ_i ← m λ_i + (1 - m) Σ_j ‖∇L_j‖ / ‖∇L_i‖`
    (gradients with respect to the network's weights), so no term's gradient dominates.

    ```python
    from diffsim import pinn

    rule = pinn.GradNorm(every=100, momentum=0.0)
    weights = rule.update({"residual": 1.0, "initial": 1.0}, {"residual": 9.0, "initial": 1.0})
    assert weights == {"residual": 10 / 9, "initial": 10.0}  # the weaker gradient counts more
    ```
    """

    every: int = 100
    momentum: float = 0.9

    def initial(self, names) -> dict:
        return {k: 1.0 for k in names}

    def update(self, weights: dict, norms: dict) -> dict:
        """New weights from the per-term gradient norms."""
        total = sum(norms.values())
        return {
            k: self.momentum * weights[k]
            + (1 - self.momentum) * float(total / max(norms[k], np.finfo(float).tiny))
            for k in weights
        }


class Causal(eqx.Module):
    """Causal weighting in time (Wang, Sankaran & Perdikaris 2024, "Respecting causality").

    The time interval is cut into `chunks`; chunk `i`'s mean squared residual `L_i` counts
    with weight `w_i = exp(-ε Σ_{k<i} L_k)` (not differentiated), so later times are trained
    only once earlier ones fit; the last weight tells how far training has reached.

    ```python
    import jax.numpy as jnp
    from diffsim import pinn

    t = jnp.array([0.1, 0.4, 0.6, 0.9])
    squared = jnp.array([2.0, 0.0, 0.0, 0.0])  # the residual is large early on
    loss, w = pinn.Causal(epsilon=1.0, chunks=2).loss(squared, t, 0.0, 1.0)
    assert w[0] == 1.0 and jnp.isclose(w[1], jnp.exp(-1.0))  # later times wait
    ```
    """

    epsilon: float = 1.0
    chunks: int = 32

    def loss(self, squared: jax.Array, t: jax.Array, t0: float, t1: float):
        """`(Σ w_i L_i / chunks, w)` for per-point squared residuals at times `t`."""
        index = jnp.clip(((t - t0) / (t1 - t0) * self.chunks).astype(jnp.int32), 0, self.chunks - 1)
        sums = jax.ops.segment_sum(squared, index, self.chunks)
        counts = jax.ops.segment_sum(jnp.ones_like(squared), index, self.chunks)
        chunk_loss = sums / jnp.maximum(counts, 1)
        before = jnp.cumsum(chunk_loss) - chunk_loss
        w = jax.lax.stop_gradient(jnp.exp(-self.epsilon * before))
        return jnp.mean(w * chunk_loss), w
