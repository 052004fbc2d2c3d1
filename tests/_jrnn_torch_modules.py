"""torch modules backed by jrnn: ``torch.nn.RNN/LSTM/GRU`` and their cells, computed by JAX.

:func:`jrnn_module` gives, for a torch class, a ``torch.nn.Module`` with the same constructor
arguments, the same parameters (names, shapes, dtypes) and the same ``forward`` signature, whose
forward runs :func:`jrnn.rnn` / ``lstm`` / ``gru`` / ``*cell_step``. Its parameters' shapes come
from jrnn's own constructors (``jrnn.nnx.*`` under ``nnx.eval_shape``: nothing is drawn), so a
bad constructor argument is refused by jrnn, not by torch. Weights are torch tensors, usually
copied from a torch module with ``load_state_dict``.

Gradients: :class:`JaxOp` turns a JAX function of arrays into a torch function of tensors through
a ``torch.autograd.Function`` whose backward is ``jax.vjp``. The backward of a backward (and so on)
is the same wrapper around the vjp, so torch can differentiate it to any order (gradgradcheck).
PackedSequence inputs are padded with torch's ``pad_packed_sequence`` and run with jrnn's
``lengths``; the output is packed back in the input's order.
"""

import functools
import warnings

import jax
import numpy as np
import torch
from flax import nnx
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

import jrnn
import jrnn.nnx

FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
"""``compiler_options`` that skip LLVM's optimisations: each call signature here compiles its own
tiny programs, run a few times, so compiling faster beats running faster."""


def to_jax(tensor: torch.Tensor) -> jax.Array:
    """A tensor's values as a JAX array of the same dtype (float64 stays float64)."""
    return jax.numpy.asarray(tensor.detach().cpu().numpy())


def to_torch(array: jax.Array) -> torch.Tensor:
    """A JAX array as a (writable, owned) CPU tensor of the same dtype."""
    return torch.from_numpy(np.array(array))


class _Apply(torch.autograd.Function):
    """``op.fn(*tensors)`` in JAX; backward through ``jax.vjp``, itself a :class:`JaxOp`."""

    @staticmethod
    def forward(ctx, op, *tensors):
        outputs, ctx.vjp = op.forward(*(to_jax(t) for t in tensors))
        ctx.op = op
        ctx.save_for_backward(*tensors)
        return tuple(to_torch(o) for o in outputs)

    @staticmethod
    def backward(ctx, *cotangents):
        tensors = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: a backward that torch can differentiate
            grads = ctx.op.grad_op(len(tensors)).apply(*tensors, *cotangents)
        else:  # the forward's residuals, through the compiled pullback
            grads = ctx.op.backward(ctx.vjp, tuple(to_jax(c) for c in cotangents))
            grads = [to_torch(g) for g in grads]
        needed = ctx.needs_input_grad[1:]
        return (None, *(g if need else None for g, need in zip(grads, needed, strict=True)))


class JaxOp:
    """A JAX function of arrays, ``fn(*arrays) -> tuple of arrays``, as a torch function.

    ``JaxOp(fn).apply(*tensors)`` returns a tuple of tensors that torch differentiates through
    ``jax.vjp``, to any order. Two programs are compiled per input shapes and reused: the forward
    pass, which also returns ``jax.vjp``'s residuals (its pullback is a pytree), and the pullback
    applied to the cotangents. The backward of a backward is the JaxOp of ``(*primals,
    *cotangents) -> grads``, and so on.
    """

    def __init__(self, fn):
        self.fn = fn
        self.forward = jax.jit(lambda *xs: jax.vjp(fn, *xs), compiler_options=FAST_COMPILE)
        self.backward = jax.jit(lambda vjp, cts: vjp(cts), compiler_options=FAST_COMPILE)
        self._grad_ops = {}

    def grad_op(self, arity: int) -> "JaxOp":
        """``(*primals, *cotangents) -> grads`` for ``arity`` primals, as a JaxOp (built once,
        so that its compilations are reused)."""
        if arity not in self._grad_ops:

            def grad(*args):
                return jax.vjp(self.fn, *args[:arity])[1](args[arity:])

            self._grad_ops[arity] = JaxOp(grad)
        return self._grad_ops[arity]

    def apply(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``fn`` on the tensors' values, as tensors that torch can differentiate."""
        return _Apply.apply(self, *tensors)


def _state(state):
    """``state`` (None, a tensor, or a tuple/list of them) as (tensors, its structure)."""
    if isinstance(state, tuple | list):
        return list(state), (type(state), len(state))
    return ([], None) if state is None else ([state], "tensor")


def _rebuild(structure, leaves):
    """The state that :func:`_state` took apart, with ``leaves`` in place of its tensors."""
    if structure is None:
        return None
    return leaves[0] if structure == "tensor" else structure[0](leaves)


def _flat(state):
    return state if isinstance(state, tuple) else (state,)


@functools.cache
def _network_op(kind, names, structure, lengths, options):
    """The JaxOp ``(x, *params, *state) -> (output, *state_n)`` of one call signature, shared
    by every module and call that has it, so that each signature compiles once."""
    function, n = getattr(jrnn, kind.lower()), len(names)

    def run(x, *arrays):
        params = dict(zip(names, arrays[:n], strict=True))
        config = dict(options)
        if "key" in config:
            config["key"] = jax.random.key(config["key"])
        steps = None if lengths is None else np.asarray(lengths)
        out, state_n = function(params, x, _rebuild(structure, arrays[n:]), lengths=steps, **config)
        return (out, *_flat(state_n))

    return JaxOp(run)


@functools.cache
def _cell_op(kind, names, structure, options):
    """The JaxOp ``(x_t, *params, *state) -> new state`` of one call signature."""
    function = {"RNN": jrnn.cell_step, "LSTM": jrnn.lstm_cell_step, "GRU": jrnn.gru_cell_step}
    n = len(names)

    def run(x, *arrays):
        params = dict(zip(names, arrays[:n], strict=True))
        return _flat(function[kind](params, x, _rebuild(structure, arrays[n:]), **dict(options)))

    return JaxOp(run)


def _bind_rnn(
    input_size,
    hidden_size,
    num_layers=1,
    bias=True,
    batch_first=False,
    dropout=0.0,
    bidirectional=False,
    proj_size=0,
    device=None,
    dtype=None,
):
    return locals()


def _bind_elman(input_size, hidden_size, num_layers=1, nonlinearity="tanh", *args, **kwargs):
    # torch.nn.RNN takes nonlinearity as its fourth positional argument, the rest as RNNBase
    return {
        **_bind_rnn(input_size, hidden_size, num_layers, *args, **kwargs),
        "nonlinearity": nonlinearity,
    }


def _bind_cell(input_size, hidden_size, bias=True, device=None, dtype=None):
    return locals()


def _bind_elman_cell(
    input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None
):
    return locals()


def _numpy_dtype(dtype: torch.dtype | None) -> np.dtype:
    return torch.empty((), dtype=dtype or torch.get_default_dtype()).numpy().dtype


class _JrnnModule(torch.nn.Module):
    """What the jrnn-backed modules share: construction through jrnn, params as torch's."""

    kind: str  # the cell kind: "RNN", "LSTM" or "GRU"
    torch_name: str  # the torch class mirrored, also the name of jrnn.nnx's twin
    bind = staticmethod(_bind_rnn)  # the torch constructor's signature

    def __init__(self, *args, **kwargs):
        super().__init__()
        options = self.bind(*args, **kwargs)
        self.nonlinearity = options.pop("nonlinearity", "tanh")
        self.dtype = options.pop("dtype")
        device = options.pop("device")
        sizes = (options.pop("input_size"), options.pop("hidden_size"))
        wrapper = getattr(jrnn.nnx, self.torch_name)
        elman = {"nonlinearity": self.nonlinearity} if self.kind == "RNN" else {}
        # jrnn's constructor checks every argument: its error, not torch's, reaches the caller
        model = nnx.eval_shape(
            lambda: wrapper(
                *sizes,
                **options,
                **elman,
                param_dtype=_numpy_dtype(self.dtype),
                rngs=nnx.Rngs(0),
            )
        )
        self.input_size, self.hidden_size = sizes
        for name, value in options.items():
            setattr(self, name, value)
        shapes = {name: value.shape for name, value in model.to_params().items()}
        self.names = tuple(shapes)
        bound = 1 / np.sqrt(self.hidden_size)  # torch's initialisation
        for name, shape in shapes.items():
            empty = torch.empty(shape, dtype=self.dtype, device=device)
            self.register_parameter(name, torch.nn.Parameter(empty.uniform_(-bound, bound)))

    def _params(self) -> list[torch.Tensor]:
        return [getattr(self, name) for name in self.names]  # functional_call swaps these


class _Network(_JrnnModule):
    def forward(self, input, hx=None):
        packed = isinstance(input, PackedSequence)
        x, lengths = pad_packed_sequence(input, self.batch_first) if packed else (input, None)
        state, structure = _state(hx)
        options = {"batch_first": self.batch_first, "dropout": self.dropout}
        if self.kind == "RNN":
            options["nonlinearity"] = self.nonlinearity
        if self.training and self.dropout > 0:  # a dropout key per call, from torch's RNG
            options["key"] = int(torch.randint(2**31, ()))
        steps = None if lengths is None else tuple(lengths.tolist())
        op = _network_op(self.kind, self.names, structure, steps, tuple(options.items()))
        out, *state_n = op.apply(x, *self._params(), *state)
        state_n = tuple(state_n) if self.kind == "LSTM" else state_n[0]
        if not packed:
            return out, state_n
        return _repack(out, lengths, input, self.batch_first), state_n


def _repack(out, lengths, like: PackedSequence, batch_first: bool) -> PackedSequence:
    """``out`` (padded, in the batch's original order) packed as ``like`` is."""
    if like.sorted_indices is not None:
        out = out.index_select(0 if batch_first else 1, like.sorted_indices)
        lengths = lengths[like.sorted_indices]
    data = pack_padded_sequence(out, lengths, batch_first=batch_first).data
    return PackedSequence(data, like.batch_sizes, like.sorted_indices, like.unsorted_indices)


class _Cell(_JrnnModule):
    bind = staticmethod(_bind_cell)

    def forward(self, input, hx=None):
        state, structure = _state(hx)
        options = (("nonlinearity", self.nonlinearity),) if self.kind == "RNN" else ()
        op = _cell_op(self.kind, self.names, structure, options)
        new = op.apply(input, *self._params(), *state)
        return tuple(new) if self.kind == "LSTM" else new[0]


def _twin(base, torch_name, kind, bind=None):
    attributes = {"torch_name": torch_name, "kind": kind}
    if bind is not None:
        attributes["bind"] = staticmethod(bind)
    return type(f"Jrnn{torch_name}", (base,), attributes)


JRNN_MODULES = {
    torch.nn.RNN: _twin(_Network, "RNN", "RNN", _bind_elman),
    torch.nn.LSTM: _twin(_Network, "LSTM", "LSTM"),
    torch.nn.GRU: _twin(_Network, "GRU", "GRU"),
    torch.nn.RNNCell: _twin(_Cell, "RNNCell", "RNN", _bind_elman_cell),
    torch.nn.LSTMCell: _twin(_Cell, "LSTMCell", "LSTM"),
    torch.nn.GRUCell: _twin(_Cell, "GRUCell", "GRU"),
}


def jrnn_module(torch_class: type[torch.nn.Module]) -> type[torch.nn.Module]:
    """The jrnn-backed twin of ``torch_class`` (``torch.nn.RNN``, ..., ``torch.nn.GRUCell``)."""
    return JRNN_MODULES[torch_class]


def torch_call(module: torch.nn.Module, *args, **kwargs):
    """``module(*args, **kwargs)``, without torch's oneDNN note for float32 LSTM projections."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "LSTM with projections is not supported with oneDNN")
        return module(*args, **kwargs)
