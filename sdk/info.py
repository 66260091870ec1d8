"""What this machine and this build of mmedge can do: `mmedge info`."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
from pathlib import Path
from typing import Any

from mmedge._ext import C
from mmedge._version import __version__


def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    """The CPU's name from /proc/cpuinfo ('model name' on x86; 'Model' or 'Hardware' on ARM
    boards such as Jetson), else what the platform module knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model", "Hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _jetson_release() -> str | None:
    """L4T release from /etc/nv_tegra_release on a Jetson (e.g. 'R36 (release), REVISION: 4.0')."""
    path = Path("/etc/nv_tegra_release")
    if not path.is_file():
        return None
    first = path.read_text(errors="replace").splitlines()[:1]
    return first[0].lstrip("# ").split(", GCID")[0] if first else None


def _onnxruntime() -> dict[str, Any]:
    if importlib.util.find_spec("onnxruntime") is None:
        return {"installed": False}
    import onnxruntime

    return {
        "installed": True,
        "version": onnxruntime.__version__,
        "providers": onnxruntime.get_available_providers(),
    }


def _cuda() -> dict[str, Any]:
    info: dict[str, Any] = {
        "kernels_built": bool(C.cuda_compiled),
        "architectures": C.cuda_architectures or None,
    }
    if not C.cuda_compiled:
        return info
    count = C.cuda_device_count()
    info["driver_version"] = C.cuda_driver_version() or None
    info["runtime_version"] = C.cuda_runtime_version()
    info["devices"] = [C.cuda_device_info(i) for i in range(count)]
    return info


def collect() -> dict[str, Any]:
    """Everything `mmedge info` reports, as a JSON-ready dict."""
    return {
        "mmedge": __version__,
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "cpu": cpu_model(),
        "jetson_l4t": _jetson_release(),
        "kernels": {
            "compiler": C.compiler,
            "cpu_simd": C.cpu_simd(),
            "audio_simd": C.audio_driver(),
            "threads": C.get_num_threads(),
            "cuda": _cuda(),
        },
        "backends": {
            "onnxruntime": _onnxruntime(),
            "tensorrt": _dist_version("tensorrt")
            or _dist_version("tensorrt-cu12")
            or _dist_version("tensorrt-cu13"),
        },
        "export": {
            "torch": _dist_version("torch"),
            "onnx": _dist_version("onnx"),
            "onnxscript": _dist_version("onnxscript"),
        },
    }


def format_report(info: dict[str, Any]) -> str:
    k, cuda = info["kernels"], info["kernels"]["cuda"]
    ort = info["backends"]["onnxruntime"]
    lines = [
        f"mmedge {info['mmedge']}  (Python {info['python']}, {info['platform']})",
        f"CPU:          {info['cpu']}",
    ]
    if info["jetson_l4t"]:
        lines.append(f"Jetson L4T:   {info['jetson_l4t']}")
    lines.append(
        f"CPU kernels:  {k['cpu_simd']} image driver, {k['audio_simd']} audio driver, "
        f"{k['threads']} thread(s), {k['compiler']}"
    )
    if cuda["kernels_built"]:
        devices = (
            ", ".join(
                f"{d['name']} (sm_{d['compute_capability'].replace('.', '')})"
                for d in cuda.get("devices", [])
            )
            or "no device available"
        )
        lines.append(
            f"CUDA kernels: built for {cuda['architectures']} (runtime "
            f"{cuda['runtime_version']}); devices: {devices}"
        )
    else:
        lines.append("CUDA kernels: not built (no nvcc at build time, or MMEDGE_CUDA=0)")
    if ort["installed"]:
        lines.append(f"ONNX Runtime: {ort['version']}, providers {', '.join(ort['providers'])}")
    else:
        lines.append("ONNX Runtime: not installed (pip install 'mmedge[ort]')")
    lines.append(f"TensorRT:     {info['backends']['tensorrt'] or 'not installed'}")
    exp = info["export"]
    lines.append(
        f"Export:       torch {exp['torch'] or '-'}, onnx {exp['onnx'] or '-'}, "
        f"onnxscript {exp['onnxscript'] or '-'}"
    )
    return "\n".join(lines)
