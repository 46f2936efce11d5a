#!/usr/bin/env bash
# Runs the whole test suite (C tests and busted specs) through CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/brasa ] || bash tools/setup.sh
ctest --test-dir build --output-on-failure -j2 "$@"
