"""Real recordings for the audio tests: FSDD spoken digits (8 kHz int16 WAV) and the librosa
example bird call (44.1 kHz stereo Ogg Vorbis), read with soundfile, mono float32; and the
comparison the feature tests share (assert_close: against a peer and the float64 definition)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmedge.preprocess import AudioSpec, reference

# The feature tests' bound: max |ours - reference| <= 1e-4 * max |reference|.
REL_TOL = 1e-4


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


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max()) / max(float(np.abs(b).max()), 1e-30)


def assert_close(
    ours: np.ndarray,
    peer: np.ndarray,
    what: str,
    x: np.ndarray | None = None,
    spec: AudioSpec | None = None,
    feature: str = "mfcc",
    as_precise_as_peer: bool = False,
) -> None:
    """ours vs the peer library within REL_TOL (+ the peer's own float32 error against the
    float64 definition, when x and spec are given), and vs the float64 definition within
    REL_TOL, or (as_precise_as_peer) within max(REL_TOL, 1.25 x the peer's own error)."""
    assert ours.shape == peer.shape, (what, ours.shape, peer.shape)
    allowed = REL_TOL
    if x is not None and spec is not None:
        exact = getattr(reference, feature)(x, spec)
        peer_err64 = relative_error(peer, exact)
        err64 = relative_error(ours, exact)
        tol64 = max(REL_TOL, 1.25 * peer_err64) if as_precise_as_peer else REL_TOL
        assert err64 <= tol64, (
            f"{what}: {err64:.2e} from the float64 definition (the peer: {peer_err64:.2e})"
        )
        allowed += peer_err64
    err = relative_error(ours, peer)
    assert err <= allowed, f"{what}: max error {err:.2e} of the largest magnitude"
