"""Unpacking a .tar bundle safely: streamed member by member (a compressed archive is never
decompressed ahead of the checks), each member checked before its bytes are written: regular
files and directories only (no links, devices or sparse files), relative names without '..',
no name twice, and the limits of mmedge.bundle.limits on members, sizes and compression ratio.
Copies are unpacked under $TMPDIR as mmedge-bundle-PID-*; those of processes that died are
removed by the next load."""

from __future__ import annotations

import bz2
import io
import lzma
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

from mmedge.bundle.limits import BundleLimits
from mmedge.bundle.paths import check_relpath
from mmedge.errors import BundleError

PREFIX = "mmedge-bundle-"
_RATIO_CHECK_AFTER = 64 << 20  # bytes unpacked before the compression ratio is judged


class _Unpacking(io.RawIOBase):
    """The archive's tar stream, decompressed here in bounded steps (gzip, bzip2, xz or none,
    by the magic bytes), counting the compressed bytes read: tarfile's own stream
    decompression buffers a bomb's output quadratically (a 1 GiB bzip2 bomb took 23 s to
    refuse)."""

    CHUNK = 1 << 16

    def __init__(self, f: io.BufferedReader) -> None:
        self.f, self.consumed = f, 0
        magic = f.peek(6)[:6]
        self._zlib: Any = None  # zlib keeps its unread input itself (unconsumed_tail)
        self._other: Any = None  # bz2 and lzma take max_length and say when they need input
        if magic.startswith(b"\x1f\x8b"):
            self._zlib = zlib.decompressobj(wbits=47)
        elif magic.startswith(b"BZh"):
            self._other = bz2.BZ2Decompressor()
        elif magic.startswith(b"\xfd7zXZ\x00"):
            self._other = lzma.LZMADecompressor()

    def readable(self) -> bool:
        return True

    def _compressed(self) -> bytes:
        data = self.f.read(self.CHUNK)
        self.consumed += len(data)
        return data

    def _next(self, want: int) -> bytes:
        """Up to `want` decompressed bytes; b'' at the end of the stream."""
        if self._zlib is not None:
            while True:
                src = self._zlib.unconsumed_tail or self._compressed()
                if not src:
                    return self._zlib.flush()
                data = self._zlib.decompress(src, want)
                if data or self._zlib.eof:
                    return data
        if self._other is not None:
            while not self._other.eof:
                src = self._compressed() if self._other.needs_input else b""
                if self._other.needs_input and not src:
                    raise EOFError("the compressed stream ends early")
                data = self._other.decompress(src, max_length=want)
                if data:
                    return data
            return b""
        data = self.f.read(want)
        self.consumed += len(data)
        return data

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        data = self._next(len(b))
        b[: len(data)] = data
        return len(data)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_copies() -> list[Path]:
    """Removes unpacked copies whose process is gone (killed loads and writes); returns them."""
    removed = []
    for path in Path(tempfile.gettempdir()).glob(f"{PREFIX}*-*"):
        m = re.fullmatch(rf"{PREFIX}(\d+)-.*", path.name)
        if m and path.is_dir() and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def temp_copy_dir() -> tempfile.TemporaryDirectory[str]:
    remove_stale_copies()
    return tempfile.TemporaryDirectory(prefix=f"{PREFIX}{os.getpid()}-")


def _check_member(member: tarfile.TarInfo, where: str) -> PurePosixPath:
    if member.issym() or member.islnk():
        raise BundleError(f"{where} is a link; bundles may not contain links")
    if member.issparse():
        raise BundleError(f"{where} is a sparse file; bundles hold regular files only")
    if not (member.isfile() or member.isdir()):
        raise BundleError(f"{where} is not a regular file or directory")
    name = PurePosixPath(*check_relpath(member.name, what=where).parts)
    if not name.parts or "." in name.parts:
        raise BundleError(f"{where} does not name a file inside the bundle")
    return name


def unpack(tar_path: Path, dest: Path, limits: BundleLimits) -> None:
    """Unpacks tar_path into dest, refusing (BundleError) at the first member that breaks a
    rule or a limit, before writing its bytes."""
    try:
        raw = open(tar_path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise BundleError(f"cannot read {tar_path}: {exc}") from exc
    try:
        stream = _Unpacking(raw)
        with tarfile.open(fileobj=io.BufferedReader(stream, 1 << 16), mode="r|") as tar:
            _unpack_members(tar, tar_path, dest, limits, stream)
    except (IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
        raise BundleError(f"{tar_path}: a member is both a file and a folder: {exc}") from exc
    except tarfile.TarError as exc:
        raise BundleError(f"{tar_path} is not a readable tar archive: {exc}") from exc
    except (zlib.error, OSError, lzma.LZMAError) as exc:  # bz2 reports bad data as OSError
        raise BundleError(f"{tar_path} could not be unpacked: {exc}") from exc
    except EOFError as exc:
        raise BundleError(f"{tar_path} ends in the middle of a member: truncated") from exc
    finally:
        raw.close()


def _unpack_members(
    tar: tarfile.TarFile, tar_path: Path, dest: Path, limits: BundleLimits, stream: _Unpacking
) -> None:
    seen: set[PurePosixPath] = set()
    total = members = written = 0
    for member in tar:
        where = f"{tar_path}: member {member.name!r}"
        members += 1
        if members > limits.max_members:
            raise BundleError(
                f"{tar_path} has more than {limits.max_members} members (BundleLimits.max_members)"
            )
        name = _check_member(member, where)
        if name in seen:
            raise BundleError(f"{where} appears twice; a bundle names each file once")
        seen.add(name)
        target = dest.joinpath(*name.parts)
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        if member.size > limits.max_member_bytes:
            raise BundleError(
                f"{where} is {member.size / 1e9:.2f} GB unpacked, over the limit of "
                f"{limits.max_member_bytes / 1e9:.2f} GB (BundleLimits.max_member_bytes)"
            )
        total += member.size
        if total > limits.max_total_bytes:
            raise BundleError(
                f"{tar_path} unpacks to more than {limits.max_total_bytes / 1e9:.2f} GB "
                "(BundleLimits.max_total_bytes)"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        source = tar.extractfile(member)
        assert source is not None  # isfile() members have data
        with open(target, "wb") as out:
            while chunk := source.read(1 << 20):
                out.write(chunk)
                written += len(chunk)
                ratio = written / max(stream.consumed, 1)
                if written > _RATIO_CHECK_AFTER and ratio > limits.max_compression_ratio:
                    raise BundleError(
                        f"{tar_path} unpacks {ratio:.0f}x its compressed size, over the limit "
                        f"of {limits.max_compression_ratio:g}x (BundleLimits."
                        "max_compression_ratio): a decompression bomb?"
                    )
