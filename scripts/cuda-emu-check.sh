#!/usr/bin/env bash
# The CUDA backend on the CPU: builds native/backends/cuda/* as C++ against a host emulation of the
# CUDA runtime (tools/cuda-emu/: the threads of a block are fibers switched at __syncthreads and
# warp shuffles; device memory with guard pages and NaN poisoning; launch limits checked), through
# scripts/cuda-build.sh --kind emu (CMake option GNAS_CUDA_EMU), and runs the op harness (every
# CUDA op forward and backward, fused variants, TF32/BF16 passes, against the reference) and the
# supernet tests (CPU vs CUDA lockstep training, determinism, checkpoints across backends). No GPU
# needed; CI runs it after npm test.
#
#   bash scripts/cuda-emu-check.sh [--asan] [--filter S]
#     --asan      build with AddressSanitizer + UBSan (slower; build dir build-emu-asan/)
#     --filter S  only op cases whose title contains S
# Environment: JOBS (parallel compiles, default nproc), OUT (build dir, default build-emu/),
#   EMU_SMS, EMU_ORDER=reverse (see tools/cuda-emu/cuda_runtime.h).
#
# What it cannot check: real warp scheduling and memory-model races beyond what the fiber order
# shows, the real wmma fragment layouts (mma.h mocks them), __launch_bounds__, coalescing, speed.
# scripts/gpu-check.sh is the check on a real GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${OUT:-$ROOT/build-emu}
ASAN=()
FILTER=()
while [ $# -gt 0 ]; do
  case "$1" in
    --asan) ASAN=(--asan); OUT=$OUT-asan ;;
    --filter) FILTER=(--filter "$2"); shift ;;
    *) echo "usage: $0 [--asan] [--filter S]" >&2; exit 2 ;;
  esac
  shift
done

LOG=$(mktemp)
if ! bash scripts/cuda-build.sh all --kind emu --build-dir "$OUT" --jobs "${JOBS:-$(nproc)}" \
  ${ASAN[@]+"${ASAN[@]}"} > "$LOG" 2>&1; then
  tail -n 40 "$LOG"
  echo "== cuda-emu-check: build FAILED"
  rm -f "$LOG"
  exit 1
fi
mv "$LOG" "$OUT/build.log"

# run (the emulator prints "EMU ERROR" lines and a summary on stderr)
export ASAN_OPTIONS=detect_stack_use_after_return=0:detect_leaks=0:allow_user_segv_handler=1:abort_on_error=1
status=0
echo "== gnas_op_tests --backend cuda (emulated)"
"$OUT/gnas_op_tests" --backend cuda ${FILTER[@]+"${FILTER[@]}"} > "$OUT/op-tests.log" 2> "$OUT/op-tests.err" || status=1
grep '^FAIL' "$OUT/op-tests.log" | head -40 || true
tail -n 1 "$OUT/op-tests.log"
grep -h 'EMU ERROR' "$OUT/op-tests.err" | head -20 && status=1 || true
if [ ${#FILTER[@]} -eq 0 ]; then
  echo "== gnas_supernet_tests --backend cuda (emulated)"
  "$OUT/gnas_supernet_tests" --backend cuda > "$OUT/supernet-tests.log" 2> "$OUT/supernet-tests.err" || status=1
  grep '^FAIL' "$OUT/supernet-tests.log" | head -40 || true
  tail -n 1 "$OUT/supernet-tests.log"
  grep -h 'EMU ERROR' "$OUT/supernet-tests.err" | head -20 && status=1 || true
fi
echo "== cuda-emu-check: $([ $status -eq 0 ] && echo PASS || echo FAIL) (logs in $OUT)"
exit $status
