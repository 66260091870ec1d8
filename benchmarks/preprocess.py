#!/usr/bin/env python3
"""Preprocessing kernels against their peers, interleaved in one run, at 1 and 2 threads.

Cases (DESIGN.md section 9; targets from the kernels issue):
  image_224     1920x1080 BGR -> 1x3x224x224 f32 RGB, ImageNet mean/std   >= 1.5x fastest OpenCV
  letterbox_640 1280x720 BGR -> 1x3x640x640 letterbox, /255, CHW          >= 1.5x fastest peer
  mfcc_1s       MFCC of 1 s at 16 kHz (512/400/160, 40 mel, 13 coeffs)   >= 3x fastest, >= 10x
  mfcc_10s      the same for 10 s                                          librosa and kaldi
  frame_stack   newest 16 frames 112x112x3 -> 1x3x16x112x112 f32: per-frame cost of
                FrameStack.push                                            < one clip copy
Threads: cv2.setNumThreads, mmedge.set_num_threads and BLAS/OpenMP pools (threadpoolctl) are
set together. Every peer is checked to compute the same numbers before it is timed. Each
method's block of calls starts with one untimed call: after 12 ms of a single-threaded peer
(kaldi-native-fbank) the idle second core of the CI VM takes about 1 ms to come back to speed,
which 4-call blocks charged to whichever two-threaded method came next.

    python benchmarks/preprocess.py     # -> benchmarks/results/<machine>/preprocess.{json,md,png}
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
import preprocess_image

import mmedge
from mmedge import preprocess as pp

OURS = "mmedge"


def thread_limit(n: int) -> Any:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - the bench extra installs it
        return contextlib.nullcontext()
    return threadpool_limits(n)


# -- cases: each returns (methods, check, note) ----------------------------------------------------


def image_224(data: Path) -> tuple[dict[str, Callable[[], Any]], str]:
    frame, source = preprocess_image.test_frame(data)
    methods = preprocess_image.cpu_methods(frame)
    preprocess_image.check_same_work(methods)
    renamed = {OURS if k == "mmedge fused" else k: v for k, v in methods.items()}
    return renamed, f"input: {source}"


def letterbox_640(data: Path) -> tuple[dict[str, Callable[[], Any]], str]:
    import cv2

    frame, source = preprocess_image.test_frame(data)
    frame = cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_AREA)
    spec = mmedge.ImageSpec(640, 640, letterbox="opencv", pad_value=114)
    x, y, w, h = spec.resize_region(1280, 720)
    ours_out = np.empty((1, 3, 640, 640), np.float32)
    padded = np.full((1, 3, 640, 640), 114 / 255, np.float32)  # border written once, up front
    params = cv2.dnn.Image2BlobParams()
    params.size = (640, 640)
    params.paddingmode = cv2.dnn.DNN_PMODE_LETTERBOX
    params.scalefactor = (1 / 255, 1 / 255, 1 / 255)
    params.swapRB = True
    params.ddepth = cv2.CV_32F
    params.borderValue = (114, 114, 114)
    scale = np.float32(1 / 255)

    pp.image(frame, spec, out=ours_out)  # the border, once (as the peer's padded buffer)

    def ours() -> np.ndarray:
        return pp.image(frame, spec, out=ours_out, fill_border=False)

    def resize_planes() -> np.ndarray:
        small = cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR)
        for c in range(3):
            np.multiply(small[:, :, 2 - c], scale, out=padded[0, c, y : y + h, x : x + w])
        return padded

    def blob() -> np.ndarray:
        return cv2.dnn.blobFromImageWithParams(frame, params)

    def ultralytics() -> np.ndarray:
        # LetterBox(auto=False) -> HWC->CHW, BGR->RGB -> ascontiguousarray -> float / 255
        small = cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR)
        img = cv2.copyMakeBorder(
            small, y, 640 - h - y, x, 640 - w - x, cv2.BORDER_CONSTANT, value=(114, 114, 114)
        )
        img = np.ascontiguousarray(img.transpose(2, 0, 1)[::-1])
        return (img.astype(np.float32) / 255.0)[None]

    methods = {
        OURS: ours,
        "cv2.resize + per-plane NumPy (padded buffer)": resize_planes,
        "cv2 blobFromImageWithParams(LETTERBOX)": blob,
        "Ultralytics-style": ultralytics,
    }
    expected = np.array(ours())
    for name, fn in methods.items():
        diff = float(np.abs(np.array(fn()) - expected).max())
        if diff > 1 / 255 + 1e-6:
            raise SystemExit(f"letterbox: {name} differs by {diff} (> one grey level)")
    return methods, f"input: {source} at 1280x720; region {w}x{h}+{x}+{y}"


def mfcc_case(seconds: int) -> Callable[[Path], tuple[dict[str, Callable[[], Any]], str]]:
    def make(data: Path) -> tuple[dict[str, Callable[[], Any]], str]:
        import kaldi_native_fbank as knf
        import librosa
        import python_speech_features as psf
        import scipy.fft
        import scipy.signal

        rate = 16000
        x = speech(data, rate, seconds)
        spec = pp.AudioSpec.librosa(
            rate, n_fft=512, win_length=400, hop_length=160, n_mels=40, n_mfcc=13
        )
        mel = librosa.filters.mel(sr=rate, n_fft=512, n_mels=40).astype(np.float32)
        mel_t = np.ascontiguousarray(mel.T)
        window = np.zeros(512, np.float32)
        window[56:456] = scipy.signal.get_window("hann", 400, fftbins=True)
        dct_t = np.ascontiguousarray(
            scipy.fft.dct(np.eye(40), type=2, norm="ortho", axis=0)[:13].T.astype(np.float32)
        )

        def numpy_scipy() -> np.ndarray:
            padded = np.zeros(len(x) + 512, np.float32)
            padded[256 : 256 + len(x)] = x
            frames = np.lib.stride_tricks.sliding_window_view(padded, 512)[::160]
            spectrum = scipy.fft.rfft(frames * window, axis=1)
            power = spectrum.real * spectrum.real + spectrum.imag * spectrum.imag
            db = 10 * np.log10(np.maximum(power @ mel_t, np.float32(1e-10)))
            np.maximum(db, db.max() - 80, out=db)
            return db @ dct_t

        def kaldi() -> np.ndarray:
            opts = knf.MfccOptions()
            opts.frame_opts.dither = 0.0
            opts.mel_opts.num_bins = 40
            m = knf.OnlineMfcc(opts)
            m.accept_waveform(rate, x.tolist())
            m.input_finished()
            return np.stack([m.get_frame(i) for i in range(m.num_frames_ready)])

        methods = {
            OURS: lambda: pp.mfcc(x, spec),
            "NumPy/SciPy vectorised (float32)": numpy_scipy,
            "librosa": lambda: librosa.feature.mfcc(
                y=x, sr=rate, n_fft=512, hop_length=160, win_length=400, n_mels=40, n_mfcc=13
            ),
            "kaldi-native-fbank": kaldi,
            "python_speech_features": lambda: psf.mfcc(
                x, rate, winlen=0.025, winstep=0.01, numcep=13, nfilt=40, nfft=512
            ),
        }
        ours = pp.mfcc(x, spec)
        for name in (OURS, "NumPy/SciPy vectorised (float32)"):
            ref = librosa.feature.mfcc(
                y=x, sr=rate, n_fft=512, hop_length=160, win_length=400, n_mels=40, n_mfcc=13
            ).T
            out = ours if name == OURS else methods[name]()
            if np.abs(out - ref).max() > 1e-4 * np.abs(ref).max():
                raise SystemExit(f"mfcc: {name} does not match librosa")
        return methods, (
            f"{seconds} s of FSDD speech at 16 kHz (librosa-equivalent settings; "
            "kaldi-native-fbank and python_speech_features with their own windows)"
        )

    return make


def speech(data: Path, rate: int, seconds: int) -> np.ndarray:
    """seconds of real speech (FSDD recordings, 8 kHz, joined and resampled), else noise."""
    folder = data / "fsdd" / "recordings"
    if folder.is_dir():
        import soundfile

        pieces, total = [], 0
        for path in sorted(folder.glob("*.wav")):
            clip, clip_rate = soundfile.read(str(path), dtype="float32")
            pieces.append(pp.resample(clip, clip_rate, rate))
            total += len(pieces[-1])
            if total >= rate * seconds:
                break
        return np.concatenate(pieces)[: rate * seconds]
    return (0.1 * np.random.default_rng(0).standard_normal(rate * seconds)).astype(np.float32)


def frame_stack(data: Path) -> tuple[dict[str, Callable[[], Any]], str]:
    import cv2

    frame_spec = mmedge.ImageSpec(112, 112, mean=(0.43, 0.39, 0.38), std=(0.23, 0.22, 0.22))
    spec = pp.VideoSpec(16, frame_spec)
    frames = [
        np.ascontiguousarray(cv2.resize(f, (112, 112), interpolation=cv2.INTER_AREA))
        for f in preprocess_image_frames(data, 32)
    ]
    stack = pp.FrameStack(spec)
    for f in frames[:16]:
        stack.push(f)
    state = {"i": 0}

    def ours() -> Any:
        state["i"] += 1
        return stack.push(frames[state["i"] % len(frames)])

    # The design's peer: normalise-on-arrival float32 ring (T slots) + 2 copies per clip.
    alpha, beta = (np.asarray(v, np.float32) for v in frame_spec.affine())
    ring = np.zeros((16, 3, 112, 112), np.float32)
    clip = np.empty((1, 3, 16, 112, 112), np.float32)
    peer_state = {"k": 0}

    def ring_two_copies() -> np.ndarray:
        k = peer_state["k"]
        f = frames[k % len(frames)][:, :, ::-1].transpose(2, 0, 1)
        np.multiply(f, alpha[:, None, None], out=ring[k % 16])
        ring[k % 16] += beta[:, None, None]
        peer_state["k"] = k + 1
        s = (k + 1) % 16
        clip[0, :, : 16 - s] = ring[s:].transpose(1, 0, 2, 3)
        clip[0, :, 16 - s :] = ring[:s].transpose(1, 0, 2, 3)
        return clip

    source = np.asarray(stack.clip())
    copy_target = np.empty_like(source)

    def one_clip_copy() -> np.ndarray:
        np.copyto(copy_target, source)
        return copy_target

    def naive_stack() -> np.ndarray:
        return np.stack([pp.image(f, frame_spec)[0] for f in frames[:16]], axis=1)[None]

    methods = {
        OURS: ours,
        "one clip copy (np.copyto, 2.4 MB)": one_clip_copy,
        "f32 ring + 2 copies (NumPy)": ring_two_copies,
        "naive np.stack": naive_stack,
    }
    return methods, "per pushed frame: normalise into the ring, newest 16-frame clip as a view"


def preprocess_image_frames(data: Path, n: int) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(data / "video_clips" / "vtest.avi"))
    frames = []
    while len(frames) < n:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    if not frames:
        rng = np.random.default_rng(0)
        frames = [rng.integers(0, 256, (576, 768, 3), dtype=np.uint8) for _ in range(n)]
    return frames


CASES: dict[str, dict[str, Any]] = {
    "image_224": {
        "make": image_224,
        "calls": 200,
        "target": ("fastest_peer", 1.5),
        "peers": ["cv2 blobFromImageWithParams", "cv2.resize + per-plane NumPy"],
    },
    "letterbox_640": {"make": letterbox_640, "calls": 100, "target": ("fastest_peer", 1.5)},
    "mfcc_1s": {
        "make": mfcc_case(1),
        "calls": 40,
        "target": ("fastest_peer", 3.0, "librosa", 10.0, "kaldi-native-fbank", 10.0),
    },
    "mfcc_10s": {
        "make": mfcc_case(10),
        "calls": 16,
        "target": ("fastest_peer", 3.0, "librosa", 10.0, "kaldi-native-fbank", 10.0),
    },
    "frame_stack": {
        "make": frame_stack,
        "calls": 100,
        "target": ("one clip copy (np.copyto, 2.4 MB)", 1.0),
        "peers": ["one clip copy (np.copyto, 2.4 MB)", "f32 ring + 2 copies (NumPy)"],
    },
}


def evaluate(case: str, rows: dict[str, float]) -> list[dict[str, Any]]:
    """The targets of a case: ratio = peer median / ours (> 1: we are faster)."""
    spec = CASES[case]
    target = spec["target"]
    peers = spec.get("peers") or [m for m in rows if m != OURS]
    checks = []
    for i in range(0, len(target), 2):
        who, need = target[i], target[i + 1]
        if who == "fastest_peer":
            if case == "image_224":
                candidates = [p for p in peers if p in rows]
            else:
                candidates = [p for p in rows if p not in (OURS, "naive NumPy chain")]
            who = min(candidates, key=lambda m: rows[m])
            label = f"fastest peer ({who})"
        else:
            label = who
        ratio = rows[who] / rows[OURS]
        checks.append({"vs": label, "ratio": ratio, "target": need, "met": ratio >= need})
    return checks


def main() -> None:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--cases", nargs="+", default=list(CASES))
    parser.add_argument(
        "--data", default=os.environ.get("MMEDGE_DATA", repo.parent / "shared" / "data")
    )
    args = parser.parse_args()
    import cv2

    data = Path(args.data)
    results: dict[str, Any] = {}
    for case in args.cases:
        methods, note = CASES[case]["make"](data)
        per_threads = []
        for threads in args.threads:
            cv2.setNumThreads(threads)
            mmedge.set_num_threads(threads)
            with thread_limit(threads):
                timings = common.time_interleaved(
                    methods,
                    rounds=args.rounds,
                    calls=CASES[case]["calls"],
                    warmup=max(3, CASES[case]["calls"] // 4),
                    threads=threads,
                    desc=f"{case} x{threads}",
                    warm_each_block=True,
                )
            rows = {t.method: t.median_ms for t in timings}
            per_threads.append(
                {
                    "threads": threads,
                    "timings": common.timings_to_dicts(timings),
                    "targets": evaluate(case, rows),
                }
            )
        results[case] = {"note": note, "runs": per_threads}
    mmedge.set_num_threads(0)
    payload = {
        "benchmark": "preprocess",
        "machine": common.machine(),
        "versions": versions(),
        "method": {
            "rounds": args.rounds,
            "statistic": "median of per-call perf_counter times, "
            "methods interleaved round by round",
            "calls_per_block": {case: CASES[case]["calls"] for case in args.cases},
            "untimed_call_per_block": True,
        },
        "cases": results,
    }
    md = markdown(payload)
    folder = common.write_results(
        "preprocess", common.machine_tag(), payload, md, lambda p: plot(p, payload)
    )
    print(md)
    print(f"results in {folder}")


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {
        "mmedge": mmedge.__version__,
        "image_driver": mmedge._C.cpu_simd(),
        "audio_driver": mmedge._C.audio_driver(),
    }
    for dist in (
        "opencv-python-headless",
        "numpy",
        "scipy",
        "librosa",
        "kaldi-native-fbank",
        "python_speech_features",
    ):
        with contextlib.suppress(md.PackageNotFoundError):
            out[dist] = md.version(dist)
    return out


def markdown(payload: dict[str, Any]) -> str:
    m = payload["machine"]
    lines = [
        "# Preprocessing kernels vs peers",
        "",
        f"Machine: {m['cpu']}, {m['cpus']} CPUs. "
        f"Drivers: image {payload['versions']['image_driver']}, "
        f"audio {payload['versions']['audio_driver']}. Medians of interleaved calls "
        f"({payload['method']['rounds']} rounds; each method's block of calls starts with one "
        "untimed call). Ratio = peer time / mmedge time. Command: "
        "`python benchmarks/preprocess.py`.",
        "",
    ]
    for case, r in payload["cases"].items():
        lines += [f"## {case}", "", r["note"], ""]
        methods = [t["method"] for t in r["runs"][0]["timings"]]
        lines += ["| threads | " + " | ".join(methods) + " |", "|---:|" + "---:|" * len(methods)]
        for run in r["runs"]:
            ms = {t["method"]: t["median_ms"] for t in run["timings"]}
            lines.append(
                f"| {run['threads']} | " + " | ".join(f"{ms[k]:.4f} ms" for k in methods) + " |"
            )
        lines += ["", "| threads | target | measured | met |", "|---:|---|---:|---|"]
        for run in r["runs"]:
            for t in run["targets"]:
                lines.append(
                    f"| {run['threads']} | >= {t['target']}x vs {t['vs']} | "
                    f"{t['ratio']:.2f}x | {'yes' if t['met'] else '**no**'} |"
                )
        lines.append("")
    return "\n".join(lines)


def plot(path: Path, payload: dict[str, Any]) -> None:
    """One panel per case: how many times slower each peer is than mmedge (1 thread, and 2
    threads hatched), with the case's main target as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = list(payload["cases"])
    cols = 3
    rows_n = (len(cases) + cols - 1) // cols
    fig, axes = plt.subplots(rows_n, cols, figsize=(15, 4.2 * rows_n), dpi=110)
    axes = np.atleast_1d(axes).ravel()
    for ax, case in zip(axes, cases, strict=False):
        runs = payload["cases"][case]["runs"]
        peers = [t["method"] for t in runs[0]["timings"] if t["method"] != OURS]
        height = 0.8 / len(runs)
        for r, run in enumerate(runs):
            ms = {t["method"]: t["median_ms"] for t in run["timings"]}
            ratios = [ms[p_] / ms[OURS] for p_ in peers]
            ys = np.arange(len(peers)) + r * height
            bars = ax.barh(
                ys,
                ratios,
                height,
                color="#76b900" if r == 0 else "#b5d96b",
                hatch=None if r == 0 else "//",
                label=f"{run['threads']} thread{'s' if run['threads'] > 1 else ''}",
            )
            ax.bar_label(bars, fmt="%.2fx", fontsize=7, padding=2)
        target = CASES[case]["target"][1]
        ax.axvline(target, color="#444", linestyle="--", linewidth=1)
        ax.text(target, -0.6, f" target {target}x", fontsize=7, va="bottom")
        ax.set_yticks(np.arange(len(peers)) + height * (len(runs) - 1) / 2)
        ax.set_yticklabels([p_[:34] for p_ in peers], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("peer time / mmedge time (higher: mmedge faster)", fontsize=8)
        ax.set_title(case, fontsize=10)
        ax.legend(fontsize=7, loc="lower right")
    for ax in axes[len(cases) :]:
        ax.axis("off")
    m = payload["machine"]
    fig.suptitle(f"mmedge preprocessing vs peers, {m['cpu']} ({m['cpus']} CPUs)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    main()
