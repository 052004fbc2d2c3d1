"""Meshes and global arrays: where each array lives, in one process or across many.

A mesh is a line of devices under one axis name: ``data`` (the batch is split along it) or
``ensemble`` (ensemble members are). Every process builds the same mesh over the same global
devices and calls the same functions with the same host values; each contributes only the
pieces that live on its own devices (:func:`jax.make_array_from_callback`), so the code is the
same for one process and for a cluster.
"""

from collections.abc import Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA = "data"
ENSEMBLE = "ensemble"


def line_mesh(devices: Sequence[jax.Device], axis: str) -> Mesh:
    """A one-axis mesh over ``devices``, in their order.

    Args:
        devices: the devices, e.g. ``jax.devices()`` (every process's, in multi-process runs).
        axis: the axis name, :data:`DATA` or :data:`ENSEMBLE`.

    Returns:
        The mesh.

    Example:
        >>> import jax
        >>> dict(line_mesh(jax.devices()[:1], DATA).shape)
        {'data': 1}
    """
    return Mesh(np.asarray(devices), (axis,))


def global_array(value, sharding: NamedSharding) -> jax.Array:
    """Place a host value that every process holds whole as one global array.

    Each process copies only the slices its own devices hold, so no value crosses processes.

    Args:
        value: the whole array (NumPy or JAX), identical in every process.
        sharding: where its pieces go.

    Returns:
        The global array, of ``value``'s shape and dtype.
    """
    value = np.asarray(value)
    return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])


def replicate(tree, mesh: Mesh):
    """A copy of ``tree``'s arrays on every device of ``mesh`` (params and optimiser state).

    Args:
        tree: a pytree of arrays, identical in every process.
        mesh: the mesh.

    Returns:
        The same pytree of global, fully replicated arrays.
    """
    replicated = NamedSharding(mesh, PartitionSpec())
    return jax.tree.map(lambda leaf: global_array(leaf, replicated), tree)


def split_leading(tree, mesh: Mesh):
    """Split ``tree``'s arrays along their first axis over ``mesh``'s axis (ensemble members).

    Args:
        tree: a pytree of arrays with a common first axis, identical in every process.
        mesh: the mesh; its size must divide the first axis.

    Returns:
        The same pytree of global arrays: with ``E`` members on ``n`` devices, device ``j``
        holds members ``j*E/n`` to ``(j+1)*E/n - 1``.
    """
    split = NamedSharding(mesh, PartitionSpec(mesh.axis_names[0]))
    return jax.tree.map(lambda leaf: global_array(leaf, split), tree)


def batch_shardings(mesh: Mesh) -> tuple[NamedSharding, NamedSharding, NamedSharding]:
    """Shardings of ``(x (L, N, H_in), y (N,), lengths (N,))`` with ``N`` split over ``data``.

    Args:
        mesh: a mesh with a :data:`DATA` axis.

    Returns:
        The three shardings: time stays whole on every device, the batch is split.
    """
    rows = NamedSharding(mesh, PartitionSpec(DATA))
    return NamedSharding(mesh, PartitionSpec(None, DATA)), rows, rows


def shard_batch(mesh: Mesh, batch: tuple) -> tuple[jax.Array, ...]:
    """Place a global batch ``(x, y, lengths)`` with its rows split over ``data``.

    Args:
        mesh: a mesh with a :data:`DATA` axis, whose size divides ``N``.
        batch: host arrays ``(x (L, N, H_in), y (N,), lengths (N,))``, the same in every process.

    Returns:
        The three global arrays.
    """
    return tuple(map(global_array, batch, batch_shardings(mesh)))


def local_copy(tree):
    """Bring a pytree of fully replicated global arrays back to this host as NumPy arrays.

    Args:
        tree: replicated global arrays (e.g. the trained params).

    Returns:
        The same pytree of NumPy arrays, read from this process's first copy.
    """
    return jax.tree.map(lambda leaf: np.asarray(leaf.addressable_data(0)), tree)
