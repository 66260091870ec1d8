"""The JetPack releases `mmedge deploy jetson` knows: what each one ships (Jetson Linux, Ubuntu,
Python, CUDA, TensorRT) and where its Python packages come from. A release not listed here is
refused with the list: a lock for a stack nobody checked is worse than none.

Sources (checked 2026-11): JetPack 6.2 = Jetson Linux 36.4.3 (`/etc/nv_tegra_release`: R36,
REVISION 4.3), Ubuntu 22.04, Python 3.10, CUDA 12.6, TensorRT 10.3 (apt `python3-libnvinfer`),
ONNX Runtime GPU 1.23.0 from the Jetson AI Lab index jp6/cu126 (NumPy < 2). JetPack 7.2 =
Jetson Linux 39.2, Ubuntu 24.04, Python 3.12, CUDA 13.2, TensorRT 10.16, for Orin (sm_87) and
Thor (sm_110); no ONNX Runtime GPU wheel is published for it (Jetson AI Lab's cu130 index holds
SBSA builds for sm_90 that load on Orin but have no kernels for it), so its lock takes ONNX
Runtime for the CPU and TensorRT is the GPU backend there. Every pin from PyPI was resolved for
manylinux aarch64 and the release's Python on 2026-11-30 (`pip download --platform
manylinux2014_aarch64 --python-version 3.10|3.12`); the Jetson AI Lab wheel cannot be fetched
from the machine that wrote this.
"""

from __future__ import annotations

from dataclasses import dataclass

from mmedge.errors import MMEdgeError


@dataclass(frozen=True)
class JetPack:
    """One JetPack release: versions (strings), the GPUs it supports (sm), and its Python
    requirements: `requirements` pinned lines, `index_url` the extra index they need (None:
    PyPI alone), `apt` the Debian packages the install script installs."""

    version: str
    l4t: str
    ubuntu: str
    python: str
    cuda: str
    tensorrt: str
    sm: tuple[str, ...]
    requirements: tuple[str, ...]
    index_url: str | None
    apt: tuple[str, ...]
    notes: tuple[str, ...] = ()


# TensorRT's Python bindings and trtexec; a compiler and headers for mmedge's kernels (built on
# the device, CUDA ones by JetPack's nvcc); JetPack's own OpenCV (GStreamer, CUDA), never a pip
# one that would shadow it.
APT = (
    "python3-libnvinfer",
    "libnvinfer-bin",
    "python3-venv",
    "python3-dev",
    "build-essential",
    "python3-opencv",
)

JETPACKS: dict[str, JetPack] = {
    "6.2": JetPack(
        version="6.2",
        l4t="36.4.3",
        ubuntu="22.04",
        python="3.10",
        cuda="12.6",
        tensorrt="10.3",
        sm=("87",),
        requirements=(
            "onnxruntime-gpu==1.23.0",
            "numpy==1.26.4",
            "cuda-python==12.6.*",
        ),
        index_url="https://pypi.jetson-ai-lab.io/jp6/cu126",
        apt=APT,
    ),
    "7.2": JetPack(
        version="7.2",
        l4t="39.2",
        ubuntu="24.04",
        python="3.12",
        cuda="13.2",
        tensorrt="10.16",
        sm=("87", "110"),
        requirements=(
            "onnxruntime==1.23.2",
            "numpy==1.26.4",
            "cuda-python==13.2.*",
        ),
        index_url=None,
        apt=APT,
        notes=(
            "No ONNX Runtime GPU wheel is published for JetPack 7.2: the lock installs ONNX "
            "Runtime for the CPU (the fallback) and the pipeline runs TensorRT engines on the "
            "GPU. A GPU build of ONNX Runtime for CUDA 13.2 / sm_87 has to be built from source.",
        ),
    ),
}


def jetpack(version: str) -> JetPack:
    """The release `version` ('6.2'); any other is refused, listing the known ones."""
    try:
        return JETPACKS[version]
    except KeyError:
        raise MMEdgeError(
            f"unknown JetPack {version!r}; mmedge deploys to JetPack {', '.join(JETPACKS)}"
        ) from None
