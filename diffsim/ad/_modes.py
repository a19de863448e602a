"""How `mode="auto"` picks forward or reverse mode, and why."""

import jax

from ..inverse._jacobian_mode import ModeChoice, count_of, mode_for_sizes
from ._layout import layout_of

__all__ = ["ModeChoice", "choose_mode", "mode_for_sizes"]


def choose_mode(f, x, *, tangent=None, cotangent=None) -> ModeChoice:
    """Choose forward or reverse mode for differentiating `f` at `x`, as `mode="auto"` does.

    A full Jacobian follows `mode_for_sizes`; a Jacobian-vector product is always one forward
    pass and a vector-Jacobian product one backward pass.

    **Arguments:**

    - `f`: the function.
    - `x`: the point (a pytree; only shapes are used).
    - `tangent`, `cotangent`: as for `jacobian`; at most one of them.

    **Returns:** a `ModeChoice`.

    **Example:** a gradient of a sum is reverse mode; a Jacobian-vector product is forward.

    ```python
    import jax.numpy as jnp
    from diffsim import ad

    x = jnp.ones(100)
    assert ad.choose_mode(jnp.sum, x).mode == "reverse"  # 100 inputs, 1 output
    assert ad.choose_mode(jnp.sin, x, tangent=x).mode == "forward"  # one forward pass
    ```
    """
    n = layout_of(x).size
    m = layout_of(jax.eval_shape(f, x)).size
    size = f"f maps {count_of(n, 'input')} to {count_of(m, 'output')}"
    if tangent is not None:
        reason = f"{size}; a Jacobian-vector product is exactly one forward pass"
        return ModeChoice("forward", reason, n, m)
    if cotangent is not None:
        reason = f"{size}; a vector-Jacobian product is exactly one backward pass"
        return ModeChoice("reverse", reason, n, m)
    choice = mode_for_sizes(n, m)
    return ModeChoice(choice.mode, f"f maps {choice.reason}", n, m)
