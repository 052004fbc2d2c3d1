"""Shared test helpers: run torch.nn.RNN / RNNCell on jrnn params, and jrnn with gradients.

Both sides are driven the same way: a loss ``sum(output * g_out) + sum(h_n * g_h)`` with fixed
random cotangents, so one backward pass gives gradients w.r.t. params, ``x`` and ``h0``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import torch

import jrnn
from jrnn._params import cell_config, rnn_config, rnn_layout

TORCH_DTYPES = {np.dtype("float32"): torch.float32, np.dtype("float64"): torch.float64}


def random_rnn_params(
    rng, input_size, hidden_size, num_layers=1, *, bias=True, bidirectional=False, dtype="float64"
):
    """RNN params in torch's layout, U(-1/sqrt(H), 1/sqrt(H)), drawn by numpy.

    For tests of everything but initialisation: unlike ``jrnn.init_rnn`` (see test_init.py),
    it has no JAX sampler to compile for every new shape.
    """
    bound = 1 / np.sqrt(hidden_size)
    layout = rnn_layout(input_size, hidden_size, num_layers, bias, bidirectional)
    return {
        name: jnp.asarray(np.asarray(rng.uniform(-bound, bound, shape), jnp.dtype(dtype)))
        for name, shape in layout.items()
    }


def torch_rnn(params, nonlinearity="tanh"):
    """A ``torch.nn.RNN`` holding ``params``, in the params' dtype, in eval mode."""
    config = rnn_config("test", params)
    module = torch.nn.RNN(
        config.input_size,
        config.hidden_size,
        config.num_layers,
        nonlinearity=nonlinearity,
        bias=config.bias,
        bidirectional=config.bidirectional,
        dtype=TORCH_DTYPES[np.dtype(config.dtype)],
    )
    module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in params.items()})
    return module.eval()


def torch_rnn_cell(params, nonlinearity="tanh"):
    """A ``torch.nn.RNNCell`` holding ``params``."""
    config = cell_config("test", params)
    module = torch.nn.RNNCell(
        config.input_size,
        config.hidden_size,
        bias=config.bias,
        nonlinearity=nonlinearity,
        dtype=TORCH_DTYPES[np.dtype(config.dtype)],
    )
    module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in params.items()})
    return module


def _leaf(array):
    return None if array is None else torch.tensor(np.asarray(array), requires_grad=True)


def _numpy(tensor):
    return None if tensor is None else tensor.detach().numpy()


def _grads(module, x, h0):
    grads = {name: _numpy(p.grad) for name, p in module.named_parameters()}
    return {"params": grads, "x": _numpy(x.grad), "h0": None if h0 is None else _numpy(h0.grad)}


def torch_run(module, x, h0, g_out, g_h, lengths=None, batch_first=False):
    """torch's ``(output, h_n, grads)``; with ``lengths``, through a PackedSequence.

    ``grads`` is ``{"params": {name: array}, "x": array, "h0": array or None}``.
    """
    module.zero_grad()
    module.batch_first = batch_first
    x, h0 = _leaf(x), _leaf(h0)
    if lengths is None:
        out, h_n = module(x, h0)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            x, torch.tensor(np.asarray(lengths)), batch_first, enforce_sorted=False
        )
        out, h_n = module(packed, h0)
        total_length = x.shape[1] if batch_first else x.shape[0]
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first, total_length=total_length)
    loss = (out * torch.tensor(np.asarray(g_out))).sum()
    loss = loss + (h_n * torch.tensor(np.asarray(g_h))).sum()
    loss.backward()
    return _numpy(out), _numpy(h_n), _grads(module, x, h0)


def _outputs_and_grads(params, x, h0, g_out, g_h, lengths, options):
    def loss(params, x, h0):
        out, h_n = jrnn.rnn(params, x, h0, lengths=lengths, **dict(options))
        return jnp.sum(out * g_out) + jnp.sum(h_n * g_h), (out, h_n)

    argnums = (0, 1) if h0 is None else (0, 1, 2)
    grads, (out, h_n) = jax.grad(loss, argnums=argnums, has_aux=True)(params, x, h0)
    named = {"params": grads[0], "x": grads[1], "h0": grads[2] if h0 is not None else None}
    return out, h_n, named


# One compiled program per (shapes, options), shared by every test with the same ones. The
# second skips LLVM's optimisations (the same XLA program, less optimised machine code): it
# compiled ~20% faster here, for tests that compile a new program for nearly every case.
_COMPILED = {
    False: jax.jit(_outputs_and_grads, static_argnames="options"),
    True: jax.jit(
        _outputs_and_grads,
        static_argnames="options",
        compiler_options={
            "xla_backend_optimization_level": 0,
            "xla_llvm_disable_expensive_passes": True,
        },
    ),
}


def jrnn_run(params, x, h0, g_out, g_h, *, jit=False, fast_compile=False, lengths=None, **options):
    """jrnn's ``(output, h_n, grads)`` for the same loss as :func:`torch_run`.

    ``options`` go to :func:`jrnn.rnn`. By default jrnn runs op by op under
    ``jax.disable_jit()``: the same code, its custom VJP included, without compiling a program
    (each operation compiles once per shape, and tests share shapes). With ``jit`` the gradient
    function is compiled and cached (``fast_compile``: fewer backend optimisations); ``lengths``
    are then traced, so their range is not checked.
    """
    arrays = [None if a is None else jnp.asarray(a) for a in (x, h0, g_out, g_h, lengths)]
    options = tuple(sorted(options.items()))
    if jit:
        out, h_n, grads = _COMPILED[fast_compile](params, *arrays, options=options)
    else:
        with jax.disable_jit():
            out, h_n, grads = _outputs_and_grads(params, *arrays, options=options)
    return np.asarray(out), np.asarray(h_n), jax.tree.map(np.asarray, grads)


def assert_tree_close(actual, expected, tol):
    """Every leaf within ``tol`` of the reference, absolutely or relative to its magnitude."""
    leaves_a, tree_a = jax.tree.flatten(actual)
    leaves_e, tree_e = jax.tree.flatten(expected)
    assert tree_a == tree_e, (tree_a, tree_e)
    for path_and_a, e in zip(jax.tree_util.tree_leaves_with_path(actual), leaves_e, strict=True):
        path, a = path_and_a
        assert np.shape(a) == np.shape(e), (jax.tree_util.keystr(path), np.shape(a), np.shape(e))
        np.testing.assert_allclose(
            np.asarray(a, np.float64),
            np.asarray(e, np.float64),
            rtol=tol,
            atol=tol,
            err_msg=jax.tree_util.keystr(path),
        )
