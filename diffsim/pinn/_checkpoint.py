"""Network checkpoints: the trainable leaves on disk (`eqx.tree_serialise_leaves`)."""

import os
import pathlib

import equinox as eqx


def save(path, trainable) -> None:
    """Write `trainable`'s array leaves to `path`.

    The file is written under a temporary name, then renamed, so an interrupted save never
    leaves a half-written checkpoint.
    """
    path = pathlib.Path(path)
    partial = path.with_name(path.name + ".partial")
    eqx.tree_serialise_leaves(partial, trainable)
    os.replace(partial, path)


def load(path, like):
    """Read leaves saved by `save` into a pytree with the structure of `like`.

    `like` is e.g. `problem.init(network)` for a network built with the same sizes.
    """
    return eqx.tree_deserialise_leaves(path, like)
