#!/usr/bin/env bash
# ThreadSanitizer run of the serving core's concurrent parts: builds the tests without
# LibTorch into build-tsan/ (-fsanitize=thread) and runs the tickets, the state machine,
# the serving core's lifecycle with fake workers and its reconcile policy, the slot
# scheduler, the process manager, the worker client against an in-process worker
# loop, the HTTP server against a fake service, and the IPC rings. Fails on any report.
# About 15 minutes to build on 2 cores the first time; not part of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build-tsan/build.ninja ]; then
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMODELGRID_WITH_TORCH=OFF \
    -DMODELGRID_BUILD_BENCH=OFF -DCMAKE_CXX_FLAGS="-fsanitize=thread -O1" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" >/dev/null
fi
ninja -C build-tsan -j "${MODELGRID_JOBS:-$(nproc)}" modelgrid_tests
TSAN_OPTIONS="halt_on_error=1 report_signal_unsafe=0" build-tsan/tests/modelgrid_tests \
  --gtest_filter='ServeLifecycle*:ServeReconcileDiff*:InFlight*:ModelState*:SlotScheduler*:ProcessManager*:WorkerClient*:ServerE2ETest*:HttpServerTest*:Ipc*:HttpFraming*:JsonLimits*'
