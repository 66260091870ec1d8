"""Bundles: reading (checksums, schema, limits, consistency with the artifacts, safe tar
unpacking), writing (atomic, locked), the manifest (its JSON Schema and typed views), and
parity (how far an artifact is from the PyTorch reference)."""

from __future__ import annotations

from mmedge.bundle.limits import BundleLimits
from mmedge.bundle.manifest import (
    MANIFEST,
    SCHEMA_VERSION,
    SUPPORTED_SCHEMA_VERSIONS,
    Artifact,
    FileEntry,
    Manifest,
    ParityStatus,
    TensorSpec,
    manifest_schema,
    validate_manifest,
)
from mmedge.bundle.parity import ParityReport, ParityTolerance, compare
from mmedge.bundle.reader import Bundle, builtin_bundle, check_relpath, sha256_file
from mmedge.bundle.writer import write_bundle

__all__ = [
    "MANIFEST",
    "SCHEMA_VERSION",
    "SUPPORTED_SCHEMA_VERSIONS",
    "Artifact",
    "Bundle",
    "BundleLimits",
    "FileEntry",
    "Manifest",
    "ParityReport",
    "ParityStatus",
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
