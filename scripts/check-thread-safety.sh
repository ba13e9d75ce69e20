#!/usr/bin/env bash
# Compiles the code that takes locks with clang's thread-safety analysis as errors
# (-Wthread-safety -Werror): every GUARDED_BY field read or written without its lock, every
# REQUIRES not met, fails. Syntax-only (the analysis runs before code generation), so it
# costs no object files. Skips, saying so, where clang++-14 is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
clang=${CLANG:-clang++-14}
if ! command -v "$clang" >/dev/null; then
  echo "check-thread-safety: SKIPPED: $clang not found (apt-get install clang-14)"
  exit 0
fi
# The components whose classes hold mutexes (files with annotations, and their users).
files=$(grep -l -E 'GUARDED_BY|REQUIRES|MutexLock|ReaderLock|WriterLock' \
  src/common/*.cc src/estimate/*.cc src/ipc/*.cc src/server/*.cc src/serve/*.cc src/worker/*.cc 2>/dev/null || true)
# The gRPC front end's, when a build generated its protocol headers (build/proto).
proto=${MODELGRID_PROTO_DIR:-build/proto}
extra=()
if [ -f "$proto/grpc_service.pb.h" ]; then
  files="$files $(grep -l -E 'GUARDED_BY|REQUIRES|MutexLock' src/grpc/*.cc || true)"
  extra=(-I"$proto")
else
  echo "check-thread-safety: src/grpc skipped: no generated headers in $proto (build first)"
fi
count=$(echo "$files" | wc -w)
echo "check-thread-safety: $count files with $clang -Wthread-safety -Werror"
# shellcheck disable=SC2086
echo $files | tr ' ' '\n' | xargs -P "${MODELGRID_JOBS:-$(nproc)}" -I{} \
  "$clang" -fsyntax-only -std=c++20 -Isrc "${extra[@]}" -Wthread-safety -Wthread-safety-beta \
  -Werror=thread-safety -Werror=thread-safety-beta -Wno-unknown-warning-option \
  -DMODELGRID_VERSION='"check"' {}
echo "check-thread-safety: ok"
