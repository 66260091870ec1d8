"""`mmedge build-engine`: a bundle's ONNX artifact -> a TensorRT plan, built on the device that
will run it, added to the bundle with what it was built for.

One code path for TensorRT 10 and 11: a strongly typed network (precision comes from the ONNX
graph: fp16 from the mixed-precision artifact, int8 from the Q/DQ artifact; TensorRT 11 removed
the FP16/INT8 builder flags and calibrators), an optimisation profile from min/opt/max batch,
a workspace limit, a timing cache kept in the bundle (the next build on the same GPU and
TensorRT is much faster), and a heartbeat while the build runs. Needs no torch.
"""

from __future__ import annotations

import copy
import logging
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmedge.bundle import Bundle
from mmedge.bundle.writer import write_bundle
from mmedge.errors import BackendError, BundleError
from mmedge.runtime.tensorrt.engine import (
    EngineTarget,
    Profile,
    engine_file_name,
    engine_staleness,
    make_profile,
    timing_cache_name,
)

log = logging.getLogger(__name__)


def onnx_source(bundle: Bundle, precision: str) -> str:
    """The ONNX artifact a TensorRT engine of `precision` is built from: for int8 the Q/DQ
    graph with int8 activations (TensorRT's explicit quantisation), never the uint8 CPU one."""
    for a in bundle.artifacts:
        if a.format == "onnx" and a.precision == precision and a.activations in (None, "int8"):
            return a.file
    have = [f"{a.file} ({a.precision})" for a in bundle.artifacts]
    raise BundleError(
        f"{bundle.source} has no {precision} ONNX artifact to build from (has: {have}); "
        f"re-export with --precision {precision}"
    )


class _Heartbeat:
    """Prints 'still building (N s, phase)' every `every_s` seconds until stopped."""

    def __init__(self, what: str, every_s: float = 15.0) -> None:
        self.what, self.every_s = what, every_s
        self.phase = "parsing"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mmedge-trt-heartbeat", daemon=True)
        self._start = time.monotonic()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            print(
                f"  {self.what}: still building ({time.monotonic() - self._start:.0f} s, "
                f"{self.phase})",
                file=sys.stderr,
                flush=True,
            )

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _progress_monitor(trt: Any, heartbeat: _Heartbeat) -> Any | None:
    """A TensorRT IProgressMonitor (TensorRT >= 10) feeding the heartbeat the current phase."""
    base = getattr(trt, "IProgressMonitor", None)
    if base is None:
        return None

    class Monitor(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            base.__init__(self)

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            heartbeat.phase = phase_name

        def step_complete(self, phase_name: str, step: int) -> bool:
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            pass

    return Monitor()


def build_plan(
    onnx_path: str | Path,
    profile: Profile,
    *,
    workspace_mb: int = 1024,
    timing_cache: bytes | None = None,
    heartbeat_s: float = 15.0,
) -> tuple[bytes, bytes]:
    """Builds a plan from an ONNX file. Returns (plan, timing cache) bytes."""
    from mmedge.runtime.tensorrt.backend import import_tensorrt

    trt = import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    network = builder.create_network(0 if flag is None else 1 << int(flag))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise BackendError(f"TensorRT could not parse {onnx_path}: " + "; ".join(errors))
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
    trt_profile = builder.create_optimization_profile()
    names = {network.get_input(i).name for i in range(network.num_inputs)}
    if names != set(profile.shapes):
        raise BackendError(
            f"the profile covers {sorted(profile.shapes)}, the network takes {sorted(names)}"
        )
    for name, (lo, opt, hi) in profile.shapes.items():
        trt_profile.set_shape(name, lo, opt, hi)
    config.add_optimization_profile(trt_profile)
    cache = config.create_timing_cache(timing_cache or b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    with _Heartbeat(Path(onnx_path).name, heartbeat_s) as heartbeat:
        monitor = _progress_monitor(trt, heartbeat)
        if monitor is not None:
            config.progress_monitor = monitor
        plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise BackendError(
            f"TensorRT failed to build an engine from {onnx_path} (see the log above)"
        )
    return bytes(plan), bytes(config.get_timing_cache().serialize())


def engine_entry(
    file: str,
    precision: str,
    target: EngineTarget,
    built_from: str,
    profile: Profile,
    cache_file: str,
    built_from_sha256: str | None = None,
) -> dict[str, Any]:
    """The manifest artifact entry of an engine (sha256/bytes are filled in on write)."""
    return {
        "file": file,
        "format": "tensorrt",
        "precision": precision,
        "built_for": target.to_dict(),
        "built_from": built_from,
        "built_from_sha256": built_from_sha256,
        "profile": profile.to_dict(),
        "timing_cache": cache_file,
    }


def with_engine(
    manifest: Mapping[str, Any], entry: Mapping[str, Any], cache_file: str
) -> dict[str, Any]:
    """The manifest with `entry` added (replacing an engine of the same file) and the timing
    cache listed once."""
    updated = copy.deepcopy(dict(manifest))
    updated["artifacts"] = [a for a in updated["artifacts"] if a["file"] != entry["file"]]
    updated["artifacts"].append(dict(entry))
    files = [f for f in updated.get("files", []) if f["file"] != cache_file]
    files.append({"file": cache_file, "role": "timing_cache"})
    updated["files"] = files
    return updated


def add_engine(
    bundle_path: str | Path,
    precision: str,
    *,
    out: str | Path | None = None,
    min_batch: int = 1,
    opt_batch: int = 1,
    max_batch: int = 8,
    dims: Mapping[str, tuple[int, int, int]] | None = None,
    workspace_mb: int = 1024,
    device_id: int = 0,
    if_stale: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """Builds the `precision` engine for this GPU and writes the bundle (in place, atomically,
    or to `out`). Returns (bundle path, engine manifest entry). if_stale: leave a current
    engine (engine.engine_staleness) alone and return its entry, with "up_to_date": True."""
    from mmedge.runtime.tensorrt.backend import current_target

    target = current_target(device_id)
    with Bundle.load(bundle_path) as bundle:
        source = onnx_source(bundle, precision)
        profile = make_profile(bundle.inputs, min_batch, opt_batch, max_batch, dims)
        artifacts = bundle.manifest["artifacts"]
        stale = engine_staleness(artifacts, precision, target, profile, source)
        if if_stale and stale is None:
            current = next(a for a in artifacts if a["file"] == engine_file_name(precision, target))
            return Path(bundle_path), {**current, "up_to_date": True}
        log.info("building the %s engine of %s: %s", precision, bundle.name, stale)
        sha = next((a.get("sha256") for a in artifacts if a["file"] == source), None)
        cache_file = timing_cache_name(target)
        cache_path = bundle.contents().get(cache_file)  # this GPU's and TensorRT's cache, if any
        cache = cache_path.read_bytes() if cache_path is not None else None
        plan, new_cache = build_plan(
            bundle.root / source, profile, workspace_mb=workspace_mb, timing_cache=cache
        )
        file = engine_file_name(precision, target)
        entry = engine_entry(file, precision, target, source, profile, cache_file, sha)
        manifest = with_engine(bundle.manifest, entry, cache_file)
        with tempfile.TemporaryDirectory(prefix="mmedge-engine-") as tmp:
            files: dict[str, Any] = dict(bundle.contents())
            (Path(tmp) / "plan").write_bytes(plan)
            (Path(tmp) / "cache").write_bytes(new_cache)
            files[file] = Path(tmp) / "plan"
            files[cache_file] = Path(tmp) / "cache"
            target_path = Path(out) if out else Path(bundle_path)
            written = write_bundle(target_path, manifest, files, overwrite=True)
    return written, entry
