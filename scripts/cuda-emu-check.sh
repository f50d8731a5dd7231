#!/usr/bin/env bash
# The CUDA backend on the CPU: compiles native/backends/cuda/* as C++ against a host emulation of
# the CUDA runtime (native/tests/cuda_emu/: the threads of a block are fibers switched at
# __syncthreads and warp shuffles; device memory with guard pages and NaN poisoning; launch limits
# checked) and runs the op harness (every CUDA op forward and backward, fused variants, TF32/BF16
# passes, against the reference) and the supernet tests (CPU vs CUDA lockstep training,
# determinism, checkpoints across backends). No GPU needed; CI runs it after npm test.
#
#   bash scripts/cuda-emu-check.sh [--asan] [--filter S]
#     --asan      build with AddressSanitizer + UBSan (slower)
#     --filter S  only op cases whose title contains S
# Environment: JOBS (parallel compiles, default nproc), OUT (build dir, default build-emu/),
#   EMU_SMS, EMU_ORDER=reverse (see native/tests/cuda_emu/cuda_runtime.h).
#
# What it cannot check: real warp scheduling and memory-model races beyond what the fiber order
# shows, the real wmma fragment layouts (mma.h mocks them), coalescing, speed. scripts/gpu-check.sh
# is the check on a real GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
EMU=$ROOT/native/tests/cuda_emu
OUT=${OUT:-$ROOT/build-emu}
SAN=""
FILTER=()
while [ $# -gt 0 ]; do
  case "$1" in
    --asan) SAN="-fsanitize=address,undefined -fno-sanitize=vptr -fno-omit-frame-pointer"; OUT=$OUT-asan ;;
    --filter) FILTER=(--filter "$2"); shift ;;
    *) echo "usage: $0 [--asan] [--filter S]" >&2; exit 2 ;;
  esac
  shift
done
command -v python3 >/dev/null || { echo "cuda-emu-check: python3 is needed (prep.py)" >&2; exit 2; }
mkdir -p "$OUT/src/backends/cuda" "$OUT/obj"

# 1. the CUDA sources rewritten for the emulator (launches, __shared__ poisoning; see prep.py);
#    only changed files are replaced, so make rebuilds only what changed
TMPSRC=$(mktemp -d)
python3 "$EMU/prep.py" "$ROOT/native/backends/cuda" "$TMPSRC"
for f in "$TMPSRC"/*; do
  b=$(basename "$f")
  cmp -s "$f" "$OUT/src/backends/cuda/$b" || cp "$f" "$OUT/src/backends/cuda/$b"
done
rm -rf "$TMPSRC"

CXXFLAGS="-std=c++17 -O1 -g -pthread -fno-strict-aliasing -Wno-unknown-pragmas $SAN -DGNAS_HAVE_CUDA=1 -DGNAS_CUDA_EMU=1 -I$EMU -I$OUT/src -I$ROOT/native"

# 2. a Makefile with header dependencies
MK=$OUT/Makefile
{
  echo "CXX=g++"
  echo "CXXFLAGS=$CXXFLAGS"
  echo "LDFLAGS=$SAN -pthread -ldl -rdynamic"
  add() {  # SRC OBJNAME EXTRA_FLAGS
    echo "$OUT/obj/$2.o: $1"
    echo "	@echo CXX $1 && \$(CXX) \$(CXXFLAGS) $3 -MMD -MP -x c++ -c $1 -o \$@"
    echo "-include $OUT/obj/$2.d"
  }
  core=()
  for s in "$ROOT"/native/core/*.cpp "$ROOT"/native/backends/registry.cpp "$ROOT"/native/backends/reference/*.cpp "$ROOT"/native/backends/cpu/*.cpp; do
    n=$(echo "${s#$ROOT/native/}" | tr '/' '_'); n=${n%.cpp}
    flags=""
    case "$s" in
      *_avx512.cpp) flags="-mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma -mf16c" ;;
      *_avx2.cpp) flags="-mavx2 -mfma -mf16c" ;;
    esac
    add "$s" "$n" "$flags"; core+=("$OUT/obj/$n.o")
  done
  for s in "$OUT"/src/backends/cuda/*.cu; do
    n=cuda_$(basename "$s" .cu); add "$s" "$n" ""; core+=("$OUT/obj/$n.o")
  done
  tests=()
  for s in "$ROOT"/native/tests/*.cpp; do
    n=tests_$(basename "$s" .cpp); add "$s" "$n" ""; tests+=("$OUT/obj/$n.o")
  done
  sn=()
  for s in "$ROOT"/native/supernet/*.cpp "$ROOT"/native/parallel/*.cpp "$ROOT"/native/tests/supernet/*.cpp; do
    n=$(echo "${s#$ROOT/native/}" | tr '/' '_'); n=${n%.cpp}
    add "$s" "$n" ""; sn+=("$OUT/obj/$n.o")
  done
  echo "all: $OUT/gnas_op_tests $OUT/gnas_supernet_tests"
  echo "$OUT/gnas_op_tests: ${core[*]} ${tests[*]}"
  echo "	\$(CXX) -o \$@ \$^ \$(LDFLAGS)"
  echo "$OUT/gnas_supernet_tests: ${core[*]} ${sn[*]}"
  echo "	\$(CXX) -o \$@ \$^ \$(LDFLAGS)"
  echo ".DEFAULT_GOAL := all"
} > "$MK"
make -s -f "$MK" -j"${JOBS:-$(nproc)}" all

# 3. run (the emulator prints "EMU ERROR" lines and a summary on stderr)
export ASAN_OPTIONS=detect_stack_use_after_return=0:detect_leaks=0:allow_user_segv_handler=1:abort_on_error=1
status=0
echo "== gnas_op_tests --backend cuda (emulated)"
"$OUT/gnas_op_tests" --backend cuda "${FILTER[@]}" > "$OUT/op-tests.log" 2> "$OUT/op-tests.err" || status=1
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
