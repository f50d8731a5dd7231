#!/usr/bin/env bash
# GPU check: builds the C++ test and benchmark executables with the CUDA backend on a bare GPU
# machine (no Node, no network), runs the op tests and the supernet tests on the cuda backend,
# benchmarks the supernet (gnas_net_bench) against PyTorch eager on the same GPU
# (bench/peers/torch_gpu.py), optionally runs compute-sanitizer, and prints a summary.
#
#   bash scripts/gpu-check.sh [--quick] [--cpu-dry-run] [--budget S] [--build-dir D] [--no-build]
#                             [--jobs N] [--overlap|--no-overlap] [--sanitize-filter S] [--torch-tf32]
#
#   --quick          no compute-sanitizer, shorter benchmarks
#   --cpu-dry-run    exercise this script where there is no GPU: -DGNAS_CUDA=OFF, --backend cpu,
#                    torch on the CPU (no AMP), tiny batches (build dir build-gpu-dry/)
#   --budget S       wall-clock budget of the whole check in seconds (default 285; dry run 1800):
#                    every step's timeout is capped by what is left, and a step that would get
#                    under 10 s is skipped (SKIP in the summary)
#   --build-dir D    default build-gpu/ (relative to the repository root)
#   --no-build       use the executables already in the build dir
#   --overlap        run the PyTorch peers during the build (default when nproc >= 8): torch pinned
#                    to CPUs 0-3, the build to the others; the GPU is otherwise idle then. Every
#                    engine GPU step waits for the peers to finish, so no two GPU jobs overlap.
#   --sanitize-filter S   op-test cases compute-sanitizer runs (default "N1 ": the batch-1 cases)
#   --torch-tf32     also run the PyTorch peers with TF32 allowed (fair partner of --math tf32)
#
# Workload files: W1_DESC W1_ARCH W1_SPACE IN_DESC IN_ARCH IN_SPACE in the environment override
# bench/net/{w1,greedynas-imagenet}.{desc,arch}, bench/w1.space.json, spaces/greedynas-imagenet.json.
#
# Everything lands in ${OUT:-/tmp/gpu-check}/: one <step>.log per step, steps.tsv (step, status,
# seconds, note), results.jsonl (every benchmark's JSON line), summary.txt (also printed).
# Steps never abort the script; the exit status is 0 when everything ran and passed (skips
# allowed), 1 when a build or test step failed or timed out, 2 when only benchmark steps did.
set -u
set -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
OUT="${OUT:-/tmp/gpu-check}"
mkdir -p "$OUT"

# ------------------------------------------------------------------ options
QUICK=0
DRY=0
BUDGET=""
BUILD_DIR=""
NO_BUILD=0
JOBS=""
OVERLAP=""
SAN_FILTER="N1 "
TORCH_TF32=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --cpu-dry-run) DRY=1 ;;
    --budget) BUDGET="$2"; shift ;;
    --build-dir) BUILD_DIR="$2"; shift ;;
    --no-build) NO_BUILD=1 ;;
    --jobs) JOBS="$2"; shift ;;
    --overlap) OVERLAP=1 ;;
    --no-overlap) OVERLAP=0 ;;
    --sanitize-filter) SAN_FILTER="$2"; shift ;;
    --torch-tf32) TORCH_TF32=1 ;;
    -h|--help) sed -n '2,30p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "gpu-check.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

NPROC="$(nproc 2>/dev/null || echo 4)"
[ -n "$JOBS" ] || JOBS="$NPROC"
if [ "$DRY" = 1 ]; then
  [ -n "$BUDGET" ] || BUDGET=1800
  [ -n "$BUILD_DIR" ] || BUILD_DIR="build-gpu-dry"
  BACKEND=cpu
else
  [ -n "$BUDGET" ] || BUDGET=285
  [ -n "$BUILD_DIR" ] || BUILD_DIR="build-gpu"
  BACKEND=cuda
fi
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
if [ -z "$OVERLAP" ]; then
  if [ "$NPROC" -ge 8 ]; then OVERLAP=1; else OVERLAP=0; fi
fi

# The workloads: the engine reads the .desc/.arch files, PyTorch the space JSON and the same .arch
# (each may be overridden from the environment).
W1_DESC="${W1_DESC:-bench/net/w1.desc}"
W1_ARCH="${W1_ARCH:-bench/net/w1.arch}"
W1_SPACE="${W1_SPACE:-bench/w1.space.json}"
IN_DESC="${IN_DESC:-bench/net/greedynas-imagenet.desc}"
IN_ARCH="${IN_ARCH:-bench/net/greedynas-imagenet.arch}"
IN_SPACE="${IN_SPACE:-spaces/greedynas-imagenet.json}"

# Benchmark sizes: full / quick / dry run (CPU: tiny)
if [ "$DRY" = 1 ]; then
  W1_BATCH=16; IN_BATCH=2; BENCH_ARGS="--warmup 1 --iters 2 --rounds 1 --paths 2"
elif [ "$QUICK" = 1 ]; then
  W1_BATCH=128; IN_BATCH=128; BENCH_ARGS="--warmup 2 --iters 5 --rounds 1 --paths 10"
else
  W1_BATCH=128; IN_BATCH=128; BENCH_ARGS="--warmup 3 --iters 10 --rounds 3 --paths 10"
fi

# ------------------------------------------------------------------ step machinery
now_ms() { date +%s%3N; }
T_START="$(now_ms)"
DEADLINE=$((T_START + BUDGET * 1000))
RESERVE_MS=5000   # kept for the summary
STEPS="$OUT/steps.tsv"
: > "$STEPS"
: > "$OUT/results.jsonl"

log() { echo "[gpu-check $(( ($(now_ms) - T_START) / 1000 ))s] $*" >&2; }

# Seconds left for a step, after the summary's reserve.
left_s() { echo $(( (DEADLINE - RESERVE_MS - $(now_ms)) / 1000 )); }

record() {  # name status seconds note
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$STEPS"
}

# run_step KIND NAME MAX_SECONDS CMD...   KIND: test | bench | info
# Runs CMD with a timeout of min(MAX_SECONDS, time left), output (stdout+stderr) in $OUT/NAME.log.
# Returns the command's status (124 on timeout, 125 when skipped).
run_step() {
  local kind="$1" name="$2" max="$3"
  shift 3
  local left limit t0 t1 rc secs status
  left="$(left_s)"
  limit="$max"
  [ "$left" -lt "$limit" ] && limit="$left"
  if [ "$limit" -lt 10 ]; then
    record "$name" "SKIP" 0 "$kind: no time left (budget ${BUDGET}s)"
    log "$name: SKIP (no time left)"
    return 125
  fi
  log "$name: start (timeout ${limit}s): $*"
  t0="$(now_ms)"
  {
    echo "# $*"
    echo "# timeout ${limit}s, started $(date -u +%FT%TZ)"
  } > "$OUT/$name.log"
  timeout -k 5 "$limit" "$@" >> "$OUT/$name.log" 2>&1
  rc=$?
  t1="$(now_ms)"
  secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1000 }')"
  if [ "$rc" = 0 ]; then status="ok"
  elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then status="TIMEOUT"
  else status="FAIL(rc=$rc)"
  fi
  record "$name" "$status" "$secs" "$kind"
  log "$name: $status in ${secs}s"
  return "$rc"
}

skip_step() {  # name why
  record "$1" "SKIP" 0 "$2"
  log "$1: SKIP ($2)"
}

fail_step() {  # name status kind why   (a step that could not run counts as failed)
  record "$1" "$2" 0 "$3: $4"
  log "$1: $2 ($4)"
}

# JSON lines of a benchmark step -> results.jsonl (tagged with the step name)
collect_json() {  # name
  grep -h '^{"bench":"net"' "$OUT/$1.log" 2>/dev/null | sed "s/^{/{\"step\":\"$1\",/" >> "$OUT/results.jsonl" || true
}

# ------------------------------------------------------------------ environment
{
  echo "date: $(date -u +%FT%TZ)"
  echo "mode: $([ "$DRY" = 1 ] && echo cpu-dry-run || echo gpu)$([ "$QUICK" = 1 ] && echo ' quick')"
  echo "host: $(hostname 2>/dev/null)  nproc: $NPROC  budget: ${BUDGET}s  overlap: $OVERLAP"
  echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo 'n/a') $(git status --porcelain 2>/dev/null | wc -l | tr -d ' ') changed files"
  echo "cmake: $(cmake --version 2>/dev/null | head -1)"
  echo "ninja: $(ninja --version 2>/dev/null || echo none)"
  echo "nvcc: $( (command -v nvcc >/dev/null && nvcc --version || /usr/local/cuda/bin/nvcc --version) 2>/dev/null | tail -2 | tr '\n' ' ')"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2-)"
} > "$OUT/env.txt"

# ------------------------------------------------------------------ GPU
CUDA_ARCH=""
if [ "$DRY" = 1 ]; then
  skip_step nvidia-smi "cpu dry run"
else
  if run_step test nvidia-smi 20 nvidia-smi -L; then
    nvidia-smi >> "$OUT/nvidia-smi.log" 2>&1
    cap="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')"
    case "$cap" in [0-9][0-9]|[0-9][0-9][0-9]) CUDA_ARCH="$cap" ;; esac
    log "GPU compute capability: ${cap:-unknown}"
  fi
fi

# ------------------------------------------------------------------ python with torch
PYTHON=""
for py in python3 /usr/bin/python3 python; do
  command -v "$py" >/dev/null 2>&1 || continue
  if [ "$DRY" = 1 ]; then
    "$py" -c 'import torch' >/dev/null 2>&1 && { PYTHON="$py"; break; }
  else
    "$py" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1 && { PYTHON="$py"; break; }
  fi
done
if [ -n "$PYTHON" ]; then
  echo "python: $(command -v "$PYTHON") $("$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version() if torch.cuda.is_available() else None)' 2>&1)" >> "$OUT/env.txt"
else
  echo "python: none with torch$([ "$DRY" = 1 ] || echo ' and CUDA')" >> "$OUT/env.txt"
fi
SUMMARY_PY="$(command -v python3 || command -v /usr/bin/python3 || command -v python || true)"

# ------------------------------------------------------------------ PyTorch peers
TORCH_DEV="cuda:0"
[ "$DRY" = 1 ] && TORCH_DEV="cpu"
TORCH_PIN=()
if [ "$OVERLAP" = 1 ] && [ "$NPROC" -ge 8 ] && command -v taskset >/dev/null 2>&1; then
  TORCH_PIN=(taskset -c 0-3)
fi

run_torch_peers() {
  if [ -z "$PYTHON" ]; then
    skip_step torch "no python3 with torch$([ "$DRY" = 1 ] || echo ' + CUDA') found"
    return
  fi
  local maths=(fp32)
  [ "$DRY" = 1 ] || maths+=(amp)
  [ "$TORCH_TF32" = 1 ] && [ "$DRY" = 0 ] && maths+=(tf32)
  local w space arch batch m flags
  for w in w1 imagenet; do
    if [ "$w" = w1 ]; then space="$W1_SPACE"; arch="$W1_ARCH"; batch="$W1_BATCH"
    else space="$IN_SPACE"; arch="$IN_ARCH"; batch="$IN_BATCH"; fi
    for m in "${maths[@]}"; do
      flags=()
      [ "$m" = amp ] && flags=(--amp)
      [ "$m" = tf32 ] && flags=(--tf32)
      # shellcheck disable=SC2086
      run_step bench "torch-$w-$m" 120 env OMP_NUM_THREADS=4 ${TORCH_PIN[@]+"${TORCH_PIN[@]}"} "$PYTHON" \
        bench/peers/torch_gpu.py --space "$space" --path "$arch" --device "$TORCH_DEV" --batch "$batch" \
        $BENCH_ARGS ${flags[@]+"${flags[@]}"}
      collect_json "torch-$w-$m"
    done
  done
}

TORCH_PID=""
if [ "$OVERLAP" = 1 ]; then
  log "PyTorch peers run during the build ${TORCH_PIN[*]:+(pinned: ${TORCH_PIN[*]})}"
  run_torch_peers &
  TORCH_PID=$!
fi
wait_torch() {
  if [ -n "$TORCH_PID" ]; then
    log "waiting for the PyTorch peers to finish before using the GPU"
    wait "$TORCH_PID" 2>/dev/null
    TORCH_PID=""
  fi
}

# ------------------------------------------------------------------ configure + build
BUILD_OK=1
TARGETS=(gnas_op_tests gnas_supernet_tests gnas_net_bench)
if [ "$NO_BUILD" = 1 ]; then
  skip_step configure "--no-build"
  skip_step build "--no-build"
else
  # configured and built by scripts/cuda-build.sh, the one GPU build script (CI's emulator check
  # uses it too); only the architecture of the GPU present: half the device-code compile time
  KIND=gpu
  [ "$DRY" = 1 ] && KIND=cpu
  CUDA_BUILD=(bash "$ROOT/scripts/cuda-build.sh")
  CUDA_BUILD_ARGS=(--kind "$KIND" --build-dir "$BUILD_DIR")
  [ "$DRY" = 0 ] && [ -n "$CUDA_ARCH" ] && CUDA_BUILD_ARGS+=(--arch "$CUDA_ARCH")
  if run_step test configure 90 "${CUDA_BUILD[@]}" configure "${CUDA_BUILD_ARGS[@]}"; then
    if [ "$DRY" = 0 ] && ! grep -q "CUDA backend ON" "$OUT/configure.log"; then
      # the whole point is the cuda backend: a build without it is a failure
      fail_step configure-cuda "FAIL(no CUDA)" test "CMake did not enable the CUDA backend (nvcc not found? see configure.log)"
      BUILD_OK=0
    fi
  else
    BUILD_OK=0
  fi
  if [ "$BUILD_OK" = 1 ]; then
    # only the targets that exist in this tree (a missing one is reported, the others still build)
    if grep -q "^CMAKE_GENERATOR:INTERNAL=Ninja\$" "$BUILD_DIR/CMakeCache.txt"; then
      ninja -C "$BUILD_DIR" -t targets all > "$OUT/targets.txt" 2>&1
    else
      make -C "$BUILD_DIR" help > "$OUT/targets.txt" 2>&1
    fi
    have=()
    for t in "${TARGETS[@]}"; do
      # Ninja: "gnas_op_tests: phony"; make help: "... gnas_op_tests"
      if grep -qE "^(\.\.\. )?$t(: | *\$)" "$OUT/targets.txt"; then have+=("$t")
      else fail_step "build:$t" "FAIL(missing)" test "target $t is not defined (its sources are missing?)"; fi
    done
    BUILD_PIN=()
    bjobs="$JOBS"
    if [ "${#TORCH_PIN[@]}" -gt 0 ]; then
      BUILD_PIN=(taskset -c "4-$((NPROC - 1))")
      bjobs=$((NPROC - 4))
    fi
    if [ "${#have[@]}" -gt 0 ]; then
      # --keep-going: every compile error in one log (one GPU session, little time to iterate)
      targets=()
      for t in "${have[@]}"; do targets+=(--target "$t"); done
      run_step test build 240 ${BUILD_PIN[@]+"${BUILD_PIN[@]}"} "${CUDA_BUILD[@]}" build "${CUDA_BUILD_ARGS[@]}" \
        "${targets[@]}" --jobs "$bjobs" --keep-going || BUILD_OK=0
    else
      BUILD_OK=0
    fi
  fi
fi
OP_TESTS="$BUILD_DIR/gnas_op_tests"
SN_TESTS="$BUILD_DIR/gnas_supernet_tests"
NET_BENCH="$BUILD_DIR/gnas_net_bench"

wait_torch

# ------------------------------------------------------------------ tests
if [ -x "$OP_TESTS" ]; then
  run_step test op-tests 150 "$OP_TESTS" --backend "$BACKEND"
else
  fail_step op-tests "FAIL(not built)" test "no $OP_TESTS"
fi
if [ -x "$SN_TESTS" ]; then
  run_step test supernet-tests 120 "$SN_TESTS" --backend "$BACKEND"
  # the same checks on W1's real shapes (1-channel 28x28 input, 12 layers); the reference
  # trajectory is skipped (slow, and the built-in space already compares cpu with it)
  run_step test supernet-tests-w1 90 "$SN_TESTS" --desc "$W1_DESC" --arch "$W1_ARCH" --backend "$BACKEND" \
    --skip-reference
else
  fail_step supernet-tests "FAIL(not built)" test "no $SN_TESTS"
fi

# ------------------------------------------------------------------ engine benchmarks
bench() {  # name desc arch batch math
  local name="$1" desc="$2" arch="$3" batch="$4" math="$5"
  if [ ! -x "$NET_BENCH" ]; then
    fail_step "$name" "FAIL(not built)" bench "no $NET_BENCH"
    return
  fi
  # shellcheck disable=SC2086
  run_step bench "$name" 90 "$NET_BENCH" --desc "$desc" --arch "$arch" --backend "$BACKEND" --math "$math" \
    --batch "$batch" $BENCH_ARGS --json
  collect_json "$name"
}
# most informative first: the budget may cut the tail
bench engine-w1-fp32 "$W1_DESC" "$W1_ARCH" "$W1_BATCH" fp32
bench engine-imagenet-fp32 "$IN_DESC" "$IN_ARCH" "$IN_BATCH" fp32
bench engine-imagenet-tf32 "$IN_DESC" "$IN_ARCH" "$IN_BATCH" tf32
bench engine-imagenet-bf16 "$IN_DESC" "$IN_ARCH" "$IN_BATCH" bf16
bench engine-w1-tf32 "$W1_DESC" "$W1_ARCH" "$W1_BATCH" tf32
bench engine-w1-bf16 "$W1_DESC" "$W1_ARCH" "$W1_BATCH" bf16

if [ "$OVERLAP" = 0 ]; then
  run_torch_peers
fi

# ------------------------------------------------------------------ compute-sanitizer
SANITIZER="$(command -v compute-sanitizer || true)"
if [ -z "$SANITIZER" ]; then
  for d in "$(dirname "$(command -v nvcc 2>/dev/null || echo /nonexistent/nvcc)")" /usr/local/cuda/bin; do
    [ -x "$d/compute-sanitizer" ] && { SANITIZER="$d/compute-sanitizer"; break; }
  done
fi
if [ "$QUICK" = 1 ]; then
  skip_step sanitize-ops "--quick"
  skip_step sanitize-net "--quick"
elif [ "$DRY" = 1 ]; then
  skip_step sanitize-ops "cpu dry run"
  skip_step sanitize-net "cpu dry run"
elif [ -z "$SANITIZER" ]; then
  skip_step sanitize-ops "compute-sanitizer not found"
  skip_step sanitize-net "compute-sanitizer not found"
else
  SAN=("$SANITIZER" --tool memcheck --error-exitcode 9 --print-limit 20)
  if [ -x "$OP_TESTS" ]; then
    run_step test sanitize-ops 90 "${SAN[@]}" "$OP_TESTS" --backend cuda --filter "$SAN_FILTER"
  else
    skip_step sanitize-ops "no $OP_TESTS"
  fi
  # the whole supernet on odd small shapes: batch 3, one step of everything
  if [ -x "$NET_BENCH" ]; then
    run_step test sanitize-net 90 "${SAN[@]}" "$NET_BENCH" --desc "$W1_DESC" --arch "$W1_ARCH" --backend cuda \
      --batch 3 --warmup 1 --iters 1 --rounds 1 --paths 3 --json
  else
    skip_step sanitize-net "no $NET_BENCH"
  fi
fi

# ------------------------------------------------------------------ summary
summarise() {
  echo "==================== gpu-check summary ($(date -u +%FT%TZ)) ===================="
  cat "$OUT/env.txt"
  [ -f "$OUT/nvidia-smi.log" ] && grep -m4 '^GPU ' "$OUT/nvidia-smi.log"
  echo
  echo "---- steps"
  awk -F'\t' '{ printf "  %-28s %-16s %7ss  %s\n", $1, $2, $3, $4 }' "$STEPS"
  if [ -f "$OUT/build.log" ] && ! awk -F'\t' '$1 == "build" && $2 == "ok" { f = 1 } END { exit !f }' "$STEPS"; then
    echo
    echo "---- build errors (first 40 lines matching 'error')"
    grep -n -i -E "error|undefined reference" "$OUT/build.log" | head -40
  fi
  for t in op-tests supernet-tests supernet-tests-w1; do
    [ -f "$OUT/$t.log" ] || continue
    echo
    printf -- "---- %s: %s PASS, %s FAIL, %s SKIP lines; last line: %s\n" "$t" \
      "$(grep -c '^PASS' "$OUT/$t.log")" "$(grep -c '^FAIL' "$OUT/$t.log")" "$(grep -c '^SKIP' "$OUT/$t.log")" \
      "$(grep -v '^[[:space:]]*$' "$OUT/$t.log" | tail -1)"
    grep -E '^(FAIL|SKIP)' "$OUT/$t.log" | head -60
    grep -E -i 'error|exception|terminate|Segmentation|Aborted' "$OUT/$t.log" | grep -v '^PASS' | head -15
  done
  for t in sanitize-ops sanitize-net; do
    [ -f "$OUT/$t.log" ] || continue
    echo
    echo "---- $t (compute-sanitizer memcheck): $(grep -E 'ERROR SUMMARY' "$OUT/$t.log" | tail -1)"
    grep -E '^=========  *(Invalid|Program hit|Uninitialized|Leaked|.*[Ee]rror)' "$OUT/$t.log" | head -15
  done
  echo
  echo "---- benchmarks (images/s; round = seconds of one GreedyNAS round)"
  if [ -n "$SUMMARY_PY" ] && [ -s "$OUT/results.jsonl" ]; then
    "$SUMMARY_PY" - "$OUT/results.jsonl" <<'PY'
import json, sys
rows = []
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    try:
        rows.append(json.loads(line))
    except ValueError:
        pass

def f(x, d=1):
    return "-" if x is None else f"{x:.{d}f}"

print(f"  {'step':<24} {'space':<20} {'math':<10} {'batch':>5} {'train':>9} {'eval':>9} {'round s':>8} {'params':>9} {'peak MB':>8}  loss first/last")
for r in rows:
    print(f"  {r.get('step',''):<24} {r.get('space',''):<20} {r.get('math',''):<10} {r.get('batch',0):>5} "
          f"{f(r.get('train_img_s')):>9} {f(r.get('eval_img_s')):>9} {f(r.get('round_s'), 3):>8} "
          f"{r.get('params_path', '-'):>9} {f(r.get('peak_mem_mb')):>8}  {f(r.get('loss_first'), 3)}/{f(r.get('loss_last'), 3)}"
          + ("" if r.get("finite", True) else "  NOT FINITE"))

eng = [r for r in rows if r.get("peer") is None]
tor = {(r["space"], r["math"]): r for r in rows if r.get("peer") == "pytorch"}
partner = {"fp32": ["fp32"], "tf32": ["tf32", "fp32"], "bf16": ["amp-fp16"]}
print()
print("  engine / PyTorch (same space and batch; > 1: the engine is faster; round: PyTorch s / engine s).")
print("  The engine's timings include uploading each batch from host memory; PyTorch's images are already")
print("  on the device (torch_gpu.py --inputs host would copy them too). PyTorch scores a round's paths one")
print("  call each; the engine in one evaluate() call.")
print(f"  {'space':<20} {'engine':<7} {'vs torch':<9} {'train':>7} {'eval':>7} {'round':>7}")
any_ratio = False
for e in eng:
    for pm in partner.get(e.get("math"), []):
        t = tor.get((e.get("space"), pm))
        if not t or t.get("batch") != e.get("batch"):
            continue
        def ratio(a, b):
            return "-" if not a or not b else f"{a / b:.2f}"
        print(f"  {e['space']:<20} {e['math']:<7} {pm:<9} {ratio(e.get('train_img_s'), t.get('train_img_s')):>7} "
              f"{ratio(e.get('eval_img_s'), t.get('eval_img_s')):>7} {ratio(t.get('round_s'), e.get('round_s')):>7}")
        if e.get("params_path") != t.get("params_path"):
            print(f"    WARNING: path parameters differ: engine {e.get('params_path')}, PyTorch {t.get('params_path')} "
                  "(.desc/.arch and the space JSON do not describe the same network)")
        any_ratio = True
        break
if not any_ratio:
    print("  (no engine/PyTorch pair with results)")
PY
  else
    echo "  (no benchmark results)"
  fi
  echo
  echo "total: $(( ($(now_ms) - T_START) / 1000 ))s of ${BUDGET}s; logs in $OUT/"
}
summarise > "$OUT/summary.txt" 2>&1
cat "$OUT/summary.txt"

# ------------------------------------------------------------------ exit status
status=0
if awk -F'\t' '$2 != "ok" && $2 != "SKIP" && $4 ~ /^test/ { bad = 1 } END { exit bad ? 0 : 1 }' "$STEPS"; then
  status=1
elif awk -F'\t' '$2 != "ok" && $2 != "SKIP" { bad = 1 } END { exit bad ? 0 : 1 }' "$STEPS"; then
  status=2
fi
exit "$status"
