"""The mmedge command line: info, demo, validate, run (export: tests/export/test_export_cli.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import mmedge
from mmedge._ext import C
from mmedge.cli import main


def test_info_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["mmedge"] == mmedge.__version__
    assert info["kernels"]["cuda"]["kernels_built"] == bool(C.cuda_compiled)
    assert info["kernels"]["cpu_simd"] in ("avx2", "neon", "scalar")
    assert "CPUExecutionProvider" in info["backends"]["onnxruntime"]["providers"]


def test_info_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "CUDA kernels:" in out
    assert "ONNX Runtime:" in out


def test_demo(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "fusion log_linear at 2 Hz over image, video, audio" in out
    assert "agreement with the scene's truth (a flagged input: no answer): fused" in out
    assert "sensor failures (one at a time): " in out and "fused vs the best single" in out
    for stage in ("preprocess", "infer", "fuse", "end_to_end"):
        assert stage in out


def test_demo_json(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    plot = tmp_path / "timeline.png"
    assert main(["demo", "--json", "--seconds", "6", "--plot", str(plot)]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = report["results"]
    assert report["count"] == len(rows) == 12  # 6 s at 2 Hz
    assert [r["t_s"] for r in rows] == pytest.approx([0.5 * k for k in range(1, 13)])
    assert {c["modality"] for c in rows[-1]["contributors"]} == {"image", "video", "audio"}
    assert all(c["staleness_ms"] >= 0 for r in rows for c in r["contributors"])
    assert report["accuracy_vs_truth"]["fused"] >= 0.7
    assert report["stats"]["errors"] == []
    assert plot.stat().st_size > 1000


def test_validate_builtin(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", mmedge.builtin_bundle()]) == 0
    assert "PASS logits" in capsys.readouterr().out


def test_validate_tampered(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "m.mmb"
    shutil.copytree(mmedge.builtin_bundle(), target)
    data = bytearray((target / "model.onnx").read_bytes())
    data[-100] ^= 0xFF
    (target / "model.onnx").write_bytes(bytes(data))
    assert main(["validate", str(target)]) == 2
    assert "fails its checksum" in capsys.readouterr().err


def test_demo_on_a_media_file(data_dir, capsys: pytest.CaptureFixture[str]) -> None:
    """The demo's models on a real recording (cup.mp4: video and AAC audio); there is no
    ground truth, so only the pipeline's behaviour is checked."""
    media = data_dir / "video_clips" / "cup.mp4"
    assert main(["demo", "--media", str(media), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["count"] == 16  # 8.1 s at 2 Hz
    assert report["stats"]["errors"] == []
    assert "accuracy_vs_truth" not in report
    modalities = report["stats"]["modalities"]
    assert modalities["audio"]["resample"]["count"] > 0  # 48 kHz AAC -> the model's 16 kHz
    assert modalities["image"]["dropped"] == 0


def test_demo_says_what_its_bundles_know(data_dir, capsys: pytest.CaptureFixture[str]) -> None:
    """On real media the built-in scene bundles' labels mean nothing: the demo says so."""
    assert main(["demo", "--audio", str(data_dir / "fsdd" / "recordings" / "3_jackson_7.wav")]) == 0
    out = capsys.readouterr().out
    assert "the built-in bundles know only the generated scene's classes" in out
    assert "circle, square, triangle" in out
