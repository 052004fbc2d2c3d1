"""The jitted training steps: data-parallel (batch split over ``data``) and ensemble-parallel.

Both are plain SGD on :func:`jrnn.distributed.task.loss`, jitted with explicit shardings; XLA
inserts the collectives (the gradient's sum over the batch shards is an all-reduce), so the
same step runs on one device, on a mesh of local devices, or across processes. Time is
sequential in a recurrent net and stays whole on every device.
"""

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from . import task
from .mesh import batch_shardings


def sgd(params, grads, lr: float):
    """One SGD update, ``p - lr * g`` leaf by leaf."""
    return jax.tree.map(lambda p, g: p - lr * g, params, grads)


def dropout_key(config: task.Config, step: jax.Array) -> jax.Array | None:
    """The dropout key of ``step``: ``fold_in(key(seed), step)``, or ``None`` without dropout.

    One key draws the mask of the whole global ``(L, N, .)`` array; with JAX's partitionable
    threefry each device computes its own rows' part of that one mask, so the rows of different
    shards get different masks and the result does not depend on the device count.
    """
    if config.dropout == 0.0:
        return None
    return jax.random.fold_in(jax.random.key(config.seed), step)


def data_parallel_step(config: task.Config, mesh: Mesh):
    """A jitted SGD step with the batch split over ``mesh``'s ``data`` axis, params replicated.

    Shapes:
        ``x``: ``(L, N, 2)`` split along ``N``; ``y``, ``lengths``: ``(N,)`` split;
        ``step``: a replicated int32 scalar.

    Args:
        config: the run's settings (cell, sizes, dropout, lr, seed).
        mesh: a mesh with a ``data`` axis whose size divides ``N``.

    Returns:
        ``step_fn(model, x, y, lengths, step) -> (model, loss)``, model and loss replicated.
    """
    replicated = NamedSharding(mesh, PartitionSpec())

    def step_fn(model, x, y, lengths, step):
        key = dropout_key(config, step)
        loss, grads = jax.value_and_grad(task.loss)(model, x, y, lengths, key, config)
        return sgd(model, grads, config.lr), loss

    return jax.jit(
        step_fn,
        in_shardings=(replicated, *batch_shardings(mesh), replicated),
        out_shardings=(replicated, replicated),
    )


def ensemble_step(config: task.Config, mesh: Mesh):
    """A jitted SGD step of an ensemble (``jax.vmap`` over params), members split over ``mesh``.

    Every member trains on the same batch, replicated; dropout is off. Members are independent,
    so no collective is needed: each device updates its own members.

    Shapes:
        ``models``: every leaf ``(E, ...)``, ``E`` members split over the mesh's one axis.
        ``x``: ``(L, N, 2)``; ``y``, ``lengths``: ``(N,)``; all replicated.

    Args:
        config: the run's settings (cell, sizes, lr).
        mesh: a one-axis mesh whose size divides ``E``.

    Returns:
        ``step_fn(models, x, y, lengths) -> (models, losses (E,))``, both split over members.
    """
    members = NamedSharding(mesh, PartitionSpec(mesh.axis_names[0]))
    replicated = NamedSharding(mesh, PartitionSpec())

    def member_loss(model, x, y, lengths):
        return task.loss(model, x, y, lengths, None, config)

    def step_fn(models, x, y, lengths):
        all_members = jax.vmap(jax.value_and_grad(member_loss), in_axes=(0, None, None, None))
        losses, grads = all_members(models, x, y, lengths)  # (E,), leaves (E, ...)
        return sgd(models, grads, config.lr), losses

    return jax.jit(
        step_fn,
        in_shardings=(members, replicated, replicated, replicated),
        out_shardings=(members, members),
    )
