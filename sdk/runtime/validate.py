"""Re-checks a bundle where it will run: checksums and schema (on load), then every artifact a
local backend can run, on the parity inputs stored at export time, against the PyTorch outputs
stored with them. Needs no torch, so it runs on the robot."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmedge.bundle import Artifact, Bundle
from mmedge.bundle.limits import load_arrays
from mmedge.bundle.parity import ParityReport, ParityTolerance, compare
from mmedge.errors import BundleError
from mmedge.runtime.backends import available_backends, backend_for, create_backend


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
    status = bundle.parity(artifact)
    if status is None:
        return ParityTolerance.for_precision(precision)
    return status.tolerance(output or "", precision)


def load_fixture(bundle: Bundle) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(inputs by input name, PyTorch outputs by output name) stored at export time; read only
    now, within the bundle's fixture limit (mmedge.bundle.limits)."""
    inputs_path, reference_path = bundle.file("parity_inputs"), bundle.file("parity_reference")
    if inputs_path is None or reference_path is None:
        raise BundleError(
            f"{bundle.source} stores no parity fixture (parity_inputs, parity_reference)"
        )

    return (
        load_arrays(inputs_path, bundle.inputs[0].name, bundle.limits),
        load_arrays(reference_path, bundle.outputs[0].name, bundle.limits),
    )


def _run_fixture(
    runner: str, artifact: Artifact, inputs: dict[str, np.ndarray], options: dict[str, Any]
) -> tuple[dict[str, np.ndarray], list[str]]:
    """(outputs on the fixture inputs, what it ran on), in batches an engine's profile takes."""
    engine = create_backend(runner, artifact.path, **options)
    n = len(next(iter(inputs.values())))
    step = artifact.max_batch or n
    try:
        parts = [
            engine.infer({k: np.ascontiguousarray(v[s : s + step]) for k, v in inputs.items()})
            for s in range(0, n, step)
        ]
        runs_on = list(engine.describe().get("providers", [runner]))
    finally:
        engine.close()
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}, runs_on


def validate_bundle(
    bundle: Bundle, backend: str = "auto", **backend_options: Any
) -> list[ArtifactCheck]:
    """Parity of every artifact against the stored PyTorch outputs, with the stored tolerance."""
    inputs, reference = load_fixture(bundle)
    names = available_backends() if backend == "auto" else [backend]
    checks = []
    for artifact in bundle.artifacts:
        runner = backend_for(artifact.format, names)
        if runner is None:
            skipped = f"no backend here runs {artifact.format} (available: {names or 'none'})"
            checks.append(
                ArtifactCheck(artifact.file, artifact.precision, None, [], skipped=skipped)
            )
            continue
        candidate, runs_on = _run_fixture(runner, artifact, inputs, backend_options)
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
