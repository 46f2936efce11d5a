#!/usr/bin/env bash
# Runs the busted specs (or those named) under valgrind memcheck and fails on
# any definite leak or memory error. Slow (minutes): not part of CI; run it
# before a release and record the result.
#   bash tools/valgrind.sh [spec ...]     e.g. bash tools/valgrind.sh tensor autograd
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
[ -f build/lua/brasa/core.so ] || bash tools/setup.sh
export LUA_PATH="$root/lua/?.lua;$root/lua/?/init.lua;$root/tests/lua/?.lua;;"
export LUA_CPATH="$root/build/lua/?.so;;"
specs=("$@")
if [ ${#specs[@]} -eq 0 ]; then
  for f in tests/lua/*_spec.lua; do specs+=("$(basename "$f" _spec.lua)"); done
fi
status=0
for s in "${specs[@]}"; do
  log=$(mktemp)
  (cd tests/lua && valgrind --leak-check=full --errors-for-leak-kinds=definite \
      --show-leak-kinds=definite --error-exitcode=99 \
      lua5.4 /usr/bin/busted "${s}_spec.lua" >"$log" 2>&1)
  rc=$?
  lost=$(grep -m1 "definitely lost" "$log" | sed 's/.*definitely lost: //')
  errs=$(grep -m1 "ERROR SUMMARY" "$log" | sed 's/.*ERROR SUMMARY: //')
  printf '%-24s rc=%-3s definitely lost: %-28s errors: %s\n' "$s" "$rc" "${lost:-none}" "${errs:-?}"
  [ "$rc" -eq 99 ] && status=1
  rm -f "$log"
done
exit $status
