#!/usr/bin/env bash
# tests/gpu/run.sh: the GPU suite and benchmarks, for a lent GPU machine.
#
# That machine is not the build machine: it has the NVIDIA driver, the CUDA
# toolkit and PyTorch's nvidia-* wheels, but no Lua, OpenBLAS, readline or
# data. So brasa is built here beforehand and carried:
#
#   tools/gpu_bundle.sh                    # here: builds build-gpu, fills build-gpu-carry
#   (device) carry=["build-gpu-carry"], command: bash tests/gpu/run.sh
#
# Steps (each bounded by a timeout; the whole run takes 1-3 minutes):
#   1. find the carried build and its libraries, and cuBLAS on this machine
#      (the toolkit's folders, else PyTorch's nvidia wheels);
#   2. the C loader test and tests/gpu/test_gpu.lua (every GPU op against the CPU);
#   3. benchmarks: GEMM through brasa and through cuBLAS directly
#      (tests/gpu/bench_cublas.cu), per-op overhead from Lua, bandwidth;
#   4. a table of the results, printed last.
# Everything also goes to $OUT (the device tool's output folder; ./build-gpu-results
# when OUT is unset). Exit status: 0 when the tests pass (or there is no GPU:
# a skip), 1 when a test failed, 2 when the carried build is unusable.

set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CARRY=${BRASA_GPU_CARRY:-$ROOT/build-gpu-carry}
OUT=${OUT:-$ROOT/build-gpu-results}   # build-*/: ignored by git
mkdir -p "$OUT"
LOG=$OUT/run.log
: > "$LOG"
say() { echo "$@" | tee -a "$LOG"; }
T0=$(date +%s)
elapsed() { echo $(( $(date +%s) - T0 )); }

say "== brasa GPU run: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(uname -srm)"
chmod +x "$CARRY/brasa" "$CARRY/bench_cublas" "$CARRY/test_cuda_loader" 2>/dev/null   # in case the copy lost the bits
if [ ! -x "$CARRY/brasa" ]; then
  say "run.sh: no carried build at $CARRY: run tools/gpu_bundle.sh on the build machine and carry build-gpu-carry"
  exit 2
fi

# ---- 1. libraries ------------------------------------------------------------------------

LIBDIR=$CARRY/libs
if ls "$LIBDIR"/*.gz >/dev/null 2>&1; then   # compressed by gpu_bundle.sh to fit the carry limit
  UNPACK=${TMPDIR:-/tmp}/brasa-libs
  mkdir -p "$UNPACK"
  cp -f "$LIBDIR"/* "$UNPACK"/ 2>/dev/null
  for f in "$UNPACK"/*.gz; do gzip -df "$f"; done
  LIBDIR=$UNPACK
fi

# The first of the named library files under the given roots (newest CUDA first).
find_lib() {
  local name=$1; shift
  local d
  for d in "$@"; do
    [ -d "$d" ] || continue
    local hit
    hit=$(timeout 60 find "$d" -name "$name" \( -type f -o -type l \) 2>/dev/null | sort -r | head -n 1)
    if [ -n "$hit" ]; then echo "$hit"; return 0; fi
  done
  return 1
}
PYLIB=$(timeout 30 python3 -c 'import nvidia, os; print(os.path.dirname(list(nvidia.__path__)[0]))' 2>/dev/null || true)
ROOTS=(/usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda/lib ${PYLIB:+"$PYLIB/nvidia"} /usr/local/lib /opt /usr/lib/x86_64-linux-gnu /usr)
CUBLAS=$(find_lib 'libcublas.so.13' "${ROOTS[@]}") || CUBLAS=
CUBLASLT=$(find_lib 'libcublasLt.so.13' "$(dirname "${CUBLAS:-/nonexistent}")" "${ROOTS[@]}") || CUBLASLT=
say "cuBLAS:   ${CUBLAS:-not found}"
say "cuBLASLt: ${CUBLASLT:-not found}"
EXTRA=
for f in "$CUBLAS" "$CUBLASLT"; do [ -n "$f" ] && EXTRA="$EXTRA:$(dirname "$f")"; done
export LD_LIBRARY_PATH="$CARRY/core:$LIBDIR$EXTRA${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LUA_PATH="$ROOT/lua/?.lua;$ROOT/lua/?/init.lua;;"
export LUA_CPATH="$CARRY/lua/?.so;;"
export BRASA_CUDA_LIBRARY="$CARRY/core/libbrasa_cuda.so"
export BRASA_PROGRESS=plain

say "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
missing=$(ldd "$CARRY/brasa" "$CARRY/lua/brasa/core.so" "$CARRY/core/libbrasa_cuda.so" 2>&1 | grep 'not found' | sort -u)
if [ -n "$missing" ]; then
  say "run.sh: libraries not found:"
  say "$missing"
  exit 2
fi
GPU_NAME=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -n 1)
say "GPU:      ${GPU_NAME:-none seen by nvidia-smi}"
say "setup took $(elapsed) s"

# ---- 2. tests ----------------------------------------------------------------------------------

status=0
if [ -x "$CARRY/test_cuda_loader" ]; then
  say "== C loader test"
  timeout 60 "$CARRY/test_cuda_loader" 2>&1 | tee "$OUT/test_cuda_loader.log" | tail -n 5 | tee -a "$LOG"
  [ "${PIPESTATUS[0]}" -eq 0 ] || { say "C loader test FAILED"; status=1; }
fi
say "== tests/gpu/test_gpu.lua"
# BRASA_GPU_SANITIZE=1: under compute-sanitizer (memcheck; several times slower).
SAN=()
[ "${BRASA_GPU_SANITIZE:-0}" = 1 ] && command -v compute-sanitizer >/dev/null && SAN=(compute-sanitizer --print-limit 20)
timeout 300 "${SAN[@]}" "$CARRY/brasa" "$ROOT/tests/gpu/test_gpu.lua" ${BRASA_GPU_FILTER:-} > "$OUT/test_gpu.log" 2>&1
rc=$?
grep -vE ' ok +[0-9.]+ s$' "$OUT/test_gpu.log" | head -n 150 | tee -a "$LOG"
say "test_gpu.lua: $(grep -cE ' ok +[0-9.]+ s$' "$OUT/test_gpu.log") tests passed, exit status $rc"
[ $rc -eq 124 ] && say "test_gpu.lua TIMED OUT (300 s)"
[ $rc -eq 0 ] || status=1
if grep -q '^SKIP' "$OUT/test_gpu.log"; then
  if [ -n "$GPU_NAME" ]; then   # nvidia-smi sees a GPU that brasa cannot use: a failure
    say "run.sh: FAILED: nvidia-smi sees a GPU but brasa cannot use it (see the SKIP line above)"
    exit 1
  fi
  say "no usable GPU here: benchmarks skipped"
  exit 0
fi
say "tests took $(elapsed) s in all"

# ---- 3. benchmarks -------------------------------------------------------------------------------

say "== benchmarks"
BENCH=$OUT/bench.txt
: > "$BENCH"
if [ -x "$CARRY/bench_cublas" ]; then
  timeout 120 "$CARRY/bench_cublas" 4096 8192 2>&1 | tee -a "$BENCH" >> "$LOG"
fi
timeout 180 "$CARRY/brasa" "$ROOT/tests/gpu/bench_gpu.lua" 4096 8192 2>&1 | tee -a "$BENCH" >> "$LOG"

# ---- 4. the table ------------------------------------------------------------------------------

{
  echo
  echo "== brasa GPU benchmark (${GPU_NAME:-unknown GPU})"
  awk '
    $1 == "cublas" { cub[$2 " " $3] = $4 }
    $1 == "brasa"  { br[$2 " " $3] = $4; order[++n] = $2 " " $3 }
    $1 == "launch" { launch[++m] = sprintf("  %-12s %10s %10s", $2, $3, $4) }
    $1 == "bandwidth" { bw[++k] = sprintf("  %-24s %8s GB/s", $2, $3) }
    END {
      printf "GEMM TFLOP/s   %6s %10s %10s %8s\n", "n", "brasa", "cuBLAS", "ratio"
      for (i = 1; i <= n; i++) {
        split(order[i], p, " ")
        c = cub[order[i]]
        r = (c > 0) ? sprintf("%.0f%%", 100 * br[order[i]] / c) : "-"
        printf "  %-12s %6s %10s %10s %8s\n", p[1], p[2], br[order[i]], (c == "" ? "-" : c), r
      }
      printf "per-op wall time from Lua (us)   %10s %10s\n", "gpu", "cpu"
      for (i = 1; i <= m; i++) print launch[i]
      print "bandwidth (GPU)"
      for (i = 1; i <= k; i++) print bw[i]
    }' "$BENCH"
  echo "CNN epoch: not measured (conv, pooling, softmax/loss and optimiser kernels are not on the GPU yet)"
  echo "tests: $( [ $status -eq 0 ] && echo passed || echo FAILED ) ; total $(elapsed) s"
} | tee "$OUT/summary.txt" | tee -a "$LOG"
exit $status
