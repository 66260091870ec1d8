"""TensorRT engine bookkeeping that needs no GPU: what an engine was built for, whether it runs
here, optimisation profiles, file names and the rebuild command.

A TensorRT plan only runs with the TensorRT version that built it and on the GPU model it was
built for; the manifest records both (and the Jetson L4T / JetPack release), and mmedge refuses
a plan for anything else with the command that rebuilds it.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mmedge.bundle import TensorSpec
from mmedge.errors import BackendError, BundleError

NV_TEGRA_RELEASE = Path("/etc/nv_tegra_release")
_TEGRA = re.compile(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)")


class EngineMismatchError(BackendError):
    """A bundle's TensorRT engine was built for another TensorRT version or GPU."""


@dataclass(frozen=True)
class EngineTarget:
    """What a plan is built for / what this machine is. Versions are strings ('10.3.0')."""

    tensorrt: str
    gpu: str
    compute_capability: str
    jetpack: str | None = None
    l4t: str | None = None
    cuda: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EngineTarget:
        return cls(
            str(d.get("tensorrt", "")),
            str(d.get("gpu", "")),
            str(d.get("compute_capability", "")),
            d.get("jetpack"),
            d.get("l4t"),
            d.get("cuda"),
        )

    def short(self) -> str:
        where = f"{self.gpu} (sm_{self.compute_capability.replace('.', '')})"
        extra = f", JetPack {self.jetpack}" if self.jetpack else ""
        return f"TensorRT {self.tensorrt} on {where}{extra}"


def parse_l4t(text: str) -> str | None:
    """'36.4.3' from /etc/nv_tegra_release ('# R36 (release), REVISION: 4.3, ...')."""
    m = _TEGRA.search(text)
    return f"{m.group(1)}.{m.group(2)}" if m else None


def l4t_release(path: Path = NV_TEGRA_RELEASE) -> str | None:
    try:
        return parse_l4t(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None


def jetpack_release() -> str | None:
    """The nvidia-jetpack package version on a Jetson (e.g. '6.2+b77'), else None."""
    try:
        out = subprocess.run(
            ["dpkg-query", "--showformat=${Version}", "--show", "nvidia-jetpack"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def engine_problems(built_for: EngineTarget, here: EngineTarget) -> list[str]:
    """Why a plan built for `built_for` cannot run `here` (empty: it can). TensorRT plans need
    the same TensorRT version and the same GPU model; a JetPack/L4T difference on a Jetson
    implies a different TensorRT and CUDA."""
    problems = []
    if built_for.tensorrt != here.tensorrt:
        problems.append(
            f"built with TensorRT {built_for.tensorrt}, this machine has {here.tensorrt}"
        )
    if built_for.compute_capability != here.compute_capability:
        problems.append(
            f"built for compute capability {built_for.compute_capability} "
            f"({built_for.gpu}), this GPU is {here.compute_capability} ({here.gpu})"
        )
    elif built_for.gpu != here.gpu:
        problems.append(f"built on {built_for.gpu}, this GPU is {here.gpu}")
    if built_for.l4t and here.l4t and built_for.l4t.split(".")[:2] != here.l4t.split(".")[:2]:
        problems.append(f"built on L4T {built_for.l4t}, this Jetson runs L4T {here.l4t}")
    return problems


def rebuild_command(bundle: str | Path, precision: str, profile: Profile | None = None) -> str:
    """The shell command that rebuilds the engine on the machine that will run it."""
    cmd = ["mmedge", "build-engine", str(bundle), "--precision", precision]
    if profile is not None and profile.batch is not None:
        lo, opt, hi = profile.batch
        cmd += ["--min-batch", str(lo), "--opt-batch", str(opt), "--max-batch", str(hi)]
    return shlex.join(cmd)


def engine_file_name(precision: str, target: EngineTarget) -> str:
    """'engines/fp16-sm87-trt10.3.0.plan': one plan per precision, GPU and TensorRT version,
    so a bundle can carry plans for several devices."""
    cc = target.compute_capability.replace(".", "")
    return f"engines/{precision}-sm{cc}-trt{target.tensorrt}.plan"


def timing_cache_name(target: EngineTarget) -> str:
    """Timing caches are valid per GPU and TensorRT version; one per pair, shared by the
    precisions (TensorRT keys its entries by layer and tactic)."""
    cc = target.compute_capability.replace(".", "")
    return f"engines/timing-sm{cc}-trt{target.tensorrt}.cache"


@dataclass(frozen=True)
class Profile:
    """An optimisation profile: per input the min/opt/max shapes (batch axis first).
    `batch` is the (min, opt, max) batch when the profile was made from batch sizes."""

    shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]
    batch: tuple[int, int, int] | None = None

    def to_dict(self) -> dict[str, dict[str, list[int]]]:
        return {
            name: {"min": list(lo), "opt": list(opt), "max": list(hi)}
            for name, (lo, opt, hi) in self.shapes.items()
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Mapping[str, Sequence[int]]]) -> Profile:
        shapes = {
            name: (tuple(v["min"]), tuple(v["opt"]), tuple(v["max"])) for name, v in d.items()
        }
        batches = {s[0][0] for s in shapes.values()}, {s[1][0] for s in shapes.values()}
        his = {s[2][0] for s in shapes.values()}
        batch = None
        if len(batches[0]) == len(batches[1]) == len(his) == 1:
            batch = (batches[0].pop(), batches[1].pop(), his.pop())
        return cls(shapes, batch)

    def check(self, feeds_shapes: Mapping[str, Sequence[int]]) -> None:
        """Raises BackendError naming the input and axis when a shape is outside the profile."""
        for name, shape in feeds_shapes.items():
            if name not in self.shapes:
                raise BackendError(f"input {name!r} is not in the engine's profile")
            lo, _, hi = self.shapes[name]
            if len(shape) != len(lo):
                raise BackendError(
                    f"input {name!r} has rank {len(shape)}, the engine takes rank {len(lo)}"
                )
            for axis, (s, a, b) in enumerate(zip(shape, lo, hi, strict=True)):
                if not a <= s <= b:
                    raise BackendError(
                        f"input {name!r} axis {axis} is {s}, outside the engine's profile "
                        f"[{a}, {b}] (shape {tuple(shape)}); rebuild with a wider profile"
                    )


def make_profile(
    inputs: Sequence[TensorSpec],
    min_batch: int = 1,
    opt_batch: int = 1,
    max_batch: int = 8,
    dims: Mapping[str, tuple[int, int, int]] | None = None,
) -> Profile:
    """The profile of a bundle's inputs for a batch range. Symbolic dims other than the batch
    need their (min, opt, max) in `dims` by dim name (e.g. {'frames': (50, 101, 400)})."""
    if not 1 <= min_batch <= opt_batch <= max_batch:
        raise BackendError(
            f"batch sizes must satisfy 1 <= min ({min_batch}) <= opt ({opt_batch}) <= max "
            f"({max_batch})"
        )
    dims = dict(dims or {})
    shapes = {}
    for t in inputs:
        lo, opt, hi = [], [], []
        for axis, d in enumerate(t.shape):
            if isinstance(d, int):
                lo.append(d)
                opt.append(d)
                hi.append(d)
            elif axis == 0:
                lo.append(min_batch)
                opt.append(opt_batch)
                hi.append(max_batch)
            elif d in dims:
                a, b, c = dims[d]
                if not 1 <= a <= b <= c:
                    raise BackendError(f"dim {d!r}: need 1 <= min <= opt <= max, got {dims[d]}")
                lo.append(a)
                opt.append(b)
                hi.append(c)
            else:
                raise BundleError(
                    f"input {t.name!r} axis {axis} is the dynamic dim {d!r}: give its "
                    f"min/opt/max (--dim {d}=MIN,OPT,MAX)"
                )
        shapes[t.name] = (tuple(lo), tuple(opt), tuple(hi))
    return Profile(shapes, (min_batch, opt_batch, max_batch))


def engine_staleness(
    artifacts: Sequence[Mapping[str, Any]],
    precision: str,
    target: EngineTarget,
    profile: Profile,
    source: str,
) -> str | None:
    """Why the bundle's `precision` engine for `target` must be (re)built, or None when it is
    current. `artifacts`: the manifest's entries (sha256 of each file); `source`: the ONNX file
    the engine is built from. The key of a current engine: TensorRT version, GPU and SM, L4T,
    precision, the optimisation profile and the source ONNX's sha256."""
    file = engine_file_name(precision, target)
    entry = next((a for a in artifacts if a.get("file") == file), None)
    if entry is None:
        return f"no {precision} engine for {target.short()}"
    problems = engine_problems(EngineTarget.from_dict(entry.get("built_for", {})), target)
    if problems:
        return "; ".join(problems)
    onnx = next((a for a in artifacts if a.get("file") == source), {})
    if entry.get("built_from") != source or entry.get("built_from_sha256") != onnx.get("sha256"):
        return f"{source} changed since the engine was built from {entry.get('built_from')}"
    if entry.get("profile") != profile.to_dict():
        return f"the engine's profile {entry.get('profile')} is not {profile.to_dict()}"
    return None
