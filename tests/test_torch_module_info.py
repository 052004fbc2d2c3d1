"""torch's own ModuleInfo samples for RNN, LSTM, GRU and their cells, run through jrnn.

``torch.testing._internal.common_modules.module_db`` lists, for each torch module, the inputs
torch's test suite runs it on (``module_inputs_func``: constructor and forward arguments) and
the inputs it must refuse (``module_error_inputs_func``: the exception type and a regex for its
message). Each sample here runs on torch's module and on its jrnn-backed twin from
``_jrnn_torch_modules`` (forward by jrnn, backward by ``jax.vjp``) with the same weights:
outputs, final states and the gradients w.r.t. input, state and every parameter must agree;
torch's gradcheck and gradgradcheck pass on the twin in float64; every error sample raises an
instance of torch's type whose message matches torch's regex (torch's module runs the same
error checks, as a control of the harness).
"""

import functools
import os
import re

import pytest
import torch
from _jrnn_torch_modules import jrnn_module, torch_call
from torch.nn.utils.rnn import PackedSequence
from torch.testing._internal.common_modules import ModuleErrorEnum, module_db

KINDS = (
    torch.nn.RNN,
    torch.nn.LSTM,
    torch.nn.GRU,
    torch.nn.RNNCell,
    torch.nn.LSTMCell,
    torch.nn.GRUCell,
)
INFOS = {info.module_cls: info for info in module_db if info.module_cls in KINDS}
DTYPES = (torch.float32, torch.float64)
TOLERANCE = {torch.float32: 3e-5, torch.float64: 1e-10}
"""Absolute and relative. float32: two float32 computations of a 2-layer GRU's gradients differ
by up to 9e-6 (relative to ``1 + |g|``) on these samples; torch's own RNN tests allow 1e-4."""


def test_module_db_covers_every_kind():
    """torch 2.13 has a ModuleInfo for each of the six, with inputs and error inputs."""
    assert set(INFOS) == set(KINDS)
    assert all(info.module_error_inputs_func is not None for info in INFOS.values())
    assert all(set(DTYPES) <= set(info.dtypes) for info in INFOS.values())


@functools.cache
def samples(cls, dtype):
    """torch's ModuleInputs for ``cls`` (eval mode), PackedSequence samples included."""
    info = INFOS[cls]
    extra = {"with_packed_sequence": True} if cls in (torch.nn.RNN, torch.nn.GRU) else {}
    with torch.random.fork_rng(devices=[]):  # make_tensor draws from torch's global generator
        torch.manual_seed(0)
        return info.module_inputs_func(
            info, device="cpu", dtype=dtype, requires_grad=True, training=False, **extra
        )


@functools.cache
def error_samples(cls, dtype):
    """torch's ErrorModuleInputs for ``cls``, made as torch's test_errors makes them."""
    info = INFOS[cls]
    return info.module_error_inputs_func(
        info, device="cpu", dtype=dtype, requires_grad=False, training=False
    )


def _describe(value):
    if isinstance(value, PackedSequence):
        return "packed" + str(value.batch_sizes.tolist()).replace(" ", "")
    if isinstance(value, torch.Tensor):
        return "x" + "x".join(map(str, value.shape))
    if isinstance(value, tuple):
        return "(" + ",".join(map(_describe, value)) + ")"
    return repr(value)


def _sample_id(sample):
    constructor = sample.constructor_input
    args = [_describe(a) for a in constructor.args]
    args += [f"{k}={_describe(v)}" for k, v in constructor.kwargs.items() if k != "num_layers"]
    forward = sample.forward_input
    if forward is not None:
        args += [_describe(a) for a in forward.args]
    return "-".join(args).replace("'", "")


def _facts(cls, sample, dtype):
    """What running ``sample`` in ``dtype`` checks: the dtype, each constructor option's value,
    the input's form (unbatched, with a state, packed with N sequences), and the meetings of
    code paths that a network sample can check, in float64: the reverse direction with a given
    state and with packed lengths (it starts at each sequence's end), projections with both."""
    forward = sample.forward_input.args
    packed = isinstance(forward[0], PackedSequence)
    state = len(forward) > 1
    form = f"packed N={forward[0].batch_sizes[0]}" if packed else "state" if state else "plain"
    constructor = sample.constructor_input
    options = jrnn_module(cls).bind(*constructor.args, **constructor.kwargs)
    options = {k: v for k, v in options.items() if k not in ("device", "dtype")}
    bidirectional = options.get("bidirectional", False)
    facts = {("dtype", dtype), ("form", form), *options.items()}
    if dtype != torch.float64:  # the meetings in float64: the tight tolerance, and gradcheck's
        return facts
    if bidirectional and state:
        facts.add("bidirectional with a state")
    if bidirectional and packed:
        facts.add("bidirectional packed")
    if bidirectional and state and options.get("proj_size"):
        facts.add("projection, bidirectional, with a state")
    return facts


def _covering(cases):
    """A few of ``cases`` (``(case, facts)``) that together check every fact that all of them
    check, picked greedily (most unchecked facts first), in their original order."""
    unchecked = set().union(*(facts for _, facts in cases))
    chosen = []
    while unchecked:
        case, facts = max(cases, key=lambda c: len(c[1] & unchecked))
        chosen.append(case)
        unchecked -= facts
    order = [case for case, _ in cases]
    return sorted(chosen, key=order.index)


def _sample_cases():
    """Every sample of every kind and dtype with ``JRNN_ALL_MODULE_INFO_SAMPLES=1``. By default
    every cell sample (they share a program per cell and dtype) and, of each network's 64 or 128
    (both dtypes; each compiles its own programs), a covering subset: see :func:`_facts`."""
    everything = os.environ.get("JRNN_ALL_MODULE_INFO_SAMPLES") == "1"
    params = []
    for cls in KINDS:
        cases = [
            ((cls, dtype, i), _facts(cls, sample, dtype))
            for dtype in DTYPES
            for i, sample in enumerate(samples(cls, dtype))
        ]
        every = everything or cls in KINDS[3:]
        for cls_, dtype, i in [case for case, _ in cases] if every else _covering(cases):
            sample = samples(cls_, dtype)[i]
            name = f"{cls.__name__}-{str(dtype)[6:]}-{i}-{_sample_id(sample)}"
            params.append(pytest.param(cls_, dtype, i, id=name))
    return params


def _error_cases():
    cases = []
    for cls in KINDS:
        for dtype in DTYPES:
            for i, error in enumerate(error_samples(cls, dtype)):
                sample = _sample_id(error.module_error_input)
                cases.append(
                    pytest.param(cls, dtype, i, id=f"{cls.__name__}-{str(dtype)[6:]}-{i}-{sample}")
                )
    return cases


def _tensors(tree):
    """Every tensor in a forward's arguments or results (PackedSequence fields included)."""
    if isinstance(tree, torch.Tensor):
        return [tree]
    if isinstance(tree, tuple | list):
        return [t for item in tree for t in _tensors(item)]
    return []


def _structure(tree):
    """``tree``'s containers and leaf types (a PackedSequence or a tensor, ``(h_n, c_n)``)."""
    if isinstance(tree, tuple) and not isinstance(tree, PackedSequence):
        return tuple(map(_structure, tree))
    return type(tree)


def _pair(cls, sample, dtype):
    """torch's module for ``sample`` and its jrnn twin, with the same weights, in eval mode."""
    constructor = sample.constructor_input
    torch.manual_seed(0)
    reference = cls(*constructor.args, **constructor.kwargs).to(dtype).eval()
    twin = jrnn_module(cls)(*constructor.args, **constructor.kwargs).to(dtype).eval()
    twin.load_state_dict(reference.state_dict())  # strict: the same names and shapes
    return reference, twin


@pytest.mark.parametrize(("cls", "dtype", "index"), _sample_cases())
def test_sample_matches_torch(cls, dtype, index):
    """Outputs, final states and every gradient of the jrnn twin equal torch's."""
    sample = samples(cls, dtype)[index]
    reference, twin = _pair(cls, sample, dtype)
    args, kwargs = sample.forward_input.args, sample.forward_input.kwargs
    inputs = [t for t in _tensors((args, kwargs)) if t.requires_grad]
    names = [name for name, _ in reference.named_parameters()]
    results = {}
    for name, module in (("torch", reference), ("jrnn", twin)):
        out = torch_call(module, *args, **kwargs)
        floats = [t for t in _tensors(out) if t.is_floating_point()]
        if name == "torch":
            torch.manual_seed(1)
            cotangents = [torch.randn_like(t) for t in floats]
        params = dict(module.named_parameters())
        wrt = inputs + [params[n] for n in names]
        grads = torch.autograd.grad(floats, wrt, cotangents, allow_unused=True)
        results[name] = (out, grads)
    (out, grads), (expected_out, expected_grads) = results["jrnn"], results["torch"]
    assert _structure(out) == _structure(expected_out)
    tol = TOLERANCE[dtype]
    torch.testing.assert_close(_tensors(out), _tensors(expected_out), rtol=tol, atol=tol)
    labels = [f"input {i}" for i in range(len(inputs))] + names
    for label, grad, expected in zip(labels, grads, expected_grads, strict=True):
        assert (grad is None) == (expected is None), label
        if expected is not None:
            torch.testing.assert_close(
                grad, expected, rtol=tol, atol=tol, msg=lambda m, label=label: f"{label}: {m}"
            )


def _gradcheck_cases(second_order):
    """float64 samples that the numeric test runs too (their programs are compiled by then).

    gradcheck: each cell's first sample, and each network's bidirectional or packed ones.
    gradgradcheck, a few times dearer: each cell's first sample (every cell equation) and one
    network, the Elman RNN's packed bidirectional sample (the scan, lengths and reverse pass
    that every kind shares; its backward is still a function of the weights, step after step,
    though relu's second derivative is zero; GRU's sample costs three times as much)."""
    cases = []
    for param in _sample_cases():
        cls, dtype, index = param.values
        if dtype != torch.float64:
            continue
        sample = samples(cls, dtype)[index]
        if cls in KINDS[3:]:
            chosen = index == 0
        else:
            constructor = sample.constructor_input
            bidirectional = jrnn_module(cls).bind(*constructor.args, **constructor.kwargs)[
                "bidirectional"
            ]
            packed = isinstance(sample.forward_input.args[0], PackedSequence)
            if second_order:
                chosen = cls is torch.nn.RNN and bidirectional and packed
            else:
                chosen = bidirectional or packed
        if chosen:
            cases.append(pytest.param(cls, index, id=param.id.replace("-float64", "")))
    return cases


def _gradcheck_function(cls, index):
    """``(function, inputs)`` for torch's gradcheck: the twin as a function of its input, state
    and params (through ``torch.func.functional_call``), returning its floating outputs."""
    sample = samples(cls, torch.float64)[index]
    _, twin = _pair(cls, sample, torch.float64)
    args = sample.forward_input.args
    packed = isinstance(args[0], PackedSequence)
    state = _tensors(args[1:])
    names = [name for name, _ in twin.named_parameters()]
    leaves = [args[0].data if packed else args[0], *state, *twin.parameters()]
    inputs = tuple(t.detach().clone().requires_grad_() for t in leaves)

    def function(x, *rest):
        values = dict(zip(names, rest[len(state) :], strict=True))
        first = PackedSequence(x, *args[0][1:]) if packed else x
        if not state:
            call_args = (first,)
        else:
            call_args = (
                first,
                tuple(rest[: len(state)]) if isinstance(args[1], tuple) else rest[0],
            )
        out = torch.func.functional_call(twin, values, call_args)
        return tuple(t for t in _tensors(out) if t.is_floating_point())

    return function, inputs


@pytest.mark.parametrize(("cls", "index"), _gradcheck_cases(second_order=False))
def test_gradcheck(cls, index):
    """torch's gradcheck in float64 on the twin: w.r.t. input, state and every parameter."""
    assert torch.autograd.gradcheck(*_gradcheck_function(cls, index), fast_mode=True)


@pytest.mark.parametrize(("cls", "index"), _gradcheck_cases(second_order=True))
def test_gradgradcheck(cls, index):
    """torch's gradgradcheck in float64 on the twin: its backward is differentiable again."""
    assert torch.autograd.gradgradcheck(*_gradcheck_function(cls, index), fast_mode=True)


@pytest.mark.parametrize("backend", ["jrnn", "torch"])
@pytest.mark.parametrize(("cls", "dtype", "index"), _error_cases())
def test_error_sample(cls, dtype, index, backend):
    """The same exception type and message as torch's, as torch's own test_errors checks."""
    error = error_samples(cls, dtype)[index]
    module = jrnn_module(cls) if backend == "jrnn" else cls
    constructor = error.module_error_input.constructor_input
    if error.error_on == ModuleErrorEnum.CONSTRUCTION_ERROR:
        with pytest.raises(error.error_type) as raised:
            module(*constructor.args, **constructor.kwargs)
    else:
        instance = module(*constructor.args, **constructor.kwargs)
        forward = error.module_error_input.forward_input
        with pytest.raises(error.error_type) as raised:
            torch_call(instance, *forward.args, **forward.kwargs)
    assert re.search(error.error_regex, str(raised.value)), (error.error_regex, str(raised.value))
