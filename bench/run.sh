#!/bin/sh
# bench/run.sh: builds what is needed, then runs brasa's benchmarks side by
# side with their peers and prints a combined brasa-vs-PyTorch table.
#
#   bench/run.sh           full run (several minutes)
#   bench/run.sh --quick   fewer repeats, shorter samples, SGEMM up to 1024,
#                          no text CNN
#   bench/run.sh text_cnn  the text CNN comparison (4.) alone
#
#   1. bench_core       C: bt_matmul vs cblas_sgemm, bt_add/bt_binary_/bt_sum
#                       vs memcpy, at 1 and 2 threads
#   2. bench_lua.lua    tiny ops, tiny graph, MLP step from Lua (plain lua5.4)
#   3. bench_torch.py   the same in PyTorch, only if /usr/bin/python3 can
#                       import torch (Debian: apt-get install python3-torch)
#   4. text_cnn         scripts/text_cnn.lua against the same recipe in
#                       PyTorch (bench/bench_text_cnn.lua and
#                       bench_text_cnn_torch.py) on the same fortunes split,
#                       3 seeds: test accuracy, epoch time, peak RSS, ratios
#                       (each side's best of BENCH_ROUNDS rounds per seed; a
#                       few minutes; needs the Debian package fortunes)
#
# Environment: BUILD_DIR (default build), BENCH_REPEATS, BENCH_MIN_S (Lua and
# Python sample length), BENCH_MIN_MS (C sample length), BENCH_ROUNDS (Lua and
# PyTorch rounds, default 2), BENCH_NO_TORCH=1 (skip the peer),
# BENCH_TEXT_CNN_SEEDS (default 1,2,3).
# OPENBLAS_CORETYPE is passed through untouched to every side.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD_DIR:-build}
QUICK=
ONLY=
case "${1:-}" in
  --quick)
    QUICK=--quick
    : "${BENCH_REPEATS:=3}"
    : "${BENCH_MIN_S:=0.15}"
    export BENCH_REPEATS BENCH_MIN_S
    ;;
  text_cnn) ONLY=text_cnn ;;
  "") ;;
  *) echo "usage: bench/run.sh [--quick | text_cnn]" >&2; exit 2 ;;
esac

# ---- build ------------------------------------------------------------------
# Only what the benchmarks need: libbrasa and the Lua module (and bench/'s
# targets when the project includes bench/), not the tests or the REPL.
BUILD_LOG=$(mktemp)
if { [ -f "$BUILD/CMakeCache.txt" ] || cmake -S "$ROOT" -B "$BUILD"; } >"$BUILD_LOG" 2>&1; then
  TARGETS=brasa_lua
  [ -d "$BUILD/bench" ] && TARGETS="$TARGETS bench_core"
fi
if [ -n "${TARGETS:-}" ] && cmake --build "$BUILD" -j2 --target $TARGETS >>"$BUILD_LOG" 2>&1; then
  rm -f "$BUILD_LOG"
else
  cat "$BUILD_LOG" >&2
  rm -f "$BUILD_LOG"
  echo "run.sh: the build failed (log above)" >&2
  exit 1
fi

# bench/ is built by the project when the top-level CMakeLists.txt has
# add_subdirectory(bench); until then, build bench_core here directly.
BENCH_BIN=$BUILD/bench
if [ ! -x "$BENCH_BIN/bench_core" ]; then
  BENCH_BIN=$BUILD/bench-standalone
  mkdir -p "$BENCH_BIN"
  LIBDIR=$(cd "$BUILD/core" && pwd)
  if [ ! -x "$BENCH_BIN/bench_core" ] || [ bench/bench_core.c -nt "$BENCH_BIN/bench_core" ] ||
     [ "$LIBDIR/libbrasa.so" -nt "$BENCH_BIN/bench_core" ]; then
    cc -std=c11 -O2 -D_GNU_SOURCE -Wall -Icore/include bench/bench_core.c -o "$BENCH_BIN/bench_core" \
      -L"$LIBDIR" -lbrasa -Wl,-rpath,"$LIBDIR" $(pkg-config --cflags --libs openblas) -lpthread -lm
  fi
fi

RESULTS=$(mktemp)
trap 'rm -f "$RESULTS"' EXIT
trap 'exit 130' INT TERM

echo "######## machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# ---- 4. the text CNN (run last in a full run, alone with `text_cnn`) -----------------------
# Its own table: per seed and medians, brasa and PyTorch side by side
# (bench/bench_text_cnn.lua runs both, in alternating rounds, and checks
# that they saw the same ids).
text_cnn() {
  echo "######## 4. text_cnn: scripts/text_cnn.lua vs PyTorch (bench/bench_text_cnn.lua), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  NO_TORCH=
  [ -n "${BENCH_NO_TORCH:-}" ] && NO_TORCH=--no-torch
  LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="$BUILD/lua/?.so;$BENCH_BIN/?.so;;" \
    lua5.4 bench/bench_text_cnn.lua --seeds "${BENCH_TEXT_CNN_SEEDS:-1,2,3}" --rounds "${BENCH_ROUNDS:-2}" $NO_TORCH ||
    echo "run.sh: bench_text_cnn.lua failed (status $?)"
  echo "  (load average now $(cut -d' ' -f1-3 /proc/loadavg))"
  echo
}
if [ "$ONLY" = text_cnn ]; then
  text_cnn
  exit 0
fi

# ---- 1. C ---------------------------------------------------------------------
echo "######## 1. bench_core (C)"
"$BENCH_BIN/bench_core" $QUICK || echo "run.sh: bench_core failed (status $?)"
echo

# ---- 2. and 3.: Lua and PyTorch, alternating ---------------------------------------
# Separate processes cannot interleave sample by sample as bench_core does, so
# the two run in alternating rounds (BENCH_ROUNDS, default 2) and the combined
# table takes each side's best round: on a shared machine a round that met
# someone else's load says little about either side.
ROUNDS=${BENCH_ROUNDS:-2}
TORCH=no
if [ -z "${BENCH_NO_TORCH:-}" ] && [ -x /usr/bin/python3 ] &&
   /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; then
  TORCH=yes
fi
round=1
while [ "$round" -le "$ROUNDS" ]; do
  echo "######## 2. bench_lua.lua (lua5.4), round $round of $ROUNDS"
  LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="$BUILD/lua/?.so;$BENCH_BIN/?.so;;" \
    BENCH_OUT="$RESULTS" lua5.4 bench/bench_lua.lua || echo "run.sh: bench_lua.lua failed (status $?)"
  echo
  if [ "$TORCH" = yes ]; then
    echo "######## 3. bench_torch.py (/usr/bin/python3), round $round of $ROUNDS"
    BENCH_OUT="$RESULTS" /usr/bin/python3 bench/bench_torch.py || echo "run.sh: bench_torch.py failed (status $?)"
  else
    if [ -n "${BENCH_NO_TORCH:-}" ]; then
      echo "######## 3. bench_torch.py: skipped (BENCH_NO_TORCH is set)"
    else
      echo "######## 3. bench_torch.py: skipped (/usr/bin/python3 cannot import torch)"
    fi
  fi
  echo
  round=$((round + 1))
done

# ---- combined table -------------------------------------------------------------------
echo "######## brasa vs PyTorch: each side's best round of $ROUNDS (figures are medians within a round;"
echo "######## PyTorch at its best of 1 thread / 2 threads passive); load average now $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v torch="$TORCH" '
  # A figure keeps its best (lowest) round; the _threads line written right
  # after a figure goes with it.
  $1 == "torch_version" { v[$1] = $2; won = 0; next }
  $1 ~ /_threads$/ { if (won) v[$1] = $2; won = 0; next }
  { won = !($1 in v) || $2 + 0 < v[$1] + 0; if (won) v[$1] = $2 }
  END {
    n = split("tiny_add_ns tiny_method_add_ns tiny_add_number_ns tiny_exp_ns graph_us mlp1_us mlp128_us", keys, " ")
    split("tiny op a + b|tiny op a:add(b)|tiny op a + 1|tiny op a:exp()|tiny graph fwd+bwd|MLP step batch 1|MLP step batch 128", labels, "|")
    split("ns ns ns ns us us us", units, " ")
    if (torch == "yes") {
      printf "  %-24s %14s %14s %18s\n", "", "brasa", "PyTorch " v["torch_version"], "brasa/torch time"
    } else {
      printf "  %-24s %14s   (peer absent: PyTorch was not run)\n", "", "brasa"
    }
    for (i = 1; i <= n; i++) {
      k = keys[i]; u = units[i]
      fmt = u == "ns" ? "%11.0f %s" : "%11.1f %s"
      b = ("brasa_" k in v) ? sprintf(fmt, v["brasa_" k], u) : sprintf("%14s", "n/a")
      if (torch == "yes") {
        t = ("torch_" k in v) ? sprintf(fmt, v["torch_" k], u) : sprintf("%14s", "n/a")
        r = ("brasa_" k in v) && ("torch_" k in v) && v["torch_" k] > 0 ? sprintf("%17.2fx", v["brasa_" k] / v["torch_" k]) : sprintf("%18s", "n/a")
        extra = ""
        if (k ~ /^mlp/) extra = sprintf("   (threads: brasa %d, torch %d)", v["brasa_" substr(k, 1, length(k) - 3) "_threads"], v["torch_" k "_threads"])
        printf "  %-24s %s %s %s%s\n", labels[i], b, t, r, extra
      } else {
        printf "  %-24s %s\n", labels[i], b
      }
    }
    if (torch == "yes") print "  (ratio < 1: brasa is faster)"
  }' "$RESULTS"

if [ -z "$QUICK" ]; then
  echo
  text_cnn
fi
