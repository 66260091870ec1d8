"""Real recordings for the audio tests: FSDD spoken digits (8 kHz int16 WAV) and the librosa
example bird call (44.1 kHz stereo Ogg Vorbis), read with soundfile, mono float32."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def read_mono(path: Path) -> tuple[np.ndarray, int]:
    import soundfile

    data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    return np.ascontiguousarray(data.mean(axis=1), dtype=np.float32), int(rate)


def fsdd_clips(data_dir: Path, count: int = 6) -> list[tuple[str, np.ndarray, int]]:
    names = sorted((data_dir / "fsdd" / "recordings").glob("*.wav"))[:: 2500 // count][:count]
    return [(p.name, *read_mono(p)) for p in names]


def bird(data_dir: Path) -> tuple[np.ndarray, int]:
    path = next((data_dir / "env_audio").glob("*.ogg"))
    return read_mono(path)


def synthetic(rate: int, seconds: float = 1.0) -> dict[str, np.ndarray]:
    """Edge cases: silence, a full-scale sine, DC, and a clipped (square-ish) tone."""
    n = int(rate * seconds)
    t = np.arange(n) / rate
    return {
        "silence": np.zeros(n, np.float32),
        "full_scale": np.sin(2 * np.pi * 440 * t).astype(np.float32),
        "dc": np.full(n, 0.5, np.float32),
        "clipped": np.clip(3 * np.sin(2 * np.pi * 220 * t), -1, 1).astype(np.float32),
    }


def labelled_tree(root: Path, recordings: Path, takes: range, speakers: int = 6) -> Path:
    """DIR/<digit>/<file> of symlinks to FSDD recordings with the given take numbers."""
    for path in sorted(recordings.glob("*.wav")):
        digit, _speaker, take = path.stem.split("_")
        if int(take) in takes:
            (root / digit).mkdir(parents=True, exist_ok=True)
            (root / digit / path.name).symlink_to(path.resolve())
    return root
