#!/usr/bin/env bash
# Compiles every CUDA source of mmedge (cpp_ext/src/**/*.cu) with this machine's nvcc for the
# Jetson architectures: sm_87 (Orin: JetPack 6.x and 7.x) and, when this nvcc knows it, sm_110
# (Thor: JetPack 7.x, CUDA 13), as the package build compiles them (C++17, -O3, the kernels'
# own include tree, MMEDGE_WITH_CUDA defined). SASS for each architecture, no GPU needed.
# What it proves: the sources compile and assemble for those GPUs with this CUDA (nvcc --version
# is printed). What it does not: that they run there, or that CUDA 12.6 (JetPack 6.2) accepts
# them (see issue 13: NVRTC 12.6 is the route considered).
#   bash scripts/cuda_archs_check.sh            # exit 0: all compiled; 3: no nvcc here
set -euo pipefail
cd "$(dirname "$0")/.."
NVCC=${NVCC:-$(command -v nvcc || true)}
if [ -z "$NVCC" ]; then echo "cuda_archs_check: no nvcc" >&2; exit 3; fi
"$NVCC" --version | tail -2
known=$("$NVCC" --list-gpu-arch | tr '\n' ' ')
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
for arch in 87 110; do
  if [[ " $known " != *" compute_$arch "* ]]; then
    echo "sm_$arch: this nvcc does not know it (it knows: $known)"
    continue
  fi
  for src in $(find cpp_ext/src -name '*.cu' | sort); do
    if "$NVCC" -c -std=c++17 -O3 -DMMEDGE_WITH_CUDA -Icpp_ext/include \
        -gencode "arch=compute_$arch,code=sm_$arch" "$src" -o "$out/$(basename "$src").$arch.o" \
        2>"$out/err"; then
      echo "sm_$arch: $src compiled ($(stat -c %s "$out/$(basename "$src").$arch.o") bytes)"
    else
      echo "sm_$arch: $src FAILED"; cat "$out/err"; status=1
    fi
  done
done
exit $status
