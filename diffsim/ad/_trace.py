"""The evaluation trace: elementary operations with primal values, tangents and adjoints."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._graph import Constant, Graph, build_graph
from ._layout import as_float_like, as_float_pytree
from ._notation import format_number, format_operation


class TraceRow(eqx.Module):
    """One variable of an evaluation trace.

    **Fields:**

    - `name`: the variable (`x1`, `v1`, `y`).
    - `definition`: how it is computed from earlier variables (`x1**2`), or `input`.
    - `operands`: the names of the variables it reads (the edges of the graph).
    - `value`: its primal value.
    - `tangent`: its forward-mode tangent for the trace's input seed (`None` if not real).
    - `adjoint`: its reverse-mode adjoint for the trace's output seed (`None` if not real).

    **Example:** each row names its operation and the variables it reads.

    ```python
    from diffsim import ad

    row = ad.trace(lambda x1, x2: x1**2 + x2, 2.0, 3.0).row("v1")
    assert row.definition == "x1**2" and row.operands == ("x1",)
    assert row.value == 4.0 and row.tangent == 4.0  # d(x1**2) along x1 = 2 x1
    ```
    """

    name: str = eqx.field(static=True)
    definition: str = eqx.field(static=True)
    operands: tuple[str, ...] = eqx.field(static=True)
    value: jax.Array
    tangent: jax.Array | None
    adjoint: jax.Array | None


class EvaluationTrace(eqx.Module):
    """The computational graph of a function at a point, with both modes of AD written out.

    Print it (or call `table()`) for a text table; call `draw()` for a picture of the graph.
    The tangents answer "how does each variable move when the inputs move along the seed"
    (forward mode); the adjoints answer "how does the seeded output move when each variable
    moves" (reverse mode), so the input adjoints are the gradient.

    **Fields:**

    - `rows`: one `TraceRow` per variable, inputs first, in evaluation order.
    - `tangent_seed`: the input tangents, as text (`x1=1.0, x2=0.0`).
    - `adjoint_seed`: the output adjoints, as text (`y=1.0`).

    **Example:** the input adjoints of a trace are the gradient.

    ```python
    import jax.numpy as jnp
    from diffsim import ad

    graph = ad.trace(lambda x1, x2: x1 * jnp.sin(x2), 2.0, 3.0)
    print(graph.table())
    gradient = [graph.row("x1").adjoint, graph.row("x2").adjoint]  # sin x2, x1 cos x2
    assert jnp.allclose(jnp.array(gradient), jnp.array([jnp.sin(3.0), 2 * jnp.cos(3.0)]))
    assert graph.adjoint_seed == "y=1.0"
    ```
    """

    rows: tuple[TraceRow, ...]
    tangent_seed: str = eqx.field(static=True)
    adjoint_seed: str = eqx.field(static=True)

    def row(self, name: str) -> TraceRow:
        """The row of the variable called `name`."""
        for row in self.rows:
            if row.name == name:
                return row
        known = ", ".join(row.name for row in self.rows)
        raise KeyError(f"no variable {name!r} in the trace; it has {known}")

    def table(self) -> str:
        """The trace as a fixed-width text table."""
        header = (
            "variable",
            "definition",
            "value",
            f"tangent ({self.tangent_seed})",
            f"adjoint ({self.adjoint_seed})",
        )
        body = [
            (
                row.name,
                row.definition,
                format_number(row.value),
                "-" if row.tangent is None else format_number(row.tangent),
                "-" if row.adjoint is None else format_number(row.adjoint),
            )
            for row in self.rows
        ]
        widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            for line in [header, *body]
        ]
        lines.insert(1, "  ".join("-" * width for width in widths))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def draw(self, ax=None):
        """Draw the computational graph with matplotlib (no graphviz needed).

        **Arguments:**

        - `ax`: a matplotlib `Axes` to draw into; by default a new figure is made.

        **Returns:** the `Axes` (its `.figure` can be saved).
        """
        from ._drawing import draw_trace

        return draw_trace(self, ax)


def trace(f, *args, tangent=None, cotangent=None) -> EvaluationTrace:
    """Evaluate `f(*args)` step by step, with forward tangents and reverse adjoints.

    Every elementary operation becomes a row with its intermediate variable, primal value,
    tangent (forward mode, seeded at the inputs) and adjoint (reverse mode, seeded at the
    output). For `f = lambda x1, x2: x1**2 + x2` at `(2.0, 3.0)` this is the lesson's table:
    `v1 = x1**2 = 4`, `y = v1 + x2 = 7`, tangents `1, 0, 4, 4`, adjoints `4, 1, 1, 1`.

    **Arguments:**

    - `f`: a JAX-traceable function of real floating-point arguments.
    - `*args`: the point, pytrees of arrays or Python floats.
    - `tangent`: the input seed, shaped like `args` (like the argument itself when there is a
      single one). Default: 1 on the first element of the first argument, 0 elsewhere.
    - `cotangent`: the output seed, shaped like `f(*args)`. Default: 1 on the first element
      of the output, 0 elsewhere (for a scalar output, `ybar = 1`).

    **Returns:** an `EvaluationTrace`.

    **Example:**

    ```python
    from diffsim import ad

    graph = ad.trace(lambda x1, x2: x1**2 + x2, 2.0, 3.0)
    print(graph)  # one row per variable: definition, value, tangent, adjoint
    assert graph.row("y").value == 7.0 and graph.row("x1").adjoint == 4.0  # dy/dx1 = 2 x1
    ```
    """
    if not args:
        raise ValueError("trace needs at least one argument to evaluate `f` at")
    args = tuple(as_float_pytree(arg, name=f"args[{i}]") for i, arg in enumerate(args))
    graph = build_graph(f, *args)
    values = dict(enumerate(jax.tree_util.tree_leaves(args)))
    tangent_leaves = _seed_leaves(
        tangent,
        args if len(args) > 1 else args[0],
        [values[i] for i in range(len(values))],
        "tangent",
    )
    tangents = dict(enumerate(tangent_leaves))
    for op in graph.operations:
        operands = [_value_of(values, ref) for ref in op.inputs]
        primals, directions, apply = _differentiable_part(op, operands, tangents)
        outputs, output_tangents = jax.jvp(apply, primals, directions)
        for number, value, direction in zip(op.outputs, outputs, output_tangents, strict=True):
            values[number] = value
            if _is_real(value):
                tangents[number] = direction

    output_values = [_value_of(values, ref) for ref in graph.outputs]
    output_example = jax.tree_util.tree_unflatten(graph.output_tree, output_values)
    cotangent_leaves = _seed_leaves(cotangent, output_example, output_values, "cotangent")
    adjoints = {n: jnp.zeros_like(v) for n, v in values.items() if _is_real(v)}
    for ref, bar in zip(graph.outputs, cotangent_leaves, strict=True):
        if isinstance(ref, int) and ref in adjoints:
            adjoints[ref] = adjoints[ref] + bar
    for op in reversed(graph.operations):
        operands = [_value_of(values, ref) for ref in op.inputs]
        primals, _, apply = _differentiable_part(op, operands, tangents)
        _, pullback = jax.vjp(apply, *primals)
        output_bars = [
            adjoints[n] if n in adjoints else np.zeros(values[n].shape, jax.dtypes.float0)
            for n in op.outputs
        ]
        operand_bars = pullback(output_bars)
        for ref, bar in zip(_real_refs(op, operands), operand_bars, strict=True):
            if isinstance(ref, int):
                adjoints[ref] = adjoints[ref] + bar

    names = _variable_names(graph)
    return EvaluationTrace(
        rows=tuple(_rows(graph, names, values, tangents, adjoints)),
        tangent_seed=_describe_seed(graph.input_names, tangent_leaves),
        adjoint_seed=_describe_seed(
            [_output_label(names, ref, i) for i, ref in enumerate(graph.outputs)], cotangent_leaves
        ),
    )


def _value_of(values, ref):
    return ref.value if isinstance(ref, Constant) else values[ref]


def _is_real(value) -> bool:
    return jnp.issubdtype(jnp.result_type(value), jnp.floating)


def _real_refs(op, operands):
    return [ref for ref, value in zip(op.inputs, operands, strict=True) if _is_real(value)]


def _differentiable_part(op, operands, tangents):
    """Split an operation's operands into the real ones (differentiated) and the rest (fixed).

    Returns the real primals, their tangents (zero for constants) and a function of the real
    primals that evaluates the operation.
    """
    positions = [i for i, value in enumerate(operands) if _is_real(value)]
    primals = [operands[i] for i in positions]
    directions = [
        tangents[op.inputs[i]] if isinstance(op.inputs[i], int) else jnp.zeros_like(operands[i])
        for i in positions
    ]

    def apply(*real):
        filled = list(operands)
        for i, value in zip(positions, real, strict=True):
            filled[i] = value
        return op.evaluate(*filled)

    return primals, directions, apply


def _seed_leaves(seed, example, example_leaves, what):
    """Leaves of a user seed checked against `example`, or the default unit seed."""
    if seed is None:
        leaves = [jnp.zeros_like(leaf) for leaf in example_leaves]
        first = next((i for i, leaf in enumerate(leaves) if leaf.size > 0), None)
        if first is None:
            raise ValueError(f"cannot choose a default `{what}`: there are no elements to seed")
        leaves[first] = leaves[first].ravel().at[0].set(1).reshape(leaves[first].shape)
        return leaves
    leaves = jax.tree_util.tree_leaves(as_float_like(seed, example, what))
    return [
        leaf.astype(jnp.result_type(ref)) for leaf, ref in zip(leaves, example_leaves, strict=True)
    ]


def _variable_names(graph: Graph) -> dict[int, str]:
    names = dict(enumerate(graph.input_names))
    outputs = [ref for ref in graph.outputs if isinstance(ref, int) and ref not in names]
    for i, number in enumerate(dict.fromkeys(outputs)):
        names[number] = "y" if len(graph.outputs) == 1 else f"y{i + 1}"
    counter = 0
    for op in graph.operations:
        for number in op.outputs:
            if number not in names:
                counter += 1
                names[number] = f"v{counter}"
    return names


def _output_label(names, ref, index):
    return names[ref] if isinstance(ref, int) else f"y{index + 1}"


def _rows(graph, names, values, tangents, adjoints):
    for number, name in enumerate(graph.input_names):
        yield TraceRow(name, "input", (), values[number], tangents[number], adjoints[number])
    for op in graph.operations:
        operand_text = [
            format_number(ref.value) if isinstance(ref, Constant) else names[ref]
            for ref in op.inputs
        ]
        ndims = [
            np.ndim(ref.value) if isinstance(ref, Constant) else graph.avals[ref].ndim
            for ref in op.inputs
        ]
        formula = format_operation(op.primitive.name, op.params, operand_text, ndims)
        operands = tuple(dict.fromkeys(names[ref] for ref in op.inputs if isinstance(ref, int)))
        for k, number in enumerate(op.outputs):
            definition = formula if len(op.outputs) == 1 else f"{formula}[{k}]"
            yield TraceRow(
                names[number],
                definition,
                operands,
                values[number],
                tangents.get(number),
                adjoints.get(number),
            )


def _describe_seed(names, leaves) -> str:
    return ", ".join(
        f"{name}={format_number(leaf)}" for name, leaf in zip(names, leaves, strict=True)
    )
