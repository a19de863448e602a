"""Choosing forward or reverse mode for a fit, from its sizes and the ODE adjoint.

The rule by sizes is the lesson's (`diffsim.ad` re-exports it)."""

import equinox as eqx

GRADIENT_MODES = ("auto", "forward", "reverse")
#: Adjoints with only a reverse-mode derivative (a custom VJP). `direct` is one on adaptive
#: steps (on a fixed grid it is JAX's own loop, but the choice is made before the grid is known).
REVERSE_ONLY_ADJOINTS = ("backsolve", "checkpoint", "direct")


class ModeChoice(eqx.Module):
    """The mode chosen for a derivative, with the reason in words.

    **Fields:**

    - `mode`: `"forward"` or `"reverse"`.
    - `reason`: why, in terms of the numbers of inputs and outputs.
    - `n_inputs`, `n_outputs`: the sizes of the flattened input and output.

    **Example:** the choice for a trajectory of many outputs from a few parameters, and why.

    ```python
    from diffsim import ad

    choice = ad.mode_for_sizes(n_inputs=3, n_outputs=1000)
    print(choice.reason)  # counts the passes each mode needs
    assert choice.mode == "forward" and (choice.n_inputs, choice.n_outputs) == (3, 1000)
    ```
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

    **Example:** a loss of many parameters wants reverse mode; a trajectory of few wants forward.

    ```python
    from diffsim import ad

    assert ad.mode_for_sizes(n_inputs=10_000, n_outputs=1).mode == "reverse"
    assert ad.mode_for_sizes(n_inputs=4, n_outputs=200).mode == "forward"
    ```
    """
    size = f"{count_of(n_inputs, 'input')} to {count_of(n_outputs, 'output')}"
    forward = count_of(n_inputs, "forward pass")
    backward = count_of(n_outputs, "backward pass")
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


def count_of(number: int, noun: str) -> str:
    """`1 input`, `3 inputs`, `2 passes`."""
    plural = noun + ("es" if noun.endswith("s") else "s")
    return f"{number} {noun if number == 1 else plural}"


def mode_adjoint_conflict(mode: str, adjoint: str) -> str | None:
    """Why gradient `mode` cannot differentiate through the ODE `adjoint`, or `None` if it can.

    The `backsolve`, `checkpoint` and (adaptive) `direct` adjoints define only a reverse-mode
    derivative (a custom VJP), so forward mode through them is impossible.
    """
    if mode == "forward" and adjoint in REVERSE_ONLY_ADJOINTS:
        return (
            f"forward mode cannot differentiate through adjoint {adjoint!r}, which has only a "
            "reverse-mode derivative (use gradient mode auto or reverse, or another adjoint)"
        )
    return None


def choose_gradient_mode(
    num_inputs: int, num_outputs: int, requested: str = "auto", adjoint: str = "auto"
) -> tuple[str, str]:
    """Pick `"forward"` or `"reverse"` mode for a Jacobian of shape `(num_outputs, num_inputs)`.

    `auto` follows `mode_for_sizes` (forward when there are no more inputs than
    outputs), except that the ODE adjoint can decide: `backsolve`, `checkpoint`, `direct` support
    reverse mode only, and `forward` computes forward sensitivities in either mode, so forward
    mode is the cheaper one around it.

    **Arguments:**
    - `num_inputs`: the number of free parameters.
    - `num_outputs`: the number of outputs (residuals, or 1 for a scalar loss).
    - `requested`: `"auto"`, `"forward"` or `"reverse"`.
    - `adjoint`: the ODE solver's adjoint setting.

    **Returns:** `(mode, reason)`, the reason in words for reports.

    **Raises:** `ValueError` naming `gradient.mode` for an unknown mode, or one that cannot
    differentiate through `adjoint` (see `mode_adjoint_conflict`).

    **Example:** sizes decide, unless the ODE adjoint only supports one mode.

    ```python
    from diffsim import inverse

    assert inverse.choose_gradient_mode(4, 100)[0] == "forward"
    assert inverse.choose_gradient_mode(500, 100)[0] == "reverse"
    mode, reason = inverse.choose_gradient_mode(4, 100, adjoint="checkpoint")
    assert mode == "reverse"
    print(reason)
    ```
    """
    if requested not in GRADIENT_MODES:
        raise ValueError(
            f"gradient.mode: unknown mode {requested!r} (use {', '.join(GRADIENT_MODES)})"
        )
    conflict = mode_adjoint_conflict(requested, adjoint)
    if conflict is not None:
        raise ValueError(f"gradient.mode: {conflict}")
    by_size = mode_for_sizes(num_inputs, num_outputs)
    if requested != "auto":
        note = ""
        if requested == "reverse" and adjoint == "forward":
            note = "; the ODE adjoint 'forward' still computes forward sensitivities inside"
        return requested, f"{requested} mode as configured ({by_size.reason}){note}"
    if adjoint in REVERSE_ONLY_ADJOINTS:
        return "reverse", f"reverse mode: adjoint {adjoint!r} supports reverse mode only"
    if adjoint == "forward":
        return "forward", "forward mode: adjoint 'forward' computes forward sensitivities"
    return by_size.mode, f"{by_size.mode} mode: the fitted function maps {by_size.reason}"
