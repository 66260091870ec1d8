"""`mmedge info --target` on fixtures of a Jetson's files. The release lines are the real
/etc/nv_tegra_release of JetPack 6.2 (Jetson Linux 36.4.3) and JetPack 7.0 (38.2.0, Thor), as
published by users of those releases; NvInferVersion.h in TensorRT 10.3's form (numeric
defines) and 10.13's (defined through TRT_*_ENTERPRISE); CUDA's version.json; the device-tree
names of the boards; `nvpmodel -q` as it prints. For each bundle the probe says whether its
engine fits, must be rebuilt (with the command) or runs on ONNX Runtime."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mmedge
from mmedge.bundle import Bundle
from mmedge.bundle.writer import write_bundle
from mmedge.cli import main
from mmedge.deploy.target import engine_verdict, parse_tensorrt_header, probe
from mmedge.runtime.tensorrt import build as engine_build
from mmedge.runtime.tensorrt.engine import (
    EngineTarget,
    engine_file_name,
    make_profile,
    timing_cache_name,
)

JP62 = {
    "etc/nv_tegra_release": (
        "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: "
        "Wed Jan  8 01:49:37 UTC 2025\n# KERNEL_VARIANT: oot\nTARGET_USERSPACE_LIB_DIR=nvidia\n"
        "TARGET_USERSPACE_LIB_DIR_PATH=usr/lib/aarch64-linux-gnu/nvidia\n"
    ),
    "usr/local/cuda/version.json": json.dumps(
        {
            "cuda": {"name": "CUDA SDK", "version": "12.6.68"},
            "cuda_cudart": {"name": "CUDA Runtime (cudart)", "version": "12.6.68"},
        },
        indent=3,
    ),
    "usr/include/aarch64-linux-gnu/NvInferVersion.h": (
        "#ifndef NV_INFER_VERSION_H\n#define NV_INFER_VERSION_H\n\n"
        "#define NV_TENSORRT_MAJOR 10 //!< TensorRT major version.\n"
        "#define NV_TENSORRT_MINOR 3 //!< TensorRT minor version.\n"
        "#define NV_TENSORRT_PATCH 0 //!< TensorRT patch version.\n"
        "#define NV_TENSORRT_BUILD 30 //!< TensorRT build number.\n"
    ),
    "proc/device-tree/model": "NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super\0",
    "proc/device-tree/compatible": "nvidia,p3768-0000+p3767-0005-super\0nvidia,p3767-0005\0"
    "nvidia,tegra234\0",
}
JP70 = {
    "etc/nv_tegra_release": (
        "# R38 (release), REVISION: 2.0, GCID: 41844464, BOARD: generic, EABI: aarch64, DATE: "
        "Fri Aug 22 00:55:42 UTC 2025\n# KERNEL_VARIANT: oot\nTARGET_USERSPACE_LIB_DIR=nvidia\n"
        "TARGET_USERSPACE_LIB_DIR_PATH=usr/lib/aarch64-linux-gnu/nvidia\nINSTALL_TYPE=\n"
    ),
    "usr/local/cuda/version.json": json.dumps({"cuda": {"name": "CUDA SDK", "version": "13.0.48"}}),
    "usr/include/aarch64-linux-gnu/NvInferVersion.h": (
        "#define TRT_MAJOR_ENTERPRISE 10\n#define TRT_MINOR_ENTERPRISE 13\n"
        "#define TRT_PATCH_ENTERPRISE 3\n#define TRT_BUILD_ENTERPRISE 9\n"
        "#define NV_TENSORRT_MAJOR TRT_MAJOR_ENTERPRISE //!< TensorRT major version.\n"
        "#define NV_TENSORRT_MINOR TRT_MINOR_ENTERPRISE //!< TensorRT minor version.\n"
        "#define NV_TENSORRT_PATCH TRT_PATCH_ENTERPRISE //!< TensorRT patch version.\n"
    ),
    "proc/device-tree/model": "NVIDIA Jetson AGX Thor Developer Kit\0",
    "proc/device-tree/compatible": "nvidia,p3971-0000+p3834-0008\0nvidia,p3834-0008\0"
    "nvidia,tegra264\0",
}
ORIN_JP62 = EngineTarget("10.3.0", "Orin", "8.7", "6.2", "36.4.3", "12.6")


def _device(tmp_path: Path, files: dict[str, str], name: str) -> Path:
    root = tmp_path / name
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.fixture
def orin_engine_bundle(tmp_path: Path) -> Path:
    """digit_detector with a (fake) fp16 engine built on an Orin with JetPack 6.2."""
    with Bundle.load(mmedge.builtin_bundle("digit_detector")) as src:
        profile = make_profile(src.inputs, 1, 1, 8)
        file, cache = engine_file_name("fp16", ORIN_JP62), timing_cache_name(ORIN_JP62)
        entry = engine_build.engine_entry(file, "fp16", ORIN_JP62, "model.fp16.onnx", profile,
                                          cache)  # fmt: skip
        files = {**src.contents(), file: b"plan", cache: b"cache"}
        manifest = engine_build.with_engine(src.manifest, entry, cache)
        return write_bundle(tmp_path / "det.mmb", manifest, files)


def test_jetpack_6_2_orin(tmp_path: Path, orin_engine_bundle: Path) -> None:
    root = _device(tmp_path, JP62, "jp62")
    device = probe(root, power=lambda: "NV Power Mode: MAXN_SUPER\n2\n")
    assert device.to_dict() == {
        "l4t": "36.4.3", "jetpack": "6.2", "cuda": "12.6.68", "tensorrt": "10.3.0",
        "board": "NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super",
        "soc": "tegra234", "gpu": "Orin", "compute_capability": "8.7",
        "power_mode": "MAXN_SUPER (mode 2)",
    }  # fmt: skip
    assert engine_verdict(device, orin_engine_bundle)["verdict"] == "fits"
    plain = engine_verdict(device, mmedge.builtin_bundle("digit_detector"))
    assert plain["verdict"] == "rebuild" and plain["why"] == "no engine in the bundle"
    assert plain["command"].endswith("digit_detector.mmb --precision fp16")


def test_jetpack_7_thor_must_rebuild_an_orin_engine(tmp_path: Path, orin_engine_bundle) -> None:
    device = probe(_device(tmp_path, JP70, "jp70"), power=lambda: "NV Power Mode: MAXN\n0\n")
    assert (device.l4t, device.jetpack, device.cuda, device.tensorrt) == (
        "38.2.0", "7.0", "13.0.48", "10.13.3",
    )  # fmt: skip
    assert (device.soc, device.compute_capability) == ("tegra264", "11.0")
    verdict = engine_verdict(device, orin_engine_bundle)
    assert verdict["verdict"] == "rebuild"
    assert "built with TensorRT 10.3.0, this machine has 10.13.3" in verdict["why"]
    assert "built for compute capability 8.7" in verdict["why"]
    assert "built on L4T 36.4.3, this Jetson runs L4T 38.2.0" in verdict["why"]


def test_without_tensorrt_or_off_a_jetson(tmp_path: Path, orin_engine_bundle, capsys) -> None:
    no_trt = {k: v for k, v in JP62.items() if "NvInfer" not in k}
    device = probe(_device(tmp_path, no_trt, "no-trt"), power=lambda: None)
    assert device.tensorrt is None and device.power_mode is None
    verdict = engine_verdict(device, orin_engine_bundle)
    assert verdict == {"bundle": "digit_detector", "verdict": "onnxruntime",
                       "why": "no TensorRT on this device"}  # fmt: skip
    bare = probe(tmp_path / "nothing", power=lambda: pytest.fail("not a Jetson: no nvpmodel"))
    assert bare.l4t is None and bare.jetpack is None
    assert main(["info", "--target", "--root", str(tmp_path / "jp62x"),
                 str(orin_engine_bundle)]) == 0  # fmt: skip
    assert "not a Jetson" in capsys.readouterr().out


def test_cli_reports_the_device_and_each_bundle(tmp_path: Path, orin_engine_bundle, capsys):
    root = _device(tmp_path, JP62, "jp62")
    assert main(["info", "--target", "--json", "--root", str(root), str(orin_engine_bundle),
                 mmedge.builtin_bundle("scene_image")]) == 0  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert out["device"]["jetpack"] == "6.2"
    assert [b["verdict"] for b in out["bundles"]] == ["fits", "rebuild"]
    assert "--precision fp32" in out["bundles"][1]["command"]  # scene_image has fp32 only


def test_tensorrt_headers() -> None:
    assert parse_tensorrt_header(JP62["usr/include/aarch64-linux-gnu/NvInferVersion.h"]) == "10.3.0"
    assert parse_tensorrt_header(JP70["usr/include/aarch64-linux-gnu/NvInferVersion.h"]) == (
        "10.13.3"
    )
    assert parse_tensorrt_header("#define NV_TENSORRT_MAJOR TRT_MAJOR_UNDEFINED\n") is None
