"""Names of files inside a bundle."""

from __future__ import annotations

from pathlib import PurePosixPath

from mmedge.errors import BundleError


def check_relpath(name: str, what: str = "path") -> PurePosixPath:
    """A path inside a bundle: relative, '/'-separated, no '..'. Raises BundleError."""
    p = PurePosixPath(name)
    if "\x00" in name:
        raise BundleError(f"{what} {name!r} holds a NUL byte")
    if not name or p.is_absolute() or name.startswith(("/", "\\")) or "\\" in name:
        raise BundleError(f"{what} {name!r} is not a relative path inside the bundle")
    if any(part == ".." for part in p.parts):
        raise BundleError(f"{what} {name!r} points outside the bundle ('..')")
    return p
