#!/usr/bin/env bash
# The one place that configures and builds the C++ executables for the CUDA checks, with no Node:
# scripts/gpu-check.sh (on a GPU machine, and its --cpu-dry-run) and scripts/cuda-emu-check.sh (CI:
# the CUDA backend on the CPU under the emulator in tools/cuda-emu/) both call it.
#
#   bash scripts/cuda-build.sh configure|build|all --kind gpu|emu|cpu [--build-dir D] [--arch A]
#                             [--asan] [--jobs N] [--keep-going] [--target T]...
#
#   configure    cmake for the kind below, in D (a build dir made with another generator is removed:
#                Ninja when it is installed, else Unix Makefiles)
#   build        cmake --build D for the targets (default: gnas_op_tests gnas_supernet_tests, plus
#                gnas_net_bench unless --kind emu)
#   --kind gpu   the CUDA backend with nvcc (-DGNAS_CUDA=ON; /usr/local/cuda/bin/nvcc when nvcc is
#                not on PATH); --arch A sets CMAKE_CUDA_ARCHITECTURES (e.g. 90 for the GPU present)
#   --kind emu   the CUDA backend as C++ against the emulator (-DGNAS_CUDA_EMU=ON, no nvcc needed);
#                --asan adds AddressSanitizer + UBSan
#   --kind cpu   no CUDA backend (-DGNAS_CUDA=OFF): gpu-check.sh --cpu-dry-run on a machine without a GPU
#   --keep-going every compile error in one log (make -k / ninja -k 0)
# The exit status is cmake's.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() { echo "usage: $0 configure|build|all --kind gpu|emu|cpu [--build-dir D] [--arch A] [--asan] [--jobs N] [--keep-going] [--target T]..." >&2; exit 2; }
[ $# -ge 1 ] || usage
ACTION=$1
shift
case "$ACTION" in configure|build|all) ;; *) usage ;; esac
KIND=""
BUILD_DIR=""
ARCH=""
ASAN=0
JOBS=$(nproc 2>/dev/null || echo 2)
KEEP_GOING=0
TARGETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --kind) KIND="$2"; shift ;;
    --build-dir) BUILD_DIR="$2"; shift ;;
    --arch) ARCH="$2"; shift ;;
    --asan) ASAN=1 ;;
    --jobs) JOBS="$2"; shift ;;
    --keep-going) KEEP_GOING=1 ;;
    --target) TARGETS+=("$2"); shift ;;
    *) usage ;;
  esac
  shift
done
case "$KIND" in gpu|emu|cpu) ;; *) usage ;; esac
[ -n "$BUILD_DIR" ] || BUILD_DIR="build-$KIND"
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(gnas_op_tests gnas_supernet_tests)
  [ "$KIND" = emu ] || TARGETS+=(gnas_net_bench)
fi

configure() {
  local gen="Unix Makefiles"
  command -v ninja >/dev/null 2>&1 && gen="Ninja"
  if [ -f "$BUILD_DIR/CMakeCache.txt" ] && ! grep -q "^CMAKE_GENERATOR:INTERNAL=$gen\$" "$BUILD_DIR/CMakeCache.txt"; then
    rm -rf "$BUILD_DIR"
  fi
  local args=(-S "$ROOT" -B "$BUILD_DIR" -G "$gen" -DCMAKE_BUILD_TYPE=Release)
  case "$KIND" in
    gpu)
      args+=(-DGNAS_CUDA=ON -DGNAS_CUDA_EMU=OFF)
      if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
        args+=(-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc)
      fi
      [ -n "$ARCH" ] && args+=(-DCMAKE_CUDA_ARCHITECTURES="$ARCH")
      ;;
    emu) args+=(-DGNAS_CUDA_EMU=ON -DGNAS_CUDA_EMU_ASAN=$([ "$ASAN" = 1 ] && echo ON || echo OFF)) ;;
    cpu) args+=(-DGNAS_CUDA=OFF -DGNAS_CUDA_EMU=OFF) ;;
  esac
  cmake "${args[@]}"
}

build() {
  local extra=()
  if [ "$KEEP_GOING" = 1 ]; then
    if grep -q "^CMAKE_GENERATOR:INTERNAL=Ninja\$" "$BUILD_DIR/CMakeCache.txt"; then extra=(-- -k 0); else extra=(-- -k); fi
  fi
  cmake --build "$BUILD_DIR" --target "${TARGETS[@]}" -j "$JOBS" ${extra[@]+"${extra[@]}"}
}

case "$ACTION" in
  configure) configure ;;
  build) build ;;
  all) configure && build ;;
esac
