"""Re-checks a bundle where it will run: checksums and schema (on load), then every artifact a
local backend can run, on the parity inputs stored at export time, against the PyTorch outputs
stored with them. Needs no torch, so it runs on the robot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mmedge.backends import BACKEND_FORMATS, available_backends, create_backend
from mmedge.bundle import Bundle
from mmedge.errors import BundleError
from mmedge.parity import ParityReport, ParityTolerance, compare


@dataclass(frozen=True)
class ArtifactCheck:
    """Parity of one artifact on this machine, or why it was skipped."""

    artifact: str
    precision: str
    backend: str | None
    runs_on: list[str]
    report: ParityReport | None
    skipped: str | None = None

    @property
    def passed(self) -> bool:
        return self.report is not None and self.report.passed


def stored_tolerance(bundle: Bundle, artifact: str, precision: str) -> ParityTolerance:
    """The tolerance the artifact was exported under (its parity report), else the default."""
    stored = bundle.reports.get("parity", {}).get(artifact)
    if not stored:
        return ParityTolerance.for_precision(precision)
    atol = stored.get("atol")
    return ParityTolerance(
        atol=float("inf") if atol is None else atol,
        rtol=stored.get("rtol") or 0.0,
        min_top1_agreement=stored.get("min_top1_agreement"),
    )


def load_fixture(bundle: Bundle) -> tuple[np.ndarray, np.ndarray]:
    inputs_path, reference_path = bundle.file("parity_inputs"), bundle.file("parity_reference")
    if inputs_path is None or reference_path is None:
        raise BundleError(
            f"{bundle.source} stores no parity fixture (parity_inputs, parity_reference)"
        )
    return (np.load(inputs_path, allow_pickle=False), np.load(reference_path, allow_pickle=False))


def validate_bundle(
    bundle: Bundle, backend: str = "auto", **backend_options: Any
) -> list[ArtifactCheck]:
    """Parity of every artifact against the stored PyTorch outputs, with the stored tolerance."""
    inputs, reference = load_fixture(bundle)
    input_name = bundle.inputs[0].name
    stored = bundle.reports.get("parity", {})
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
                    None,
                    f"no backend here runs {artifact.format} (available: {names or 'none'})",
                )
            )
            continue
        output = stored.get(artifact.file, {}).get("output") or bundle.outputs[0].name
        engine = create_backend(runner, artifact.path, **backend_options)
        try:
            candidate = engine.infer({input_name: inputs})[output]
            runs_on = list(engine.describe().get("providers", [runner]))
        finally:
            engine.close()
        report = compare(
            reference,
            candidate,
            output=output,
            tolerance=stored_tolerance(bundle, artifact.file, artifact.precision),
        )
        checks.append(ArtifactCheck(artifact.file, artifact.precision, runner, runs_on, report))
    return checks
