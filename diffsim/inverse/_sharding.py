"""Batches of independent members (starts, refits) split over all devices with `jax.sharding`.

A batch axis is laid over a one-axis `Mesh` named `"batch"` that holds every device of every
process (`jax.devices()`), so a vmapped computation runs each device's share of the members.
A batch that does not divide the device count is padded with copies of its last member;
callers cut the results back with `[:size]`. Members are independent, so every member's
result is the one it has on one device. With one device nothing is sharded or padded.

In a multi-process run (`jax.distributed`) each process holds only its devices' shares;
`to_host` gathers a whole batch on every process, so that every process takes the same
decisions (stop, narrow, best start) from the same numbers.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

# jaxlib 0.10's CPU LAPACK kernels (LU, Cholesky, ...) split a large batch of matrices over
# the intra-op thread pool and block until the pieces are done. When several CPU devices run
# their shares at once, every pool thread can end up blocked that way and the run hangs
# (10^4 Levenberg-Marquardt starts on 2 forced CPU devices of a 2-core machine; batches of
# up to 2000 4x4 solves per device never did). So on CPU each device's share runs in chunks
# of at most this many members.
CPU_CHUNK = 1024


def batch_sharding() -> NamedSharding | None:
    """The sharding of a batch axis over all devices, or `None` with one device."""
    devices = jax.devices()
    if len(devices) == 1:
        return None
    return NamedSharding(Mesh(np.asarray(devices), ("batch",)), PartitionSpec("batch"))


def batch_jit(function):
    """`jax.jit(function)` for a batched `function` whose inputs and outputs are laid over the
    devices along axis 0.

    Each device runs `function` on its own share as a local program (`jax.shard_map`): the
    members are independent, so nothing is exchanged, and a loop inside (an adaptive ODE
    solve, a refit's `while_loop`) stops when the device's own members are done instead of
    waiting, step by step, for all devices of all processes.
    """
    sharding = batch_sharding()
    if sharding is None:
        return jax.jit(function)
    if jax.devices()[0].platform == "cpu":
        function = in_chunks(function, CPU_CHUNK)
    spec = sharding.spec
    local = jax.shard_map(
        function, mesh=sharding.mesh, in_specs=spec, out_specs=spec, check_vma=False
    )
    return jax.jit(local, in_shardings=sharding, out_shardings=sharding)


def in_chunks(function, most: int):
    """A batched `function` applied to at most `most` members at a time (`jax.lax.map` over
    equal chunks, the last member repeated to fill the last one); the same results."""

    def chunked(*args):
        size = jax.tree.leaves(args)[0].shape[0]
        if size <= most:
            return function(*args)
        count = -(-size // most)
        chunk = -(-size // count)

        def split(leaf):
            extra = jnp.repeat(leaf[-1:], count * chunk - size, axis=0)
            return jnp.concatenate([leaf, extra]).reshape(count, chunk, *leaf.shape[1:])

        out = jax.lax.map(lambda part: function(*part), jax.tree.map(split, args))
        return jax.tree.map(lambda leaf: leaf.reshape(-1, *leaf.shape[2:])[:size], out)

    return chunked


def padded_size(size: int) -> int:
    """`size` rounded up to a multiple of the device count."""
    count = jax.device_count()
    return -(-size // count) * count


def shard_batch(values):
    """Pad the leading (batch) axis of every leaf to `padded_size` and lay it over the devices.

    **Arguments:**
    - `values`: a pytree of host arrays with the same leading size; every process passes
      the same values.

    **Returns:** the pytree as (global) `jax.Array`s, on the default device when there is
    only one.
    """
    sharding = batch_sharding()

    def put(leaf):
        leaf = np.asarray(leaf)
        if sharding is None:
            return jax.numpy.asarray(leaf)
        extra = padded_size(leaf.shape[0]) - leaf.shape[0]
        leaf = np.concatenate([leaf, np.repeat(leaf[-1:], extra, axis=0)])
        return jax.make_array_from_callback(leaf.shape, sharding, lambda index: leaf[index])

    return jax.tree.map(put, values)


def shard_points(points):
    """`points` (a host or device array) laid over all devices along axis 0, when there are
    several and they divide its length; otherwise returned as is.

    For a batch that a jitted function reduces over (a PINN's collocation points, averaged
    into its loss): `jax.jit` then partitions the per-point work over the devices and
    combines the partial sums, with no padding (a padded point would change the mean).
    Every process passes the same points.
    """
    sharding = batch_sharding()
    if sharding is None or len(points) % jax.device_count():
        return points
    host = np.asarray(points)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def to_host(values):
    """A pytree of (possibly multi-process) arrays as numpy arrays, whole on every process."""

    def get(leaf):
        if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
            return np.asarray(multihost_utils.process_allgather(leaf, tiled=True))
        return np.asarray(leaf)

    return jax.tree.map(get, values)
