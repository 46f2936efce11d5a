#!/usr/bin/env bash
# tools/gpu_bundle.sh: builds brasa with the CUDA backend into build-gpu and
# assembles build-gpu-carry, what a lent GPU machine needs to run
# tests/gpu/run.sh (it has no Lua, OpenBLAS or readline of its own):
#
#   build-gpu-carry/brasa                      the executable
#   build-gpu-carry/core/libbrasa.so.0         the engine
#   build-gpu-carry/core/libbrasa_cuda.so      the CUDA backend (cudart linked in)
#   build-gpu-carry/lua/brasa/core.so          the Lua binding
#   build-gpu-carry/bench_cublas, test_cuda_loader
#   build-gpu-carry/libs/                      liblua5.4, OpenBLAS (gzipped), libgfortran,
#                                              libquadmath, readline, tinfo, zlib
#
# cuBLAS is not carried: run.sh finds it on that machine. The Lua sources
# travel with the working tree. build-gpu-carry matches build-*/ in
# .gitignore, so it travels only when named in the device tool's carry list:
#
#   tools/gpu_bundle.sh
#   device run: carry ["build-gpu-carry"], command "bash tests/gpu/run.sh", timeout_s 540
#
# Prints the carry's size and the working tree's; the two together must stay
# under 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=build-gpu
CARRY=build-gpu-carry

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DBRASA_CUDA=ON >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target brasa_exe brasa_lua brasa_cuda bench_cublas test_cuda_loader

rm -rf "$CARRY"
mkdir -p "$CARRY/core" "$CARRY/lua/brasa" "$CARRY/libs"
cp -L "$BUILD/brasa" "$CARRY/brasa"
cp -L "$BUILD/core/libbrasa.so.0" "$CARRY/core/libbrasa.so.0"
cp -L "$BUILD/core/libbrasa_cuda.so" "$CARRY/core/libbrasa_cuda.so"
cp -L "$BUILD/lua/brasa/core.so" "$CARRY/lua/brasa/core.so"
cp -L "$BUILD/bench_cublas" "$CARRY/bench_cublas"
cp -L "$BUILD/tests/test_cuda_loader" "$CARRY/test_cuda_loader"
strip --strip-unneeded "$CARRY/brasa" "$CARRY/core/libbrasa.so.0" "$CARRY/lua/brasa/core.so" \
  "$CARRY/test_cuda_loader" 2>/dev/null || true

# The non-CUDA, non-libc libraries the binaries load, copied by their soname.
KEEP='liblua5\.4|libopenblas|libgfortran|libquadmath|libreadline|libtinfo|libz\.so'
ldd "$CARRY/brasa" "$CARRY/lua/brasa/core.so" "$CARRY/core/libbrasa.so.0" "$CARRY/test_cuda_loader" |
  awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' | sort -u | grep -E "^($KEEP)" |
  while read -r soname path; do
    cp -L "$path" "$CARRY/libs/$soname"
  done
# OpenBLAS is most of the weight: gzipped here, unpacked by run.sh.
for f in "$CARRY"/libs/libopenblas*; do gzip -9 -f "$f"; done

echo "gpu_bundle: $CARRY holds:"
(cd "$CARRY" && find . -type f -printf '  %8k KiB  %p\n' | sort -k3)
carry_kib=$(du -sk "$CARRY" | cut -f1)
tree_kib=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | xargs -0 du -ck 2>/dev/null | tail -n 1 | cut -f1)
echo "gpu_bundle: carry $((carry_kib / 1024)) MiB + working tree $((tree_kib / 1024)) MiB = $(((carry_kib + tree_kib) / 1024)) MiB (limit 64 MiB)"
if [ $((carry_kib + tree_kib)) -ge $((64 * 1024)) ]; then
  echo "gpu_bundle: over the 64 MiB limit" >&2
  exit 1
fi
echo "gpu_bundle: now run on the device: carry [\"$CARRY\"], command \"bash tests/gpu/run.sh\""
