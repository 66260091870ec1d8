#!/usr/bin/env bash
# Runs a Python command in the environment `mmedge serve` needs: PyTriton (nvidia-pytriton,
# with its tritonserver binary) and NumPy < 2, in a venv of the system's Python 3. PyTriton's
# python backend stub loads the system's libpython, so the venv's standard library must be that
# same build (a pyenv or conda Python of the same minor version fails inside the stub).
# The venv (build/triton-env, kept between runs) holds PyTriton and mmedge's runtime
# dependencies; mmedge is this checkout, built in place, seen through a folder of links.
#
#   bash scripts/triton_env.sh -m mmedge.cli serve BUNDLE... --http-port 8000
# Exit status 3: no usable system Python (nothing else was tried).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${TRITON_PYTHON:-/usr/bin/python3}
if [ ! -x "$PY" ]; then echo "triton_env: no $PY" >&2; exit 3; fi
libpython=$("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("LDLIBRARY") or "")')
libdir=$("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR") or "")')
if [ -z "$libpython" ] || [ ! -e "$libdir/$libpython" ] || [[ "$libpython" == *.a ]]; then
  echo "triton_env: $PY has no shared libpython ($libdir/$libpython)" >&2; exit 3
fi
venv=build/triton-env
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import pytriton, onnxruntime, jsonschema" 2>/dev/null; then
  rm -rf "$venv"
  "$PY" -m venv "$venv"
  "$venv/bin/pip" install -q "nvidia-pytriton>=0.5" "numpy<2" onnxruntime jsonschema
fi
ls sdk/_C*.so >/dev/null 2>&1 || python3 setup.py build_ext --inplace
links=build/triton-env-path
rm -rf "$links" && mkdir -p "$links/mmedge"
for entry in sdk/*; do ln -s "$PWD/$entry" "$links/mmedge/"; done
# a .pth file rather than PYTHONPATH: Triton's python backend stubs (the models of an
# export-triton repository) start without the caller's PYTHONPATH but read the venv's site-packages
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
echo "$PWD/$links" > "$site/mmedge-checkout.pth"
exec "$venv/bin/python" "$@"
