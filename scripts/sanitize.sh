#!/usr/bin/env bash
# Builds mmedge._C with AddressSanitizer + UndefinedBehaviorSanitizer (CPU kernels; the CUDA
# runtime does not run under ASan) and runs the kernel tests and the binding fuzz test against
# it. Any out-of-bounds access, use-after-free or undefined behaviour aborts the run.
#   scripts/sanitize.sh [python]      (default: .venv/bin/python, as .ci/run sets it up)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
# The build tools (pip's build isolation kept them out of the environment it installed into).
"$PY" -m pip install -q "pybind11>=2.12" "cmake>=3.24" ninja
export PATH="$(dirname "$PY"):$PATH"
BUILD=build/sanitize
PKG=$BUILD/pkg
rm -rf "$PKG"
mkdir -p "$PKG"
SUFFIX=$("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
cmake -S cpp_ext -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMMEDGE_SANITIZE=ON \
  -DMMEDGE_WITH_CUDA=OFF -DPython_EXECUTABLE="$("$PY" -c 'import sys; print(sys.executable)')" \
  -Dpybind11_DIR="$("$PY" -c 'import pybind11; print(pybind11.get_cmake_dir())')" \
  -DMMEDGE_OUTPUT_DIR="$PWD/$PKG/mmedge" -DMMEDGE_MODULE_FILENAME="_C$SUFFIX" \
  -DMMEDGE_VERSION=sanitize > "$BUILD/configure.log"
cmake --build "$BUILD" --parallel "$(nproc)" > "$BUILD/build.log"
# The package as it installs (sdk/ -> mmedge, export/ -> mmedge.export), with the ASan module.
"$PY" - "$PKG" <<'PY'
import shutil, sys
skip = shutil.ignore_patterns("_C*.so", "__pycache__")
shutil.copytree("sdk", f"{sys.argv[1]}/mmedge", ignore=skip, dirs_exist_ok=True)
shutil.copytree("export", f"{sys.argv[1]}/mmedge/export", ignore=skip, dirs_exist_ok=True)
PY
export PYTHONPATH="$PWD/$PKG"
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
# Python is not instrumented: leak checking would only report the interpreter's own.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
"$PY" -c 'import mmedge, sys; assert "sanitize" in mmedge._C.__version__, mmedge._C.__file__'
"$PY" -m pytest -q -p no:cacheprovider -o addopts="" tests/preprocess/test_preprocess_image.py \
  tests/preprocess/test_rfft.py tests/preprocess/test_resample.py \
  tests/preprocess/test_audio_features.py tests/preprocess/test_frame_stack.py \
  tests/preprocess/test_spec.py tests/preprocess/test_bindings_fuzz.py \
  tests/tasks/test_detection.py tests/tasks/test_geometry.py tests/tasks/test_segmentation_kernel.py
echo "sanitize: kernel tests clean under ASan + UBSan"
