"""Readers for the public datasets the tests, benchmarks and bundle scripts use (NumPy only).

The data itself never ships with mmedge: point MMEDGE_DATA (or the `root` argument) at a folder
holding mnist/, fsdd/, video_clips/, env_audio/ as in the repository's ../shared/data.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from mmedge.errors import MMEdgeError

_IDX_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.int16,
    0x0C: np.int32,
    0x0D: np.float32,
    0x0E: np.float64,
}


def data_dir(root: str | Path | None = None) -> Path:
    """The data folder: `root`, else $MMEDGE_DATA. Raises MMEdgeError when neither is usable."""
    chosen = root if root is not None else os.environ.get("MMEDGE_DATA")
    if chosen is None:
        raise MMEdgeError("no data folder: set MMEDGE_DATA or pass root=")
    path = Path(chosen)
    if not path.is_dir():
        raise MMEdgeError(f"data folder not found: {path}")
    return path


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (the MNIST format), gzipped or not, as a NumPy array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise MMEdgeError(f"{path} is not an IDX file (bad magic {data[:4].hex()})")
    dtype = np.dtype(_IDX_DTYPES[data[2]]).newbyteorder(">")
    ndim = data[3]
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    count = int(np.prod(dims)) if dims else 0
    if len(data) - offset != count * dtype.itemsize:
        raise MMEdgeError(
            f"{path}: header says {dims} but the file holds {len(data) - offset} bytes"
        )
    return (
        np.frombuffer(data, dtype=dtype, offset=offset)
        .reshape(dims)
        .astype(dtype.newbyteorder("="))
    )


def load_mnist(
    split: str = "test", root: str | Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28), labels uint8 (N,)) of MNIST 'train' (60k) or 'test' (10k)."""
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise MMEdgeError(f"MNIST split must be 'train' or 'test', got {split!r}")
    folder = data_dir(root) / "mnist"
    images = read_idx(folder / f"{prefix}-images-idx3-ubyte.gz")
    labels = read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz")
    if len(images) != len(labels):
        raise MMEdgeError(f"MNIST {split}: {len(images)} images but {len(labels)} labels")
    return images, labels
