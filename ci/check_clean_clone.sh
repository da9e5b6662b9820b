#!/usr/bin/env bash
# Run .ci/run exactly as CI does: in a fresh clone of the committed HEAD.
set -euo pipefail
d=$(mktemp -d)
git clone -q "$(git rev-parse --show-toplevel)" "$d"
cd "$d" && CI=true bash .ci/run
