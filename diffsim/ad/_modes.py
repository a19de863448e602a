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


def mode_for_sizes(n_inputs: int, n_outputs: int) -> ModeChoice:
    """Forward or reverse mode for a full Jacobian of `R^n -> R^m`, by the lesson's rule.

    A full Jacobian costs `n` forward passes (one per input seed) or `m` backward passes (one
    per output seed, plus storing the graph), so forward mode is chosen when `n <= m`.

    **Arguments:**

    - `n_inputs`, `n_outputs`: the sizes `n` and `m` of the flattened input and output.

    **Returns:** a `ModeChoice` whose reason counts the passes.
    """
    size = f"{_count(n_inputs, 'input')} to {_count(n_outputs, 'output')}"
    forward = _count(n_inputs, "forward pass")
    backward = _count(n_outputs, "backward pass")
    if n_inputs > n_outputs:
        mode = "reverse"
        reason = (
            f"{size}: reverse mode needs {backward}, one per output, where forward mode would "
            f"need {forward}, one per input"
        )
    else:
        mode = "forward"
        reason = (
            f"{size}: forward mode needs {forward}, one per input, where reverse mode would "
            f"need {backward}, one per output, and a stored graph"
        )
    return ModeChoice(mode, reason, n_inputs, n_outputs)


def choose_mode(f, x, *, tangent=None, cotangent=None) -> ModeChoice:
    """Choose forward or reverse mode for differentiating `f` at `x`, as `mode="auto"` does.

    A full Jacobian follows `mode_for_sizes`; a Jacobian-vector product is always one forward
    pass and a vector-Jacobian product one backward pass.

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
        reason = f"{size}; a Jacobian-vector product is exactly one forward pass"
        return ModeChoice("forward", reason, n, m)
    if cotangent is not None:
        reason = f"{size}; a vector-Jacobian product is exactly one backward pass"
        return ModeChoice("reverse", reason, n, m)
    choice = mode_for_sizes(n, m)
    return ModeChoice(choice.mode, f"f maps {choice.reason}", n, m)


def _count(number: int, noun: str) -> str:
    plural = noun + ("es" if noun.endswith("s") else "s")
    return f"{number} {noun if number == 1 else plural}"
