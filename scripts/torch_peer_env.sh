#!/usr/bin/env bash
# Runs a benchmark that times a PyTorch-ecosystem peer (torchvision.ops.batched_nms) in a venv
# of its own: torchvision's PyPI wheels are built against PyPI's CUDA torch (it runs on the CPU
# too) and do not load with the CPU torch of mmedge's test environment. The venv (build/torch-peer,
# kept between runs) holds torch + torchvision + mmedge's runtime dependencies; mmedge itself is
# this checkout, built in place (python setup.py build_ext --inplace), seen through a package
# folder of links (sdk/ as mmedge, export/ as mmedge.export), so the C++ kernels are the ones
# the tests use.
#
#   bash scripts/torch_peer_env.sh benchmarks/postprocess.py [its options]
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH=${TORCH:-2.14.1}
TORCHVISION=${TORCHVISION:-0.29.1}
venv=build/torch-peer
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import torchvision.ops, onnx, cv2, matplotlib" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "torch==$TORCH" "torchvision==$TORCHVISION" numpy opencv-python-headless \
    onnx onnxruntime jsonschema tqdm matplotlib
fi
ls sdk/_C*.so >/dev/null 2>&1 || .venv/bin/python setup.py build_ext --inplace
links=build/torch-peer-path
rm -rf "$links" && mkdir -p "$links/mmedge"
for entry in sdk/*; do ln -s "$PWD/$entry" "$links/mmedge/"; done
ln -s "$PWD/export" "$links/mmedge/export"
PYTHONPATH="$PWD/$links" exec "$venv/bin/python" "$@"
