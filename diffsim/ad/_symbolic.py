"""Symbolic differentiation: a JAX function rebuilt as SymPy expressions.

The function is recorded as elementary operations (see `_graph.py`) and each operation is
replayed on arrays of SymPy expressions, one symbol per input element. Only operations with a
closed form are supported (smooth elementwise functions, arithmetic, sums, products, reshapes,
matrix products); anything else (branches, indexing by values, loops) is refused by name.
SymPy is imported on first use, so `import diffsim` does not pay for it.
"""

import functools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np

if TYPE_CHECKING:
    import sympy

from ._graph import Constant, build_graph


def _elementwise(function: Callable) -> Callable:
    vectorized = np.vectorize(function, otypes=[object])
    return lambda params, *operands: vectorized(*operands)


def _with_param(function: Callable, key: str) -> Callable:
    return lambda params, *operands: np.vectorize(
        lambda *scalars: function(*scalars, params[key]), otypes=[object]
    )(*operands)


def _broadcast_in_dim(params, operand):
    shape = [1] * len(params["shape"])
    for axis, size in zip(params["broadcast_dimensions"], operand.shape, strict=True):
        shape[axis] = size
    return np.broadcast_to(operand.reshape(shape), params["shape"])


def _slice(params, operand):
    strides = params["strides"] or (1,) * operand.ndim
    index = tuple(
        slice(start, stop, step)
        for start, stop, step in zip(
            params["start_indices"], params["limit_indices"], strides, strict=True
        )
    )
    return operand[index]


def _reduce(function: Callable) -> Callable:
    return lambda params, operand: np.asarray(
        function(operand, axis=tuple(params["axes"])), dtype=object
    )


def _dot_general(params, left, right):
    (left_axes, right_axes), (left_batch, right_batch) = params["dimension_numbers"]
    if left_batch or right_batch:
        raise ValueError(
            "symbolic mode does not support batched matrix products (`dot_general` with batch "
            "dimensions); use mode='forward' or 'reverse'"
        )
    return np.asarray(np.tensordot(left, right, axes=(left_axes, right_axes)), dtype=object)


def _convert(params, operand):
    if not jnp.issubdtype(params["new_dtype"], jnp.floating):
        raise ValueError(
            f"symbolic mode cannot follow a conversion to {params['new_dtype']}: the function "
            "is not differentiable there; use mode='forward' or 'reverse'"
        )
    return operand


def _split(params, operand):
    ends = np.cumsum([int(size) for size in params["sizes"]])[:-1]
    return np.split(operand, ends, axis=params["axis"])


def _reduce_with(function: Callable) -> Callable:
    """A reduction over `axes` by a binary SymPy function such as `Max`."""
    binary = np.frompyfunc(function, 2, 1)
    return lambda params, operand: np.asarray(
        binary.reduce(operand, axis=tuple(params["axes"])), dtype=object
    )


@functools.cache
def _rules() -> dict[str, Callable]:
    """How each JAX primitive acts on arrays of SymPy expressions."""
    import sympy

    return {
        "neg": _elementwise(lambda a: -a),
        "sin": _elementwise(sympy.sin),
        "cos": _elementwise(sympy.cos),
        "tan": _elementwise(sympy.tan),
        "asin": _elementwise(sympy.asin),
        "acos": _elementwise(sympy.acos),
        "atan": _elementwise(sympy.atan),
        "sinh": _elementwise(sympy.sinh),
        "cosh": _elementwise(sympy.cosh),
        "tanh": _elementwise(sympy.tanh),
        "asinh": _elementwise(sympy.asinh),
        "acosh": _elementwise(sympy.acosh),
        "atanh": _elementwise(sympy.atanh),
        "exp": _elementwise(sympy.exp),
        "exp2": _elementwise(lambda a: 2**a),
        "log": _elementwise(sympy.log),
        "log1p": _elementwise(lambda a: sympy.log(1 + a)),
        "expm1": _elementwise(lambda a: sympy.exp(a) - 1),
        "sqrt": _elementwise(sympy.sqrt),
        "rsqrt": _elementwise(lambda a: 1 / sympy.sqrt(a)),
        "logistic": _elementwise(lambda a: 1 / (1 + sympy.exp(-a))),
        "erf": _elementwise(sympy.erf),
        "erfc": _elementwise(sympy.erfc),
        "abs": _elementwise(sympy.Abs),
        "square": _elementwise(lambda a: a**2),
        "integer_pow": _with_param(lambda a, y: a**y, "y"),
        "add": _elementwise(lambda a, b: a + b),
        "sub": _elementwise(lambda a, b: a - b),
        "mul": _elementwise(lambda a, b: a * b),
        "div": _elementwise(lambda a, b: a / b),
        "pow": _elementwise(lambda a, b: a**b),
        "max": _elementwise(sympy.Max),
        "min": _elementwise(sympy.Min),
        "atan2": _elementwise(sympy.atan2),
        "convert_element_type": _convert,
        "copy": lambda params, a: a,
        "copy_p": lambda params, a: a,
        "broadcast_in_dim": _broadcast_in_dim,
        "reshape": lambda params, a: a.reshape(params["new_sizes"]),
        "squeeze": lambda params, a: np.squeeze(a, axis=tuple(params["dimensions"])),
        "transpose": lambda params, a: np.transpose(a, params["permutation"]),
        "rev": lambda params, a: np.flip(a, axis=tuple(params["dimensions"])),
        "slice": _slice,
        "concatenate": lambda params, *a: np.concatenate(a, axis=params["dimension"]),
        "reduce_sum": _reduce(np.sum),
        "reduce_prod": _reduce(np.prod),
        "reduce_max": _reduce_with(sympy.Max),
        "reduce_min": _reduce_with(sympy.Min),
        "stack": lambda params, *a: np.stack(a, axis=params["axis"]),
        "split": _split,
        "tile": lambda params, a: np.tile(a, params["reps"]),
        "dot_general": _dot_general,
    }


def _number(value) -> "sympy.Expr":
    """A SymPy number for a constant: integers and short binary fractions exactly."""
    import sympy

    if isinstance(value, (bool, np.bool_)):
        return sympy.Integer(int(value))
    if float(value).is_integer():
        return sympy.Integer(int(value))
    exact = sympy.Rational(float(value))
    return exact if exact.q <= 1024 else sympy.Float(float(value))


def _constant(value) -> np.ndarray:
    if isinstance(value, jax.core.Tracer):
        raise ValueError(
            "symbolic mode needs the arrays that f closes over to be concrete, but one is traced "
            "(by jit, vmap or grad around the call); pass it as a constant or use another mode"
        )
    array = np.asarray(value)
    return np.vectorize(_number, otypes=[object])(array) if array.size else array.astype(object)


def _symbols(name: str, shape: tuple[int, ...]) -> np.ndarray:
    import sympy

    if not shape:
        return np.asarray(sympy.Symbol(name, real=True), dtype=object)
    symbols = [
        sympy.Symbol(f"{name}[{','.join(map(str, index))}]", real=True)
        for index in np.ndindex(*shape)
    ]
    return np.asarray(symbols, dtype=object).reshape(shape)


def to_sympy(f, *args) -> tuple[list["sympy.Symbol"], list["sympy.Expr"]]:
    """Rebuild a JAX function as SymPy expressions.

    Each input element becomes a real symbol named after `f`'s parameters (`x1`, `x2` for
    scalars, `x[0]`, `x[1]` for an array `x`).

    **Arguments:**

    - `f`: a function made of supported operations (smooth elementwise functions, arithmetic,
      sums, products, reshapes, slices, matrix products).
    - `*args`: a point (only shapes and dtypes are used).

    **Returns:** `(symbols, expressions)`: the input symbols and the output expressions, each
    flattened over pytree leaves and then row-major over elements.

    **Raises:** `ValueError` naming the first operation that has no symbolic form.

    **Example:**

    ```python
    import jax.numpy as jnp
    from diffsim import ad

    symbols, expressions = ad.to_sympy(lambda x1, x2: jnp.sin(x1) * x2, 1.0, 2.0)
    assert str(expressions[0]) == "x2*sin(x1)"
    ```
    """
    graph = build_graph(f, *args)
    env = {
        number: _symbols(name, tuple(aval.shape))
        for number, (name, aval) in enumerate(
            zip(graph.input_names, graph.input_avals, strict=True)
        )
    }

    def read(ref):
        return _constant(ref.value) if isinstance(ref, Constant) else env[ref]

    for op in graph.operations:
        rule = _rules().get(op.primitive.name)
        if rule is None:
            raise ValueError(
                f"symbolic mode cannot handle the operation `{op.primitive.name}`: it has no "
                "closed form here (supported: smooth elementwise functions, arithmetic, sums, "
                "products, reshapes, slices, matrix products); use mode='forward' or 'reverse'"
            )
        results = rule(op.params, *map(read, op.inputs))
        if not op.primitive.multiple_results:
            results = [results]
        for number, result in zip(op.outputs, results, strict=True):
            env[number] = np.asarray(result, dtype=object)
    symbols = [s for number in range(len(graph.input_names)) for s in env[number].ravel()]
    expressions = [e for ref in graph.outputs for e in read(ref).ravel()]
    return symbols, expressions


def symbolic_jacobian_matrix(g, x_flat: jax.Array, *, simplify: bool) -> jax.Array:
    """The (m, n) Jacobian of `g: R^n -> R^m` by SymPy, evaluated at `x_flat`.

    The expressions are differentiated, optionally simplified, and compiled with
    `sympy.lambdify(..., modules="jax")`, so the evaluation also works under `jax.jit`.
    """
    import sympy

    symbols, expressions = to_sympy(
        lambda x: g(x), jax.ShapeDtypeStruct(x_flat.shape, x_flat.dtype)
    )
    entries = [sympy.diff(expression, symbol) for expression in expressions for symbol in symbols]
    if simplify:
        entries = [sympy.simplify(entry) for entry in entries]
    evaluate = sympy.lambdify(symbols, entries, modules="jax")
    values = evaluate(*[x_flat[i] for i in range(x_flat.shape[0])])
    matrix = jnp.stack([jnp.asarray(value, dtype=x_flat.dtype) for value in values])
    return matrix.reshape(len(expressions), math.prod(x_flat.shape))
