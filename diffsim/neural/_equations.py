"""Universal ODEs written as text: equations whose `nn(...)[i]` calls read a network output.

The text is checked with Python's `ast` module (never evaluated): each `nn(a, b, ...)[i]` must
pass exactly the declared network inputs, in order, and an integer index below the number of
outputs. It is then replaced by a symbol holding that output, and the rest of the expression
goes through the whitelist parser of the inverse layer.
"""

import ast
from collections.abc import Mapping, Sequence

import jax.numpy as jnp

from ..inverse import parse_expression
from ..inverse._user_models import check_names
from ._ude import UniversalODE

NETWORK = "nn"


def _output_symbol(index: int) -> str:
    return f"{NETWORK}_output_{index}"


class _Rewrite(ast.NodeTransformer):
    """Replaces `nn(inputs)[i]` by the symbol `nn_output_i`, checking inputs and index."""

    def __init__(self, inputs, outputs, fail):
        self.inputs, self.outputs, self.fail = tuple(inputs), outputs, fail

    def _is_network_call(self, node) -> bool:
        return (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == NETWORK
        )

    def visit_Subscript(self, node):
        if not self._is_network_call(node.value):
            return self.generic_visit(node)  # the whitelist parser refuses other indexing
        call = node.value
        if self.outputs is None:
            self.fail(f"{NETWORK}(...) needs a `neural:` block (inputs, outputs, width, ...)")
        names = [a.id if isinstance(a, ast.Name) else None for a in call.args]
        if call.keywords or tuple(names) != self.inputs:
            self.fail(
                f"{NETWORK}(...) must be called with the network inputs "
                f"{NETWORK}({', '.join(self.inputs)}) (neural.inputs)"
            )
        index = node.slice
        if not (
            isinstance(index, ast.Constant)
            and isinstance(index.value, int)
            and not isinstance(index.value, bool)
        ):
            self.fail(f"the output of {NETWORK}(...) must be chosen by an integer, e.g. [0]")
        if not 0 <= index.value < self.outputs:
            self.fail(
                f"output index {index.value} of {NETWORK}(...) is out of range (neural.outputs "
                f"is {self.outputs}: use 0 to {self.outputs - 1})"
            )
        return ast.copy_location(ast.Name(id=_output_symbol(index.value), ctx=ast.Load()), node)

    def visit_Call(self, node):
        if self._is_network_call(node):
            if self.outputs is None:
                self.fail(f"{NETWORK}(...) needs a `neural:` block (inputs, outputs, width, ...)")
            self.fail(f"choose one output of {NETWORK}(...) with an index, e.g. {NETWORK}(...)[0]")
        return self.generic_visit(node)


def ude_from_equations(
    equations: Mapping[str, str],
    physical: Sequence[str],
    *,
    inputs: Sequence[str] | None,
    outputs: int | None,
    where: str = "model.equations",
) -> UniversalODE:
    """A `UniversalODE` from right-hand sides given as text, one per state.

    E.g. `{"x": "alpha*x + nn(x, y)[0]", "y": "-delta*y + nn(x, y)[1]"}` with inputs
    `("x", "y")` and 2 outputs. Expressions may use the states, `physical`, `t`, the
    whitelisted functions and `nn(inputs)[i]`.

    **Arguments:**
    - `equations`: `{state: "expression"}`, in state-vector order.
    - `physical`: the physical parameter names.
    - `inputs`, `outputs`: the network's input names (states, `t` or parameters) and number
      of outputs; `None` when the config has no `neural:` block (then `nn(...)` is refused).
    - `where`: the key path for error messages.

    **Raises:** `ValueError` with one line naming the key path of the first bad equation.

    **Example:**

    ```python
    import jax
    import jax.numpy as jnp
    from diffsim import neural, nn

    equations = {"x": "alpha*x + nn(x, y)[0]", "y": "-delta*y + nn(x, y)[1]"}
    ude = neural.ude_from_equations(equations, ["alpha", "delta"], inputs=["x", "y"], outputs=2)
    network = nn.MLP(2, 2, 5, 3, "rbf", dtype="float64", key=jax.random.key(0))
    u = jnp.array([0.5, 2.0])
    rate = ude(0.0, u, {"physical": {"alpha": 1.3, "delta": 1.8}, "network": network})
    assert jnp.allclose(rate, jnp.array([0.65, -3.6]) + network(u))
    ```
    """
    states = tuple(equations)
    check_names(states, where=where, kind="state")
    check_names(tuple(physical), where=where, kind="parameter")
    known = (*states, *physical, "t")
    if inputs is not None:
        for name in inputs:
            if name not in known:
                raise ValueError(
                    f"neural.inputs: {name!r} is not a state, parameter or t "
                    f"(known: {', '.join(known)})"
                )
    symbols = (*known, *(_output_symbol(i) for i in range(outputs or 0)))
    expressions = []
    for state, text in equations.items():
        key = f"{where}.{state}"

        def fail(message, key=key, text=text):
            raise ValueError(f"{key}: {message} in {text!r}")

        try:
            tree = ast.parse(str(text).strip(), mode="eval")
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            tree = None  # the whitelist parser reports it
        if tree is not None:
            text = ast.unparse(_Rewrite(inputs or (), outputs, fail).visit(tree))
        expressions.append(parse_expression(text, symbols, where=key))
    input_names = tuple(inputs or ())

    def equation(t, y, physical_values, network):
        env = {name: y[i] for i, name in enumerate(states)}
        env.update(physical_values)
        env["t"] = t
        if outputs:
            features = jnp.stack([jnp.asarray(env[name], y.dtype) for name in input_names])
            values = network(features)
            env.update({_output_symbol(i): values[i] for i in range(outputs)})
        return jnp.stack([jnp.broadcast_to(e(env), ()) for e in expressions])

    state_index = {s: i for i, s in enumerate(states)}
    state_inputs = all(name in state_index for name in input_names)
    return UniversalODE(
        equation,
        states=states,
        physical=tuple(physical),
        inputs=tuple(state_index[n] for n in input_names) if state_inputs and outputs else None,
    )
