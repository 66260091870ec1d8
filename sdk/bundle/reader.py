"""Bundles: a directory NAME.mmb/ (or the same as a .tar) holding manifest.json and the model
artifacts. Loading checks the manifest against the JSON Schema shipped with mmedge and the
sha256 of every file it lists, so a bundle either loads exactly as exported or not at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from mmedge.bundle.consistency import check_consistency
from mmedge.bundle.limits import DEFAULT_LIMITS, BundleLimits
from mmedge.bundle.manifest import (
    MANIFEST,
    Artifact,
    FileEntry,
    Manifest,
    ParityStatus,
    TensorSpec,
    validate_manifest,
)
from mmedge.bundle.paths import check_relpath
from mmedge.bundle.unpack import temp_copy_dir, unpack
from mmedge.errors import BundleError, PostprocessError, PreprocessError
from mmedge.preprocess.spec import Spec, spec_from_dict
from mmedge.tasks.heads import Head, head_from_dict


def sha256_file(path: Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def _bundle_root(extracted: Path, source: Path) -> Path:
    if (extracted / MANIFEST).is_file():
        return extracted
    entries = [p for p in extracted.iterdir()]
    if len(entries) == 1 and entries[0].is_dir() and (entries[0] / MANIFEST).is_file():
        return entries[0]
    raise BundleError(f"{source} has no {MANIFEST} at its top level: not an mmedge bundle")


class Bundle:
    """A loaded, verified bundle. Use Bundle.load(path)."""

    def __init__(
        self,
        root: Path,
        manifest: dict[str, Any],
        source: Path,
        tempdir: tempfile.TemporaryDirectory[str] | None = None,
        limits: BundleLimits = DEFAULT_LIMITS,
    ) -> None:
        self.root = root
        self.source = source
        self.manifest = manifest
        self.limits = limits
        self._tempdir = tempdir  # keeps an extracted .tar alive as long as the bundle

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        verify_checksums: bool = True,
        limits: BundleLimits | None = None,
    ) -> Bundle:
        """Loads NAME.mmb/ or NAME.mmb.tar and refuses it (BundleError saying what is wrong)
        unless: the manifest fits its schema; every file in the bundle is listed in it and
        matches its sha256 (verify_checksums=False skips the hashing only); nothing is a link;
        a .tar stays within `limits` (mmedge.bundle.limits: sizes, members, compression
        ratio) and names each file once; and the manifest agrees with its artifacts (inputs,
        outputs, precision, labels: mmedge.bundle.consistency)."""
        limits = limits or DEFAULT_LIMITS
        source = Path(path)
        if not source.exists():
            raise BundleError(f"bundle not found: {source}")
        if source.is_dir():
            return cls._open(source, source, None, verify_checksums, limits)
        tempdir = temp_copy_dir()
        try:
            unpack(source, Path(tempdir.name), limits)
            root = _bundle_root(Path(tempdir.name), source)
            return cls._open(root, source, tempdir, verify_checksums, limits)
        except BaseException:
            tempdir.cleanup()
            raise

    @classmethod
    def _open(
        cls,
        root: Path,
        source: Path,
        tempdir: tempfile.TemporaryDirectory[str] | None,
        verify_checksums: bool,
        limits: BundleLimits,
    ) -> Bundle:
        manifest_path = root / MANIFEST
        if manifest_path.is_symlink():
            raise BundleError(f"{source}: {MANIFEST} is a link; bundles may not contain links")
        if not manifest_path.is_file():
            raise BundleError(f"{source} has no {MANIFEST}: not an mmedge bundle")
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise BundleError(
                f"{source}: {MANIFEST} is not valid JSON (line {exc.lineno}, column {exc.colno}): "
                f"{exc.msg}"
            ) from exc
        except UnicodeDecodeError as exc:
            raise BundleError(f"{source}: {MANIFEST} is not UTF-8 text") from exc
        validate_manifest(manifest, where=f"{source}: {MANIFEST}")
        bundle = cls(root, manifest, source, tempdir, limits)
        bundle.check_tree()
        if verify_checksums:
            bundle.verify()
        check_consistency(bundle)
        return bundle

    def check_tree(self) -> None:
        """Refuses links anywhere in the bundle and files its manifest does not list (a file
        that is not checksummed could be swapped: e.g. ONNX external weights)."""
        listed = {MANIFEST} | self.view.listed_names()
        for folder, dirs, files in os.walk(self.root):
            for name in (*dirs, *files):
                path = Path(folder) / name
                rel = path.relative_to(self.root).as_posix()
                mode = path.lstat().st_mode
                if stat.S_ISLNK(mode):
                    raise BundleError(
                        f"{self.source}: {rel} is a link; bundles may not contain links"
                    )
                if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                    raise BundleError(f"{self.source}: {rel} is not a regular file or directory")
                if stat.S_ISREG(mode) and rel not in listed:
                    raise BundleError(
                        f"{self.source}: {rel} is not listed in the manifest; every file of a "
                        "bundle must be listed and checksummed (re-export, or remove the file)"
                    )

    def verify(self) -> None:
        """Checks that every listed file exists inside the bundle and matches its sha256."""
        root = self.root.resolve()
        for what, file, sha256 in self.view.listed():
            rel = check_relpath(file, what=f"{what} path")
            path = self.root.joinpath(*rel.parts)
            if not path.is_file():
                raise BundleError(f"{self.source}: {what} {file} is missing")
            if not path.resolve().is_relative_to(root):
                raise BundleError(f"{self.source}: {what} {file} links outside the bundle")
            actual = sha256_file(path)
            if actual != sha256:
                raise BundleError(
                    f"{self.source}: {what} {file} fails its checksum (sha256 "
                    f"{actual[:16]}..., manifest says {sha256[:16]}...): the file was "
                    "modified or corrupted; re-export or re-download the bundle"
                )

    @property
    def view(self) -> Manifest:
        """Typed access to the manifest (mmedge.bundle.manifest)."""
        return Manifest(self.manifest, self.root)

    @property
    def name(self) -> str:
        return self.view.name

    @property
    def modality(self) -> str:
        return self.view.modality

    @property
    def task(self) -> str:
        return self.view.task

    @property
    def labels(self) -> list[str]:
        return self.view.labels

    @property
    def schema_version(self) -> int:
        return self.view.schema_version

    @property
    def inputs(self) -> list[TensorSpec]:
        return self.view.inputs

    @property
    def outputs(self) -> list[TensorSpec]:
        return self.view.outputs

    @property
    def artifacts(self) -> list[Artifact]:
        return self.view.artifacts

    @property
    def files(self) -> list[FileEntry]:
        """The bundle's non-model files (parity fixture, timing caches)."""
        return self.view.files

    @property
    def reports(self) -> dict[str, Any]:
        return self.view.reports

    def parity(self, file: str) -> ParityStatus | None:
        """The export-time parity of an artifact (None: none stored, as for engines)."""
        return self.view.parity(file)

    def contents(self) -> dict[str, Path]:
        """Every artifact and file the manifest lists, by bundle-relative name: what
        mmedge.export.write_bundle needs to write this bundle again (e.g. as a .tar)."""
        return {
            **{a.file: a.path for a in self.artifacts},
            **{f.file: f.path for f in self.files},
        }

    def file(self, role: str) -> Path | None:
        """Path of the bundle file with this role (e.g. 'parity_inputs'), or None."""
        return next((f.path for f in self.files if f.role == role), None)

    def preprocess(self, input_name: str | None = None) -> Spec | None:
        """The preprocessing spec of an input (default: the first input), or None if the
        input takes tensors as they are."""
        name, d = self.view.preprocess_entry(input_name)
        if d is None:
            return None
        try:
            spec = spec_from_dict(d)
            spec.sample_shape()  # refuses a spec whose tensor size depends on the frame
            return spec
        except PreprocessError as exc:
            raise BundleError(f"{self.source}: preprocess of input {name!r}: {exc}") from exc

    def heads(self) -> list[Head]:
        """The task heads the manifest declares (DetectionHead, SegmentationHead), in order."""
        out = []
        for i, d in enumerate(self.manifest.get("heads", [])):
            try:
                out.append(head_from_dict(d))
            except PostprocessError as exc:
                raise BundleError(f"{self.source}: head {i}: {exc}") from exc
        return out

    def artifact(self, format: str | None = None, precision: str | None = None) -> Artifact:
        """The first artifact with this format and precision (None = any)."""
        for a in self.artifacts:
            if (format is None or a.format == format) and (
                precision is None or a.precision == precision
            ):
                return a
        have = ", ".join(f"{a.format}/{a.precision}" for a in self.artifacts)
        raise BundleError(
            f"{self.source} has no {format or 'any'}/{precision or 'any'} artifact (has: {have})"
        )

    def close(self) -> None:
        """Deletes the extracted copy of a .tar bundle (a directory bundle is left alone)."""
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    def __enter__(self) -> Bundle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Bundle({self.name!r}, modality={self.modality!r}, source={str(self.source)!r})"


def builtin_bundle(name: str = "mnist_cnn") -> str:
    """Path of a bundle shipped inside the package (see scripts/build_bundles.py)."""
    path = resources.files("mmedge").joinpath("bundles", f"{name}.mmb")
    if not path.is_dir():
        raise BundleError(f"no built-in bundle named {name!r}")
    return str(path)
