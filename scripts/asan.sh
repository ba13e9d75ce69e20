#!/usr/bin/env bash
# AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer run of the test suite:
# builds ModelGrid with -DMODELGRID_SANITIZE=ON into build-asan/ (LibTorch, gRPC and Python
# as in build/), then runs the CTest tests against those binaries: the unit tests, and the
# end-to-end suites that start the instrumented `modelgrid serve` and `modelgrid-worker`
# and drive them over HTTP and gRPC. A sanitizer report makes the process that hit it exit
# non-zero (a leak when it exits), so the test that ran it fails. Fixtures come from
# scripts/make-fixtures.sh. On 2 cores: about 45 minutes to build the first time, and
# everything runs 3 to 10 times slower, so the whole suite takes well over an hour; not
# part of scripts/test.sh. Arguments go to ctest, e.g. `scripts/asan.sh -R 'Grpc|Edge'`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build-asan/build.ninja ]; then
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMODELGRID_SANITIZE=ON \
    -DMODELGRID_BUILD_BENCH=OFF >/dev/null
fi
ninja -C build-asan -j "${MODELGRID_JOBS:-$(nproc)}"
[ -d .fixtures ] || scripts/make-fixtures.sh
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1"
# The embedded interpreter's objects through malloc, not pymalloc's mmap'd arenas, which
# LeakSanitizer does not scan: otherwise every object referenced only from Python objects
# is reported leaked when a process that ran Python exits.
export PYTHONMALLOC=malloc
# What it still reports inside libpython is the interpreter's own (the file says why).
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan-suppressions.txt:print_suppressions=0"
# The Python suites leave their bounds on measured memory unchecked, saying so: ASan's
# shadow memory and quarantine inflate every footprint a worker measures.
export MODELGRID_SANITIZED=1
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
cd build-asan
ctest --output-on-failure -j "${MODELGRID_JOBS:-$(nproc)}" --timeout 1800 "$@"
