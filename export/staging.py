"""Staged feeds: every tensor the gates use comes from the bundle's own preprocessing. A
provisional bundle holding the fp32 graph is written, and its mmedge.Model turns the raw parity,
calibration and evaluation samples into tensors exactly as a deployment will."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmedge.bundle.onnx_scan import scan_onnx
from mmedge.bundle.writer import write_bundle
from mmedge.export.data import BoxLabelled, Labelled, random_samples
from mmedge.export.options import MIN_PARITY_SAMPLES, ParityOptions
from mmedge.export.signature import ModelInput, Signature
from mmedge.runtime.model import Model

MAX_CALIBRATION_SAMPLES = 1024

Feeds = dict[str, np.ndarray]
"""Preprocessed inputs by input name, (N, ...) float32."""


@dataclass(frozen=True)
class StagedFeeds:
    """parity: inputs of the parity check (and the bundle's fixture), from `source` ('given',
    'evaluation', 'calibration' or 'random'). calibration: int8 calibration inputs (None
    without int8). evaluation: inputs of the labelled evaluation set (None without one)."""

    parity: Feeds
    source: str
    calibration: Feeds | None
    evaluation: Feeds | None


def parity_samples(
    evaluation: Labelled | None,
    calibration: Labelled | None,
    inputs: Sequence[ModelInput],
    n: int,
) -> tuple[Labelled, str]:
    """Raw samples for parity: the evaluation data, then calibration data, else random."""
    for data, what in ((evaluation, "evaluation"), (calibration, "calibration")):
        if data is not None and len(data) >= MIN_PARITY_SAMPLES:
            return data.subset(np.linspace(0, len(data) - 1, min(n, len(data))).astype(int)), what
    return random_samples(inputs, max(MIN_PARITY_SAMPLES, min(n, 64))), "random"


def _calibration_subset(calibration: Labelled) -> Labelled:
    if len(calibration) <= MAX_CALIBRATION_SAMPLES:
        return calibration
    index = np.linspace(0, len(calibration) - 1, MAX_CALIBRATION_SAMPLES).astype(int)
    return calibration.subset(index)


def stage_feeds(
    scratch: Path,
    base_manifest: Mapping[str, Any],
    signature: Signature,
    fp32_file: str,
    fp32_path: Path,
    parity: ParityOptions,
    calibration: Labelled | BoxLabelled | None,
    evaluation: Labelled | BoxLabelled | None,
    int8: bool,
) -> StagedFeeds:
    """Writes the provisional bundle under `scratch` and preprocesses the raw data through it
    (the calibration data only for int8; it may still supply the parity samples)."""
    provisional = write_bundle(
        scratch / "provisional.mmb",
        {
            **base_manifest,
            "labels": [],  # checked against the reference outputs later, with a clearer message
            "inputs": signature.manifest_inputs(),
            "outputs": signature.manifest_outputs(None, scan_onnx(fp32_path).shapes),
            "artifacts": [{"file": fp32_file, "format": "onnx", "precision": "fp32"}],
            "reports": {},
            "heads": [],  # only preprocessing runs here; the heads are checked with the labels
        },
        {fp32_file: fp32_path},
    )

    with Model(provisional, artifact=fp32_file, providers=["CPUExecutionProvider"]) as staged:

        def feeds(data: Labelled) -> Feeds:
            return staged.preprocess_batch(data.samples, sample_rates=data.rates_for(staged.specs))

        if parity.data is not None:
            raw, source = parity.data, "given"
        else:
            raw, source = parity_samples(evaluation, calibration, signature.inputs, parity.samples)
        return StagedFeeds(
            parity=feeds(raw),
            source=source,
            calibration=(
                feeds(_calibration_subset(calibration))
                if int8 and calibration is not None
                else None
            ),
            evaluation=feeds(evaluation) if evaluation is not None else None,
        )
