#!/usr/bin/env bash
# The one prepared script for a lent GPU machine (DEVELOPERS.md, "GPU checks"): builds mmedge._C
# with CUDA there, runs the GPU tests (CUDA vs CPU) and the CPU kernel tests on that CPU, then the
# CUDA and CPU preprocessing benchmarks. Logs and results land in $OUT (at most 8 files).
set -uo pipefail
OUT=${OUT:-/tmp/mmedge-device}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 MMEDGE_CUDA=1 MMEDGE_CUDA_ARCHS=${MMEDGE_CUDA_ARCHS:-90}
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  nvcc --version | tail -1
  python3 --version
  python3 -m pip install -q --no-build-isolation --no-deps -e . || exit 1
  python3 -m mmedge.cli info
} 2>&1 | tee "$OUT/build.log"
python3 -m pytest tests/preprocess/test_cuda.py tests/preprocess/test_preprocess_image.py \
  tests/preprocess/test_rfft.py tests/preprocess/test_frame_stack.py tests/runtime/test_tensorrt.py \
  tests/tasks/test_detection_cuda.py tests/tasks/test_detection.py \
  tests/tasks/test_segmentation_cuda.py tests/tasks/test_segmentation_kernel.py \
  -q -rs -p no:cacheprovider -o addopts="" 2>&1 | tee "$OUT/gpu_tests.log"
python3 benchmarks/preprocess_image.py --device cuda 2>&1 | tee "$OUT/bench_cuda.log"
python3 benchmarks/preprocess_image.py --threads 1 2 4 2>&1 | tee "$OUT/bench_cpu.log"
# Result files written by this run, flattened as MACHINE__FILE (the device tool returns 8 files).
find benchmarks/results -newer "$OUT/build.log" -type f \( -name '*.json' -o -name '*.md' \) |
  while read -r f; do cp "$f" "$OUT/$(basename "$(dirname "$f")")__$(basename "$f")"; done
ls -la "$OUT"
