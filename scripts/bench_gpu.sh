#!/usr/bin/env bash
# The prepared GPU benchmark: one command on a machine with JAX (CUDA), torch (cuDNN) and flax,
# run from the repository root:   bash scripts/bench_gpu.sh
# jrnn and flax against torch's cuDNN RNN/LSTM/GRU, every kind uni- and bidirectional, TF32 off
# at S1..S5 and on at S2, S4 (jrnn/bench/gpu.py says why). About 6 minutes on an H200: no case
# starts after BENCH_GPU_BUDGET_S (default 330) seconds, and `timeout` stops a hang at 540.
# Writes under $OUT (default ./bench_gpu_out): bench_gpu.md (for docs/bench_gpu.md),
# bench_gpu.json, bench_gpu_tf32_{off,on}.png and bench_gpu.log.
# BENCH_GPU_DEVICE=cpu rehearses it here on tiny shapes (TF32 off only, no nvidia-smi).
set -euo pipefail
OUT="${OUT:-./bench_gpu_out}"
PY="${PYTHON:-python3}"
DEVICE="${BENCH_GPU_DEVICE:-gpu}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false  # JAX and torch share the GPU
LOG="$OUT/bench_gpu.log"

"$PY" -m pip install -q --no-deps --no-build-isolation -e . >"$LOG" 2>&1 \
  || { echo "pip install failed (see $LOG); importing jrnn from $PWD"; export PYTHONPATH="$PWD"; }
if [[ "$DEVICE" == gpu ]]; then
  nvidia-smi -L | tee -a "$LOG"
  args=()
else
  args=(--device cpu --shapes-off Q1,Q2 --rounds 1)
fi
"$PY" -c "import jax, torch; print('jax', jax.__version__, jax.devices(), '| torch', torch.__version__)" \
  | tee -a "$LOG"
timeout 540 "$PY" scripts/bench_gpu.py --out "$OUT" --budget-s "${BENCH_GPU_BUDGET_S:-330}" \
  ${args[@]+"${args[@]}"} 2>&1 | tee -a "$LOG"
