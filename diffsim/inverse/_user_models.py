"""Models written by users: equations as text, or a Python function named `module:function`."""

import functools
import importlib
import re
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path

import jax.numpy as jnp

from ..models import ODEModel
from ._expressions import CONSTANTS, FUNCTIONS, parse_expression

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED = {"t", *CONSTANTS, *FUNCTIONS}


def check_names(names: Sequence[str], *, where: str, kind: str) -> None:
    """Raise `ValueError` unless `names` are distinct identifiers that are not reserved words."""
    seen = set()
    for name in names:
        if not isinstance(name, str) or not _IDENTIFIER.match(name):
            raise ValueError(f"{where}: {kind} name {name!r} is not a valid identifier")
        if name in _RESERVED:
            raise ValueError(f"{where}: {kind} name {name!r} is reserved (t, constants, functions)")
        if name in seen:
            raise ValueError(f"{where}: {kind} name {name!r} appears twice")
        seen.add(name)


def model_from_equations(
    equations: Mapping[str, str],
    parameters: Sequence[str],
    *,
    name: str = "equations",
    where: str = "model.equations",
) -> ODEModel:
    """Build an `ODEModel` from right-hand sides given as text, one per state.

    **Arguments:**
    - `equations`: `{state: "expression"}`, in state-vector order; expressions may use states,
      `parameters`, `t`, numbers, `pi`, `e` and whitelisted functions (see `parse_expression`).
    - `parameters`: the parameter names the expressions may use; the model's `parameters` are
      those the expressions read (an unused name is not a parameter of the model).
    - `name`: the model name.
    - `where`: key path prefix for error messages.

    **Returns:** an `ODEModel` whose vector field evaluates the parsed expressions.

    **Raises:** `ValueError` naming the key path of the first bad equation or name.

    **Example:**

    ```python
    import jax.numpy as jnp
    from diffsim import inverse

    model = inverse.model_from_equations(
        {"x": "a + x**2 * y - (b + 1) * x", "y": "b * x - x**2 * y"}, ["a", "b"], name="brusselator"
    )
    assert model.states == ("x", "y") and model.parameters == ("a", "b")
    rate = model(0.0, jnp.array([1.0, 3.0]), {"a": 1.0, "b": 3.0})  # the fixed point (a, b/a)
    assert jnp.allclose(rate, 0.0)
    ```
    """
    if not equations:
        raise ValueError(f"{where}: at least one equation is needed")
    states = tuple(equations)
    check_names(states, where=where, kind="state")
    check_names(tuple(parameters), where=where, kind="parameter")
    overlap = set(states) & set(parameters)
    if overlap:
        raise ValueError(f"{where}: {sorted(overlap)[0]!r} is both a state and a parameter")
    symbols = (*states, *parameters, "t")
    expressions = [
        parse_expression(text, symbols, where=f"{where}.{state}")
        for state, text in equations.items()
    ]

    def vector_field(t, y, params):
        env = {name: y[index] for index, name in enumerate(states)}
        env.update(params)
        env["t"] = t
        return jnp.stack([jnp.broadcast_to(e(env), ()) for e in expressions])

    description = "; ".join(f"{state}' = {text}" for state, text in equations.items())
    read = {symbol for e in expressions for symbol in e.symbols}
    return ODEModel(
        name=name,
        states=states,
        parameters=tuple(p for p in parameters if p in read),
        vector_field=vector_field,
        description=description,
    )


def model_from_function(
    reference: str,
    states: Sequence[str],
    parameters: Sequence[str],
    *,
    where: str = "model.function",
) -> ODEModel:
    """Build an `ODEModel` from a Python function given as `"package.module:function"`.

    The function is imported (never evaluated from text) and must have the signature
    `f(t, y, params) -> dy/dt` with `y` a 1-D array in `states` order and `params` a dict.

    **Raises:** `ValueError` naming `where` when the reference is malformed, the module cannot
    be imported or the attribute is missing or not callable.

    **Example:** a right-hand side in the user's own module (imported, never evaluated as text).

    ```python
    import pathlib
    import sys
    import tempfile

    import jax.numpy as jnp
    from diffsim import inverse

    folder = tempfile.mkdtemp()
    pathlib.Path(folder, "my_models.py").write_text('''
    def decay(t, y, p):
        return -p["k"] * y
    ''')
    sys.path.insert(0, folder)
    model = inverse.model_from_function("my_models:decay", ["y"], ["k"])
    assert model(0.0, jnp.array([2.0]), {"k": 0.5}).tolist() == [-1.0]
    sys.path.remove(folder)
    ```
    """
    module_name, sep, attribute = reference.partition(":")
    dotted = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
    if not sep or not dotted.match(module_name) or not _IDENTIFIER.match(attribute):
        raise ValueError(f"{where}: expected 'package.module:function', got {reference!r}")
    check_names(tuple(states), where=where, kind="state")
    check_names(tuple(parameters), where=where, kind="parameter")
    if not states:
        raise ValueError(f"{where}: a function model needs model.states")
    function = import_function(module_name, attribute, where=where)

    def vector_field(t, y, params):
        dy = jnp.asarray(function(t, y, params))
        if jnp.iscomplexobj(dy) and not jnp.iscomplexobj(y):
            raise UserModelError(
                f"{where}: {reference} returns complex values ({dy.dtype}) for a real state"
            )
        return dy

    return ODEModel(
        name=attribute,
        states=tuple(states),
        parameters=tuple(parameters),
        vector_field=vector_field,
        description=f"Python function {reference}",
    )


class UserModelError(ValueError):
    """A user's Python model failed: its module cannot be imported or its function raised."""


def describe_exception(error: BaseException) -> str:
    """`raised TypeError: message (file.py, line 12)`: one line, where the user's code failed."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f" ({Path(frames[-1].filename).name}, line {frames[-1].lineno})" if frames else ""
    if isinstance(error, SyntaxError) and error.lineno is not None:
        where = f" ({Path(error.filename or '?').name}, line {error.lineno})"
        message = error.msg
    else:
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"raised {type(error).__name__}{': ' if message else ''}{message[:200]}{where}"


def import_function(module_name: str, attribute: str, *, where: str):
    """`module_name.attribute`, imported, wrapped so that an exception it raises becomes a
    `UserModelError` naming `where` and the function; a module that cannot be imported,
    raises while importing or lacks the function gives a `UserModelError` too."""
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise UserModelError(f"{where}: cannot import module {module_name!r} ({error})") from None
    except (Exception, SystemExit) as error:  # a syntax error, an exception, sys.exit()
        raise UserModelError(
            f"{where}: importing module {module_name!r} {describe_exception(error)}"
        ) from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise UserModelError(f"{where}: module {module_name!r} has no function {attribute!r}")
    reference = f"{module_name}:{attribute}"

    @functools.wraps(function)
    def guarded(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except UserModelError:
            raise
        except (Exception, SystemExit) as error:  # the user's code: name it
            raise UserModelError(f"{where}: {reference} {describe_exception(error)}") from None

    return guarded
