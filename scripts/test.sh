#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs packages, builds, checks the locking
# with clang's thread-safety analysis, compiles the backend's CUDA paths (where the CUDA
# headers are), generates fixtures, runs every test through CTest, then builds and briefly
# runs the fuzzers.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
scripts/check-thread-safety.sh
scripts/check-cuda-build.sh
scripts/make-fixtures.sh
(cd build && ctest --output-on-failure -j "${MODELGRID_JOBS:-$(nproc)}" --timeout 900)
# The accuracy tables, in full, for the log.
build/tests/modelgrid_tests --gtest_filter='Accuracy.*'
scripts/fuzz.sh
