"""Which artifact of a bundle runs, on which backend, and why.

Rules, in order:
1. `artifact=FILE` runs exactly that file.
2. backend 'auto' tries the installed backends in the registry's order (mmedge.runtime.backends:
   TensorRT, then ONNX Runtime). A backend whose artifacts are tied to a machine (TensorRT
   engines) takes the first one built for this one; one built for another TensorRT version or
   GPU is refused with the rebuild command (EngineMismatchError), unless allow_fallback, which
   moves on to the next backend.
3. A portable artifact (ONNX) of the requested precision runs; with precision=None, the
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
from mmedge.bundle.limits import load_arrays
from mmedge.errors import BackendError
from mmedge.runtime import speed
from mmedge.runtime.backends import (
    BACKENDS,
    available_backends,
    backend_for,
    create_backend,
)
from mmedge.runtime.tensorrt.engine import EngineMismatchError, Profile, rebuild_command

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
    status = bundle.parity(artifact.file)
    return True if status is None else status.passed


def _timing_input(bundle: Bundle) -> dict[str, np.ndarray] | None:
    """Batch-1 inputs for timing: the first sample of the stored parity fixture."""
    path = bundle.file("parity_inputs")
    if path is None:
        return None
    arrays = load_arrays(path, bundle.inputs[0].name, bundle.limits)
    return {k: np.ascontiguousarray(v[:1]) for k, v in arrays.items()}


def _known_timing(
    bundle: Bundle, artifact: Artifact, providers: list[str], threads: int | None
) -> tuple[float, str] | None:
    """(median ms, where it came from) when this machine timed the artifact before."""
    entry = bundle.view.speed(artifact.file)
    if (
        entry
        and entry.get("machine") == speed.machine_id()
        and entry.get("providers") == providers
        and entry.get("threads") == threads
    ):
        return float(entry["median_ms"]), "stored in the bundle by this machine"
    hit = speed.cached(speed.cache_key(artifact.sha256, providers, threads))
    return (hit.median_ms, "cached from an earlier run here") if hit is not None else None


def _fastest(
    bundle: Bundle,
    name: str,
    candidates: list[Artifact],
    options: Mapping[str, Any],
    providers: list[str],
) -> tuple[Artifact, str]:
    threads = options.get("intra_op_threads")
    timings: dict[str, float] = {}
    sources: set[str] = set()
    missing: list[Artifact] = []
    for artifact in candidates:
        known = _known_timing(bundle, artifact, providers, threads)
        if known is None:
            missing.append(artifact)
            continue
        timings[artifact.file] = known[0]
        sources.add(known[1])
    feeds = _timing_input(bundle) if missing else None
    if missing and feeds is not None:
        backends = {a.file: create_backend(name, a.path, **options) for a in missing}
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


def _backends_to_try(backend: str, precision: str | None) -> tuple[list[str], list[str]]:
    """(the backends to try in order, the installed ones); raises for bad arguments."""
    if backend != "auto" and backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}; known: {sorted(BACKENDS)} or 'auto'")
    if precision is not None and precision not in PRECISIONS:
        raise BackendError(f"precision must be one of {PRECISIONS} or None, got {precision!r}")
    installed = available_backends()
    if not installed:
        raise BackendError(
            "no inference backend is installed: pip install 'mmedge[ort]' (ONNX Runtime CPU) "
            "or 'mmedge[ort-gpu]'"
        )
    names = installed if backend == "auto" else [backend]
    for name in names:
        if name not in installed:
            raise BackendError(f"backend {name!r} is not installed here (installed: {installed})")
    return names, installed


def _problems(bundle: Bundle, name: str, artifact: Artifact) -> list[str]:
    check = BACKENDS[name].artifact_problems
    return check(bundle, artifact) if check is not None else []


def _requested(bundle: Bundle, file: str, names: list[str], installed: list[str]) -> Selection:
    """Rule 1: exactly the artifact named."""
    chosen = next((a for a in bundle.artifacts if a.file == file), None)
    if chosen is None:
        have = [a.file for a in bundle.artifacts]
        raise BackendError(f"{bundle.source} has no artifact {file!r} (has: {have})")
    runner = backend_for(chosen.format, names)
    if runner is None or runner not in installed:
        raise BackendError(f"no installed backend runs {chosen.format} artifacts ({chosen.file})")
    problems = _problems(bundle, runner, chosen)
    if problems:
        raise EngineMismatchError(_mismatch_message(bundle, chosen, problems))
    return Selection(runner, chosen, "requested by file name")


def _portable(
    bundle: Bundle,
    name: str,
    pool: list[Artifact],
    precision: str | None,
    options: Mapping[str, Any],
    fell_back: str,
) -> Selection:
    """Rule 3: the fastest gated artifact (GPU providers never take the uint8 int8 form)."""
    devices = BACKENDS[name].devices_for(options)  # ONNX Runtime: its providers
    if any(p in GPU_PROVIDERS for p in devices[:1]):
        pool = [a for a in pool if a.activations != "uint8"] or pool
    note = f" (fell back from TensorRT: {fell_back})" if fell_back else ""
    if len(pool) == 1:
        return Selection(name, pool[0], "the only matching artifact" + note)
    best, why = _fastest(bundle, name, pool, options, devices)
    return Selection(name, best, (f"{precision}: " if precision else "") + why + note)


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
    names, installed = _backends_to_try(backend, precision)
    if artifact is not None:
        return _requested(bundle, artifact, names, installed)
    refused: list[str] = []
    for name in names:
        pool = [
            a
            for a in bundle.artifacts
            if a.format in BACKENDS[name].formats
            and (precision is None or a.precision == precision)
            and passed_gates(bundle, a)
        ]
        if not pool:
            continue
        if BACKENDS[name].artifact_problems is None:
            return _portable(bundle, name, pool, precision, options, refused[0] if refused else "")
        for candidate in pool:  # rule 2: an artifact built for this machine
            problems = _problems(bundle, name, candidate)
            if not problems:
                return Selection(name, candidate, "a TensorRT engine built for this GPU")
            refused.append(_mismatch_message(bundle, candidate, problems))
        if not allow_fallback:
            raise EngineMismatchError(
                "\n".join(refused)
                + "\n(pass allow_fallback=True / --allow-fallback to run the ONNX artifact on "
                "ONNX Runtime instead)"
            )
    if refused:
        raise EngineMismatchError("\n".join(refused))
    have = ", ".join(f"{a.file} ({a.format}/{a.precision})" for a in bundle.artifacts)
    raise BackendError(
        f"{bundle.source}: no artifact for backend {backend!r}"
        + (f" at precision {precision}" if precision else "")
        + f" (the bundle has: {have}; usable backends here: {installed})"
    )


def _mismatch_message(bundle: Bundle, engine: Artifact, problems: list[str]) -> str:
    profile = Profile.from_dict(engine.profile) if engine.profile else None
    return (
        f"{bundle.source}: engine {engine.file} cannot run here: {'; '.join(problems)}. "
        f"Rebuild it on this machine: {rebuild_command(bundle.source, engine.precision, profile)}"
    )
