"""The benchmark behind ``scripts/bench.py``: jrnn against torch, flax and a plain scan.

Every cell kind (tanh RNN, LSTM, LSTM with ``proj_size``, GRU), uni- and bidirectional, with
torch as the reference every ratio divides by; on the CPU, or on a GPU against torch's cuDNN
modules. ``import jrnn`` does not import this package; it needs torch, flax and matplotlib (the
``test`` extra has them).

Where things are:

- ``cases``: the kinds, the shapes, and one benchmarked case (kind, shape, directions);
- ``layout``: torch's key suffixes per layer and direction, and its output/state structure;
- ``torch_reference``: the torch module and input every contender is checked and timed against;
- ``contenders``: the JAX contenders per kind (``jrnn``, ``flax``, ``scan``) and ``--jrnn-variant``;
- ``flax_rnn`` and ``scan_rnn``: the flax contender with its parameter maps, and the textbook scan;
- ``measure``: parity before timing, first call, memory analysis, the paired timings of one case;
- ``timing``: paired rotating rounds, calibration, medians and per-round ratios;
- ``roofline``: the GEMMs alone, the "XLA floor"; ``backward_loop``: the textbook backward
  loop it also times; ``floor_report``: the floor and targets tables;
- ``report`` and ``plot``: bench.md, bench.json and bench.png;
- ``device``: ``--device cpu|gpu`` and ``--tf32 off|on``: placement, TF32, parity tolerance;
- ``cli``: ``main(**kwargs)`` and the argparse shim ``scripts/bench.py`` calls;
- ``gpu``: the prepared GPU run within a time budget (``scripts/bench_gpu.sh``);
- ``xla_flags`` and ``xla_child``: XLA CPU flags against the baseline, one child process each
  (``scripts/bench_xla_flags.py``).
"""
