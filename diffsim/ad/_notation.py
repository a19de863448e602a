"""Readable formulas for elementary operations, as written in the lesson (`v1 = x1**2`)."""

import numpy as np

_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}
_SKIPPED_PARAMS = frozenset(
    {"accumulation_type", "out_sharding", "sharding", "precision", "preferred_element_type"}
)


def format_number(value) -> str:
    """A short, exact-looking rendering of a scalar or array value (`4.0`, `[1.0, 2.0]`)."""
    array = np.asarray(value)
    if array.ndim == 0:
        return _format_scalar(array.item())
    flat = array.ravel()
    shown = ", ".join(_format_scalar(v) for v in flat[:4].tolist())
    if flat.size > 4:
        return f"[{shown}, ...] {array.shape}"
    return f"[{shown}]" if array.ndim == 1 else f"[{shown}] {array.shape}"


def _format_scalar(value) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, complex):
        return f"{value:.6g}"
    text = f"{value:.6g}"
    if isinstance(value, float) and text.lstrip("-").isdigit():
        text += ".0"
    return text


def format_operation(name: str, params: dict, operands: list[str], ndims: list[int]) -> str:
    """The formula of a primitive applied to named operands, e.g. `x1**2` or `v1 + x2`.

    **Arguments:**

    - `name`: the primitive's name (`"add"`, `"integer_pow"`, ...).
    - `params`: the primitive's parameters.
    - `operands`: the operands, already rendered as text.
    - `ndims`: the number of dimensions of each operand.

    **Returns:** the formula as text.
    """
    if name in _INFIX and len(operands) == 2:
        return f"{operands[0]} {_INFIX[name]} {operands[1]}"
    if name == "neg":
        return f"-{operands[0]}"
    if name == "integer_pow":
        return f"{operands[0]}**{params['y']}"
    if name == "square":
        return f"{operands[0]}**2"
    if name == "dot_general" and _is_matmul(params["dimension_numbers"], ndims):
        return f"{operands[0]} @ {operands[1]}"
    if name in ("convert_element_type", "copy", "copy_p") and len(operands) == 1:
        return operands[0]
    shown = [
        f"{key}={_format_param(value)}"
        for key, value in params.items()
        if key not in _SKIPPED_PARAMS and value is not None and not callable(value)
    ]
    return f"{name}({', '.join(operands + shown)})"


def _format_param(value) -> str:
    text = str(value)
    return text if len(text) <= 30 else text[:27] + "..."


def _is_matmul(dimension_numbers, ndims) -> bool:
    """Whether `dot_general` contracts the last axis of the left with the first of the right."""
    (left, right), batch = dimension_numbers
    no_batch = not any(batch)
    return no_batch and tuple(left) == (ndims[0] - 1,) and tuple(right) == (0,)
