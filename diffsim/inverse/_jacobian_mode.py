"""Choosing forward or reverse mode from the number of inputs and outputs."""

_REVERSE_ONLY = ("backsolve", "checkpoint")


def choose_gradient_mode(
    num_inputs: int, num_outputs: int, requested: str = "auto", adjoint: str = "auto"
) -> tuple[str, str]:
    """Pick `"forward"` or `"reverse"` mode for a Jacobian of shape `(num_outputs, num_inputs)`.

    Forward mode costs one Jacobian-vector product per input, reverse mode one vector-Jacobian
    product per output (each a few times dearer, and it stores the forward pass); so forward
    wins when there are no more inputs than outputs. Adjoints that only support reverse mode
    (`backsolve`, `checkpoint`) force reverse mode.

    **Arguments:**
    - `num_inputs`: the number of free parameters.
    - `num_outputs`: the number of outputs (residuals, or 1 for a scalar loss).
    - `requested`: `"auto"`, `"forward"` or `"reverse"`.
    - `adjoint`: the ODE solver's adjoint setting.

    **Returns:** `(mode, reason)`, the reason in words for reports.
    """
    if requested not in ("auto", "forward", "reverse"):
        raise ValueError(f"gradient.mode: unknown mode {requested!r} (use auto, forward, reverse)")
    if requested == "forward" and adjoint in _REVERSE_ONLY:
        raise ValueError(
            f"gradient.mode: forward mode cannot differentiate through adjoint {adjoint!r}"
        )
    shape = f"{num_inputs} input(s), {num_outputs} output(s)"
    if requested != "auto":
        return requested, f"{requested} mode as configured ({shape})"
    if adjoint in _REVERSE_ONLY:
        return "reverse", f"reverse mode: adjoint {adjoint!r} supports reverse mode only ({shape})"
    if num_inputs <= num_outputs:
        return "forward", (
            f"forward mode: {shape}; one JVP per input is cheaper than one VJP per output"
        )
    return "reverse", f"reverse mode: {shape}; one VJP per output is cheaper than one JVP per input"
