"""Shared test helpers: run torch.nn.RNN / LSTM / GRU (and their cells) on jrnn params, and jrnn
with gradients.

Both sides are driven the same way: a loss ``sum(output * g_out) + sum(state_n * g_state)`` with
fixed random cotangents, so one backward pass gives gradients w.r.t. params, ``x`` and the initial
state. A state is ``h`` for RNN and GRU and the pair ``(h, c)`` for LSTM: every helper treats it
as a pytree, so the same calls serve every kind (``g_h`` is then ``(g_h, g_c)``, ``h_n`` is
``(h_n, c_n)`` and ``grads["h0"]`` is ``(d h0, d c0)``).
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import torch

import jrnn
from jrnn._params import GATES, cell_config, cell_layout, rnn_config, rnn_layout

TORCH_DTYPES = {np.dtype("float32"): torch.float32, np.dtype("float64"): torch.float64}
TORCH_MODULES = {"RNN": torch.nn.RNN, "LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}
TORCH_CELLS = {"RNN": torch.nn.RNNCell, "LSTM": torch.nn.LSTMCell, "GRU": torch.nn.GRUCell}
JRNN_FUNCTIONS = {"RNN": jrnn.rnn, "LSTM": jrnn.lstm, "GRU": jrnn.gru}


def _uniform(rng, hidden_size, layout, dtype):
    bound = 1 / np.sqrt(hidden_size)
    return {
        name: jnp.asarray(np.asarray(rng.uniform(-bound, bound, shape), jnp.dtype(dtype)))
        for name, shape in layout.items()
    }


def random_params(
    rng,
    kind,
    input_size,
    hidden_size,
    num_layers=1,
    *,
    bias=True,
    bidirectional=False,
    proj_size=0,
    dtype="float64",
):
    """``kind``'s params in torch's layout, U(-1/sqrt(H), 1/sqrt(H)), drawn by numpy.

    For tests of everything but initialisation: unlike ``jrnn.init_*`` (see test_init.py), it
    has no JAX sampler to compile for every new shape. ``proj_size`` is LSTM's only.
    """
    layout = rnn_layout(
        input_size, hidden_size, num_layers, bias, bidirectional, GATES[kind], proj_size
    )
    return _uniform(rng, hidden_size, layout, dtype)


def random_rnn_params(
    rng, input_size, hidden_size, num_layers=1, *, bias=True, bidirectional=False, dtype="float64"
):
    """:func:`random_params` for ``torch.nn.RNN``."""
    return random_params(
        rng,
        "RNN",
        input_size,
        hidden_size,
        num_layers,
        bias=bias,
        bidirectional=bidirectional,
        dtype=dtype,
    )


def random_cell_params(rng, kind, input_size, hidden_size, *, bias=True, dtype="float64"):
    """``kind``'s cell params (``weight_ih``, ...) in torch's layout, drawn by numpy."""
    layout = cell_layout(input_size, hidden_size, bias, GATES[kind])
    return _uniform(rng, hidden_size, layout, dtype)


def _load(module, params):
    module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in params.items()})
    return module


def torch_module(kind, params, nonlinearity="tanh"):
    """A ``torch.nn.RNN/LSTM/GRU`` holding ``params``, in the params' dtype, in eval mode."""
    config = rnn_config("test", params, kind)
    options = {"nonlinearity": nonlinearity} if kind == "RNN" else {}
    if config.proj_size:
        options["proj_size"] = config.proj_size
    module = TORCH_MODULES[kind](
        config.input_size,
        config.hidden_size,
        config.num_layers,
        bias=config.bias,
        bidirectional=config.bidirectional,
        dtype=TORCH_DTYPES[np.dtype(config.dtype)],
        **options,
    )
    return _load(module, params).eval()


def torch_rnn(params, nonlinearity="tanh"):
    """A ``torch.nn.RNN`` holding ``params``, in the params' dtype, in eval mode."""
    return torch_module("RNN", params, nonlinearity)


def torch_cell(kind, params, nonlinearity="tanh"):
    """A ``torch.nn.RNNCell/LSTMCell/GRUCell`` holding ``params``."""
    config = cell_config("test", params, kind)
    options = {"nonlinearity": nonlinearity} if kind == "RNN" else {}
    module = TORCH_CELLS[kind](
        config.input_size,
        config.hidden_size,
        bias=config.bias,
        dtype=TORCH_DTYPES[np.dtype(config.dtype)],
        **options,
    )
    return _load(module, params)


def torch_rnn_cell(params, nonlinearity="tanh"):
    """A ``torch.nn.RNNCell`` holding ``params``."""
    return torch_cell("RNN", params, nonlinearity)


def _leaf(array):
    return None if array is None else torch.tensor(np.asarray(array), requires_grad=True)


def _numpy(tensor):
    return None if tensor is None else tensor.detach().numpy()


def leaves(tree):
    """``tree`` (None, an array or a tuple of them) with every array a torch leaf tensor."""
    return tuple(map(_leaf, tree)) if isinstance(tree, tuple) else _leaf(tree)


def numpy_tree(tree, grad=False):
    """Tensors (or their ``.grad`` with ``grad``) of ``tree`` back to numpy."""
    if isinstance(tree, tuple):
        return tuple(numpy_tree(t, grad) for t in tree)
    if tree is None:
        return None
    return _numpy(tree.grad if grad else tree)


def weighted_sum(tensors, cotangents):
    """``sum(t * g)`` over matching leaves of two trees (tuples or single tensors)."""
    if isinstance(tensors, tuple):
        return sum(weighted_sum(t, g) for t, g in zip(tensors, cotangents, strict=True))
    return (tensors * torch.tensor(np.asarray(cotangents))).sum()


def torch_forward(module, x, state, lengths=None, batch_first=False):
    """``module(x, state)`` on tensors; with ``lengths``, through a PackedSequence padded back
    to ``x``'s length."""
    module.batch_first = batch_first
    with warnings.catch_warnings():
        # float32 LSTM with proj_size on CPU: torch says it falls back from oneDNN to its own
        warnings.filterwarnings("ignore", "LSTM with projections is not supported with oneDNN")
        if lengths is None:
            return module(x, state)
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            x, torch.tensor(np.asarray(lengths)), batch_first, enforce_sorted=False
        )
        out, state_n = module(packed, state)
    total_length = x.shape[1] if batch_first else x.shape[0]
    out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first, total_length=total_length)
    return out, state_n


def torch_run(module, x, h0, g_out, g_h, lengths=None, batch_first=False):
    """torch's ``(output, h_n, grads)``; with ``lengths``, through a PackedSequence.

    ``h0`` and ``g_h`` are ``(h, c)`` pairs for LSTM (``h0`` may be None); ``h_n`` is then
    ``(h_n, c_n)``. ``grads`` is ``{"params": {name: array}, "x": array, "h0": state or None}``.
    """
    module.zero_grad()
    x, h0 = _leaf(x), leaves(h0)
    out, h_n = torch_forward(module, x, h0, lengths, batch_first)
    loss = weighted_sum(out, g_out) + weighted_sum(h_n, g_h)
    loss.backward()
    grads = {
        "params": {name: _numpy(p.grad) for name, p in module.named_parameters()},
        "x": _numpy(x.grad),
        "h0": numpy_tree(h0, grad=True),
    }
    return _numpy(out), numpy_tree(h_n), grads


def torch_reference(module, x, h0, g_out, g_h, lengths=None, batch_first=False):
    """:func:`torch_run`, extended to what torch cannot pack: lengths of 0 and a scalar length
    for unbatched ``x``.

    torch refuses a length of 0, so those rows are left out of torch's batch, and their results
    are what a sequence with no step must give: zero outputs, ``h_n = h0`` (zeros if ``h0`` is
    None), a zero gradient for every ``x`` step, and ``h_n``'s cotangent passed to ``h0``
    unchanged. An unbatched sequence with a length runs as a batch of one.
    """
    if lengths is None:
        return torch_run(module, x, h0, g_out, g_h, batch_first=batch_first)
    lengths = np.asarray(lengths)
    if lengths.ndim == 0:  # unbatched: a batch of one, sequence-first
        batch = lambda tree, axis: jax.tree.map(lambda a: np.expand_dims(a, axis), tree)  # noqa: E731
        out, h_n, grads = torch_reference(
            module, batch(x, 1), batch(h0, 1), batch(g_out, 1), batch(g_h, 1), lengths[None]
        )
        grads["x"], grads["h0"] = grads["x"][:, 0], jax.tree.map(lambda a: a[:, 0], grads["h0"])
        return out[:, 0], jax.tree.map(lambda a: a[:, 0], h_n), grads
    keep = lengths > 0
    axis = 0 if batch_first else 1  # the batch axis of x and output; states have it at 1

    def rows(tree, axis):
        return jax.tree.map(lambda a: np.compress(keep, a, axis), tree)

    def scatter(kept, full, axis):
        full = np.array(full)
        np.moveaxis(full, axis, 0)[keep] = np.moveaxis(kept, axis, 0)
        return full

    g_out = np.asarray(g_out)
    zeros_x = np.zeros(np.shape(x), g_out.dtype)
    state = h0 if h0 is not None else jax.tree.map(np.zeros_like, g_h)
    if not keep.any():
        params = {name: np.zeros(p.shape, g_out.dtype) for name, p in module.named_parameters()}
        grads = {"params": params, "x": zeros_x, "h0": None if h0 is None else g_h}
        return np.zeros_like(g_out), state, grads
    out, h_n, grads = torch_run(
        module,
        rows(x, axis),
        rows(h0, 1),
        rows(g_out, axis),
        rows(g_h, 1),
        lengths[keep],
        batch_first,
    )
    grads["x"] = scatter(grads["x"], zeros_x, axis)
    if h0 is not None:
        grads["h0"] = jax.tree.map(lambda kept, g: scatter(kept, g, 1), grads["h0"], g_h)
    h_n = jax.tree.map(lambda kept, s: scatter(kept, s, 1), h_n, state)
    return scatter(out, np.zeros_like(g_out), axis), h_n, grads


def torch_jvp(module, x, h0, tangents, lengths=None, batch_first=False):
    """torch's ``(output, h_n)`` and their tangents along ``tangents = (params, x, h0)``.

    torch's forward-mode AD cannot go through a PackedSequence, so the tangents come from
    reverse mode twice: ``J t = d/du <J^T u, t>``. Rows of length 0 (which torch cannot pack)
    get what a sequence with no step must give: output tangent 0, ``h_n``'s tangent ``h0``'s.
    ``x`` is batched; ``h0`` and its tangent are given (``(h, c)`` pairs for LSTM).
    """
    axis = 0 if batch_first else 1
    keep = np.ones(np.shape(x)[axis], bool) if lengths is None else np.asarray(lengths) > 0
    t_params, t_x, t_h0 = tangents

    def rows(tree, axis):
        return jax.tree.map(lambda a: np.compress(keep, np.asarray(a), axis), tree)

    def scatter(kept, full, axis):
        full = np.array(full)
        np.moveaxis(full, axis, 0)[keep] = np.moveaxis(kept, axis, 0)
        return full

    x_k, h0_k = leaves(rows(x, axis)), leaves(rows(h0, 1))
    params = dict(module.named_parameters())
    out, h_n = torch_forward(
        module, x_k, h0_k, None if lengths is None else lengths[keep], batch_first
    )
    flat_h0 = list(h0_k) if isinstance(h0_k, tuple) else [h0_k]
    flat_h_n = list(h_n) if isinstance(h_n, tuple) else [h_n]
    u = [torch.zeros_like(a, requires_grad=True) for a in [out, *flat_h_n]]
    inputs = [*params.values(), x_k, *flat_h0]
    grads = torch.autograd.grad([out, *flat_h_n], inputs, u, create_graph=True)
    t_inputs = [*(t_params[k] for k in params), rows(t_x, axis), *jax.tree.leaves(rows(t_h0, 1))]
    pairing = sum(
        (g * torch.tensor(np.asarray(t))).sum() for g, t in zip(grads, t_inputs, strict=True)
    )
    t_out, *t_h_n = (a.numpy() for a in torch.autograd.grad(pairing, u))
    zeros = np.zeros((*out.shape[:axis], len(keep), *out.shape[axis + 1 :]), _numpy(out).dtype)
    out = scatter(_numpy(out), zeros, axis), scatter(t_out, zeros, axis)
    h_n = [scatter(_numpy(a), h, 1) for a, h in zip(flat_h_n, jax.tree.leaves(h0), strict=True)]
    t_h_n = [scatter(a, t, 1) for a, t in zip(t_h_n, jax.tree.leaves(t_h0), strict=True)]
    pack = tuple if isinstance(h0, tuple) else (lambda a: a[0])
    return (out[0], pack(h_n)), (out[1], pack(t_h_n))


def _outputs_and_grads(params, x, h0, g_out, g_h, lengths, key, kind, options):
    def loss(params, x, h0):
        fn = JRNN_FUNCTIONS[kind]
        out, h_n = fn(params, x, h0, lengths=lengths, key=key, **dict(options))
        products = jax.tree.map(lambda a, g: jnp.sum(a * g), h_n, g_h)
        return jnp.sum(out * g_out) + sum(jax.tree.leaves(products)), (out, h_n)

    argnums = (0, 1) if h0 is None else (0, 1, 2)
    grads, (out, h_n) = jax.grad(loss, argnums=argnums, has_aux=True)(params, x, h0)
    named = {"params": grads[0], "x": grads[1], "h0": grads[2] if h0 is not None else None}
    return out, h_n, named


FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
"""``compiler_options`` for ``jax.jit`` that skip LLVM's optimisations (the same XLA program, less
optimised machine code): it compiled ~20-40% faster here, for tests that compile a new program
for nearly every case."""

# One compiled program per (shapes, options), shared by every test with the same ones.
_COMPILED = {
    False: jax.jit(_outputs_and_grads, static_argnames=("kind", "options")),
    True: jax.jit(
        _outputs_and_grads, static_argnames=("kind", "options"), compiler_options=FAST_COMPILE
    ),
}


def jrnn_run(
    params,
    x,
    h0,
    g_out,
    g_h,
    *,
    kind="RNN",
    jit=False,
    fast_compile=False,
    lengths=None,
    key=None,
    **options,
):
    """jrnn's ``(output, h_n, grads)`` for the same loss as :func:`torch_run`.

    ``kind`` picks :func:`jrnn.rnn`, :func:`jrnn.lstm` or :func:`jrnn.gru`; ``options`` go to
    it. By default jrnn runs op by op under ``jax.disable_jit()``: the same code, its derivative
    rule included, without compiling a program (each operation compiles once per shape, and tests
    share shapes). With ``jit`` the gradient function is compiled and cached (``fast_compile``:
    fewer backend optimisations); ``lengths`` and the dropout ``key`` are then traced, so the
    lengths' range is not checked.
    """
    arrays = [jax.tree.map(jnp.asarray, a) for a in (x, h0, g_out, g_h, lengths)] + [key]
    options = tuple(sorted(options.items()))
    if jit:
        out, h_n, grads = _COMPILED[fast_compile](params, *arrays, kind=kind, options=options)
    else:
        with jax.disable_jit():
            out, h_n, grads = _outputs_and_grads(params, *arrays, kind=kind, options=options)
    return jax.tree.map(np.asarray, (out, h_n, grads))


def max_difference(actual, expected):
    """The largest ``|a - e| / max(1, |e|)`` over every leaf: what :func:`assert_tree_close`
    bounds, as one number (for reporting)."""
    worst = 0.0
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        a, e = np.asarray(a, np.float64), np.asarray(e, np.float64)
        if a.size:
            worst = max(worst, float(np.max(np.abs(a - e) / np.maximum(1, np.abs(e)))))
    return worst


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
