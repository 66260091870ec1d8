#!/usr/bin/env bash
# mmedge on aarch64 under emulation. An arm64 Debian 12 root (mmdebstrap; cached in
# build/aarch64/root.tar), Python 3.11 there with NumPy, ONNX Runtime, OpenCV and SciPy from
# PyPI's aarch64 wheels; mmedge built there (the CPU kernels: MMEDGE_CUDA=0) and its tests run
# there, every arm64 instruction executed by qemu-user through binfmt_misc.
#
#   bash scripts/aarch64_check.sh           # the full set: kernel, bundle, Model tests + demo
#   bash scripts/aarch64_check.sh --quick   # the CI set: the kernel tests' exactness core
#
# Writes build/aarch64/report.json (tests run, passed, failed, skipped, seconds per step).
# Needs root, mmdebstrap, qemu-user-static and a mountable binfmt_misc; exits 3 naming what is
# missing (CI treats 3 as "cannot run here", not as a failure).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
WORK="$REPO/build/aarch64"
ROOT="$WORK/root"
DATA="${MMEDGE_DATA:-$REPO/../shared/data}"
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1

cannot() { echo "aarch64_check: cannot run here: $*" >&2; exit 3; }
[ "$(id -u)" = 0 ] || cannot "needs root (chroot, bind mounts, binfmt_misc)"
command -v mmdebstrap >/dev/null || cannot "mmdebstrap is not installed (apt install mmdebstrap)"
[ -x /usr/bin/qemu-aarch64-static ] || cannot "qemu-user-static is not installed"
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null ||
        cannot "binfmt_misc cannot be mounted (a container without CAP_SYS_ADMIN)"
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    update-binfmts --enable qemu-aarch64 2>/dev/null ||
        cannot "qemu-aarch64 is not registered with binfmt_misc (apt install binfmt-support)"
fi
[ -d "$DATA" ] || cannot "no data at $DATA (set MMEDGE_DATA)"

declare -A SECONDS_OF
step() { local name=$1; shift; local t0=$SECONDS; "$@"; SECONDS_OF[$name]=$((SECONDS - t0)); }

make_root() {
    mkdir -p "$WORK"
    if [ ! -f "$WORK/root.tar" ]; then  # mmdebstrap picks the format from the extension: .tar
        rm -rf "$WORK/root.tar" "$WORK/partial.tar"
        mmdebstrap --quiet --architectures=arm64 --variant=apt \
            --include=python3,python3-venv,python3-dev,g++,make,ca-certificates \
            bookworm "$WORK/partial.tar" http://deb.debian.org/debian
        mv "$WORK/partial.tar" "$WORK/root.tar"
    fi
    rm -rf "$ROOT" && mkdir -p "$ROOT"
    tar -xf "$WORK/root.tar" -C "$ROOT"
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
    # the host's trusted CAs (a proxy's own CA included) for pip inside the root
    cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/host-ca-certificates.crt"
}

MOUNTS=()
cleanup() {
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount "${MOUNTS[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
bind() {  # bind SRC DST [ro]
    mkdir -p "$2"
    mount --bind "$1" "$2"
    MOUNTS+=("$2")
    [ "${3:-}" = ro ] && mount -o remount,ro,bind "$2"
    return 0
}

copy_source() {  # the working tree's tracked files, as they are now
    mkdir -p "$ROOT/src"
    git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$ROOT/src"
}

in_root() { chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/venv/bin:/usr/bin:/bin \
    MMEDGE_DATA=/data MMEDGE_CUDA=0 LANG=C.UTF-8 \
    PIP_CERT=/etc/ssl/certs/host-ca-certificates.crt \
    SSL_CERT_FILE=/etc/ssl/certs/host-ca-certificates.crt \
    ${HTTPS_PROXY:+HTTPS_PROXY=$HTTPS_PROXY} ${HTTP_PROXY:+HTTP_PROXY=$HTTP_PROXY} \
    /bin/bash -c "$1"; }

install_python() {
    local cache="$WORK/pip-cache"
    mkdir -p "$cache"
    bind "$cache" "$ROOT/root/.cache/pip"
    in_root "python3 -m venv /venv && pip install -q --upgrade pip &&
        pip install -q 'numpy<2.3' onnxruntime opencv-python-headless scipy jsonschema tqdm \
            soundfile librosa pytest pytest-timeout hypothesis setuptools wheel pybind11 cmake \
            ninja"
}

build_mmedge() {
    in_root "cd /src && pip install -q --no-build-isolation --no-deps -e . &&
        python -c 'import platform, mmedge._C as C; print(platform.machine(), C.cpu_simd())'"
}

KERNEL_TESTS="tests/preprocess/test_preprocess_image.py tests/preprocess/test_resample.py \
tests/preprocess/test_rfft.py tests/preprocess/test_frame_stack.py tests/tasks/test_detection.py \
tests/tasks/test_segmentation_kernel.py tests/tasks/test_geometry.py"
FULL_TESTS="$KERNEL_TESTS tests/preprocess/test_audio_features.py \
tests/preprocess/test_bindings_fuzz.py tests/preprocess/test_spec.py tests/bundle \
tests/runtime/test_model.py tests/runtime/test_inputs.py tests/runtime/test_selection.py \
tests/tasks/test_events.py"

run_tests() {
    local set=$FULL_TESTS
    [ $QUICK = 1 ] && set=$KERNEL_TESTS
    in_root "cd /src && python -m pytest -q -p no:cacheprovider --timeout 1800 \
        --junitxml=/src/aarch64-junit.xml $set" || true
    cp "$ROOT/src/aarch64-junit.xml" "$WORK/junit.xml"
}

run_demo() {
    in_root "cd /tmp && mmedge demo --json > /tmp/demo.json && python -c \"import json; \
        r = json.load(open('/tmp/demo.json')); print('demo:', len(r['results']), 'fused results, accuracy', \
        r.get('accuracy_vs_truth'))\"" \
        | tail -1 | tee "$WORK/demo.txt"
}

step root make_root
bind "$DATA" "$ROOT/data" ro
bind /proc "$ROOT/proc"
bind /dev "$ROOT/dev"
step source copy_source
step python install_python
step build build_mmedge
step tests run_tests
[ $QUICK = 1 ] || step demo run_demo
[ $QUICK = 1 ] || in_root "python /src/scripts/neon_exactness.py" | grep -v -e cpuinfo -e h264 \
    > "$WORK/neon_exactness.json"

python3 - "$WORK" "$QUICK" "${SECONDS_OF[root]}" "${SECONDS_OF[python]}" \
    "${SECONDS_OF[build]}" "${SECONDS_OF[tests]}" "${SECONDS_OF[demo]:-0}" <<'PY'
import json, sys, xml.etree.ElementTree as ET
from pathlib import Path
work, quick = Path(sys.argv[1]), sys.argv[2] == "1"
names = ["root", "python", "build", "tests", "demo"]
seconds = dict(zip(names, map(int, sys.argv[3:])))
suite = ET.parse(work / "junit.xml").getroot()
suite = suite if suite.tag == "testsuite" else suite[0]
counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
demo = (work / "demo.txt").read_text().strip() if (work / "demo.txt").exists() else None
neon = work / "neon_exactness.json"
exact = json.loads(neon.read_text()) if not quick and neon.exists() else None
report = {"set": "quick" if quick else "full", "seconds": seconds, **counts, "demo": demo,
          "neon_exactness": exact}
(work / "report.json").write_text(json.dumps(report, indent=2) + "\n")
print(json.dumps(report))
sys.exit(1 if counts["failures"] or counts["errors"] else 0)
PY
