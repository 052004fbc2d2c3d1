"""The one driver for every cell kind: layers, directions, lengths, dropout, unbatched input.

``torch.nn.RNN/LSTM/GRU.forward`` differ only in their cell; everything around it is here.
"""

import functools

import jax
import jax.numpy as jnp

from . import _inputs
from ._cells import CellSpec, Recurrent, project_input
from ._init import check_flags
from ._params import RNNConfig, suffix
from ._scan import scan_layer, scan_layer_in_segments


def run(
    fn: str,
    cell: CellSpec,
    config: RNNConfig,
    params,
    x,
    state,
    *,
    batch_first: bool,
    lengths,
    dropout,
    key,
    unroll: int,
    precision,
    checkpoint_every: int | None,
):
    """Check the options, then run a whole network of ``cell`` as torch's module of that kind.

    Shapes:
        ``x``: ``(L, N, H_in)``, ``(N, L, H_in)`` if ``batch_first``, or ``(L, H_in)``.
        ``state``: ``h0 (S, N, P)`` or LSTM's ``(h0, c0 (S, N, H))``, ``(S, ...)`` unbatched.
        Returns ``output (L, N, D*P)`` (batch-first or unbatched like ``x``) and the final state
        shaped like ``state``.
    """
    _inputs.static(fn, "batch_first", batch_first)
    check_flags(fn, {"batch_first": batch_first})
    precision = _inputs.precision(fn, precision)
    dropout = _inputs.dropout_rate(fn, dropout)
    _inputs.random_key(fn, key)
    _inputs.positive_int(fn, "unroll", unroll)
    if checkpoint_every is not None:
        _inputs.positive_int(fn, "checkpoint_every", checkpoint_every)
    x, unbatched = _inputs.sequence(fn, x, config, batch_first)  # (L, N, H_in)
    seq_len, batch_size = x.shape[:2]
    state = _inputs.initial_state(fn, state, config, batch_size, unbatched)  # leaves (S, N, .)
    mask = _inputs.valid_steps(fn, lengths, seq_len, batch_size, unbatched)  # (L, N) or None
    if mask is not None:
        x = jnp.where(mask[..., None], x, 0)  # padding never reaches a value or a gradient

    num_layers, directions = config.num_layers, config.num_directions
    state = jax.tree.map(lambda s: s.reshape(num_layers, directions, *s.shape[1:]), state)
    dropping = key is not None and dropout > 0
    output, finals = x, []
    for layer in range(num_layers):
        if layer > 0 and dropping:
            output = _dropout(jax.random.fold_in(key, layer), output, dropout)
        layer_state = jax.tree.map(lambda s, k=layer: s[k], state)  # leaves (D, N, .)
        output, final = _run_layer(
            cell,
            config,
            params,
            layer,
            output,
            layer_state,
            mask,
            unroll=unroll,
            precision=precision,
            checkpoint_every=checkpoint_every,
        )
        finals.append(final)
    final = jax.tree.map(lambda *f: jnp.concatenate(f), *finals)  # leaves (S, N, .)
    if unbatched:
        return output[:, 0], jax.tree.map(lambda f: f[:, 0], final)
    if batch_first:
        output = jnp.swapaxes(output, 0, 1)  # (N, L, D*P)
    return output, final


def _run_layer(cell, config, params, layer, x, state, mask, *, checkpoint_every, **options):
    """One layer, every direction: one scan each, outputs side by side.

    Shapes:
        ``x``: ``(L, N, H_in)`` for this layer; ``state`` leaves ``(D, N, .)``.
        Returns ``output (L, N, D*P)`` and the final state, leaves ``(D, N, .)``.
    """
    outputs, finals = [], []
    for direction in range(config.num_directions):
        name = f"_l{layer}{suffix(direction)}"
        w_ih = params[f"weight_ih{name}"]
        b_ih, b_hh = params.get(f"bias_ih{name}"), params.get(f"bias_hh{name}")
        w_hr = params.get(f"weight_hr{name}")
        if config.bias and cell.folds_bias:
            # One bias add per step, inside the loop: adding it to the hoisted projection
            # would cost a pass over (and a buffer of) the whole (L, N, gates*H) sequence.
            b_ih, b_hh = None, b_ih + b_hh
        weights = Recurrent(params[f"weight_hh{name}"].T, b_hh, None if w_hr is None else w_hr.T)
        input_weights = weights._replace(w_ih_t=w_ih.T, b_ih=b_ih)
        project = functools.partial(project_input, input_weights, precision=options["precision"])
        carry0 = jax.tree.map(lambda s, d=direction: s[d], state)
        config_ = dict(options, reverse=bool(direction))
        if checkpoint_every is None and _hoists_projection(cell, w_ih.shape):
            # One GEMM over all L*N rows, hoisted out of the time loop.
            ys, final = scan_layer(cell, weights, project(x), carry0, mask, **config_)
        elif checkpoint_every is None:
            ys, final = scan_layer(cell, input_weights, x, carry0, mask, **config_)
        else:
            ys, final = scan_layer_in_segments(
                cell,
                weights,
                x,
                project,
                carry0,
                mask,
                segment=min(checkpoint_every, x.shape[0]),  # one segment at most
                **config_,
            )
        outputs.append(ys)
        finals.append(final)
    return jnp.concatenate(outputs, axis=-1), jax.tree.map(lambda *f: jnp.stack(f), *finals)


def _hoists_projection(cell: CellSpec, w_ih_shape: tuple[int, int]) -> bool:
    """Whether the input projection runs as one GEMM before the loop, else inside each step.

    ``w_ih_shape``: ``(gates*H, H_in)`` of this layer. Measured side by side on XLA:CPU (2-core
    AMD EPYCs, ``scripts/bench.py`` shapes S1-S5 and a sweep of input widths):

    - LSTM and GRU: projecting inside the step took 0.39-0.90x the hoisted forward's time on
      S1-S5 with AVX2, the train step about even (0.90-1.11x). With AVX-512 (GEMMs twice as
      fast), hoisting still took 1.07-2.13x the forward's time (S1, S3, S5; GRU S2) and
      1.08-1.16x at S4's ``H_in = 512``, the train step 1.01-1.11x.
    - Elman: the hoisted GEMM was as fast or faster (inside the step: 1.06-1.17x forward on
      S1, S2, S3), except for inputs of at most ``H/8`` features, whose hoisted output is 8x
      the size of ``x``: inside the step took 0.82-0.95x forward (S5's ``H_in = 16, H = 128``,
      and ``N = 64``, ``L = 500`` or ``H = 256`` around it), the train step even.
    """
    gates_hidden, in_size = w_ih_shape
    return cell.gates == 1 and 8 * in_size > gates_hidden


def _dropout(key: jax.Array, x: jax.Array, rate: float) -> jax.Array:
    """Zero each element with probability ``rate`` and scale the rest by ``1/(1-rate)``."""
    if rate == 1:
        return jnp.zeros_like(x)  # torch's p = 1: the next layer sees only zeros
    keep = jax.random.bernoulli(key, 1 - rate, x.shape)  # per element and time step
    return jnp.where(keep, x / (1 - rate), 0)
