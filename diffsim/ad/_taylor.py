"""The Taylor test for functions of pytrees (the flat test lives in `diffsim.inverse`)."""

import jax
import jax.numpy as jnp

from ..inverse._taylor import TaylorTest, taylor_test_flat
from ._layout import as_float_like, as_float_pytree, layout_of

__all__ = ["TaylorTest", "taylor_test"]


def taylor_test(f, x, *, grad=None, direction=None, steps=None, key=None) -> TaylorTest:
    """Check a gradient of a scalar function of a pytree by Taylor remainders.

    Along a direction `v`, `f(x + h v) = f(x) + h <g, v> + O(h^2)` holds only for the true
    gradient `g`. So the zeroth-order remainder shrinks at rate 1 and the first-order one at
    rate 2; with a wrong gradient the first-order remainder shrinks at rate 1 too. Run it in
    float64: in float32 round-off swamps the small remainders.

    **Arguments:**

    - `f`: a function from the pytree `x` to a real scalar (JAX-traceable; it is jitted).
    - `x`: the point, a pytree of real floating-point arrays.
    - `grad`: the gradient to check, shaped like `x`; by default `jax.grad(f)(x)` (which
      checks JAX's derivative of `f`, e.g. through a custom adjoint).
    - `direction`: `v`, shaped like `x`; by default a random normal direction scaled to norm
      `max(1, |x|)`.
    - `steps`: the step sizes `h` (at least three, decreasing); by default twelve halvings
      from `1e-2` (float64; down to 5e-6) or six from `1e-1` (float32).
    - `key`: a `jax.random` key for the random direction; by default `jax.random.key(0)`.

    **Returns:** a `TaylorTest`; print it for a table.

    **Example:** checking a hand-written gradient of a function of a dict of parameters.

    ```python
    import jax.numpy as jnp
    from diffsim import ad


    def energy(p):
        return p["k"] * jnp.sum(p["x"] ** 2) / 2


    p = {"k": jnp.array(2.0), "x": jnp.array([1.0, -3.0])}
    mine = {"k": jnp.sum(p["x"] ** 2) / 2, "x": p["k"] * p["x"]}
    result = ad.taylor_test(energy, p, grad=mine)
    print(result)  # a table of remainders and rates
    assert result.passed
    ```
    """
    x = as_float_pytree(x, "x")
    layout = layout_of(x)
    output = jax.eval_shape(f, x)
    if not isinstance(output, jax.ShapeDtypeStruct) or output.shape != ():
        raise ValueError(f"taylor_test needs f to return a scalar, got {output}")
    if not jnp.issubdtype(output.dtype, jnp.floating):
        raise TypeError(f"taylor_test needs f to return a real float, got {output.dtype}")
    x_flat = layout.ravel(x)
    g_flat = layout.ravel(jax.grad(f)(x) if grad is None else as_float_like(grad, x, "grad"))
    if direction is None:
        key = jax.random.key(0) if key is None else key
        v = jax.random.normal(key, x_flat.shape, x_flat.dtype)
        v = v * (jnp.maximum(1.0, jnp.linalg.norm(x_flat)) / jnp.linalg.norm(v))
    else:
        v = layout.ravel(as_float_like(direction, x, "direction"))
    return taylor_test_flat(lambda flat: f(layout.unravel(flat)), x_flat, g_flat, v, steps=steps)
