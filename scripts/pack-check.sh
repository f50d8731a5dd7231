#!/usr/bin/env bash
# The package as a user gets it: builds the prebuilt addon (npm run build:prebuild), packs the
# tarball, installs it into an empty project with --ignore-scripts (so nothing can be compiled),
# then, with a PATH that holds only node, npm, npx and sh (no compiler, no cmake), runs
# `npx greedynas run --epochs 1` and a TypeScript file that imports the API, type-checks against
# the package's declarations and trains one step. Fails when the tarball without the binary is
# 6 MB or more. Run after the build (CI runs it after `npm test`). On two cores: about 1.5 minutes
# when build-prebuild/ is up to date, plus the addon build otherwise (about a minute for the CPU
# backend; several more when nvcc is present and the CUDA backend is compiled too). The empty
# project has no lockfile: its install takes the newest matching versions, from npm's cache when
# the checkout's own install put them there, else from the registry.
#
#   bash scripts/pack-check.sh          KEEP=1 keeps the temporary folder (printed at the end)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
START=$SECONDS
# onnxruntime-node's install script would download its CUDA provider; with --ignore-scripts it does
# not run, but an install of the tarball without that flag should not download either.
export ONNXRUNTIME_NODE_INSTALL=skip
WORK=$(mktemp -d "${TMPDIR:-/tmp}/greedynas-pack-check-XXXXXX")
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT
step() { echo "== pack-check $(date +%H:%M:%S) [$((SECONDS - START)) s] $*"; }

step "prebuilt addon"
npm run --silent build:prebuild
step "TypeScript (dist/)"
npm run --silent build:ts

step "npm pack"
# --ignore-scripts: `prepare` would rebuild build/ (the developer build), which the tarball does not hold.
npm pack --ignore-scripts --pack-destination "$WORK" --json > "$WORK/pack.json"
read -r TARBALL FILES UNPACKED < <(node -e '
  const [p] = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(p.filename, p.entryCount, p.unpackedSize);' "$WORK/pack.json")
TARBALL=$WORK/$TARBALL
BINARIES=$(tar tzf "$TARBALL" | grep -c '^package/prebuilds/.*\.node$' || true)
[ "$BINARIES" -ge 1 ] || { echo "pack-check: the tarball holds no prebuilt addon (package/prebuilds/)" >&2; exit 1; }
# The size without the binary: the same files packed again without prebuilds/.
mkdir "$WORK/unpacked"
tar xzf "$TARBALL" -C "$WORK/unpacked"
BIN_BYTES=$(find "$WORK/unpacked/package/prebuilds" -name '*.node' -printf '%s\n' | awk '{s += $1} END {print s}')
rm -rf "$WORK/unpacked/package/prebuilds"
tar czf "$WORK/without-binary.tgz" -C "$WORK/unpacked" package
SIZE=$(stat -c %s "$TARBALL")
SIZE_NOBIN=$(stat -c %s "$WORK/without-binary.tgz")
mb() { awk -v b="$1" 'BEGIN {printf "%.2f MB", b / 1e6}'; }
echo "tarball $(basename "$TARBALL"): $(mb "$SIZE") with the binary ($(mb "$BIN_BYTES") uncompressed), $(mb "$SIZE_NOBIN") without; $FILES files ($BINARIES binary), $(mb "$UNPACKED") unpacked"
if [ "$SIZE_NOBIN" -ge 6000000 ]; then
  echo "pack-check: the tarball without the binary is $(mb "$SIZE_NOBIN"), the bar is under 6 MB" >&2
  exit 1
fi

step "install the tarball into an empty project (--ignore-scripts)"
APP=$WORK/app
mkdir "$APP"
cat > "$APP/package.json" <<'EOF'
{ "name": "greedynas-pack-check", "version": "1.0.0", "private": true, "type": "module" }
EOF
# --prefer-offline: the dependencies are in npm's cache from the checkout's own install.
(cd "$APP" && npm install "$TARBALL" --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error)
PKG=$APP/node_modules/greedynas
[ ! -e "$PKG/build" ] || { echo "pack-check: the installed package has a build/ folder; the prebuild is what is under test" >&2; exit 1; }

# A PATH with node, npm, npx and sh (npx runs the bin through sh) only: nothing that compiles
# can be found.
BIN=$WORK/bin
mkdir "$BIN"
for tool in node npm npx sh; do ln -s "$(command -v "$tool")" "$BIN/$tool"; done
for tool in cc c++ gcc g++ clang clang++ cmake make ninja nvcc; do
  if PATH=$BIN command -v "$tool" >/dev/null 2>&1; then
    echo "pack-check: $tool is reachable on the restricted PATH" >&2
    exit 1
  fi
done
bare() { (cd "$APP" && env PATH="$BIN" "$@"); }

step "npx greedynas run --epochs 1 (no compiler on PATH)"
bare npx --no-install greedynas run --epochs 1 --retrain-epochs 1 --compare-random 0 --threads 2 --out "$WORK/run" > "$WORK/run.log" 2>&1 || {
  tail -40 "$WORK/run.log" >&2
  echo "pack-check: \`npx greedynas run\` failed (log above)" >&2
  exit 1
}
grep -E '^[0-9]{2}:[0-9]{2}:[0-9]{2} done in' "$WORK/run.log"
for f in results.json arch.json metrics.csv; do
  [ -s "$WORK/run/$f" ] || { echo "pack-check: the run wrote no $f" >&2; exit 1; }
done

step "import { Supernet } from 'greedynas' in TypeScript (tsc, then node)"
cat > "$APP/check.ts" <<'EOF'
import { Supernet, archKey, resolveSpace, type Arch, type SpaceFile } from 'greedynas';

// 8x8 grey images, 4 classes, two searchable layers of two ops each.
const spaceFile: SpaceFile = { name: 'pack-check', input: { height: 8, width: 8, channels: 1 }, classes: 4, activation: 'relu6',
  stem: { width: 8, stride: 1 }, fixedBlocks: [], stages: [{ width: 8, layers: 2, stride: 2 }], ops: ['k3e3', 'id'], head: { width: 16 } };
const space = resolveSpace(spaceFile);
const net = await Supernet.create(space, { threads: 1, seed: 0 });
const path: Arch = [0, 0];
const images = new Uint8Array(4 * 8 * 8).map((_, i) => (i * 37) % 256);
const labels = Int32Array.from([0, 1, 2, 3]);
const step = await net.trainStep(path, images, labels, { lr: 0.1 });
if (!Number.isFinite(step.loss)) throw new Error(`trainStep gave loss ${step.loss}`);
console.log(`trainStep on ${archKey(path)}: loss ${step.loss.toFixed(4)}, ${step.correct}/4 correct`);
net.dispose();
EOF
# The user project's own tsconfig: strict, Node's module resolution (which reads the package's
# exports map), and Node's types from the checkout (a user project has its own @types/node).
cat > "$APP/tsconfig.json" <<EOF
{
  "compilerOptions": {
    "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext", "strict": true,
    "outDir": "out", "typeRoots": ["$ROOT/node_modules/@types"], "types": ["node"]
  },
  "files": ["check.ts"]
}
EOF
bare node "$ROOT/node_modules/typescript/bin/tsc" -p tsconfig.json
bare node out/check.js

step "done: $(mb "$SIZE_NOBIN") without the binary, $FILES files, $((SECONDS - START)) s"
[ "${KEEP:-0}" = 1 ] && echo "kept $WORK"
exit 0
