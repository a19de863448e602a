"""Flat views of pytrees, so that every mode can work with a matrix and hand back a pytree."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


class Layout(eqx.Module):
    """Where each leaf of a pytree of arrays sits in one flat vector.

    Unlike `jax.flatten_util.ravel_pytree`, `unravel` keeps the dtype of the vector it is given,
    so a complex perturbation of a real input survives the round trip (complex-step
    differences need that).
    """

    treedef: jax.tree_util.PyTreeDef = eqx.field(static=True)
    shapes: tuple[tuple[int, ...], ...] = eqx.field(static=True)

    @property
    def sizes(self) -> tuple[int, ...]:
        """The number of elements of each leaf, in flattening order."""
        return tuple(math.prod(shape) for shape in self.shapes)

    @property
    def size(self) -> int:
        """The length of the flat vector: all elements of all leaves."""
        return sum(self.sizes)

    def ravel(self, tree) -> jax.Array:
        """The leaves of `tree` (laid out like this layout) concatenated into one vector."""
        leaves = jax.tree_util.tree_leaves(tree)
        if not leaves:
            return jnp.zeros((0,))
        return jnp.concatenate([jnp.ravel(leaf) for leaf in leaves])

    def unravel(self, vector: jax.Array):
        """The pytree whose flat view is `vector` (of length `size`, any dtype)."""
        pieces = jnp.split(vector, np.cumsum(self.sizes)[:-1]) if self.shapes else []
        leaves = [piece.reshape(shape) for piece, shape in zip(pieces, self.shapes, strict=True)]
        return jax.tree_util.tree_unflatten(self.treedef, leaves)


def layout_of(tree) -> Layout:
    """The `Layout` of a pytree of arrays (or of `jax.ShapeDtypeStruct`s)."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return Layout(treedef, tuple(tuple(leaf.shape) for leaf in leaves))


def as_float_pytree(x, name: str = "x"):
    """Convert the leaves of `x` to JAX arrays and insist that they are real floating point.

    **Arguments:**

    - `x`: a pytree of arrays or Python numbers.
    - `name`: how to call `x` in the error message.

    **Returns:** `x` with `jnp.ndarray` leaves.
    """
    leaves_with_paths, treedef = jax.tree_util.tree_flatten_with_path(x)
    if not leaves_with_paths:
        raise ValueError(f"`{name}` has no array leaves to differentiate with respect to")
    leaves = []
    for path, leaf in leaves_with_paths:
        array = jnp.asarray(leaf)
        if not jnp.issubdtype(array.dtype, jnp.floating):
            where = f"{name}{jax.tree_util.keystr(path)}"
            raise TypeError(
                f"`{where}` has dtype {array.dtype}; derivatives need real floating-point inputs"
            )
        leaves.append(array)
    return jax.tree_util.tree_unflatten(treedef, leaves)


def matrix_to_jacobian(matrix: jax.Array, out_layout: Layout, in_layout: Layout):
    """Rearrange a flat (m, n) Jacobian into the nested pytree layout of `jax.jacobian`.

    **Arguments:**

    - `matrix`: the Jacobian of the flattened function, shape `(out_layout.size, in_layout.size)`.
    - `out_layout`, `in_layout`: layouts of the function's output and input.

    **Returns:** a pytree shaped like the output whose leaves are pytrees shaped like the input,
    with leaf shapes `out_leaf.shape + in_leaf.shape`.
    """
    row_ends = np.cumsum(out_layout.sizes)
    col_ends = np.cumsum(in_layout.sizes)
    out_blocks = []
    for out_shape, row_end, row_size in zip(
        out_layout.shapes, row_ends, out_layout.sizes, strict=True
    ):
        in_blocks = []
        for in_shape, col_end, col_size in zip(
            in_layout.shapes, col_ends, in_layout.sizes, strict=True
        ):
            block = matrix[row_end - row_size : row_end, col_end - col_size : col_end]
            in_blocks.append(block.reshape(out_shape + in_shape))
        out_blocks.append(jax.tree_util.tree_unflatten(in_layout.treedef, in_blocks))
    return jax.tree_util.tree_unflatten(out_layout.treedef, out_blocks)


def jacobian_to_matrix(jacobian, out_layout: Layout, in_layout: Layout) -> jax.Array:
    """Inverse of `matrix_to_jacobian`: flatten a `jax.jacobian`-shaped pytree to (m, n).

    Raises `ValueError` if the structure or a block's shape does not match.
    """
    rows = []
    for block, out_shape in zip(
        out_layout.treedef.flatten_up_to(jacobian), out_layout.shapes, strict=True
    ):
        pieces = []
        for piece, in_shape in zip(
            in_layout.treedef.flatten_up_to(block), in_layout.shapes, strict=True
        ):
            if jnp.shape(piece) != out_shape + in_shape:
                raise ValueError(
                    f"a block has shape {jnp.shape(piece)}, expected {out_shape + in_shape}"
                )
            pieces.append(jnp.reshape(piece, (math.prod(out_shape), math.prod(in_shape))))
        rows.append(jnp.concatenate(pieces, axis=1))
    return jnp.concatenate(rows, axis=0)


def as_float_like(tree, reference, name: str):
    """`tree` as real float arrays, checked to have the structure and shapes of `reference`."""
    if jax.tree_util.tree_structure(tree) != jax.tree_util.tree_structure(reference):
        raise ValueError(
            f"`{name}` must have the structure {jax.tree_util.tree_structure(reference)}"
        )
    tree = as_float_pytree(tree, name)
    with_paths = jax.tree_util.tree_flatten_with_path(tree)[0]
    for (path, leaf), ref in zip(with_paths, jax.tree_util.tree_leaves(reference), strict=True):
        if leaf.shape != jnp.shape(ref):
            where = f"{name}{jax.tree_util.keystr(path)}"
            raise ValueError(f"`{where}` has shape {leaf.shape}, expected {jnp.shape(ref)}")
    return tree
