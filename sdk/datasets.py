"""Readers for the public datasets the tests, benchmarks and bundle scripts use (NumPy only).

The data itself never ships with mmedge: point MMEDGE_DATA (or the `root` argument) at a folder
holding mnist/, fsdd/, video_clips/, env_audio/ as in the repository's ../shared/data.
"""

from __future__ import annotations

import gzip
import os
import re
import wave
from dataclasses import dataclass
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


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """A PCM WAV file (8/16/32-bit integer) as mono float32 in [-1, 1) and its rate in Hz
    (channels averaged). Standard library only; other formats need soundfile."""
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as w:
            width, channels, rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise MMEdgeError(f"{path} is not a PCM WAV file: {exc}") from exc
    if width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width in (2, 4):
        dtype = np.dtype("<i2" if width == 2 else "<i4")
        x = np.frombuffer(raw, dtype).astype(np.float32) / float(2 ** (8 * width - 1))
    else:
        raise MMEdgeError(f"{path}: {8 * width}-bit WAV samples are not supported (8, 16, 32)")
    x = x.reshape(-1, channels).mean(axis=1) if channels > 1 else x
    return np.ascontiguousarray(x, dtype=np.float32), int(rate)


@dataclass
class SpokenDigits:
    """FSDD recordings: samples (mono float32 each), rates (Hz), labels (digit), speakers,
    names (file names)."""

    samples: list[np.ndarray]
    rates: list[int]
    labels: np.ndarray
    speakers: list[str]
    names: list[str]

    def __len__(self) -> int:
        return len(self.samples)


FSDD_TEST_TAKES = range(0, 5)  # the dataset's own convention: takes 0-4 are the test set


def load_fsdd(split: str = "test", root: str | Path | None = None) -> SpokenDigits:
    """Free Spoken Digit Dataset recordings `{digit}_{speaker}_{take}.wav` (8 kHz int16):
    'test' = takes 0-4 (250 clips), 'train' = takes 5-49 (2,250), 'all'. Sorted by name."""
    if split not in ("train", "test", "all"):
        raise MMEdgeError(f"FSDD split must be 'train', 'test' or 'all', got {split!r}")
    folder = data_dir(root) / "fsdd" / "recordings"
    pattern = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")
    clips = SpokenDigits([], [], np.zeros(0, np.int64), [], [])
    labels = []
    for path in sorted(folder.glob("*.wav")):
        m = pattern.match(path.name)
        if m is None:
            continue
        is_test = int(m.group(3)) in FSDD_TEST_TAKES
        if split == "all" or (split == "test") == is_test:
            x, rate = read_wav(path)
            clips.samples.append(x)
            clips.rates.append(rate)
            clips.speakers.append(m.group(2))
            clips.names.append(path.name)
            labels.append(int(m.group(1)))
    if not labels:
        raise MMEdgeError(f"no FSDD recordings found in {folder}")
    clips.labels = np.asarray(labels, dtype=np.int64)
    return clips
