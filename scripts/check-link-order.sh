#!/usr/bin/env bash
# Checks that each executable names the shared libstdc++ before any LibTorch library among
# its DT_NEEDED entries, so that the loader binds libstdc++'s symbols to libstdc++ and not
# to the copies PyTorch's wheels export (pytorch/pytorch#133437; see CMakeLists.txt).
#
#   scripts/check-link-order.sh EXECUTABLE...
set -euo pipefail
status=0
for exe in "$@"; do
  first=$(readelf -d "$exe" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' |
    grep -E '^(libstdc\+\+|libtorch|libc10)' | head -n 1)
  case "$first" in
    libstdc++*) echo "check-link-order: $exe names $first first" ;;
    "") echo "check-link-order: $exe links neither libstdc++ nor LibTorch dynamically" ;;
    *)
      echo "check-link-order: $exe names $first before libstdc++" >&2
      status=1
      ;;
  esac
done
exit "$status"
