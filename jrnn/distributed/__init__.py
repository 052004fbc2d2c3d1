"""Training across devices and processes on JAX's own runtime: data- and ensemble-parallel.

Time is sequential in a recurrent net, so what scales is the batch (split over a ``data`` mesh
axis, params replicated: the gradient's sum is XLA's all-reduce) and independent networks (an
ensemble under ``jax.vmap``, members split over the devices). Processes join through
:func:`jax.distributed.initialize`; nothing here moves data between them by hand. ``import jrnn``
does not import this package.

Where things are:

- ``task``: the adding problem drawn on the host by ``(seed, step)``, the model and its loss;
- ``mesh``: one-axis meshes, global arrays from host values, replicated or split;
- ``step``: the jitted data-parallel and ensemble SGD steps;
- ``train``: the training loop, the same for the distributed run and its one-device reference;
- ``runtime``: this process's CPU device count and joining the cluster;
- ``launch``: local processes with bounded waits, killed on failure;
- ``result``: the result line and the trained model's .npz file;
- ``cli``: ``main(**kwargs)`` and the argparse shim behind ``scripts/train_distributed.py``.
"""

from .cli import main as main
