#!/usr/bin/env bash
# Generates the test fixtures under .fixtures/ (or $MODELGRID_FIXTURES) with Debian's
# PyTorch. Skips work already done.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${MODELGRID_FIXTURES:-$PWD/.fixtures}
mkdir -p "$out"
/usr/bin/python3 scripts/fixtures/make_hf_fixtures.py "$out"
/usr/bin/python3 scripts/fixtures/make_cv_fixtures.py "$out" 2> >(grep -v -i warning >&2)
# make_half_fixtures.py converts the cv and serve fixtures, so it comes after them.
for script in scripts/fixtures/make_torch_fixtures.py scripts/fixtures/make_serve_fixtures.py \
              scripts/fixtures/make_serve_repo.py scripts/fixtures/make_hf_bin_fixtures.py \
              scripts/fixtures/make_half_fixtures.py; do
  [ -f "$script" ] && /usr/bin/python3 "$script" "$out"
done
echo "fixtures: $out"
