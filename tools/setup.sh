#!/usr/bin/env bash
# Installs what brasa needs on Debian 12 (as root, or with sudo), then
# builds it into ./build. Safe to run again: it installs only what is
# missing and rebuilds incrementally.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake pkg-config
  liblua5.4-dev lua5.4 lua-busted
  libopenblas-dev libreadline-dev zlib1g-dev
  gnuplot-x11 xvfb x11-apps
  dataset-fashion-mnist libfann-doc fortunes fortunes-min
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# scikit-learn's small data sets (brasa.data.iris, wine, breast_cancer,
# digits): the CSV files inside the Debian package python3-sklearn, unpacked
# without installing it (no root needed, none of its Python dependencies)
# into build/datasets/sklearn, where brasa.data finds them.
SKLEARN_DATA=build/datasets/sklearn
if [ ! -f "$SKLEARN_DATA/digits.csv.gz" ]; then
  tmp=$(mktemp -d)
  fetch() { (cd "$tmp" && apt-get download python3-sklearn >/dev/null 2>&1); }
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  { fetch || { $SUDO apt-get update -qq && fetch; }; } \
    && dpkg -x "$tmp"/python3-sklearn_*.deb "$tmp/x" \
    && mkdir -p "$SKLEARN_DATA" \
    && cp "$tmp"/x/usr/lib/python3/dist-packages/sklearn/datasets/data/*.csv* "$SKLEARN_DATA"/ \
    || echo "setup: could not unpack python3-sklearn's data files (brasa.data.iris and co. will say so)"
  rm -rf "$tmp"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
