"""Re-checks a bundle where it will run: checksums and schema (on load), then every artifact a
local backend can run, on the parity inputs stored at export time, against the PyTorch outputs
stored with them. Needs no torch, so it runs on the robot."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmedge.bundle import Bundle
from mmedge.bundle.parity import ParityReport, ParityTolerance, compare
from mmedge.errors import BundleError
from mmedge.runtime.backends import BACKEND_FORMATS, available_backends, create_backend


@dataclass(frozen=True)
class ArtifactCheck:
    """Parity of one artifact on this machine (one report per output), or why it was skipped."""

    artifact: str
    precision: str
    backend: str | None
    runs_on: list[str]
    reports: dict[str, ParityReport] = field(default_factory=dict)
    skipped: str | None = None

    @property
    def passed(self) -> bool:
        return bool(self.reports) and all(r.passed for r in self.reports.values())

    def summary(self) -> str:
        return "; ".join(r.summary() for r in self.reports.values())


def stored_tolerance(
    bundle: Bundle, artifact: str, precision: str, output: str | None = None
) -> ParityTolerance:
    """The tolerance the artifact's output was exported under (its parity report), else the
    default for its precision."""
    entry = bundle.reports.get("parity", {}).get(artifact) or {}
    stored = entry.get("outputs", {}).get(output or "") if "outputs" in entry else entry
    if not stored:
        return ParityTolerance.for_precision(precision)
    atol = stored.get("atol")
    return ParityTolerance(
        atol=float("inf") if atol is None else atol,
        rtol=stored.get("rtol") or 0.0,
        min_top1_agreement=stored.get("min_top1_agreement"),
        min_mean_cosine=stored.get("min_mean_cosine"),
        atol_fraction_of_max=stored.get("atol_fraction_of_max") or 0.0,
    )


def load_fixture(bundle: Bundle) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(inputs by input name, PyTorch outputs by output name) stored at export time."""
    inputs_path, reference_path = bundle.file("parity_inputs"), bundle.file("parity_reference")
    if inputs_path is None or reference_path is None:
        raise BundleError(
            f"{bundle.source} stores no parity fixture (parity_inputs, parity_reference)"
        )

    def read(path: Any, default_name: str) -> dict[str, np.ndarray]:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        return {default_name: np.load(path, allow_pickle=False)}

    return (
        read(inputs_path, bundle.inputs[0].name),
        read(reference_path, bundle.outputs[0].name),
    )


def _max_batch(bundle: Bundle, file: str) -> int | None:
    """The largest batch an engine's optimisation profile takes (None: not an engine)."""
    for entry in bundle.manifest["artifacts"]:
        if entry["file"] == file and entry.get("profile"):
            return min(shapes["max"][0] for shapes in entry["profile"].values())
    return None


def validate_bundle(
    bundle: Bundle, backend: str = "auto", **backend_options: Any
) -> list[ArtifactCheck]:
    """Parity of every artifact against the stored PyTorch outputs, with the stored tolerance."""
    inputs, reference = load_fixture(bundle)
    names = available_backends() if backend == "auto" else [backend]
    checks = []
    for artifact in bundle.artifacts:
        runner = next((b for b in names if artifact.format in BACKEND_FORMATS.get(b, ())), None)
        if runner is None:
            checks.append(
                ArtifactCheck(
                    artifact.file,
                    artifact.precision,
                    None,
                    [],
                    skipped=f"no backend here runs {artifact.format} "
                    f"(available: {names or 'none'})",
                )
            )
            continue
        engine = create_backend(runner, artifact.path, **backend_options)
        step = _max_batch(bundle, artifact.file) or len(next(iter(inputs.values())))
        try:
            parts = [
                engine.infer({k: np.ascontiguousarray(v[s : s + step]) for k, v in inputs.items()})
                for s in range(0, len(next(iter(inputs.values()))), step)
            ]
            candidate = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
            runs_on = list(engine.describe().get("providers", [runner]))
        finally:
            engine.close()
        reports = {
            name: compare(
                ref,
                candidate[name],
                output=name,
                tolerance=stored_tolerance(bundle, artifact.file, artifact.precision, name),
            )
            for name, ref in reference.items()
        }
        checks.append(ArtifactCheck(artifact.file, artifact.precision, runner, runs_on, reports))
    return checks
