"""Bundles: a directory NAME.mmb/ (or the same as a .tar) holding manifest.json and the model
artifacts. Loading checks the manifest against the JSON Schema shipped with mmedge and the
sha256 of every file it lists, so a bundle either loads exactly as exported or not at all.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
import tempfile
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from mmedge.bundle.manifest import (
    MANIFEST,
    Artifact,
    FileEntry,
    Manifest,
    ParityStatus,
    TensorSpec,
    validate_manifest,
)
from mmedge.errors import BundleError, PreprocessError
from mmedge.preprocess.spec import Spec, spec_from_dict


def sha256_file(path: Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def check_relpath(name: str, what: str = "path") -> PurePosixPath:
    """A path inside a bundle: relative, '/'-separated, no '..'. Raises BundleError."""
    p = PurePosixPath(name)
    if not name or p.is_absolute() or name.startswith(("/", "\\")) or "\\" in name:
        raise BundleError(f"{what} {name!r} is not a relative path inside the bundle")
    if any(part == ".." for part in p.parts):
        raise BundleError(f"{what} {name!r} points outside the bundle ('..')")
    return p


def _safe_extract(tar_path: Path, dest: Path) -> None:
    """Extracts regular files and directories only; refuses absolute paths, '..' and links.
    Every member is checked before anything is written."""
    try:
        tar = tarfile.open(tar_path)  # noqa: SIM115 - closed by the `with` below
    except (tarfile.TarError, OSError) as exc:
        raise BundleError(f"{tar_path} is not a readable tar archive: {exc}") from exc
    with tar:
        members = tar.getmembers()
        for member in members:
            where = f"{tar_path}: member {member.name!r}"
            if member.issym() or member.islnk():
                raise BundleError(f"{where} is a link; bundles may not contain links")
            if not (member.isfile() or member.isdir()):
                raise BundleError(f"{where} is not a regular file or directory")
            check_relpath(member.name, what=where)
        for member in members:
            target = dest.joinpath(*PurePosixPath(member.name).parts)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            if source is None:  # pragma: no cover - isfile() members always have data
                raise BundleError(f"{tar_path}: member {member.name!r} has no data")
            with source, open(target, "wb") as out:
                while chunk := source.read(1 << 20):
                    out.write(chunk)


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
    ) -> None:
        self.root = root
        self.source = source
        self.manifest = manifest
        self._tempdir = tempdir  # keeps an extracted .tar alive as long as the bundle

    @classmethod
    def load(cls, path: str | Path, *, verify_checksums: bool = True) -> Bundle:
        """Loads NAME.mmb/ or NAME.mmb.tar, validating the manifest against its schema and the
        sha256 of every artifact and file. Raises BundleError saying what is wrong."""
        source = Path(path)
        if not source.exists():
            raise BundleError(f"bundle not found: {source}")
        if source.is_dir():
            if not (source / MANIFEST).is_file():
                raise BundleError(f"{source} has no {MANIFEST}: not an mmedge bundle")
            return cls._open(source, source, None, verify_checksums)
        tempdir = tempfile.TemporaryDirectory(prefix="mmedge-bundle-")
        try:
            _safe_extract(source, Path(tempdir.name))
            return cls._open(
                _bundle_root(Path(tempdir.name), source), source, tempdir, verify_checksums
            )
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
    ) -> Bundle:
        manifest_path = root / MANIFEST
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
        bundle = cls(root, manifest, source, tempdir)
        if verify_checksums:
            bundle.verify()
        return bundle

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
            return spec_from_dict(d)
        except PreprocessError as exc:
            raise BundleError(f"{self.source}: preprocess of input {name!r}: {exc}") from exc

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
