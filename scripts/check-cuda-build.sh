#!/usr/bin/env bash
# Compiles the LibTorch backend's CUDA paths (MODELGRID_TORCH_CUDA: caching-allocator caps
# and statistics, per-instance streams) without a GPU: Debian's LibTorch is CPU-only but
# ships the c10/cuda headers, and the CUDA toolkit's headers are enough for a syntax-level
# compile. Catches code that would only break on the GPU machine. Needs build/ (scripts/
# build.sh). Skips, saying so, where the CUDA headers are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
cuda_include=""
for dir in /usr/local/cuda/include /usr/local/cuda-*/include /usr/include; do
  if [[ -f "$dir/cuda_runtime_api.h" ]]; then cuda_include="$dir"; break; fi
done
if [[ -z "$cuda_include" || ! -f /usr/include/c10/cuda/CUDAGuard.h ]]; then
  echo "check-cuda-build: SKIPPED: no CUDA toolkit headers (cuda_runtime_api.h) or no" \
       "c10/cuda headers here; the backend's CUDA paths were not compiled" >&2
  exit 0
fi
(cd build && ninja -t commands) >build/cuda-check.commands
command=$(grep -m1 'backends/libtorch/torch_backend.cc' build/cuda-check.commands || true)
if [[ -z "$command" ]]; then
  echo "check-cuda-build: no compile command for torch_backend.cc in build/ (no LibTorch?)" >&2
  exit 1
fi
# Debian's CPU LibTorch lacks the header CMake generates for CUDA builds; its one macro
# only matters when linking.
stub=build/cuda-check/include/c10/cuda/impl
mkdir -p "$stub"
printf '#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n' >"$stub/cuda_cmake_macros.h"
command=$(sed -e 's/ -o [^ ]*torch_backend\.cc\.o/ -fsyntax-only/' \
              -e 's/ -MD -MT [^ ]* -MF [^ ]*//' <<<"$command")
(cd build && eval "$command -DMODELGRID_TORCH_CUDA=1 -I$cuda_include -I$PWD/cuda-check/include \
  -Werror")
echo "check-cuda-build: torch_backend.cc compiles with MODELGRID_TORCH_CUDA ($cuda_include)"
