"""Writes bundles atomically: everything goes to a staging sibling first, is checked by loading
it, then one atomic step puts it in place (mmedge.bundle.atomic), so the path holds the old
bundle or the new one, complete, whenever the writer dies; a write lock keeps concurrent
writers apart, and leftovers of killed writers are removed by the next write."""

from __future__ import annotations

import copy
import errno
import json
import os
import secrets
import shutil
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmedge.bundle.atomic import fsync_dir, recover, replace_dir, write_lock
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


def _write_tar(stage: Path, out: Path) -> None:
    """Streams the staged files into a temporary .tar beside `out`, then renames it over."""
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as f_out:
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
        os.replace(tmp, out)
        fsync_dir(out.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _bytes_to_write(files: Mapping[str, bytes | Path], tar: bool) -> int:
    """Bytes a write needs free: the staged copy, and the archive beside it for a .tar."""
    staged = sum(
        len(c) if isinstance(c, bytes) else (Path(c).stat().st_size if Path(c).is_file() else 0)
        for c in files.values()
    )
    return staged * (2 if tar else 1) + (1 << 20)


def _no_space(out: Path, needed: int, free: int | None = None) -> BundleError:
    free = shutil.disk_usage(out.parent).free if free is None else free
    return BundleError(
        f"not enough space to write {out}: it needs about {needed / 1e6:.1f} MB, "
        f"{free / 1e6:.1f} MB are free on {out.parent}"
    )


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
    overwrite: replace an existing bundle at `out` (atomically: readers see the old one or the
        new one, never a mix or nothing).
    Raises BundleError: `out` exists without overwrite, another process is writing `out`, not
    enough disk space (before anything is written, or when the disk fills meanwhile), or the
    manifest or files are wrong. Nothing is left behind on failure.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tar = out.suffix == ".tar"
    needed = _bytes_to_write(files, tar)
    free = shutil.disk_usage(out.parent).free
    if needed > free:
        raise _no_space(out, needed, free)
    with write_lock(out):
        recover(out)  # first: a bundle a killed writer left aside is put back at `out`
        if out.exists() and not overwrite:
            raise BundleError(f"{out} exists; pass overwrite=True to replace it")
        stage = out.with_name(f".{out.name}.staging-{os.getpid()}-{secrets.token_hex(4)}")
        stage.mkdir()
        try:
            _stage(stage, dict(manifest), files)
            Bundle.load(stage).close()  # what is put in place must load
            (_write_tar if tar else replace_dir)(stage, out)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise _no_space(out, needed) from exc
            raise
        finally:
            if stage.exists():
                shutil.rmtree(stage, ignore_errors=True)
    return out
