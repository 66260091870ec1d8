"""mmedge.Pipeline: sources -> per-modality preprocess + inference -> alignment -> fusion, with
telemetry, and pipelines from TOML files (config)."""

from __future__ import annotations

from mmedge.pipeline.fusion import FusionError
from mmedge.pipeline.pipeline import Pipeline
from mmedge.pipeline.results import Contribution, FusedResult, ModalityResult
from mmedge.pipeline.telemetry import Telemetry

__all__ = [
    "Contribution",
    "FusedResult",
    "FusionError",
    "ModalityResult",
    "Pipeline",
    "Telemetry",
]
