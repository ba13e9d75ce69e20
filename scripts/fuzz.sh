#!/usr/bin/env bash
# Builds every libFuzzer target with clang (ASan + UBSan) into build-fuzz/ and runs each
# for FUZZ_SECONDS (default 10) on its seed corpus in fuzz/corpus/<target>/.
# Fails when a target crashes.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-10}
if [ ! -f build-fuzz/build.ninja ]; then
  cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DMODELGRID_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C build-fuzz build.ninja >/dev/null  # brings an older configuration up to date
# Every target this configuration has (the gRPC ones need gRPC at configure time).
targets=$(for f in fuzz/*_fuzz.cc; do
  t=$(basename "$f" .cc)
  ninja -C build-fuzz -t query "$t" >/dev/null 2>&1 && echo "$t"
done)
# shellcheck disable=SC2086
ninja -C build-fuzz -j "${MODELGRID_JOBS:-$(nproc)}" $targets
status=0
for target in build-fuzz/fuzz/*_fuzz; do
  name=$(basename "$target")
  corpus=$(mktemp -d)
  [ -d "fuzz/corpus/$name" ] && cp -r "fuzz/corpus/$name/." "$corpus/"
  if "$target" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
       "$corpus" >"build-fuzz/$name.log" 2>&1; then
    echo "fuzz: $name ok ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "build-fuzz/$name.log" | grep -o '[0-9]*$') runs in ${seconds}s)"
  else
    echo "fuzz: $name FAILED; last lines of build-fuzz/$name.log:"
    tail -30 "build-fuzz/$name.log"
    status=1
  fi
  rm -rf "$corpus"
done
exit $status
