"""Which artifact of a bundle runs, on which backend, and why.

Rules, in order:
1. `artifact=FILE` runs exactly that file.
2. backend 'auto' tries a TensorRT engine first when TensorRT is installed and the bundle has an
   engine; an engine built for another TensorRT version or GPU is refused with the rebuild
   command (EngineMismatchError), unless allow_fallback, which moves on to ONNX Runtime.
3. ONNX Runtime runs an ONNX artifact of the requested precision; with precision=None, the
   fastest artifact that passed its parity gates on this machine: timings stored in the bundle
   when this machine exported it, else cached from an earlier run here, else measured now
   (about a second per candidate) and cached. GPU providers never get the uint8-activation
   int8 variant (it exists for x86 CPUs; TensorRT takes int8 activations only).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmedge.bundle import Artifact, Bundle
from mmedge.errors import BackendError
from mmedge.runtime.backends import BACKEND_FORMATS, available_backends, create_backend
from mmedge.runtime.tensorrt.engine import (
    EngineMismatchError,
    EngineTarget,
    engine_problems,
    rebuild_command,
)

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16", "int8")
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


@dataclass(frozen=True)
class Selection:
    backend: str
    artifact: Artifact
    reason: str


def passed_gates(bundle: Bundle, artifact: Artifact) -> bool:
    """True unless the bundle's parity report says the artifact failed (engines, which have no
    export-time report, pass)."""
    report = bundle.reports.get("parity", {}).get(artifact.file)
    return True if report is None else bool(report.get("passed", True))


def activation_type(bundle: Bundle, artifact: Artifact) -> str | None:
    for entry in bundle.manifest["artifacts"]:
        if entry["file"] == artifact.file:
            return (entry.get("qdq") or {}).get("activations")
    return None


def _ort_providers(options: Mapping[str, Any]) -> list[str]:
    requested = options.get("providers")
    if requested:
        return list(requested)
    try:
        from mmedge.runtime.backends.ort import choose_providers, import_onnxruntime

        return choose_providers(import_onnxruntime().get_available_providers())
    except BackendError:
        return []


def _engine_target(bundle: Bundle, artifact: Artifact) -> EngineTarget | None:
    return EngineTarget.from_dict(artifact.built_for) if artifact.built_for else None


def _check_engine(bundle: Bundle, artifact: Artifact) -> list[str]:
    from mmedge.runtime.tensorrt.backend import current_target

    built = _engine_target(bundle, artifact)
    if built is None:
        return ["the manifest does not say what the engine was built for"]
    return engine_problems(built, current_target())


def _timing_input(bundle: Bundle) -> dict[str, np.ndarray] | None:
    """Batch-1 inputs for timing: the first sample of the stored parity fixture."""
    path = bundle.file("parity_inputs")
    if path is None:
        return None
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: np.ascontiguousarray(z[k][:1]) for k in z.files}
    return {bundle.inputs[0].name: np.ascontiguousarray(np.load(path, allow_pickle=False)[:1])}


def _fastest(
    bundle: Bundle, candidates: list[Artifact], options: Mapping[str, Any], providers: list[str]
) -> tuple[Artifact, str]:
    from mmedge.runtime import speed

    threads = options.get("intra_op_threads")
    here = speed.machine_id()
    stored = bundle.reports.get("speed", {})
    timings: dict[str, float] = {}
    sources: set[str] = set()
    missing: list[Artifact] = []
    for artifact in candidates:
        entry = stored.get(artifact.file)
        if (
            entry
            and entry.get("machine") == here
            and entry.get("providers") == providers
            and entry.get("threads") == threads
        ):
            timings[artifact.file] = float(entry["median_ms"])
            sources.add("stored in the bundle by this machine")
            continue
        hit = speed.cached(speed.cache_key(artifact.sha256, providers, threads))
        if hit is not None:
            timings[artifact.file] = hit.median_ms
            sources.add("cached from an earlier run here")
            continue
        missing.append(artifact)
    feeds = _timing_input(bundle) if missing else None
    if missing and feeds is not None:
        backends = {a.file: create_backend("ort", a.path, **options) for a in missing}
        try:
            measured = speed.time_backends(backends, feeds, warmup=3, rounds=4, calls=5)
        finally:
            for b in backends.values():
                b.close()
        for a in missing:
            speed.remember(speed.cache_key(a.sha256, providers, threads), measured[a.file])
            timings[a.file] = measured[a.file].median_ms
        sources.add("measured now")
    if len(timings) != len(candidates):
        by_precision = sorted(candidates, key=lambda a: PRECISIONS.index(a.precision))
        return by_precision[0], "no timing possible (no parity fixture): fp32 first"
    best = min(candidates, key=lambda a: timings[a.file])
    listing = ", ".join(f"{a.file} {timings[a.file]:.3f} ms" for a in candidates)
    return best, f"fastest on this machine ({'; '.join(sorted(sources))}): {listing}"


def select_artifact(
    bundle: Bundle,
    backend: str = "auto",
    *,
    precision: str | None = None,
    artifact: str | None = None,
    allow_fallback: bool = False,
    backend_options: Mapping[str, Any] | None = None,
) -> Selection:
    """Picks (backend, artifact) by the rules in the module docstring."""
    options = dict(backend_options or {})
    if backend != "auto" and backend not in BACKEND_FORMATS:
        raise BackendError(
            f"unknown backend {backend!r}; known: {sorted(BACKEND_FORMATS)} or 'auto'"
        )
    if precision is not None and precision not in PRECISIONS:
        raise BackendError(f"precision must be one of {PRECISIONS} or None, got {precision!r}")
    installed = available_backends()
    names = installed if backend == "auto" else [backend]
    if not installed:
        raise BackendError(
            "no inference backend is installed: pip install 'mmedge[ort]' (ONNX Runtime CPU) "
            "or 'mmedge[ort-gpu]'"
        )
    artifacts = bundle.artifacts
    if artifact is not None:
        chosen = next((a for a in artifacts if a.file == artifact), None)
        if chosen is None:
            raise BackendError(
                f"{bundle.source} has no artifact {artifact!r} (has: {[a.file for a in artifacts]})"
            )
        runner = next((b for b in names if chosen.format in BACKEND_FORMATS[b]), None)
        if runner is None or runner not in installed:
            raise BackendError(
                f"no installed backend runs {chosen.format} artifacts ({chosen.file})"
            )
        if chosen.format == "tensorrt":
            problems = _check_engine(bundle, chosen)
            if problems:
                raise EngineMismatchError(_mismatch_message(bundle, chosen, problems))
        return Selection(runner, chosen, "requested by file name")
    have = ", ".join(f"{a.file} ({a.format}/{a.precision})" for a in artifacts)
    refused: list[str] = []
    for name in names:
        if name not in installed:
            raise BackendError(f"backend {name!r} is not installed here (installed: {installed})")
        formats = BACKEND_FORMATS[name]
        pool = [
            a
            for a in artifacts
            if a.format in formats
            and (precision is None or a.precision == precision)
            and passed_gates(bundle, a)
        ]
        if not pool:
            continue
        if name == "tensorrt":
            for engine in pool:
                problems = _check_engine(bundle, engine)
                if not problems:
                    return Selection(name, engine, "a TensorRT engine built for this GPU")
                refused.append(_mismatch_message(bundle, engine, problems))
            if not allow_fallback:
                raise EngineMismatchError(
                    "\n".join(refused)
                    + "\n(pass allow_fallback=True / --allow-fallback to run the ONNX artifact on "
                    "ONNX Runtime instead)"
                )
            continue
        providers = _ort_providers(options)
        if any(p in GPU_PROVIDERS for p in providers[:1]):
            pool = [a for a in pool if activation_type(bundle, a) != "uint8"] or pool
        fallback_note = f" (fell back from TensorRT: {refused[0]})" if refused else ""
        if len(pool) == 1:
            return Selection(name, pool[0], "the only matching artifact" + fallback_note)
        if precision is None:
            best, why = _fastest(bundle, pool, options, providers)
            return Selection(name, best, why + fallback_note)
        best, why = _fastest(bundle, pool, options, providers)
        return Selection(name, best, f"{precision}: " + why + fallback_note)
    if refused:
        raise EngineMismatchError("\n".join(refused))
    raise BackendError(
        f"{bundle.source}: no artifact for backend {backend!r}"
        + (f" at precision {precision}" if precision else "")
        + f" (the bundle has: {have}; usable backends here: {installed})"
    )


def _mismatch_message(bundle: Bundle, engine: Artifact, problems: list[str]) -> str:
    from mmedge.runtime.tensorrt.engine import Profile

    profile = None
    for entry in bundle.manifest["artifacts"]:
        if entry["file"] == engine.file and entry.get("profile"):
            profile = Profile.from_dict(entry["profile"])
    return (
        f"{bundle.source}: engine {engine.file} cannot run here: {'; '.join(problems)}. "
        f"Rebuild it on this machine: {rebuild_command(bundle.source, engine.precision, profile)}"
    )
