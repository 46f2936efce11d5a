#!/usr/bin/env bash
# Builds brasa with ThreadSanitizer into build-tsan (CPU only) and runs the
# test suite there: the thread pool, the DataLoader's prefetch thread and
# the interrupt flag are checked for data races. About 5 minutes on 2 cores.
# Arguments go to ctest (e.g. -R loader). With none, two tests are left
# out: c_test_repl_pty (TSan holds signals back until the next call it
# intercepts, so Ctrl-C never reaches a pure Lua loop) and lua_memory_spec
# (its long allocation loops take about 16 minutes under TSan).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/brasa ] || bash tools/setup.sh   # the packages, and the data the specs read
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBRASA_CUDA=OFF -DBRASA_TSAN=ON >/dev/null
cmake --build build-tsan -j"$(nproc)"
mkdir -p build-tsan/datasets
[ -d build/datasets/sklearn ] && cp -r build/datasets/sklearn build-tsan/datasets/ 2>/dev/null || true
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp"
[ $# -gt 0 ] || set -- -E '^(c_test_repl_pty|lua_memory_spec)$'
ctest --test-dir build-tsan --output-on-failure -j2 --timeout 1200 "$@"
