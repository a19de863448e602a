"""SymPy expressions (from SBML MathML and PEtab formulas) evaluated with `jax.numpy`.

A tree walk over the expression, never `eval` of text: every node type is whitelisted and
anything else is refused by `check` before a problem is built. Named quantities are either
given (`values`) or defined by other expressions (`definitions`, e.g. assignment rules and
reaction rates), which are evaluated on first use, so definitions need no ordering.
"""

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING

import jax.numpy as jnp

if TYPE_CHECKING:
    import sympy as sp


def _erf(x):
    from jax.scipy.special import erf

    return erf(x)


@functools.cache
def _tables():
    """`(functions, relations, logic, allowed)`: SymPy node types and their `jax.numpy` maps.

    Built on first use, so that `import diffsim` does not import SymPy (about a second).
    """
    import sympy as sp

    functions = {
        sp.exp: jnp.exp,
        sp.sqrt: jnp.sqrt,
        sp.Abs: jnp.abs,
        sp.sign: jnp.sign,
        sp.floor: jnp.floor,
        sp.ceiling: jnp.ceil,
        sp.sin: jnp.sin,
        sp.cos: jnp.cos,
        sp.tan: jnp.tan,
        sp.asin: jnp.arcsin,
        sp.acos: jnp.arccos,
        sp.atan: jnp.arctan,
        sp.sinh: jnp.sinh,
        sp.cosh: jnp.cosh,
        sp.tanh: jnp.tanh,
        sp.erf: _erf,
    }
    relations = {
        sp.StrictLessThan: jnp.less,
        sp.LessThan: jnp.less_equal,
        sp.StrictGreaterThan: jnp.greater,
        sp.GreaterThan: jnp.greater_equal,
        sp.Equality: jnp.equal,
        sp.Unequality: jnp.not_equal,
    }
    logic = {sp.And: jnp.logical_and, sp.Or: jnp.logical_or, sp.Xor: jnp.logical_xor}
    allowed = {
        sp.Add,
        sp.Mul,
        sp.Pow,
        sp.log,
        sp.Piecewise,
        sp.Min,
        sp.Max,
        sp.Not,
        sp.functions.elementary.piecewise.ExprCondPair,
        *functions,
        *relations,
        *logic,
    }
    return functions, relations, logic, allowed


def check(expr: "sp.Basic", known: set[str], where: str) -> None:
    """Refuse an expression with an unsupported function or a name not in `known`.

    **Raises:** `ValueError` naming `where` and the first offending function or name.
    """
    import sympy as sp

    allowed = _tables()[3]
    for node in sp.preorder_traversal(expr):
        if isinstance(node, sp.Symbol):
            if node.name not in known:
                raise ValueError(f"{where}: unknown name {node.name!r}")
        elif not (node.is_Number or node.is_NumberSymbol or node in (sp.true, sp.false)):
            if node.func not in allowed:
                raise ValueError(f"{where}: unsupported function {node.func.__name__!r}")


class Evaluator:
    """Evaluates expressions over `values` (arrays by name) and `definitions` (expressions by
    name, evaluated once, on first use). Used while tracing; holds no state afterwards."""

    def __init__(self, values: Mapping, definitions: "Mapping[str, sp.Basic]"):
        self.values = dict(values)
        self.definitions = definitions
        self._busy: set[str] = set()

    def lookup(self, name: str):
        if name not in self.values:
            if name not in self.definitions or name in self._busy:
                raise KeyError(f"{name!r} is not defined (or is defined in a cycle)")
            self._busy.add(name)
            self.values[name] = self(self.definitions[name])
            self._busy.discard(name)
        return self.values[name]

    def __call__(self, expr: "sp.Basic"):
        import sympy as sp

        if isinstance(expr, sp.Symbol):
            return self.lookup(expr.name)
        if expr.is_Number or expr.is_NumberSymbol:
            return float(expr)
        if expr is sp.true or expr is sp.false:
            return bool(expr)
        args = [self(a) for a in expr.args] if not isinstance(expr, sp.Piecewise) else None
        if isinstance(expr, sp.Add):
            return sum(args[1:], args[0])
        if isinstance(expr, sp.Mul):
            out = args[0]
            for a in args[1:]:
                out = out * a
            return out
        if isinstance(expr, sp.Pow):
            base, exponent = args
            if expr.exp.is_Integer:
                return jnp.asarray(base) ** int(expr.exp)
            return jnp.power(base, exponent)
        if isinstance(expr, sp.log):
            return jnp.log(args[0]) if len(args) == 1 else jnp.log(args[0]) / jnp.log(args[1])
        if isinstance(expr, sp.Piecewise):
            out = jnp.nan
            for value, condition in reversed(expr.args):
                out = jnp.where(self(condition), self(value), out)
            return out
        if isinstance(expr, sp.Min | sp.Max):
            combine = jnp.minimum if isinstance(expr, sp.Min) else jnp.maximum
            out = args[0]
            for a in args[1:]:
                out = combine(out, a)
            return out
        if isinstance(expr, sp.Not):
            return jnp.logical_not(args[0])
        functions, relations, logic, _ = _tables()
        for table in (relations, logic, functions):
            if expr.func in table:
                function = table[expr.func]
                if table is logic:
                    out = args[0]
                    for a in args[1:]:
                        out = function(out, a)
                    return out
                return function(*args)
        raise ValueError(f"unsupported expression {type(expr).__name__}: {expr}")
