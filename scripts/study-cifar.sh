#!/usr/bin/env bash
# The greedy-vs-uniform-vs-fair study of docs/results.md, on CIFAR-10 (an image-folder tree such
# as ../shared/data/cifar10-jpeg.tar.gz extracted), in the cifar-study space (8 layers x 3 ops,
# 6,561 paths). Every step skips what is already done, so the script can be rerun after a kill.
#
#   bash scripts/study-cifar.sh DATA_DIR OUT_DIR [phase ...]
#
# Phases (default: all, in this order):
#   truth      stand-alone ground truth of 50 uniformly sampled paths (6 epochs each)
#   supernets  uniform, fair, greedy (and greedy without warm-up, the old schedule) at equal
#              iterations (20 epochs), then uniform and fair at greedy's wall-clock
#   replicate  uniform and greedy again with seed 1 (another training subset, split and init)
#   rank       each supernet against the truth (rank --truth)
#   search     evolutionary search on each supernet (pool-seeded for greedy), then the searched
#              paths trained stand-alone with the truth recipe (added to the truth file)
#   noise      the first 10 truth paths trained again with seed 1 (another training subset and
#              init): how far the ground truth itself can be trusted
#   report     docs/results.md's table from the run folders (scripts/study-report.mjs)
# THREADS (default 1) sets the engine threads of each job; two phases can run side by side.
set -euo pipefail
DATA=${1:?usage: study-cifar.sh DATA_DIR OUT_DIR [phase ...]}
OUT=${2:?usage: study-cifar.sh DATA_DIR OUT_DIR [phase ...]}
shift 2
PHASES=${*:-truth supernets replicate rank search noise report}
THREADS=${THREADS:-1}
EPOCHS=${EPOCHS:-20}
cd "$(dirname "$0")/.."
RUN="node dist/run.js"
# Every setting the numbers depend on is pinned here, so that a change of the CLI's defaults
# cannot change the study.
COMMON=(--space spaces/cifar-study.json --data "$DATA" --train-per-class 1000 --val-fraction 0.1 --flip --seed 0 --threads "$THREADS")
SUPERNET=(--batch 128 --lr 0.1 --warmup-epochs 0.2 --m 10 --k 5 --val-images 250 --pool-size 56 --eps-max 0.8 --alpha 0.08 --greedy-warmup 0.2)
RECIPE=(--retrain-epochs 6 --retrain-lr 0.1 --retrain-batch 128 --warmup-epochs 0.2)
mkdir -p "$OUT"

done_supernet() { [ -f "$1/results.json" ] && grep -q '"supernet"' "$1/results.json"; }
train() { # name, options...
  local name=$1; shift
  if done_supernet "$OUT/$name"; then echo "== $name: done"; return; fi
  echo "== $name: $RUN train-supernet ${COMMON[*]} $*"
  $RUN train-supernet "${COMMON[@]}" "${SUPERNET[@]}" --quiet --resume --out "$OUT/$name" "$@" > "$OUT/$name.log" 2>&1
}
seconds() { node -e "const r=require('$OUT/$1/results.json');console.log(r.supernet.epochs.reduce((a,e)=>a+e.seconds,0))"; }

for phase in $PHASES; do
  case $phase in
    truth)
      $RUN truth "${COMMON[@]}" "${RECIPE[@]}" --quiet --resume --sample 50 --out "$OUT/truth"
      [ -f "$OUT/truth/sample.txt" ] || node -e "console.log(Object.keys(require('$OUT/truth/truth.json')).join('\\n'))" > "$OUT/truth/sample.txt"
      ;;
    supernets)
      train uniform --sampler uniform --epochs "$EPOCHS"
      train greedy --sampler greedy --epochs "$EPOCHS" --no-stopping
      train fair --sampler fair --epochs "$EPOCHS"
      train greedy-no-warmup --sampler greedy --epochs "$EPOCHS" --no-stopping --greedy-warmup 0
      # equal wall-clock: the baselines get greedy's training time (their own epochs scaled up)
      for s in uniform fair; do
        e=$(node -e "console.log(Math.max($EPOCHS, Math.round($EPOCHS * $(seconds greedy) / $(seconds $s))))")
        train "$s-wallclock" --sampler "$s" --epochs "$e"
      done
      ;;
    replicate)
      train uniform-s1 --sampler uniform --epochs "$EPOCHS" --seed 1
      train greedy-s1 --sampler greedy --epochs "$EPOCHS" --no-stopping --seed 1
      ;;
    rank)
      for d in "$OUT"/*/; do
        name=$(basename "$d"); [ "$name" = truth ] && continue
        [ -f "$d/rank.json" ] && { echo "== rank $name: done"; continue; }
        echo "== rank $name"
        $RUN rank --out "$d" --threads "$THREADS" --quiet --search-images 750 --archs "$OUT/truth/sample.txt" --truth "$OUT/truth/truth.json" > "$OUT/$name.rank.log" 2>&1
        tail -3 "$OUT/$name.rank.log"
      done
      ;;
    search)
      for d in "$OUT"/*/; do
        name=$(basename "$d"); [ "$name" = truth ] && continue
        [ -f "$d/search.json" ] || { echo "== search $name"; $RUN search --out "$d" --threads "$THREADS" --quiet --search-images 750 --population 30 --generations 10 > "$OUT/$name.search.log" 2>&1; }
        node -e "console.log(require('$d/search.json').runs[0].top[0].key)" >> "$OUT/searched.txt"
      done
      # the greedy pool's three best paths (by their last training-time score) get truth too
      node -e "console.log(require('$OUT/greedy/pool.json').entries.slice(0, 3).map((e) => e.arch.join('-')).join('\\n'))" >> "$OUT/searched.txt"
      sort -u "$OUT/searched.txt" -o "$OUT/searched.txt"
      $RUN truth "${COMMON[@]}" "${RECIPE[@]}" --quiet --resume --archs "$OUT/searched.txt" --out "$OUT/truth"
      ;;
    noise)
      head -10 "$OUT/truth/sample.txt" > "$OUT/truth/noise-sample.txt"
      $RUN truth "${COMMON[@]}" "${RECIPE[@]}" --seed 1 --quiet --resume --archs "$OUT/truth/noise-sample.txt" --out "$OUT/truth-s1"
      ;;
    report)
      node scripts/study-report.mjs "$OUT" docs/img
      ;;
    *) echo "unknown phase $phase" >&2; exit 2 ;;
  esac
done
