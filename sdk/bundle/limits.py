"""What a bundle loader accepts: limits on archives and fixtures, checked before the bytes they
describe are unpacked or read, so a hostile bundle (a bzip2 bomb, 200,000 members, a fixture
that inflates to gigabytes) is refused instead of filling the disk or the memory."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmedge.errors import BundleError

GiB = 1 << 30


@dataclass(frozen=True)
class BundleLimits:
    """Limits of Bundle.load (override: Bundle.load(path, limits=BundleLimits(...))).

    max_total_bytes: all members of a .tar together, unpacked (16 GiB: a large vision
        transformer at three precisions with engines fits).
    max_member_bytes: one member, unpacked (8 GiB).
    max_members: members of a .tar (4,096; an exported bundle has a few dozen).
    max_compression_ratio: unpacked bytes per archive byte of a compressed .tar, checked as it
        unpacks once 64 MiB have come out (100; model weights compress 1.1-3x, a bomb 1000x+).
    max_fixture_bytes: a parity fixture's arrays, by their headers, before they are read
        (256 MiB).
    """

    max_total_bytes: int = 16 * GiB
    max_member_bytes: int = 8 * GiB
    max_members: int = 4096
    max_compression_ratio: float = 100.0
    max_fixture_bytes: int = 256 << 20


DEFAULT_LIMITS = BundleLimits()


def _npy_bytes(f: object, where: str) -> int:
    """Bytes of the array whose .npy header `f` is positioned at."""
    try:
        version = np.lib.format.read_magic(f)  # type: ignore[arg-type]
        read = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = read(f)  # type: ignore[arg-type]
    except ValueError as exc:
        raise BundleError(f"{where} is not a NumPy array file: {exc}") from exc
    if dtype.hasobject:
        raise BundleError(f"{where} holds Python objects; fixtures hold numbers only")
    return int(np.prod(shape, dtype=np.int64)) * dtype.itemsize


def load_arrays(
    path: Path, default_name: str, limits: BundleLimits = DEFAULT_LIMITS
) -> dict[str, np.ndarray]:
    """The arrays of a .npy or .npz fixture, after checking from their headers that they fit
    limits.max_fixture_bytes. Never unpickles."""
    total = 0
    if path.suffix == ".npz":
        try:
            with zipfile.ZipFile(path) as z:
                for info in z.infolist():
                    with z.open(info) as f:
                        total += _npy_bytes(f, f"{path.name}:{info.filename}")
        except zipfile.BadZipFile as exc:
            raise BundleError(f"{path.name} is not a readable .npz: {exc}") from exc
    else:
        with open(path, "rb") as f:
            total = _npy_bytes(f, path.name)
    if total > limits.max_fixture_bytes:
        raise BundleError(
            f"{path.name} would take {total / 1e6:.1f} MB in memory, over the fixture limit of "
            f"{limits.max_fixture_bytes / 1e6:.1f} MB (BundleLimits.max_fixture_bytes)"
        )
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    return {default_name: np.load(path, allow_pickle=False)}
