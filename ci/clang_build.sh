#!/usr/bin/env bash
# Build the Cython kernels with clang and run the test suite against that build.
#
# The tracked files are copied to a temporary folder, the extension is built there in place
# with CC=clang, and pytest runs with that folder first on PYTHONPATH (ahead of the editable
# install of the GCC build).  Checks before the tests: the modules imported are the copy's,
# they were compiled by clang (the .comment section of the shared objects), with OpenMP.
# FASTNMF_REQUIRE_BACKENDS (set by .ci/run) makes a backend that did not build fail the run.
set -euo pipefail
cd "$(dirname "$0")/.."

omp_test='#include <omp.h>
int main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }'
if ! command -v clang >/dev/null \
        || ! clang -fopenmp -x c - -o /dev/null <<<"$omp_test" 2>/dev/null; then
    apt-get install -y -q clang libomp-dev >/dev/null \
        || { apt-get update -q >/dev/null && apt-get install -y -q clang libomp-dev >/dev/null; }
fi
clang --version | head -1

tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
git ls-files -z | xargs -0 cp --parents -t "$tree"
cd "$tree"
started=$(date +%s)
CC=clang python setup.py -q build_ext --inplace
echo "clang build: $(( $(date +%s) - started )) s"
for so in fastnmf/_kernels/cython/*.so; do
    readelf -p .comment "$so" | grep -q clang || { echo "$so was not compiled by clang"; exit 1; }
done
PYTHONPATH="$tree" python - <<'PY'
import os
import fastnmf
import fastnmf._kernels.cython as c
assert fastnmf.__file__.startswith(os.environ["PYTHONPATH"]), fastnmf.__file__
assert c.OPENMP, "the clang build has no OpenMP"
print(f"clang build in use: {c.ISA}, OpenMP {c.OPENMP}")
PY
PYTHONPATH="$tree" python -m pytest -q -p no:cacheprovider
