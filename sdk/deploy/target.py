"""`mmedge info --target`: what a Jetson is (Jetson Linux, JetPack, CUDA, TensorRT, GPU SM, power
mode) and, for each bundle, whether its TensorRT engine fits this device, must be rebuilt here,
or whether it runs on ONNX Runtime instead. Read from the files JetPack installs, under a root
(tests point it at fixtures holding those files' real contents):

    /etc/nv_tegra_release                        Jetson Linux: '# R36 (release), REVISION: 4.3, ...'
    /usr/local/cuda/version.json                 CUDA toolkit: {"cuda": {"version": "12.6.68"}}
    /usr/include/aarch64-linux-gnu/NvInferVersion.h   TensorRT: NV_TENSORRT_MAJOR ... (10.x
                                                 defines them through TRT_*_ENTERPRISE)
    /proc/device-tree/model, compatible          the board, and its SoC: tegra234 (Orin, sm_87,
                                                 CUDA's name 'Orin'), tegra264 (Thor, sm_110)
    `nvpmodel -q`                                the power mode ('NV Power Mode: MAXN')
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mmedge.runtime.tensorrt.engine import (
    EngineTarget,
    engine_problems,
    parse_l4t,
    rebuild_command,
)

# Jetson Linux release -> JetPack (the releases checked against NVIDIA's release notes)
JETPACK_OF_L4T = {"36.4.3": "6.2", "38.2": "7.0", "38.4": "7.1", "39.2": "7.2"}
# SoC -> (compute capability, the name CUDA gives the GPU, as engines record it)
GPU_OF_SOC = {"tegra234": ("8.7", "Orin"), "tegra264": ("11.0", "NVIDIA Thor")}
TRT_HEADERS = (
    "usr/include/aarch64-linux-gnu/NvInferVersion.h",
    "usr/include/x86_64-linux-gnu/NvInferVersion.h",
    "usr/include/NvInferVersion.h",
)


def _read(root: Path, rel: str) -> str | None:
    try:
        return (root / rel).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def jetpack_of(l4t: str | None) -> str | None:
    """The JetPack of a Jetson Linux release ('36.4.3' -> '6.2'; '38.2.1' -> '7.0'), or None
    for one not in JETPACK_OF_L4T."""
    if l4t is None:
        return None
    parts = l4t.split(".")
    return JETPACK_OF_L4T.get(l4t) or JETPACK_OF_L4T.get(".".join(parts[:2]))


def parse_tensorrt_header(text: str) -> str | None:
    """'10.3.0' from NvInferVersion.h, numeric or through one level of macros."""
    defines = dict(re.findall(r"^#define\s+(\w+)\s+(\w+)", text, re.M))

    def value(name: str) -> str | None:
        v = defines.get(name)
        v = defines.get(v, v) if v is not None and not v.isdigit() else v
        return v if v is not None and v.isdigit() else None

    parts = [value(f"NV_TENSORRT_{p}") for p in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(parts) if all(parts) else None  # type: ignore[arg-type]


def parse_power_mode(text: str) -> str | None:
    """'MAXN (mode 0)' from `nvpmodel -q` ('NV Power Mode: MAXN' then the mode's id)."""
    m = re.search(r"NV Power Mode:\s*(\S+)\s*\n\s*(\d+)", text)
    if m:
        return f"{m.group(1)} (mode {m.group(2)})"
    m = re.search(r"NV Power Mode:\s*(\S+)", text)
    return m.group(1) if m else None


def _nvpmodel() -> str | None:
    try:
        run = subprocess.run(["nvpmodel", "-q"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return run.stdout if run.returncode == 0 else None


@dataclass(frozen=True)
class Device:
    """A Jetson as its files describe it (None: not found)."""

    l4t: str | None
    jetpack: str | None
    cuda: str | None
    tensorrt: str | None
    board: str | None
    soc: str | None
    gpu: str | None
    compute_capability: str | None
    power_mode: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def engine_target(self) -> EngineTarget | None:
        """What an engine built here is built for (None without TensorRT or a known GPU)."""
        if self.tensorrt is None or self.compute_capability is None:
            return None
        return EngineTarget(self.tensorrt, self.gpu or "", self.compute_capability,
                            self.jetpack, self.l4t, self.cuda)  # fmt: skip


def probe(root: str | Path = "/", power: Callable[[], str | None] = _nvpmodel) -> Device:
    """The device under `root` (see the module docstring); `power` gives `nvpmodel -q`'s
    output."""
    root = Path(root)
    release = _read(root, "etc/nv_tegra_release")
    l4t = parse_l4t(release) if release else None
    cuda_json = _read(root, "usr/local/cuda/version.json")
    try:
        cuda = json.loads(cuda_json)["cuda"]["version"] if cuda_json else None
    except (ValueError, KeyError, TypeError):
        cuda = None
    header = next((t for t in (_read(root, h) for h in TRT_HEADERS) if t), None)
    board = (_read(root, "proc/device-tree/model") or "").strip("\x00\n ") or None
    compatible = (_read(root, "proc/device-tree/compatible") or "").split("\x00")
    soc = next((c.split(",", 1)[1] for c in compatible if c.startswith("nvidia,tegra")), None)
    mode = power() if l4t else None
    return Device(
        l4t=l4t,
        jetpack=jetpack_of(l4t),
        cuda=cuda,
        tensorrt=parse_tensorrt_header(header) if header else None,
        board=board,
        soc=soc,
        gpu=GPU_OF_SOC.get(soc or "", (None, None))[1],
        compute_capability=GPU_OF_SOC.get(soc or "", (None, None))[0],
        power_mode=parse_power_mode(mode) if mode else None,
    )


def engine_verdict(device: Device, bundle: str | Path) -> dict[str, Any]:
    """For one bundle on `device`: 'fits' (an engine for this TensorRT and GPU), 'rebuild' (with
    the command) or 'onnxruntime' (no TensorRT here, or the bundle has no ONNX to build from)."""
    from mmedge.bundle import Bundle

    with Bundle.load(bundle) as b:
        engines = [a for a in b.artifacts if a.format == "tensorrt"]
        onnx = sorted({a.precision for a in b.artifacts if a.format == "onnx"})
        name = b.name
    target = device.engine_target()
    if target is None:
        why = "no TensorRT" if device.tensorrt is None else "GPU not recognised"
        return {"bundle": name, "verdict": "onnxruntime", "why": f"{why} on this device"}
    reasons = []
    for e in engines:
        problems = engine_problems(EngineTarget.from_dict(e.built_for or {}), target)
        if not problems:
            return {"bundle": name, "verdict": "fits", "engine": e.file}
        reasons.append(f"{e.file}: {'; '.join(problems)}")
    if not onnx:
        return {"bundle": name, "verdict": "onnxruntime", "why": "no ONNX artifact to build from"}
    precision = "fp16" if "fp16" in onnx else onnx[0]
    return {
        "bundle": name,
        "verdict": "rebuild",
        "why": "; ".join(reasons) or "no engine in the bundle",
        "command": rebuild_command(bundle, precision),
    }


def report(device: Device, verdicts: Sequence[dict[str, Any]]) -> str:
    """The text `mmedge info --target` prints."""
    if device.l4t is None:
        lines = ["target: not a Jetson (no /etc/nv_tegra_release)"]
    else:
        lines = [
            f"target: {device.board or 'Jetson'} ({device.soc or 'SoC unknown'}, sm "
            f"{device.compute_capability or 'unknown'})",
            f"  Jetson Linux {device.l4t} = JetPack {device.jetpack or 'unknown'}; CUDA "
            f"{device.cuda or 'not installed'}; TensorRT {device.tensorrt or 'not installed'}; "
            f"power mode {device.power_mode or 'unknown'}",
        ]
    for v in verdicts:
        detail = v.get("engine") or v.get("why", "")
        lines.append(f"  {v['bundle']}: {v['verdict']} ({detail})")
        if "command" in v:
            lines.append(f"      {v['command']}")
    return "\n".join(lines)
