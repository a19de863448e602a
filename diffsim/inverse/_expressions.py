"""A whitelist parser that turns arithmetic text into a JAX function (never `eval`).

The text is parsed with Python's `ast` module; every node must be one of a small set of
arithmetic constructs, names must be known symbols or constants, and calls must name a
whitelisted function. The tree is then turned into nested closures over `jax.numpy`.
"""

import ast
import math
import operator
from collections.abc import Callable, Iterable, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp

MAX_LENGTH = 2000

FUNCTIONS: dict[str, tuple[Callable, int]] = {
    "sin": (jnp.sin, 1),
    "cos": (jnp.cos, 1),
    "tan": (jnp.tan, 1),
    "arcsin": (jnp.arcsin, 1),
    "arccos": (jnp.arccos, 1),
    "arctan": (jnp.arctan, 1),
    "arctan2": (jnp.arctan2, 2),
    "sinh": (jnp.sinh, 1),
    "cosh": (jnp.cosh, 1),
    "tanh": (jnp.tanh, 1),
    "exp": (jnp.exp, 1),
    "expm1": (jnp.expm1, 1),
    "log": (jnp.log, 1),
    "log1p": (jnp.log1p, 1),
    "log10": (jnp.log10, 1),
    "sqrt": (jnp.sqrt, 1),
    "abs": (jnp.abs, 1),
    "sign": (jnp.sign, 1),
    "min": (jnp.minimum, 2),
    "max": (jnp.maximum, 2),
    "pow": (jnp.power, 2),
    "sigmoid": (jax.nn.sigmoid, 1),
    "heaviside": (lambda x: jnp.where(x >= 0, 1.0, 0.0), 1),
    "where": (jnp.where, 3),
}
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: jnp.divide,  # 1/0 is inf (then refused as non-finite), not a ZeroDivisionError
    ast.Pow: jnp.power,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_COMPARE = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_FORBIDDEN_NAMES = {
    ast.Attribute: "attribute access",
    ast.Subscript: "indexing",
    ast.Lambda: "lambda",
    ast.Starred: "star arguments",
    ast.NamedExpr: "assignment",
    ast.ListComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.Dict: "dict literals",
    ast.List: "list literals",
    ast.Tuple: "tuples",
    ast.Set: "set literals",
    ast.JoinedStr: "f-strings",
    ast.BoolOp: "'and'/'or' (use where(...))",
}


class ExpressionError(ValueError):
    """A user expression is malformed, uses an unknown symbol, or a forbidden construct.

    **Example:** an unknown name, or anything that is not arithmetic, is refused (never run).

    ```python
    from diffsim import inverse

    for text in ("k * z", "__import__('os')"):
        try:
            inverse.parse_expression(text, ["k", "y"], where="observations.y")
        except inverse.ExpressionError as error:
            assert str(error).startswith("observations.y") and isinstance(error, ValueError)
            print(error)
        else:
            raise AssertionError(f"{text!r} was accepted")
    ```
    """


class Expression(eqx.Module):
    """A parsed arithmetic expression, callable on a mapping of symbol values.

    **Fields:**
    - `text`: the source text.
    - `symbols`: the symbols it reads (sorted), a subset of those it was compiled with.

    **Example:**

    ```python
    from diffsim import inverse

    rate = inverse.parse_expression("alpha * x - beta * x * y", ["alpha", "beta", "x", "y", "t"])
    assert rate.symbols == ("alpha", "beta", "x", "y") and rate.text.startswith("alpha")
    assert rate({"alpha": 1.5, "beta": 1.0, "x": 2.0, "y": 0.5}) == 2.0
    ```
    """

    text: str = eqx.field(static=True)
    symbols: tuple[str, ...] = eqx.field(static=True)
    _function: Callable = eqx.field(static=True)

    def __call__(self, values: Mapping[str, jax.Array]) -> jax.Array:
        """Evaluate with `values[name]` for each symbol (arrays broadcast elementwise)."""
        return jnp.asarray(self._function(values))


def parse_expression(text: str, symbols: Iterable[str], *, where: str = "expression") -> Expression:
    """Parse `text` into an `Expression` over the allowed `symbols`.

    Allowed: numbers, the symbols, `pi`, `e`, `+ - * / **`, unary minus, comparisons
    `< <= > >=` (for `where(cond, a, b)`), `a if cond else b`, and calls of the functions in
    `FUNCTIONS` with positional arguments.

    **Arguments:**
    - `text`: the expression, e.g. `"alpha*x - beta*x*y"`.
    - `symbols`: names the expression may read.
    - `where`: the config key path used as prefix in error messages.

    **Returns:** an `Expression`.

    **Raises:** `ExpressionError` (a `ValueError`) with one line naming `where` and the problem.

    **Example:** an observable: a sum of two states, with a threshold.

    ```python
    import jax.numpy as jnp
    from diffsim import inverse

    total = inverse.parse_expression("where(I + R > 100, I + R, 0)", ["S", "I", "R"])
    values = {"S": jnp.array([700.0, 500.0]), "I": jnp.array([50.0, 200.0])}
    values["R"] = jnp.array([20.0, 63.0])
    assert total(values).tolist() == [0.0, 263.0]
    ```
    """
    if not isinstance(text, str):
        raise ExpressionError(f"{where}: expected an expression string, got {type(text).__name__}")
    if not text.strip():
        raise ExpressionError(f"{where}: the expression is empty")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"{where}: the expression is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise ExpressionError(f"{where}: invalid syntax in {text!r} ({error.msg})") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError(f"{where}: the expression {text!r} is too deeply nested") from None
    allowed = frozenset(symbols)
    used: set[str] = set()
    try:
        function = _compile(tree.body, allowed, used, text, where)
    except RecursionError:
        raise ExpressionError(f"{where}: the expression {text!r} is too deeply nested") from None
    return Expression(text=text, symbols=tuple(sorted(used)), _function=function)


def _compile(node: ast.AST, allowed, used: set[str], text: str, where: str) -> Callable:
    def fail(message: str):
        raise ExpressionError(f"{where}: {message} in {text!r}")

    def sub(child):
        return _compile(child, allowed, used, text, where)

    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail(f"only numbers are allowed as literals, not {value!r}")
        try:
            constant = float(value)
        except OverflowError:
            constant = math.inf
        if not math.isfinite(constant):
            shown = (
                str(value)
                if len(str(value)) <= 20
                else f"{str(value)[:12]}... ({len(str(value))} digits)"
            )
            fail(f"the number {shown} is too large for float64")
        return lambda env: constant
    if isinstance(node, ast.Name):
        name = node.id
        if name in allowed:
            used.add(name)
            return lambda env: env[name]
        if name in CONSTANTS:
            constant = CONSTANTS[name]
            return lambda env: constant
        if name in FUNCTIONS:
            fail(f"function {name!r} used without calling it")
        known = ", ".join(sorted(allowed | set(CONSTANTS))) or "none"
        fail(f"unknown symbol {name!r} (known symbols: {known})")
    if isinstance(node, ast.BinOp):
        op = _BINARY.get(type(node.op))
        if op is None:
            fail(f"operator {type(node.op).__name__} is not allowed (use + - * / **)")
        left, right = sub(node.left), sub(node.right)
        return lambda env: op(left(env), right(env))
    if isinstance(node, ast.UnaryOp):
        op = _UNARY.get(type(node.op))
        if op is None:
            fail(f"unary operator {type(node.op).__name__} is not allowed")
        operand = sub(node.operand)
        return lambda env: op(operand(env))
    if isinstance(node, ast.Compare):
        if len(node.ops) != 1 or type(node.ops[0]) not in _COMPARE:
            fail("only single comparisons with < <= > >= are allowed")
        op = _COMPARE[type(node.ops[0])]
        left, right = sub(node.left), sub(node.comparators[0])
        return lambda env: op(left(env), right(env))
    if isinstance(node, ast.IfExp):
        test, body, orelse = sub(node.test), sub(node.body), sub(node.orelse)
        return lambda env: jnp.where(test(env), body(env), orelse(env))
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            fail("only calls of whitelisted functions by plain name are allowed")
        name = node.func.id
        if name not in FUNCTIONS:
            fail(f"call of {name!r} is not allowed (allowed functions: {', '.join(FUNCTIONS)})")
        if node.keywords:
            fail(f"keyword arguments are not allowed in {name}(...)")
        function, arity = FUNCTIONS[name]
        if len(node.args) != arity:
            fail(f"{name}() takes {arity} argument(s), got {len(node.args)}")
        args = [sub(arg) for arg in node.args]
        return lambda env: function(*(arg(env) for arg in args))
    description = _FORBIDDEN_NAMES.get(type(node), f"the construct {type(node).__name__}")
    fail(f"{description} is not allowed")
