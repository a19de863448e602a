"""A function as a flat list of elementary operations (its computational graph).

`jax.make_jaxpr` records a function as equations on intermediate variables. Calls that only
wrap other equations (`jit`, `custom_jvp_call`, `custom_vjp_call`, `remat`, ...) are inlined,
so that what remains are the elementary operations the lesson talks about: `v1 = x1**2`,
`y = v1 + x2`.
"""

import inspect
import itertools
from typing import Any, NamedTuple

import jax
import jax.extend.core as jex
import numpy as np

# Primitives that merely call another jaxpr; their bodies are inlined.
_CALLS = frozenset(
    {
        "jit",
        "pjit",
        "closed_call",
        "core_call",
        "custom_jvp_call",
        "custom_vjp_call",
        "custom_vjp_call_jaxpr",
        "remat",
        "remat2",
        "checkpoint",
    }
)


class Constant(NamedTuple):
    """A literal or captured constant used as an operand (an array, or a tracer under jit)."""

    value: Any


class Operation(NamedTuple):
    """One elementary operation: `outputs = primitive(*inputs, **params)`.

    `inputs` holds variable numbers (ints) or `Constant`s; `outputs` holds variable numbers.
    """

    primitive: Any
    params: dict
    inputs: tuple
    outputs: tuple[int, ...]

    def evaluate(self, *values):
        """Apply the primitive to concrete or traced operand values; returns a list of results."""
        bind_params = self.primitive.get_bind_params(self.params)
        subfuns = ()
        if isinstance(bind_params, tuple):  # jax < 0.7 returns (subfuns, params)
            subfuns, bind_params = bind_params
        result = self.primitive.bind(*subfuns, *values, **bind_params)
        return list(result) if self.primitive.multiple_results else [result]


class Graph(NamedTuple):
    """The elementary operations of a function evaluated at (abstract) arguments.

    Variables are numbered: `0 .. len(input_names) - 1` are the flattened input leaves in order,
    the rest are created by `operations`. `outputs` lists the variable number or `Constant` of
    each flattened output leaf; `output_tree` is the structure of the output.
    """

    input_names: tuple[str, ...]
    input_avals: tuple
    operations: tuple[Operation, ...]
    avals: dict
    outputs: tuple
    output_tree: Any


def argument_names(f, args) -> list[str]:
    """Readable names for the flattened leaves of `args`, taken from `f`'s signature.

    `f(x1, x2)` called with two scalars gives `["x1", "x2"]`; an argument `params` holding a
    dict gives `["params['a']", ...]`. Falls back to `x1, x2, ...` when the signature is not
    available.
    """
    try:
        parameters = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    positional = [
        p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    names = []
    for i, arg in enumerate(args):
        base = positional[i] if i < len(positional) else f"x{i + 1}"
        for path, _ in jax.tree_util.tree_flatten_with_path(arg)[0]:
            names.append(base + jax.tree_util.keystr(path))
    return names


def build_graph(f, *args) -> Graph:
    """Record `f(*args)` as a `Graph` of elementary operations.

    **Arguments:**

    - `f`: a JAX-traceable function.
    - `*args`: arguments (pytrees of arrays, or `jax.ShapeDtypeStruct`s); only their shapes and
      dtypes matter.

    **Returns:** the `Graph`.
    """
    closed, out_shape = jax.make_jaxpr(f, return_shape=True)(*args)
    operations: list[Operation] = []
    avals: dict[int, Any] = {}
    counter = itertools.count()

    def new_variable(aval) -> int:
        number = next(counter)
        avals[number] = aval
        return number

    def read(env, atom):
        if isinstance(atom, jex.Literal):
            return Constant(np.asarray(atom.val))
        return env[atom]

    def inline(jaxpr, consts, operands) -> list:
        env = {var: Constant(c) for var, c in zip(jaxpr.constvars, consts, strict=True)}
        env.update(zip(jaxpr.invars, operands, strict=True))
        for eqn in jaxpr.eqns:
            inputs = [read(env, atom) for atom in eqn.invars]
            body = _called_jaxpr(eqn)
            if body is not None:
                results = inline(body.jaxpr, body.consts, inputs)
            else:
                results = [new_variable(var.aval) for var in eqn.outvars]
                operations.append(
                    Operation(eqn.primitive, eqn.params, tuple(inputs), tuple(results))
                )
            env.update(zip(eqn.outvars, results, strict=True))
        return [read(env, atom) for atom in jaxpr.outvars]

    inputs = [new_variable(var.aval) for var in closed.jaxpr.invars]
    outputs = inline(closed.jaxpr, closed.consts, inputs)
    return Graph(
        input_names=tuple(argument_names(f, args)),
        input_avals=tuple(avals[i] for i in inputs),
        operations=tuple(operations),
        avals=avals,
        outputs=tuple(outputs),
        output_tree=jax.tree_util.tree_structure(out_shape),
    )


def _called_jaxpr(eqn):
    """The body of a pure call primitive as a `ClosedJaxpr`, or `None` for other primitives."""
    if eqn.primitive.name not in _CALLS:
        return None
    body = eqn.params.get("jaxpr", eqn.params.get("call_jaxpr"))
    if isinstance(body, jex.ClosedJaxpr):
        return body
    if isinstance(body, jex.Jaxpr):
        return jex.ClosedJaxpr(body, ())
    return None
