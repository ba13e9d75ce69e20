#!/usr/bin/env bash
# The built-in demo on a fresh machine: installs packages, builds, creates demo models
# (HuggingFace folders with sparse weights, torchvision TorchScript/ONNX exports, a Triton
# repository of TorchScript models), shows what ModelGrid predicts and plans for them, then
# serves the repository, sends sample requests, and keeps serving until Ctrl-C.
# MODELGRID_PORT picks the HTTP port (default 8000), MODELGRID_GRPC_PORT the gRPC one (default
# 8001; 0 turns it off); MODELGRID_DEMO_EXIT=1 stops after the sample requests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh modelgrid
scripts/make-fixtures.sh >/dev/null
fx=${MODELGRID_FIXTURES:-$PWD/.fixtures}
mg=build/modelgrid

echo
echo "== Llama-3-70B shapes, 30 safetensors shards (141 GB, sparse), 4096 tokens, one H200"
time $mg estimate "$fx/hf/llama3_70b" --seq 4096 --gpu H200
echo
echo "== GPT-2 in fp16 at batch 8, 128 tokens, on an H100"
$mg estimate "$fx/hf/gpt2" --batch 8 --dtype fp16 --gpu H100-80GB
echo
echo "== ResNet-50 as ONNX, fp16, batch 32, on an L4"
$mg estimate "$fx/cv/resnet50.onnx" --batch 32 --dtype fp16 --gpu L4
echo
echo "== The same eight architectures as the measured H200 data, batch 8 fp16 (JSON totals)"
for m in hf/bert_base hf/distilbert hf/gpt2 hf/gpt2_medium cv/resnet18.onnx cv/resnet50.onnx \
         cv/mobilenet_v3_large.onnx cv/vit_b_16.onnx; do
  total=$($mg estimate "$fx/$m" --batch 8 --dtype fp16 --gpu H200 --json |
          /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); print("%8.1f MiB  (context %.0f MiB)" % (j["total_bytes"]/2**20, j["context_bytes"]/2**20))')
  printf "  %-28s %s\n" "$m" "$total"
done

echo
echo "== Plan: the same mix round-robin, 800 models requested, on one H200 (--strategy all)"
manifest=$(/usr/bin/python3 scripts/fixtures/make_mix_manifest.py "$fx" 800 8 fp16)
$mg plan --models "$manifest" --gpus H200 --strategy all --svg "$fx/mix-800.svg"
echo "(drawing: $fx/mix-800.svg)"
echo
echo "== Density dry run: load the mix until the next model does not fit, one H200"
python3 scripts/density.py --dry-run --gpus H200
echo
echo "== Plan: 16 models over a virtual cluster 2xH100-80GB,1xL4, memory-optimized"
manifest=$(/usr/bin/python3 scripts/fixtures/make_mix_manifest.py "$fx" 16 8 fp16)
$mg plan --models "$manifest" --gpus 2xH100-80GB,1xL4 --strategy memory-optimized

echo
# The demo repository: the TorchScript fixtures and two Triton Python-backend models
# (examples/python/text_sentiment, and token_stream, a decoupled one), served side by side.
demo_repo="$fx/demo-repo"
rm -rf "$demo_repo" && cp -r "$fx/repo" "$demo_repo"
cp -r examples/python/text_sentiment examples/python/token_stream "$demo_repo/"
echo "== Serve: the demo repository ($demo_repo) on the CPU, KServe v2"
port=${MODELGRID_PORT:-8000}
# gRPC on 8001 unless MODELGRID_GRPC_PORT says otherwise (0: off).
grpc_args=()
[ -n "${MODELGRID_GRPC_PORT:-}" ] && grpc_args=(--grpc-port "$MODELGRID_GRPC_PORT")
$mg serve "$demo_repo" --port "$port" --footprints "$fx/footprints.json" "${grpc_args[@]}" \
  > "$fx/serve.out" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server' EXIT
for _ in $(seq 600); do
  grep -q "^serving KServe v2 on http" "$fx/serve.out" 2>/dev/null && break
  kill -0 $server 2>/dev/null || { echo "modelgrid serve exited"; exit 1; }
  sleep 0.2
done
cat "$fx/serve.out"
echo
/usr/bin/python3 scripts/demo_requests.py "http://127.0.0.1:$port" "$fx"
echo
echo "== modelgrid status"
$mg status --once --url "http://127.0.0.1:$port"
echo
echo "== modelgrid perf: tiny_cnn and two_in_two_out together, concurrency 1 to 4"
$mg perf --url "http://127.0.0.1:$port" -m tiny_cnn,two_in_two_out --concurrency 1:4 \
  --duration 2 --warmup 0.5
grpc=$(sed -n 's/^serving KServe v2 gRPC on //p' "$fx/serve.out")
if [ -n "$grpc" ]; then
  echo
  echo "== modelgrid perf over gRPC ($grpc): tiny_cnn, concurrency 2, one stream per client"
  $mg perf -i grpc --streaming -u "$grpc" -m tiny_cnn --concurrency 2 --duration 2 --warmup 0.5
fi
if [ "${MODELGRID_DEMO_EXIT:-0}" = 1 ]; then exit 0; fi
echo
echo "Serving on http://127.0.0.1:$port until Ctrl-C; try the curl commands above."
wait $server
