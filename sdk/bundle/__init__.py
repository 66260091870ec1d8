"""Bundles: reading (checksums, schema, safe tar extraction), writing (atomic), the manifest's
JSON Schema, and parity (how far an artifact is from the PyTorch reference)."""

from __future__ import annotations

from mmedge.bundle.parity import ParityReport, ParityTolerance, compare
from mmedge.bundle.reader import (
    MANIFEST,
    SCHEMA_VERSION,
    SUPPORTED_SCHEMA_VERSIONS,
    Artifact,
    Bundle,
    TensorSpec,
    builtin_bundle,
    check_relpath,
    manifest_schema,
    sha256_file,
    validate_manifest,
)
from mmedge.bundle.writer import write_bundle

__all__ = [
    "MANIFEST",
    "SCHEMA_VERSION",
    "SUPPORTED_SCHEMA_VERSIONS",
    "Artifact",
    "Bundle",
    "ParityReport",
    "ParityTolerance",
    "TensorSpec",
    "builtin_bundle",
    "check_relpath",
    "compare",
    "manifest_schema",
    "sha256_file",
    "validate_manifest",
    "write_bundle",
]
