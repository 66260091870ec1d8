"""Writes bundles atomically: everything goes to a temporary sibling first, then one rename puts
it in place, so a crash or a failed check never leaves a half-written bundle behind."""

from __future__ import annotations

import copy
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmedge.bundle.manifest import MANIFEST, validate_manifest
from mmedge.bundle.reader import Bundle, check_relpath, sha256_file
from mmedge.errors import BundleError


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())


def _stage(
    stage: Path, manifest: dict[str, Any], files: Mapping[str, bytes | Path]
) -> dict[str, Any]:
    """Writes `files` into `stage`, fills in sha256/bytes of every artifact and file entry,
    validates and writes the manifest; returns the final manifest."""
    manifest = copy.deepcopy(manifest)
    listed = {e["file"] for e in manifest.get("artifacts", [])}
    listed |= {e["file"] for e in manifest.get("files", [])}
    missing = sorted(listed - set(files))
    if missing:
        raise BundleError(f"the manifest lists files that were not given: {missing}")
    extra = sorted(set(files) - listed)
    if extra:
        raise BundleError(
            f"files given but not listed in the manifest's artifacts or files: {extra}"
        )
    for name, content in files.items():
        rel = check_relpath(name, what="bundle file")
        target = stage.joinpath(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            shutil.copyfile(content, target)
    for entry in [*manifest.get("artifacts", []), *manifest.get("files", [])]:
        path = stage.joinpath(*check_relpath(entry["file"]).parts)
        entry["sha256"] = sha256_file(path)
        entry["bytes"] = path.stat().st_size
    validate_manifest(manifest, where="the manifest to write")
    (stage / MANIFEST).write_text(
        json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8"
    )
    _fsync_tree(stage)
    return manifest


def _replace_dir(stage: Path, out: Path, overwrite: bool) -> None:
    if not out.exists():
        os.replace(stage, out)
        return
    if not overwrite:
        raise BundleError(f"{out} exists; pass overwrite=True to replace it")
    if not out.is_dir():
        raise BundleError(f"{out} exists and is not a directory")
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    os.replace(out, old)
    try:
        os.replace(stage, out)
    except OSError:
        os.replace(old, out)  # put the previous bundle back
        raise
    shutil.rmtree(old, ignore_errors=True)


def _write_tar(stage: Path, out: Path, overwrite: bool) -> None:
    if out.exists() and not overwrite:
        raise BundleError(f"{out} exists; pass overwrite=True to replace it")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f_out:
            with tarfile.open(fileobj=f_out, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for path in sorted(stage.rglob("*")):
                    if path.is_file():
                        info = tar.gettarinfo(str(path), arcname=path.relative_to(stage).as_posix())
                        info.uid = info.gid = 0
                        info.uname = info.gname = ""
                        with open(path, "rb") as f:
                            tar.addfile(info, f)
            f_out.flush()
            os.fsync(f_out.fileno())
        os.replace(tmp_name, out)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_bundle(
    out: str | Path,
    manifest: Mapping[str, Any],
    files: Mapping[str, bytes | Path],
    *,
    overwrite: bool = False,
) -> Path:
    """Writes a bundle and returns its path.

    out: NAME.mmb (a directory) or a path ending in .tar (one archive file).
    manifest: the manifest; the sha256 and bytes of every artifact and file entry are filled in
        here, then it is validated against the schema before anything is put in place.
    files: bundle-relative name -> content (bytes) or a path to copy. Every name must be listed
        in the manifest's artifacts or files, and every listed name given.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".staging", dir=out.parent))
    try:
        _stage(stage, dict(manifest), files)
        if out.suffix == ".tar":
            _write_tar(stage, out, overwrite)
        else:
            _replace_dir(stage, out, overwrite)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
    Bundle.load(out).close()  # what was written must load
    return out
