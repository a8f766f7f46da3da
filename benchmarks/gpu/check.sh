#!/usr/bin/env bash
# The GPU check of issue 10, for any session with a lent GPU: run it as it is, from the repository root.
# At most 8 minutes in all on an H100 / H200 (each part has its own time limit; a part that fails or times
# out is recorded and the rest still runs).  Everything lands in $OUT/gpu_check.json (default
# benchmarks/results/gpu_check/).
#
#   benchmarks/gpu/check.sh            # CUDA: the full check (benchmarks/gpu_check.sh forwards here)
#   benchmarks/gpu/check.sh --tiny     # the CPU path: tiny sizes, a few minutes on 2 cores (also AUDIODIFF_GPU_CHECK_TINY=1)
#
# Parts: `audiodiff env` (tolerated when absent); `python -m benchmarks.speed peer` in fp32 and in the best mode
# (bf16 + torch.compile on CUDA); 200 training steps of recipes/sc09 on digits-tts (bf16 + compile) with
# loss, clips/s, peak memory and an MFU estimate, and 16 samples written (benchmarks/gpu/check.py); the same
# training launched by torchrun --nproc_per_node 1 in an NCCL process group (gloo on CPU; see check.py).  Env: PYTHON (default python),
# OUT, DATA (digits-tts root; default ../shared/data/digits-tts).
# Next, on the same warm machine: python -m benchmarks.gpu.levers (layout, compile mode and batch levers, about 5 minutes).
set -uo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python}
OUT=${OUT:-benchmarks/results/gpu_check}
TINY=()
SLOW=1   # the CPU path's time limits are SLOW times the GPU's: it is not held to the 8 minutes
if [[ "${1:-}" == "--tiny" || -n "${AUDIODIFF_GPU_CHECK_TINY:-}" ]]; then TINY=(--tiny); SLOW=${SLOW_FACTOR:-8}; fi
DATA_ARG=()
if [[ -n "${DATA:-}" ]]; then DATA_ARG=(--data "$DATA"); fi
rm -rf "$OUT" && mkdir -p "$OUT"
START=$(date +%s)

part() {   # part NAME SECONDS COMMAND...: run with a time limit, keep its log and exit status
  local name=$1 limit=$(( $2 * SLOW )); shift 2
  local t0=$(date +%s%N)
  echo "== $name (limit ${limit}s): $*"
  timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  printf '{"rc": %d, "seconds": %d.%03d, "timed_out": %s}\n' "$rc" $(( ms / 1000 )) $(( ms % 1000 )) \
    "$([[ $rc == 124 || $rc == 137 ]] && echo true || echo false)" > "$OUT/$name.status.json"
  tail -n 12 "$OUT/$name.log"
  echo "-- $name: rc $rc"
}

part env 30 "$PY" cli.py env
part vs_diffwave 200 "$PY" -m benchmarks.speed peer "${TINY[@]}" --modes fp32,best --repeats 2 \
  --json "$OUT/vs_diffwave.json"
part recipe 20 "$PY" -m benchmarks.gpu.check recipe --out "$OUT" "${TINY[@]}" "${DATA_ARG[@]}"
part train 130 "$PY" -m benchmarks.gpu.check train --out "$OUT" "${TINY[@]}"
part torchrun 90 "$PY" -m torch.distributed.run --standalone --nproc_per_node 1 -m benchmarks.gpu.check ddp \
  --out "$OUT"
"$PY" -m benchmarks.gpu.check report --out "$OUT"
echo "gpu_check: $(( $(date +%s) - START )) s in all"
