#!/usr/bin/env bash
# Installs every Debian package ModelGrid needs to build, test and run its demo.
# Idempotent: does nothing when all packages are present. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git curl
  clang-14 libclang-rt-14-dev clang-format
  libboost-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libtorch-dev python3-torch python3-torchvision python3-onnx
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler  # the gRPC front end
  python3-grpcio  # the gRPC tests' client
  python3-yaml  # scripts/check-manifests.py reads deploy/'s manifests
  python3-dev python3-numpy  # the Python backend: embedded CPython, and numpy for pb_utils
  libopenblas0-pthread  # fast BLAS for the CPU dry runs (Debian's default is the reference BLAS)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
