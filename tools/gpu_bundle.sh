#!/usr/bin/env bash
# tools/gpu_bundle.sh: builds brasa with the CUDA backend into build-gpu and
# assembles build-gpu-carry, what a lent GPU machine needs to run
# tests/gpu/run.sh (it has no Lua, OpenBLAS, readline or data of its own):
#
#   build-gpu-carry/brasa                      the executable
#   build-gpu-carry/core/libbrasa.so.0         the engine
#   build-gpu-carry/core/libbrasa_cuda.so.gz   the CUDA backend (cudart linked in)
#   build-gpu-carry/lua/brasa/core.so          the Lua binding
#   build-gpu-carry/bench_cublas.gz, test_cuda_loader
#   build-gpu-carry/libs/                      liblua5.4, OpenBLAS, libgfortran,
#                                              libquadmath, readline, tinfo, zlib
#   build-gpu-carry/data/fashion-mnist/        the four gzipped IDX files
#
# Files over 512 KiB are gzipped (the CUDA library shrinks 5-fold: its
# kernels' machine code compresses well); run.sh unpacks them into /tmp.
# The data stay as they are (already gzipped; brasa reads them so).
# cuBLAS and cuDNN are not carried: run.sh finds them on that machine (the
# toolkit, or PyTorch's nvidia wheels). The Lua sources travel with the
# working tree. build-gpu-carry matches build-*/ in .gitignore, so it
# travels only when named in the device tool's carry list:
#
#   tools/gpu_bundle.sh
#   device run: carry ["build-gpu-carry"], command "bash tests/gpu/run.sh", timeout_s 420
#
# Prints the carry's size and the working tree's; the two together must stay
# under 64 MiB. BRASA_FASHION_MNIST_DIR: where the data are (default: the
# Debian package dataset-fashion-mnist's folder).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=build-gpu
CARRY=build-gpu-carry
DATA=${BRASA_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}

# sm_90 machine code only: the lent GPUs are H100/H200, and the carry is small.
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DBRASA_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90-real >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target brasa_exe brasa_lua brasa_cuda bench_cublas test_cuda_loader

rm -rf "$CARRY"
mkdir -p "$CARRY/core" "$CARRY/lua/brasa" "$CARRY/libs" "$CARRY/data/fashion-mnist"
cp -L "$BUILD/brasa" "$CARRY/brasa"
cp -L "$BUILD/core/libbrasa.so.0" "$CARRY/core/libbrasa.so.0"
cp -L "$BUILD/core/libbrasa_cuda.so" "$CARRY/core/libbrasa_cuda.so"
cp -L "$BUILD/lua/brasa/core.so" "$CARRY/lua/brasa/core.so"
cp -L "$BUILD/bench_cublas" "$CARRY/bench_cublas"
cp -L "$BUILD/tests/test_cuda_loader" "$CARRY/test_cuda_loader"
strip --strip-unneeded "$CARRY/brasa" "$CARRY/core/libbrasa.so.0" "$CARRY/core/libbrasa_cuda.so" \
  "$CARRY/lua/brasa/core.so" "$CARRY/test_cuda_loader" "$CARRY/bench_cublas" 2>/dev/null || true

# The non-CUDA, non-libc libraries the binaries load, copied by their soname.
KEEP='liblua5\.4|libopenblas|libgfortran|libquadmath|libreadline|libtinfo|libz\.so'
ldd "$CARRY/brasa" "$CARRY/lua/brasa/core.so" "$CARRY/core/libbrasa.so.0" "$CARRY/test_cuda_loader" |
  awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' | sort -u | grep -E "^($KEEP)" |
  while read -r soname path; do
    cp -L "$path" "$CARRY/libs/$soname"
  done

# The data for the CNN benchmark.
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  if [ -f "$DATA/$f" ]; then
    cp "$DATA/$f" "$CARRY/data/fashion-mnist/$f"
  else
    echo "gpu_bundle: $DATA/$f not found (install dataset-fashion-mnist): the CNN benchmark will not run" >&2
  fi
done

# Large files gzipped (not the data: already gzipped).
find "$CARRY" -path "$CARRY/data" -prune -o -type f -size +512k -print | while read -r f; do gzip -9 -f "$f"; done

echo "gpu_bundle: $CARRY holds:"
(cd "$CARRY" && find . -type f -printf '  %8k KiB  %p\n' | sort -k3)
carry_kib=$(du -sk "$CARRY" | cut -f1)
tree_kib=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | xargs -0 du -ck 2>/dev/null | tail -n 1 | cut -f1)
echo "gpu_bundle: carry $((carry_kib / 1024)) MiB + working tree $((tree_kib / 1024)) MiB = $(((carry_kib + tree_kib) / 1024)) MiB (limit 64 MiB)"
if [ $((carry_kib + tree_kib)) -ge $((64 * 1024)) ]; then
  echo "gpu_bundle: over the 64 MiB limit" >&2
  exit 1
fi
echo "gpu_bundle: now run on the device: carry [\"$CARRY\"], command \"bash tests/gpu/run.sh\", timeout_s 420"
