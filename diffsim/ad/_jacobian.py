"""One entry point for derivatives by any of the lesson's modes."""

import equinox as eqx
import jax
import jax.numpy as jnp

from ._layout import (
    Layout,
    as_float_like,
    as_float_pytree,
    jacobian_to_matrix,
    layout_of,
    matrix_to_jacobian,
)
from ._modes import choose_mode
from ._numerical import SCHEMES, default_step, difference_matrix, directional_difference
from ._symbolic import symbolic_jacobian_matrix

MODES = ("auto", "forward", "reverse", "numerical", "symbolic", "manual")


def jacobian(
    f,
    x,
    *,
    mode: str = "auto",
    tangent=None,
    cotangent=None,
    derivative=None,
    scheme: str | None = None,
    step=None,
    simplify: bool = False,
    rtol: float = 1e-6,
    atol: float = 1e-9,
):
    """The Jacobian of `f` at `x` (or its product with a vector) by a chosen mode.

    Without `tangent` or `cotangent` the result has the layout of `jax.jacobian(f)(x)`: for a
    scalar `f` it is the gradient, shaped like `x`. With `tangent=v` it is `J v` (shaped like
    `f(x)`); with `cotangent=u` it is `u^T J` (shaped like `x`).

    Modes:

    - `"manual"`: `derivative(x)` is your hand-derived Jacobian (layout of `jax.jacobian`); it
      is returned after checking it against AD within `rtol`/`atol` (a mismatch raises
      `ValueError`, or an `EquinoxRuntimeError` under `jax.jit`).
    - `"symbolic"`: SymPy differentiates the expressions of `f` (see `to_sympy`), simplifies
      them if `simplify`, and evaluates them; refused for operations without a closed form.
      `sympy.simplify` is exact but can take seconds per entry, so it is off by default.
    - `"numerical"`: differences by `scheme` (`"central"` by default, `"forward"`,
      `"complex"`) with `step` (a scalar or one per input element; by default about
      `sqrt(eps)`, `eps^(1/3)` and `eps` times `max(1, |x|)`).
    - `"forward"`, `"reverse"`: forward- or reverse-mode AD (`jax.jacfwd`/`jax.jvp`,
      `jax.jacrev`/`jax.vjp`).
    - `"auto"`: forward or reverse by the numbers of inputs and outputs; see `choose_mode`
      for the choice and its reason.

    **Arguments:**

    - `f`: a function from the pytree `x` to a pytree of real arrays.
    - `x`: the point, a pytree of real floating-point arrays.
    - `mode`: one of the modes above.
    - `tangent`: a pytree shaped like `x`, to compute a Jacobian-vector product.
    - `cotangent`: a pytree shaped like `f(x)`, to compute a vector-Jacobian product.
    - `derivative`: the hand-derived Jacobian function (`mode="manual"` only).
    - `scheme`, `step`: the difference scheme and step (`mode="numerical"` only).
    - `simplify`: whether `sympy.simplify` is applied to each derivative (`mode="symbolic"`).
    - `rtol`, `atol`: tolerances of the check in `mode="manual"`.

    **Returns:** the Jacobian, `J v` or `u^T J`, as described above.

    **Example:** the gradient of `x1 x2 + sin x1` by two modes:

    ```python
    import jax.numpy as jnp
    from diffsim import ad

    f = lambda x: x[0] * x[1] + jnp.sin(x[0])
    x = jnp.array([1.0, 2.0])
    exact = ad.jacobian(f, x, mode="reverse")  # [x2 + cos x1, x1]
    approx = ad.jacobian(f, x, mode="numerical")  # central differences
    assert jnp.allclose(exact, approx, atol=1e-5)
    ```
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if tangent is not None and cotangent is not None:
        raise ValueError("give `tangent` (for J v) or `cotangent` (for u^T J), not both")
    if (derivative is None) == (mode == "manual"):
        raise ValueError("`derivative` is required by mode='manual' and used by no other mode")
    if mode != "numerical" and (scheme is not None or step is not None):
        raise ValueError("`scheme` and `step` only apply to mode='numerical'")
    scheme = "central" if scheme is None else scheme
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")

    x = as_float_pytree(x, "x")
    in_layout = layout_of(x)
    output = jax.eval_shape(f, x)
    out_layout = layout_of(output)
    _check_real_output(output)
    if tangent is not None:
        tangent = as_float_like(tangent, x, "tangent")
    if cotangent is not None:
        cotangent = as_float_like(cotangent, output, "cotangent")
    if mode == "auto":
        mode = choose_mode(f, x, tangent=tangent, cotangent=cotangent).mode

    if mode == "forward" and tangent is not None:
        return jax.jvp(f, (x,), (tangent,))[1]
    if mode == "reverse" and cotangent is not None:
        return jax.vjp(f, x)[1](cotangent)[0]
    if mode == "forward" and cotangent is None:
        return jax.jacfwd(f)(x)
    if mode == "reverse" and tangent is None:
        return jax.jacrev(f)(x)

    def g(x_flat):
        return out_layout.ravel(f(in_layout.unravel(x_flat)))

    x_flat = in_layout.ravel(x)
    if mode == "numerical" and tangent is not None:
        v = in_layout.ravel(tangent)
        h = step
        if h is None:
            size = jnp.max(jnp.abs(v))  # a zero tangent gives J 0 = 0 with any step
            scale = jnp.maximum(1.0, jnp.max(jnp.abs(x_flat))) / jnp.where(size > 0, size, 1.0)
            h = default_step(scheme, jnp.zeros((), x_flat.dtype)) * scale
        return out_layout.unravel(directional_difference(g, x_flat, v, scheme, h))
    if mode == "numerical":
        matrix = difference_matrix(g, x_flat, scheme, step)
    elif mode == "symbolic":
        matrix = symbolic_jacobian_matrix(g, x_flat, simplify=simplify)
    elif mode == "manual":
        matrix = _checked_manual(derivative, g, x, x_flat, in_layout, out_layout, rtol, atol)
    else:  # forward with a cotangent, or reverse with a tangent: build J, then contract
        matrix = (jax.jacfwd if mode == "forward" else jax.jacrev)(g)(x_flat)
    if tangent is not None:
        return out_layout.unravel(matrix @ in_layout.ravel(tangent))
    if cotangent is not None:
        return in_layout.unravel(out_layout.ravel(cotangent) @ matrix)
    return matrix_to_jacobian(matrix, out_layout, in_layout)


def _check_real_output(output) -> None:
    for path, leaf in jax.tree_util.tree_flatten_with_path(output)[0]:
        if not jnp.issubdtype(leaf.dtype, jnp.floating):
            where = f"f(x){jax.tree_util.keystr(path)}"
            raise TypeError(f"`{where}` has dtype {leaf.dtype}; f must return real floats")


def _checked_manual(derivative, g, x, x_flat, in_layout: Layout, out_layout: Layout, rtol, atol):
    """The user's Jacobian as a matrix, after checking it against AD."""
    supplied = derivative(x)
    try:
        matrix = jacobian_to_matrix(supplied, out_layout, in_layout)
    except (ValueError, TypeError) as error:
        raise ValueError(
            "`derivative(x)` must return the Jacobian in the layout of jax.jacobian(f)(x) "
            f"(for a scalar f: the gradient, shaped like x): {error}"
        ) from None
    choice = choose_mode(g, x_flat)
    reference = (jax.jacfwd if choice.mode == "forward" else jax.jacrev)(g)(x_flat)
    excess = jnp.max(jnp.abs(matrix - reference) - rtol * jnp.abs(reference))
    message = "`derivative` disagrees with automatic differentiation beyond rtol/atol"
    if isinstance(excess, jax.core.Tracer):
        return eqx.error_if(matrix, excess > atol, message)
    if excess > atol:
        error = float(jnp.max(jnp.abs(matrix - reference)))
        raise ValueError(f"{message}: largest difference {error:.3g}")
    return matrix.astype(reference.dtype)
