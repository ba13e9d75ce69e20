#!/usr/bin/env bash
# The GPU checks of the serving work, in one run, for the GPU machine (Ubuntu, PyTorch with
# its CUDA LibTorch, see docs/ARCHITECTURE.md). From the repository root, with the fixtures
# made here (scripts/make-fixtures.sh) carried along as .fixtures/repo and .fixtures/serve:
#
#   scripts/gpu-check.sh OUTDIR          (device tool: carry .fixtures/repo, .fixtures/serve)
#
# 1. Builds modelgrid and its tests against PyTorch's LibTorch (Release, every core) and
#    fails unless the backend was built with CUDA.
# 2. Runs the backend's tests and the end-to-end suite with the server on --gpus auto.
# 3. Serves one tiny model alone: its worker's memory as NVML sees it is the per-worker
#    context (plus the model's few MiB). Then serves the fixture repository: each worker's
#    measured memory, each model's estimate, plan and measured peak.
#    Then once more with 1 GiB declared per model, so that no estimate caps a warm-up.
# 4. `modelgrid perf` on the GPU: the transformer with binary tensors at concurrency 1-8;
#    bench/serve_bench: the same model served against it called in-process on the GPU;
#    bench/swap_bench: swap-ins of ResNet-50 fp16 (when torchvision is there to make it) and
#    ResNet-18 from pinned memory against one cudaMemcpy of their bytes.
# 5. The whole test suite against this LibTorch (its CPU tests; missing fixtures skip).
#
# Everything goes to OUTDIR/gpu-check.log, the status documents to OUTDIR/*.json. Each step
# is bounded in time; a failed step is reported and the next one still runs. The exit
# status is the number of failed steps. MODELGRID_GPU_CHECK_GPUS (default auto) and
# MODELGRID_GPU_CHECK_BUILD (an existing build folder: skip step 1) let it run elsewhere.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/gpu-check.sh OUTDIR}
mkdir -p "$out"
log="$out/gpu-check.log"
gpus=${MODELGRID_GPU_CHECK_GPUS:-auto}
build=${MODELGRID_GPU_CHECK_BUILD:-build-gpu}
failed=0
exec > >(tee -a "$log") 2>&1

step() { echo; echo "=== $* ($(date -u +%H:%M:%S))"; }
fail() { echo "FAILED: $*"; failed=$((failed + 1)); }

step "machine"
nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv 2>&1 || true
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1 ||
  true
echo "cores $(nproc); $(cmake --version | head -n 1); $(g++ --version | head -n 1)"
ls -d /usr/local/cuda* 2>&1 | tr '\n' ' '
echo

# The LibTorch allocator calls the backend makes, as this LibTorch declares them: what to
# compare against when its build fails.
torch_api() {
  local include
  include=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')/include
  grep -nE "(getDeviceStats|setMemoryFraction|resetPeakStats|emptyCache)\(" \
    "$include/c10/cuda/CUDACachingAllocator.h" | head -n 12
  grep -nE "getStreamFromPool\(" "$include/c10/cuda/CUDAStream.h" | head -n 4
}

if [[ -z "${MODELGRID_GPU_CHECK_BUILD:-}" ]]; then
  step "1. build against PyTorch's LibTorch"
  prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
  # PyTorch's CMake config looks for the CUDA toolkit (nvcc) through these.
  cuda_root=$(ls -d /usr/local/cuda /usr/local/cuda-* 2>/dev/null | head -n 1)
  [[ -n "$cuda_root" ]] && export PATH="$cuda_root/bin:$PATH"
  if ! timeout 150 cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$prefix" -DMODELGRID_BUILD_BENCH=ON \
      ${cuda_root:+-DCUDAToolkit_ROOT="$cuda_root" -DCUDA_TOOLKIT_ROOT_DIR="$cuda_root"} \
      >"$out/cmake.txt" 2>&1; then
    grep -nE -A6 "CMake Error|Could NOT" "$out/cmake.txt" | head -n 60
    tail -n 15 "$out/cmake.txt"
    fail "cmake"
    exit "$failed"
  fi
  # -k 0: every failing file at once, so that one run shows everything to fix.
  if timeout 330 ninja -C "$build" -k 0 modelgrid modelgrid-worker modelgrid_tests >"$out/build.txt" 2>&1; then
    tail -n 2 "$out/build.txt"
    timeout 120 ninja -C "$build" serve_bench swap_bench >>"$out/build.txt" 2>&1 ||
      echo "SKIPPED: serve_bench/swap_bench not built (no Google Benchmark?): no GPU baselines"
  else
    grep -E -A3 "error|FAILED" "$out/build.txt" | head -n 80
    torch_api
    fail "build"
    exit "$failed"
  fi
  grep -E "ModelGrid:" "$out/cmake.txt"
  readelf -d "$build/modelgrid-worker" | grep NEEDED | head -n 3
  if ! grep -q "MODELGRID_TORCH_CUDA" "$build/compile_commands.json"; then
    fail "the backend was built without MODELGRID_TORCH_CUDA (no CUDA LibTorch found)"
  fi
fi
bin="$build/modelgrid"
tests="$build/tests/modelgrid_tests"

step "2a. backend tests (CUDA ones included)"
timeout 300 "$tests" --gtest_filter='TorchBackend*' 2>&1 | tail -n 25 || fail "backend tests"

step "2b. end-to-end suite on --gpus $gpus"
MODELGRID_E2E_GPUS="$gpus" timeout 420 "$tests" --gtest_filter='ServeE2E*' 2>&1 |
  grep -E '^\[ *(OK|FAILED|RUN) *\]|Failure|serving on|error' | head -n 80
[[ ${PIPESTATUS[0]} -eq 0 ]] || fail "end-to-end suite on the GPU"

# Serves REPO on the GPUs, saves /v2/modelgrid/status as NAME.json, then stops it.
serve_status() {
  local repo=$1 name=$2 port_file="$out/$2.port"
  rm -f "$port_file"
  "$bin" serve "$repo" --gpus "$gpus" --port 0 --grpc-port 0 --footprints "$out/$name-footprints.json" \
    >"$out/$name.stdout" 2>"$out/$name.stderr" &
  local pid=$!
  for _ in $(seq 600); do
    grep -q "serving KServe v2 on" "$out/$name.stdout" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  local url
  url=$(grep -o "http://127.0.0.1:[0-9]*" "$out/$name.stdout" | head -n 1)
  if [[ -z "$url" ]]; then
    tail -n 20 "$out/$name.stderr"
    fail "serve $repo"
    kill "$pid" 2>/dev/null
    return 1
  fi
  sleep 2  # one NVML reading after the warm-ups
  python3 - "$url" "$out/$name.json" <<'EOF'
import json, sys, urllib.request
status = json.load(urllib.request.urlopen(sys.argv[1] + "/v2/modelgrid/status", timeout=30))
json.dump(status, open(sys.argv[2], "w"), indent=1)
mib = lambda b: "-" if b is None else "%.0f MiB" % (b / 2**20)
for w in status["workers"]:
    print("worker %-24s %-6s measured %-10s budget %s" % (w["name"], w["device"],
          mib(w.get("memory_bytes")), mib(w.get("budget_bytes"))))
for m in status["models"]:
    print("model  %-24s estimated %-10s planned %-10s measured peak %s" % (m["name"],
          mib(m.get("estimated_bytes")), mib(m.get("planned_bytes")), mib(m.get("measured_bytes"))))
EOF
  nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv 2>&1 || true
  nvidia-smi --query-gpu=memory.used --format=csv 2>&1 || true  # the whole device
  echo "$url" >"$port_file"
  SERVE_PID=$pid
}

step "3a. per-worker context: one tiny model alone"
tiny=$(mktemp -d)
cp -r .fixtures/repo/add_one "$tiny/"
if serve_status "$tiny" context; then kill -TERM "$SERVE_PID"; wait "$SERVE_PID"; fi

step "3b. the fixture repository: measured memory next to the estimates"
if serve_status .fixtures/repo repo; then
  step "4. modelgrid perf on the GPU (transformer, binary tensors)"
  timeout 120 "$bin" perf --url "$(cat "$out/repo.port")" -m transformer --binary \
    --concurrency 1:8 --duration 3 || fail "perf"
  kill -TERM "$SERVE_PID"
  wait "$SERVE_PID"
fi

step "4b. serve_bench on the GPU: the transformer served against the same call in-process"
if [[ -x "$build/bench/serve_bench" ]]; then
  bench_device=cuda:0
  [[ $gpus == cpu* ]] && bench_device=cpu
  timeout 150 "$build/bench/serve_bench" --model transformer --device "$bench_device" \
    --seconds-per-level 1 2>/dev/null || fail "serve_bench on the GPU"
else
  echo "SKIPPED: no $build/bench/serve_bench"
fi

step "4c. swap-in on the GPU: weights parked in pinned memory against one cudaMemcpy"
# ResNet-50 in fp16 (the host-memory tier's issue), made here when torchvision is there;
# ResNet-18 from the fixtures either way.
if [[ -x "$build/bench/swap_bench" && $gpus != cpu* ]]; then
  swap_models=()
  r50="$out/swap/resnet50_fp16/1"
  mkdir -p "$r50"
  if python3 - "$r50/model.pt" <<'EOF'
import sys
import torch
try:
    import torchvision
except ImportError as e:
    sys.exit("SKIPPED: ResNet-50 fp16 not made (%s)" % e)
torch.jit.script(torchvision.models.resnet50().eval().half()).save(sys.argv[1])
EOF
  then
    swap_models+=("$r50/model.pt")
  fi
  swap_models+=("$PWD/.fixtures/repo/resnet18/1/model.pt")
  timeout 150 "$build/bench/swap_bench" --device=cuda:0 --benchmark_min_time=1 \
    "${swap_models[@]}" 2>/dev/null || fail "swap_bench on the GPU"
else
  echo "SKIPPED: no $build/bench/swap_bench, or no GPU (--gpus $gpus)"
fi

step "3c. the same models with 1 GiB each (memory_bytes): peaks that no estimate capped"
roomy=$(mktemp -d)
cp -r .fixtures/repo/. "$roomy/"
for config in "$roomy"/*/config.pbtxt; do
  echo 'parameters { key: "memory_bytes" value: { string_value: "1073741824" } }' >>"$config"
done
if serve_status "$roomy" roomy; then kill -TERM "$SERVE_PID"; wait "$SERVE_PID"; fi

step "5. the whole test suite against this LibTorch (CPU tests; fixtures not carried skip)"
timeout 200 ctest --test-dir "$build" -j "$(nproc)" --timeout 120 --output-on-failure \
  >"$out/ctest.txt" 2>&1
ctest_rc=$?
grep -E "tests passed|tests failed|\(Failed\)|\(Timeout\)|\(SEGFAULT\)|Not Run" \
  "$out/ctest.txt" | head -n 30
if [[ $ctest_rc -ne 0 ]]; then
  fail "test suite (exit $ctest_rc; see ctest.txt)"
  # Where the first failing test fails: cuda-gdb is the machine's gdb.
  first=$(grep -oE "Test +#[0-9]+: [A-Za-z0-9_./]+ \.+\*\*\*(Exception|Failed|Timeout)" \
    "$out/ctest.txt" | head -n 1 |
    awk '{print $3}')
  if [[ -n "$first" ]] && command -v cuda-gdb >/dev/null; then
    timeout 90 cuda-gdb -batch -ex run -ex bt --args "$tests" --gtest_filter="$first" 2>&1 |
      grep -E "^#|signal|Error" | head -n 25
  fi
fi

step "done: $failed failed step(s)"
exit "$failed"
