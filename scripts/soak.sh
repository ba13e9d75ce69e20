#!/usr/bin/env bash
# Soak test of `modelgrid serve`: a mixed KServe v2 load (JSON and binary infer, metadata,
# health, stats, metrics, ~5% bad requests) for a given time, one line a minute with
# requests, unexpected errors, expected 4xx and p50/p99 latency, and the RSS of the server
# and of each worker at the start and the end. Exits non-zero on any unexpected error.
#
#   scripts/soak.sh [--minutes M] [--repo REPO] [--port P] [--concurrency C]
#                   (starts build/modelgrid serve REPO --gpus cpu itself; default 10 minutes,
#                    .fixtures/repo, a free port, 8 clients)
#   scripts/soak.sh --url http://127.0.0.1:PORT --server-pid PID [--minutes M] ...
#                   (soaks a server that already runs)
#
# --seconds S (short runs), --interval, --bad-share, --resnet-interval and the rest:
# scripts/soak.sh --help. Needs only Debian's Python 3 (standard library).
set -euo pipefail
exec /usr/bin/python3 "$(dirname "$0")/soak.py" "$@"
