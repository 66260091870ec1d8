"""Putting a finished bundle in place so that its path always holds a complete bundle: the old
one or the new one, whatever moment the writer is killed at.

- One writer at a time: an exclusive flock on a lock file beside the bundle (.NAME.lock,
  removed on release; a writer checks that the file it locked is still the one at the path).
  A second writer fails at once with BundleError naming the holder's pid.
- Replacing a directory: renameat2(RENAME_EXCHANGE) swaps the staged directory and the old one
  in one step (Linux 3.15+, ext4, xfs, btrfs, tmpfs, overlayfs); the old one, now under the
  staging name, is then deleted. Where the exchange is unsupported the old bundle is renamed
  aside first, and a crash in the two-rename window is repaired by the next writer (it renames
  the aside copy back if the path is empty).
- Replacing a file (a .tar): os.replace of a complete temporary file (always atomic).
- Leftovers of killed writers (.NAME.staging-*, .NAME.old-*, .NAME.*.tmp) are removed by the
  next writer of that path, while it holds the lock (so none of them can be a live writer's).
- Durability: files are fsynced before the rename and the directory after it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from mmedge.errors import BundleError

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _libc_renameat2() -> object | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):  # not glibc >= 2.28 (musl, macOS): no exchange
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_renameat2 = _libc_renameat2()


def exchange(a: Path, b: Path) -> bool:
    """Atomically swaps two paths; False when this system or filesystem cannot."""
    if _renameat2 is None:
        return False
    rc = _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)  # type: ignore[operator]
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(err, f"renameat2({a}, {b}, RENAME_EXCHANGE): {os.strerror(err)}")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def lock_path(out: Path) -> Path:
    return out.with_name(f".{out.name}.lock")


@contextlib.contextmanager
def write_lock(out: Path) -> Iterator[None]:
    """Holds the bundle's write lock; BundleError at once if another writer holds it. The lock
    file is removed on release; a writer that locked a file removed meanwhile (its inode is no
    longer at the path) opens the new one instead, so two writers never hold two files."""
    path = lock_path(out)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise BundleError(
                f"{out} is being written by another process (pid {holder} holds {path}); "
                "wait for it or write elsewhere"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the previous holder removed it after we opened it: take the new one
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)  # releases the lock


def leftovers(out: Path) -> list[Path]:
    """What killed writers of `out` left beside it."""
    patterns = (f".{out.name}.staging-*", f".{out.name}.old-*", f".{out.name}.*.tmp")
    return sorted({p for pattern in patterns for p in out.parent.glob(pattern)})


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def recover(out: Path) -> list[Path]:
    """Under the lock: puts back a bundle a killed fallback replacement left aside (the path is
    empty and an .old- copy exists), then removes every other leftover. Returns what it
    removed."""
    found = leftovers(out)
    aside = [p for p in found if p.name.startswith(f".{out.name}.old-") and p.is_dir()]
    if not out.exists() and aside:
        os.replace(aside[0], out)
        found.remove(aside[0])
    for path in found:
        _remove(path)
    return found


def replace_dir(stage: Path, out: Path) -> None:
    """Puts the complete directory `stage` at `out` (replacing what is there) atomically."""
    if not out.exists():
        os.rename(stage, out)
    elif not out.is_dir() or out.is_symlink():
        raise BundleError(f"{out} exists and is not a directory; not replacing it")
    elif exchange(stage, out):
        _remove(stage)  # the old bundle, now under the staging name
    else:
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(stage, out)  # a crash before this line: the next writer puts `old` back
        _remove(old)
    fsync_dir(out.parent)
