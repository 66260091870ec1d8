"""The manifest: its JSON Schema and checks (validate_manifest), and typed, read-only views of
what the rest of mmedge reads from it: tensors (TensorSpec), artifacts with their quantisation
form and engine profile (Artifact), the parity status an artifact was exported with
(ParityStatus), listed files (FileEntry). This module is the one place that knows the
manifest's keys; everything else asks these views."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from mmedge._version import __version__
from mmedge.bundle.parity import ParityTolerance
from mmedge.errors import BundleError

SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = (1,)
MANIFEST = "manifest.json"


@cache
def manifest_schema(version: int = SCHEMA_VERSION) -> dict[str, Any]:
    """The JSON Schema of manifest version `version`, as shipped in mmedge/bundle/schema/."""
    schema = resources.files("mmedge.bundle.schema")
    text = schema.joinpath(f"manifest.v{version}.schema.json").read_text()
    return json.loads(text)


def _check_cross_references(manifest: Mapping[str, Any], where: str) -> None:
    """What the schema cannot say: preprocessing names real inputs, labels fit the classes."""
    input_names = [t["name"] for t in manifest["inputs"]]
    for name in manifest["preprocess"]:
        if name not in input_names:
            raise BundleError(f"{where}: preprocess names input {name!r}, inputs are {input_names}")
    labels = manifest.get("labels")
    if manifest["task"] != "classification" or not labels:
        return
    for out in manifest["outputs"]:
        classes = out["shape"][-1] if out["shape"] else None
        if (
            out["kind"] in ("logits", "probs")
            and isinstance(classes, int)
            and classes != len(labels)
        ):
            raise BundleError(
                f"{where}: output {out['name']!r} has {classes} classes but there are "
                f"{len(labels)} labels"
            )


def validate_manifest(manifest: Any, where: str = "manifest") -> None:
    """Raises BundleError unless `manifest` is a valid manifest of a supported schema version."""
    if not isinstance(manifest, dict):
        raise BundleError(f"{where} must be a JSON object, got {type(manifest).__name__}")
    version = manifest.get("schema_version")
    if version is None:
        raise BundleError(f"{where} has no schema_version")
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise BundleError(
            f"{where} has schema version {version!r}; mmedge {__version__} reads version(s) "
            f"{', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))}. Upgrade mmedge, or re-export "
            "the bundle with this version."
        )
    import jsonschema  # here, not at import: `import mmedge` stays light on devices

    validator = jsonschema.Draft202012Validator(manifest_schema(version))
    error = jsonschema.exceptions.best_match(validator.iter_errors(manifest))
    if error is not None:
        location = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise BundleError(
            f"{where} does not match schema v{version} at {location}: {error.message}"
        )
    _check_cross_references(manifest, where)


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output as the manifest declares it. Symbolic dims are strings."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str
    layout: str | None = None
    kind: str | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TensorSpec:
        return cls(d["name"], tuple(d["shape"]), d["dtype"], d.get("layout"), d.get("kind"))


@dataclass(frozen=True)
class Artifact:
    """One model file of a bundle, with what the manifest says about it.

    qdq: the Q/DQ form of an int8 graph ({'activations': 'int8' | 'uint8', ...}). built_for,
    built_from, profile: what a TensorRT engine was built for, from which ONNX artifact, and its
    optimisation profile ({input: {'min', 'opt', 'max'}})."""

    file: str
    path: Path
    format: str
    precision: str
    sha256: str
    opset: int | None = None
    built_for: Mapping[str, Any] | None = None
    built_from: str | None = None
    qdq: Mapping[str, Any] | None = None
    profile: Mapping[str, Mapping[str, list[int]]] | None = None

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any], root: Path) -> Artifact:
        return cls(
            file=entry["file"],
            path=root.joinpath(*PurePosixPath(entry["file"]).parts),
            format=entry["format"],
            precision=entry["precision"],
            sha256=entry.get("sha256", ""),  # filled in when the bundle is written
            opset=entry.get("opset"),
            built_for=entry.get("built_for"),
            built_from=entry.get("built_from"),
            qdq=entry.get("qdq"),
            profile=entry.get("profile"),
        )

    @property
    def activations(self) -> str | None:
        """'int8' or 'uint8' for a Q/DQ int8 graph, else None."""
        return (self.qdq or {}).get("activations")

    @property
    def max_batch(self) -> int | None:
        """The largest batch an engine's profile takes (None: not an engine)."""
        if not self.profile:
            return None
        return min(shapes["max"][0] for shapes in self.profile.values())


@dataclass(frozen=True)
class ParityStatus:
    """How an artifact fared against PyTorch at export: passed, on which inputs ('given',
    'evaluation', 'calibration', 'random'), and the report of each output."""

    passed: bool
    source: str | None = None
    outputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> ParityStatus:
        # early bundles stored one report as the entry itself: it holds for every output
        outputs = entry.get("outputs", {"*": entry})
        return cls(bool(entry.get("passed", True)), entry.get("source"), outputs)

    def tolerance(self, output: str, precision: str) -> ParityTolerance:
        """The tolerance the output was exported under, else the default of its precision."""
        stored = self.outputs.get(output) or self.outputs.get("*")
        if not stored:
            return ParityTolerance.for_precision(precision)
        atol = stored.get("atol")
        return ParityTolerance(
            atol=float("inf") if atol is None else atol,  # JSON has no infinity
            rtol=stored.get("rtol") or 0.0,
            min_top1_agreement=stored.get("min_top1_agreement"),
            min_mean_cosine=stored.get("min_mean_cosine"),
            atol_fraction_of_max=stored.get("atol_fraction_of_max") or 0.0,
        )


@dataclass(frozen=True)
class FileEntry:
    """A non-model file of the bundle and its role (parity_inputs, parity_reference,
    timing_cache, ...)."""

    file: str
    role: str
    path: Path


class Manifest:
    """Typed, read-only access to a validated manifest dict; `data` is the dict itself (for
    writing a changed bundle)."""

    def __init__(self, data: Mapping[str, Any], root: Path) -> None:
        self.data, self.root = data, root

    schema_version = property(lambda self: int(self.data["schema_version"]))
    name = property(lambda self: str(self.data["name"]))
    modality = property(lambda self: str(self.data["modality"]))
    task = property(lambda self: str(self.data["task"]))
    labels = property(lambda self: list(self.data.get("labels", [])))
    reports = property(lambda self: self.data["reports"])

    @property
    def inputs(self) -> list[TensorSpec]:
        return [TensorSpec.from_dict(t) for t in self.data["inputs"]]

    @property
    def outputs(self) -> list[TensorSpec]:
        return [TensorSpec.from_dict(t) for t in self.data["outputs"]]

    @property
    def artifacts(self) -> list[Artifact]:
        return [Artifact.from_entry(a, self.root) for a in self.data["artifacts"]]

    @property
    def files(self) -> list[FileEntry]:
        return [
            FileEntry(f["file"], f["role"], self.root.joinpath(*PurePosixPath(f["file"]).parts))
            for f in self.data.get("files", [])
        ]

    def listed(self) -> list[tuple[str, str, str]]:
        """(what, bundle-relative file, sha256) of every artifact and file."""
        return [("artifact", a["file"], a["sha256"]) for a in self.data["artifacts"]] + [
            ("file", f["file"], f["sha256"]) for f in self.data.get("files", [])
        ]

    def listed_names(self) -> set[str]:
        """The bundle-relative names of every listed artifact and file, normalised ('a/./b'
        is 'a/b'), as the files inside the bundle are named."""
        return {PurePosixPath(file).as_posix() for _, file, _ in self.listed()}

    def preprocess_entry(self, input_name: str | None = None) -> tuple[str, Any]:
        """(input name, its preprocess dict or None); default: the first input."""
        name = input_name or self.data["inputs"][0]["name"]
        return name, self.data["preprocess"].get(name)

    def parity(self, file: str) -> ParityStatus | None:
        """The export-time parity of an artifact (None: none stored, as for engines)."""
        entry = self.reports.get("parity", {}).get(file)
        return ParityStatus.from_entry(entry) if entry is not None else None

    def speed(self, file: str) -> Mapping[str, Any] | None:
        """The export machine's speed report of an artifact, if any."""
        entry = self.reports.get("speed", {}).get(file)
        return entry if entry else None

    def report(self, name: str) -> Mapping[str, Any]:
        """One export report ('accuracy', 'recommendation', 'quantization', ...), {} if none."""
        return self.reports.get(name) or {}

    @property
    def exporter(self) -> str | None:
        """Which ONNX exporter made the graph (dynamo | torchscript)."""
        return self.data.get("provenance", {}).get("exporter")
