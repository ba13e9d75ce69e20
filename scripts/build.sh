#!/usr/bin/env bash
# Configures and builds ModelGrid into build/ (Ninja, ccache when present, LibTorch when
# found). Incremental: a second run rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${MODELGRID_JOBS:-$(nproc)}
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C build -j "$jobs" "$@"
