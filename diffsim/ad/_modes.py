"""How `mode="auto"` picks forward or reverse mode, and why."""

import equinox as eqx
import jax

from ._layout import layout_of


class ModeChoice(eqx.Module):
    """The mode chosen for a derivative, with the reason in words.

    **Fields:**

    - `mode`: `"forward"` or `"reverse"`.
    - `reason`: why, in terms of the numbers of inputs and outputs.
    - `n_inputs`, `n_outputs`: the sizes of the flattened input and output.
    """

    mode: str = eqx.field(static=True)
    reason: str = eqx.field(static=True)
    n_inputs: int = eqx.field(static=True)
    n_outputs: int = eqx.field(static=True)


def choose_mode(f, x, *, tangent=None, cotangent=None) -> ModeChoice:
    """Choose forward or reverse mode for differentiating `f` at `x`, as `mode="auto"` does.

    A full Jacobian of `f: R^n -> R^m` costs `n` forward passes (one per input seed) or `m`
    backward passes (one per output seed, plus storing the graph). So forward mode is chosen
    when `n <= m` and reverse mode when `n > m`; a Jacobian-vector product is always one
    forward pass and a vector-Jacobian product one backward pass.

    **Arguments:**

    - `f`: the function.
    - `x`: the point (a pytree; only shapes are used).
    - `tangent`, `cotangent`: as for `jacobian`; at most one of them.

    **Returns:** a `ModeChoice`.
    """
    n = layout_of(x).size
    m = layout_of(jax.eval_shape(f, x)).size
    size = f"f maps {_count(n, 'input')} to {_count(m, 'output')}"
    if tangent is not None:
        mode = "forward"
        reason = f"{size}; a Jacobian-vector product is exactly one forward pass"
    elif cotangent is not None:
        mode = "reverse"
        reason = f"{size}; a vector-Jacobian product is exactly one backward pass"
    elif n > m:
        mode = "reverse"
        reason = (
            f"{size}: reverse mode needs {_count(m, 'backward pass')}, one per output, where "
            f"forward mode would need {_count(n, 'forward pass')}, one per input"
        )
    else:
        mode = "forward"
        reason = (
            f"{size}: forward mode needs {_count(n, 'forward pass')}, one per input, where "
            f"reverse mode would need {_count(m, 'backward pass')}, one per output, and a "
            "stored graph"
        )
    return ModeChoice(mode, reason, n, m)


def _count(number: int, noun: str) -> str:
    plural = noun + ("es" if noun.endswith("s") else "s")
    return f"{number} {noun if number == 1 else plural}"
