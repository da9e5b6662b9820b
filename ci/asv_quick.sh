#!/usr/bin/env bash
# Quick asv pass over asv_bench/ using the current environment's fastnmf.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)/asv_bench"
asv machine --yes
asv run --python=same --quick --show-stderr "$@"
