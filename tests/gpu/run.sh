#!/usr/bin/env bash
# tests/gpu/run.sh: the GPU suite and benchmarks, for a lent GPU machine, in
# one run of under 5 minutes.
#
# That machine is not the build machine: it has the NVIDIA driver, the CUDA
# toolkit and PyTorch with its nvidia-* wheels (cuBLAS, cuDNN), but no Lua,
# OpenBLAS, readline or data. So brasa is built here beforehand and carried,
# with the Fashion-MNIST files:
#
#   tools/gpu_bundle.sh                    # here: builds build-gpu, fills build-gpu-carry
#   (device) carry ["build-gpu-carry"], command "bash tests/gpu/run.sh", timeout_s 420
#
# Steps, each bounded by a timeout, all by a budget (BRASA_GPU_BUDGET, 285 s):
#   1. unpack the carried build, find cuBLAS and cuDNN on this machine (the
#      toolkit's folders, else PyTorch's nvidia wheels) for LD_LIBRARY_PATH;
#   2. tests: the C loader test and every tests/gpu/test_gpu*.lua, each on its
#      own (one failing or timing out does not stop the others);
#   3. benchmarks: one Fashion-MNIST CNN epoch through brasa on the GPU (f32,
#      then amp) and through PyTorch on the same GPU (tests/gpu/bench_cnn*.lua,
#      .py), GEMM through brasa and cuBLAS, per-op overhead, bandwidth
#      (bench_gpu.lua, bench_cublas), a CNN epoch on the CPU (all cores, a
#      fraction of the epoch, extrapolated);
#   4. a table of the results, printed last and written to $OUT/summary.txt.
# Logs go to $OUT (the device tool's output folder; ./build-gpu-results when
# OUT is unset): run.log, summary.txt and logs.tar.gz (each step's log). Exit status: 0 when the tests pass (or there is no GPU: a
# skip), 1 when a test failed (or brasa's GPU epoch failed or its loss did not
# go down), 2 when the carried build is unusable.
#
# BRASA_GPU_TEST_FAKE=1: the CPU stands in for the GPU everywhere (the tests'
# fake mode, benchmarks reduced to a few batches): a check of this script on
# a machine without a GPU. BRASA_GPU_CARRY: another carry folder.
# BRASA_GPU_SANITIZE=1: test_gpu.lua under compute-sanitizer (slow).

set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CARRY=${BRASA_GPU_CARRY:-$ROOT/build-gpu-carry}
OUT=${OUT:-$ROOT/build-gpu-results}   # build-*/: ignored by git
FAKE=${BRASA_GPU_TEST_FAKE:-0}
BUDGET=${BRASA_GPU_BUDGET:-285}
mkdir -p "$OUT"
rm -f "$OUT"/*.log "$OUT"/*.txt "$OUT"/logs.tar.gz   # an earlier run's
# The device tool brings back at most 8 files from $OUT: run.log and
# summary.txt, and every other log packed into logs.tar.gz at exit.
LOGS=${TMPDIR:-/tmp}/brasa-gpu-logs
rm -rf "$LOGS"
mkdir -p "$LOGS"
trap 'tar -czf "$OUT/logs.tar.gz" -C "$LOGS" . 2>/dev/null' EXIT
LOG=$OUT/run.log
: > "$LOG"
say() { echo "$@" | tee -a "$LOG"; }
T0=$(date +%s)
elapsed() { echo $(( $(date +%s) - T0 )); }
# The timeout for a step: its cap, or what is left of the budget less `keep`
# seconds for the steps after it. Prints 0 when too little is left.
step_time() {
  local cap=$1 keep=${2:-0}
  local left=$(( BUDGET - $(elapsed) - keep ))
  [ "$left" -gt "$cap" ] && left=$cap
  [ "$left" -lt 10 ] && left=0
  echo "$left"
}

say "== brasa GPU run: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(uname -srm), budget ${BUDGET} s$( [ "$FAKE" = 1 ] && echo ', FAKE: the CPU stands in for the GPU')"
if [ ! -e "$CARRY/brasa" ] && [ ! -e "$CARRY/brasa.gz" ]; then
  say "run.sh: no carried build at $CARRY: run tools/gpu_bundle.sh on the build machine and carry build-gpu-carry"
  exit 2
fi

# ---- 1. the carried build and the libraries ----------------------------------------------------------

# gpu_bundle.sh gzips the large files to fit the carry limit: unpack a copy
# (the data stay compressed: brasa reads gzipped IDX files).
BIN=${TMPDIR:-/tmp}/brasa-carry
rm -rf "$BIN"
mkdir -p "$BIN"
(cd "$CARRY" && tar --exclude=./data -cf - .) | (cd "$BIN" && tar -xf -)
find "$BIN" -name '*.gz' -exec gzip -df {} +
chmod +x "$BIN/brasa" "$BIN/bench_cublas" "$BIN/test_cuda_loader" 2>/dev/null
DATA=$CARRY/data/fashion-mnist
[ -f "$DATA/train-images-idx3-ubyte.gz" ] || DATA=/usr/share/datasets/fashion-mnist
export BRASA_FASHION_MNIST_DIR=$DATA

# The first of the named library files under the given roots.
find_lib() {
  local name=$1; shift
  local d hit
  for d in "$@"; do
    [ -d "$d" ] || continue
    hit=$(timeout 60 find "$d" -name "$name" \( -type f -o -type l \) 2>/dev/null | sort -r | head -n 1)
    if [ -n "$hit" ]; then echo "$hit"; return 0; fi
  done
  return 1
}
PYLIB=$(timeout 30 python3 -c 'import nvidia, os; print(os.path.dirname(list(nvidia.__path__)[0]))' 2>/dev/null || true)
ROOTS=(/usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda/lib ${PYLIB:+"$PYLIB/nvidia"} /usr/local/lib /opt /usr/lib/x86_64-linux-gnu /usr)
CUBLAS=$(find_lib 'libcublas.so.13' "${ROOTS[@]}") || CUBLAS=
CUBLASLT=$(find_lib 'libcublasLt.so.13' "$(dirname "${CUBLAS:-/nonexistent}")" "${ROOTS[@]}") || CUBLASLT=
# cuDNN 9: libbrasa_cuda opens it with dlopen on the first convolution (so
# ldd does not list it), from LD_LIBRARY_PATH; its engines come from the same
# folder; its runtime-compiled kernels want NVRTC.
CUDNN=$(find_lib 'libcudnn.so.9' "${ROOTS[@]}") || CUDNN=
NVRTC=$(find_lib 'libnvrtc.so.13' "$(dirname "${CUBLAS:-/nonexistent}")" "${ROOTS[@]}") || NVRTC=
say "cuBLAS:   ${CUBLAS:-not found}"
say "cuBLASLt: ${CUBLASLT:-not found}"
say "cuDNN:    ${CUDNN:-not found: GPU convolutions will fail}${CUDNN:+ ($(basename "$(readlink -f "$CUDNN")"))}"
say "NVRTC:    ${NVRTC:-not found}"
say "data:     $DATA"
EXTRA=
for f in "$CUBLAS" "$CUBLASLT" "$CUDNN" "$NVRTC"; do
  [ -n "$f" ] || continue
  case ":$EXTRA:" in *":$(dirname "$f"):"*) ;; *) EXTRA="$EXTRA:$(dirname "$f")" ;; esac
done
ORIG_LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}   # for python3: PyTorch brings its own libraries
export LD_LIBRARY_PATH="$BIN/core:$BIN/libs$EXTRA${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LUA_PATH="$ROOT/lua/?.lua;$ROOT/lua/?/init.lua;;"
export LUA_CPATH="$BIN/lua/?.so;;"
export BRASA_CUDA_LIBRARY="$BIN/core/libbrasa_cuda.so"
export BRASA_PROGRESS=plain
export PYTHONUNBUFFERED=1

say "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
missing=$(ldd "$BIN/brasa" "$BIN/lua/brasa/core.so" "$BIN/core/libbrasa_cuda.so" 2>&1 | grep 'not found' | sort -u)
if [ -n "$missing" ]; then
  say "run.sh: libraries not found:"
  say "$missing"
  exit 2
fi
GPU_NAME=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -n 1)
NCPU=$(nproc 2>/dev/null || echo 1)
say "GPU:      ${GPU_NAME:-none seen by nvidia-smi}; $NCPU CPUs"
say "setup took $(elapsed) s"

# ---- 2. tests ----------------------------------------------------------------------------------------

status=0
TESTS=$LOGS/tests.txt   # name passed failed rc seconds note
: > "$TESTS"
skip_reason=

if [ -x "$BIN/test_cuda_loader" ]; then
  say "== C loader test"
  s=$(date +%s)
  timeout 60 "$BIN/test_cuda_loader" > "$LOGS/test_cuda_loader.log" 2>&1
  rc=$?
  tail -n 3 "$LOGS/test_cuda_loader.log" | tee -a "$LOG"
  p=$(grep -oE '[0-9]+ passed' "$LOGS/test_cuda_loader.log" | tail -n 1 | cut -d' ' -f1)
  f=$(grep -oE '[0-9]+ failed' "$LOGS/test_cuda_loader.log" | tail -n 1 | cut -d' ' -f1)
  echo "test_cuda_loader(C) ${p:-?} ${f:-?} $rc $(( $(date +%s) - s )) -" >> "$TESTS"
  [ $rc -eq 0 ] || { say "C loader test FAILED (exit status $rc)"; status=1; }
fi

# BRASA_GPU_SANITIZE=1: test_gpu.lua under compute-sanitizer (memcheck; several times slower).
SAN=()
[ "${BRASA_GPU_SANITIZE:-0}" = 1 ] && command -v compute-sanitizer >/dev/null && SAN=(compute-sanitizer --print-limit 20)

# test_gpu.lua first (the core ops), then the others in name order.
FILES=("$ROOT/tests/gpu/test_gpu.lua")
for f in "$ROOT"/tests/gpu/test_gpu_*.lua; do [ -f "$f" ] && FILES+=("$f"); done
for f in "${FILES[@]}"; do
  name=$(basename "$f")
  log=$LOGS/${name%.lua}.log
  cap=100
  [ "$name" = test_gpu.lua ] && cap=180
  t=$(step_time $cap 110)   # keep 110 s for the benchmarks
  if [ "$t" -eq 0 ]; then
    say "== $name: skipped (out of time)"
    echo "$name - - - 0 skipped(out_of_time)" >> "$TESTS"
    status=1
    continue
  fi
  say "== $name (timeout $t s)"
  s=$(date +%s)
  if [ "$name" = test_gpu.lua ] && [ ${#SAN[@]} -gt 0 ]; then
    timeout -k 5 "$t" "${SAN[@]}" "$BIN/brasa" "$f" ${BRASA_GPU_FILTER:-} > "$log" 2>&1
  else
    timeout -k 5 "$t" "$BIN/brasa" "$f" ${BRASA_GPU_FILTER:-} > "$log" 2>&1
  fi
  rc=$?
  secs=$(( $(date +%s) - s ))
  # Failures and anything unusual, not the passing lines.
  grep -vE ' ok +[0-9.]+ s$' "$log" | head -n 80 | tee -a "$LOG"
  summary=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
  p=$(echo "$summary" | cut -d' ' -f1)
  fl=$(echo "$summary" | cut -d' ' -f3)
  [ -n "$p" ] || p=$(grep -cE ' ok +[0-9.]+ s$' "$log")
  [ -n "$fl" ] || fl=$(grep -cE '^FAIL ' "$log")
  note=-
  if grep -q '^SKIP' "$log"; then
    note=skipped
    [ -n "$skip_reason" ] || skip_reason=$(grep -m1 '^SKIP' "$log")
  fi
  [ $rc -eq 124 ] || [ $rc -eq 137 ] && note="TIMED_OUT(${t}s)"
  echo "$name $p $fl $rc $secs $note" >> "$TESTS"
  say "$name: $p passed, $fl failed, exit status $rc, $secs s"
  [ $rc -eq 0 ] || status=1
done

if [ -n "$skip_reason" ] && [ "$FAKE" != 1 ]; then
  {
    echo
    echo "== brasa GPU run: no usable GPU"
    echo "$skip_reason"
  } | tee "$OUT/summary.txt" | tee -a "$LOG"
  if [ -n "$GPU_NAME" ]; then   # nvidia-smi sees a GPU that brasa cannot use: a failure
    say "run.sh: FAILED: nvidia-smi sees a GPU but brasa cannot use it (see the SKIP line above)"
    exit 1
  fi
  say "no usable GPU here: benchmarks skipped"
  exit 0
fi
say "tests took $(elapsed) s in all"

# ---- 3. benchmarks ---------------------------------------------------------------------------------

BENCH=$LOGS/bench.txt
: > "$BENCH"
# bench <name> <cap> <keep> command...: its lines into bench.txt, a failure noted.
bench() {
  local name=$1 cap=$2 keep=$3; shift 3
  local t
  t=$(step_time "$cap" "$keep")
  if [ "$t" -eq 0 ]; then
    say "== $name: skipped (out of time)"
    echo "skipped $name out_of_time" >> "$BENCH"
    return
  fi
  say "== $name (timeout $t s)"
  local s=$(date +%s)
  timeout -k 5 "$t" "$@" > "$LOGS/bench_$name.log" 2>&1
  local rc=$?
  tee -a "$BENCH" < "$LOGS/bench_$name.log" | grep -E '^(cnn|cnn_fail|SKIP|skipped) ' | tee -a "$LOG"
  if [ $rc -ne 0 ]; then
    say "$name: exit status $rc$( [ $rc -eq 124 ] || [ $rc -eq 137 ] && echo " (timed out after $t s)")"
    tail -n 5 "$LOGS/bench_$name.log" | tee -a "$LOG"
    echo "cnn_fail $name exit_status_$rc" >> "$BENCH"
  fi
  say "$name took $(( $(date +%s) - s )) s"
}

if [ "$FAKE" = 1 ]; then   # the CPU, a few batches: checks the scripts and the table
  bench cnn_brasa_f32 60 0 "$BIN/brasa" "$ROOT/tests/gpu/bench_cnn.lua" --label brasa_gpu_f32 --batches 4
  bench cnn_brasa_amp 60 0 "$BIN/brasa" "$ROOT/tests/gpu/bench_cnn.lua" --label brasa_gpu_amp --amp --batches 2
  bench cnn_torch 60 0 env LD_LIBRARY_PATH="$ORIG_LD_LIBRARY_PATH" python3 "$ROOT/tests/gpu/bench_cnn_torch.py" \
    --device cpu --batches 4 --warmup 1 --modes gpu,pinned
  bench gemm 30 0 "$BIN/brasa" "$ROOT/tests/gpu/bench_gpu.lua" 256
  bench cnn_brasa_cpu 60 0 "$BIN/brasa" "$ROOT/tests/gpu/bench_cnn.lua" --device cpu --threads "$NCPU" \
    --batches 4 --warmup 1 --label "brasa_cpu${NCPU}_f32"
else
  bench cnn_brasa_f32 100 100 "$BIN/brasa" "$ROOT/tests/gpu/bench_cnn.lua" --label brasa_gpu_f32
  bench cnn_torch 100 70 env LD_LIBRARY_PATH="$ORIG_LD_LIBRARY_PATH" python3 "$ROOT/tests/gpu/bench_cnn_torch.py"
  bench cnn_brasa_amp 80 60 "$BIN/brasa" "$ROOT/tests/gpu/bench_cnn.lua" --label brasa_gpu_amp --amp
  if [ -x "$BIN/bench_cublas" ]; then
    bench cublas 40 45 "$BIN/bench_cublas" 4096 8192
  fi
  bench gemm 60 30 "$BIN/brasa" "$ROOT/tests/gpu/bench_gpu.lua" 4096 8192
  bench cnn_brasa_cpu 45 0 "$BIN/brasa" "$ROOT/tests/gpu/bench_cnn.lua" --device cpu --threads "$NCPU" \
    --batches 40 --warmup 3 --eval 500 --label "brasa_cpu${NCPU}_f32"
fi
# brasa's own GPU epoch must run and learn (a test, not only a figure).
for l in brasa_gpu_f32 brasa_gpu_amp; do
  if grep -qE "^cnn_fail ($l|cnn_brasa_${l#brasa_gpu_}) " "$BENCH"; then status=1; fi
  if grep -qE "^cnn $l .* LOSS_NOT_DOWN " "$BENCH"; then status=1; fi
done
grep -h '^loader_timing ' "$LOGS"/test_gpu_loader.log >> "$BENCH" 2>/dev/null

# ---- 4. the table --------------------------------------------------------------------------------

{
  echo
  echo "== brasa GPU run summary (${GPU_NAME:-unknown GPU}$( [ "$FAKE" = 1 ] && echo '; FAKE: the CPU stood in for the GPU'))"
  [ -n "$CUDNN" ] && echo "cuDNN $(basename "$(readlink -f "$CUDNN")"); $NCPU CPUs"
  echo "tests                        passed  failed  exit  seconds"
  awk '{ printf "  %-26s %6s  %6s  %4s  %7s  %s\n", $1, $2, $3, $4, $5, ($6 == "-" ? "" : $6) }' "$TESTS"
  awk '
    $1 == "cublas" { cub[$2 " " $3] = $4 }
    $1 == "brasa"  { br[$2 " " $3] = $4; order[++n] = $2 " " $3 }
    $1 == "launch" { launch[++m] = sprintf("  %-12s %10s %10s", $2, $3, $4) }
    $1 == "bandwidth" { bw[++k] = sprintf("  %-24s %8s GB/s", $2, $3) }
    $1 == "cnn" { cnn[$2] = $0; sec[$2] = $3; corder[++c] = $2 }
    $1 == "cnn_fail" { fl = $0; sub(/^cnn_fail [^ ]+ /, "", fl); cfail[$2] = fl; forder[++f] = $2 }
    $1 == "loader_timing" { lt = sprintf("  staged %s ms/step, pin_memory=false %s ms, batch already on the GPU %s ms", $3, $5, $7) }
    function ratio(a, b) { return (sec[a] > 0 && sec[b] > 0) ? sprintf("%.2f", sec[a] / sec[b]) : "-" }
    END {
      if (n > 0) {
        printf "GEMM TFLOP/s   %6s %10s %10s %8s\n", "n", "brasa", "cuBLAS", "ratio"
        for (i = 1; i <= n; i++) {
          split(order[i], p, " ")
          cc = cub[order[i]]
          r = (cc > 0) ? sprintf("%.0f%%", 100 * br[order[i]] / cc) : "-"
          printf "  %-12s %6s %10s %10s %8s\n", p[1], p[2], br[order[i]], (cc == "" ? "-" : cc), r
        }
      } else print "GEMM: not measured"
      if (m > 0) {
        printf "per-op wall time from Lua (us)   %10s %10s\n", "gpu", "cpu"
        for (i = 1; i <= m; i++) print launch[i]
      }
      if (k > 0) { print "bandwidth (GPU)"; for (i = 1; i <= k; i++) print bw[i] }
      print "Fashion-MNIST CNN, one epoch of 60000 images, batches of 128, Adam (bench_cnn.lua, bench_cnn_torch.py):"
      printf "  %-18s %8s %9s %9s  %-15s %6s %6s  %s\n", "run", "s/epoch", "images/s", "timed", "eval loss", "acc", "check", "path"
      for (i = 1; i <= c; i++) {
        split(cnn[corder[i]], w, " ")
        printf "  %-18s %8s %9s %9s  %-15s %6s %6s  %s\n", w[2], w[3], w[4], w[5], w[6] "->" w[7], w[8], w[10], w[11]
      }
      for (i = 1; i <= f; i++) printf "  %-18s FAILED: %s\n", forder[i], cfail[forder[i]]
      print "  (timed < 60000: a fraction of the epoch, extrapolated)"
      print "ratios of epoch times, brasa / PyTorch (below 1: brasa faster):"
      printf "  brasa_gpu_f32 / torch_pinned_f32 (same data path)   %s\n", ratio("brasa_gpu_f32", "torch_pinned_f32")
      printf "  brasa_gpu_f32 / torch_gpu_f32 (data on the GPU)     %s\n", ratio("brasa_gpu_f32", "torch_gpu_f32")
      printf "  brasa_gpu_f32 / torch_loader_f32 (torch DataLoader) %s\n", ratio("brasa_gpu_f32", "torch_loader_f32")
      printf "  brasa_gpu_amp / torch_gpu_amp                       %s\n", ratio("brasa_gpu_amp", "torch_gpu_amp")
      for (x in sec) if (x ~ /^brasa_cpu/) printf "  %s / brasa_gpu_f32 (CPU vs GPU)       %s\n", x, ratio(x, "brasa_gpu_f32")
      if (lt != "") { print "DataLoader overlap (test_gpu_loader.lua, 12.6 MB batches, long kernels):"; print lt }
    }' "$BENCH"
  echo "tests: $( [ $status -eq 0 ] && echo passed || echo FAILED ); total $(elapsed) s (budget $BUDGET s)"
} | tee "$OUT/summary.txt" | tee -a "$LOG"
exit $status
