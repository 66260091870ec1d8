"""The mmedge command line: info, demo, validate, and export (no pickled code is ever run)."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch

import mmedge
from mmedge._ext import C
from mmedge.cli import main
from mmedge.export.zoo import tiny_cnn


def test_info_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["mmedge"] == mmedge.__version__
    assert info["kernels"]["cuda"]["kernels_built"] == bool(C.cuda_compiled)
    assert info["kernels"]["cpu_simd"] in ("avx2", "scalar")
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
    assert "agreement with the scene's truth: fused" in out
    for stage in ("preprocess", "infer", "fuse", "end_to_end"):
        assert stage in out


def test_demo_json(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    plot = tmp_path / "latency.png"
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


def test_export_and_validate_against_torch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.manual_seed(0)
    weights = tmp_path / "w.pt"
    torch.save(tiny_cnn().state_dict(), weights)
    spec = mmedge.ImageSpec(28, 28, input_format="GRAY", output_format="GRAY")
    (tmp_path / "spec.json").write_text(json.dumps(spec.to_dict()))
    (tmp_path / "labels.txt").write_text("\n".join(f"digit {i}" for i in range(10)))
    out = tmp_path / "cli.mmb"
    assert (
        main(
            [
                "export",
                "mmedge.export.zoo:tiny_cnn",
                "--weights",
                str(weights),
                "--preprocess",
                str(tmp_path / "spec.json"),
                "--labels",
                str(tmp_path / "labels.txt"),
                "-o",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "wrote" in printed
    assert "| model.onnx | fp32 | - | PASS |" in printed
    bundle = mmedge.Bundle.load(out)
    assert bundle.name == "cli"
    assert bundle.labels[3] == "digit 3"
    assert (
        main(
            [
                "validate",
                str(out),
                "--model",
                "mmedge.export.zoo:tiny_cnn",
                "--weights",
                str(weights),
            ]
        )
        == 0
    )
    assert "model.onnx vs PyTorch now (64 stored inputs): PASS" in capsys.readouterr().out


class _Payload:
    """Unpickling this would run code; weights_only=True must refuse it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_export_refuses_pickled_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "code-ran"
    weights = tmp_path / "evil.pt"
    with open(weights, "wb") as f:
        pickle.dump({"state_dict": _Payload(marker)}, f)
    code = main(
        [
            "export",
            "mmedge.export.zoo:tiny_cnn",
            "--weights",
            str(weights),
            "--input-shape",
            "1,28,28",
            "-o",
            str(tmp_path / "x.mmb"),
            "--no-progress",
        ]
    )
    assert code == 2
    assert "is not a weights-only state_dict" in capsys.readouterr().err
    assert not marker.exists()
    assert not (tmp_path / "x.mmb").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["export", "nomodule", "--weights", "w", "-o", "x.mmb", "--input-shape", "1,2,2"],
            "expected MODULE:FUNCTION",
        ),
        (
            [
                "export",
                "mmedge.export.zoo:nothing",
                "--weights",
                "w",
                "-o",
                "x.mmb",
                "--input-shape",
                "1,2,2",
            ],
            "has no function 'nothing'",
        ),
        (
            [
                "export",
                "mmedge.export.zoo:tiny_cnn",
                "--weights",
                "missing.pt",
                "-o",
                "x.mmb",
                "--input-shape",
                "1,28,28",
            ],
            "weights file not found",
        ),
        (["validate", "does-not-exist.mmb"], "bundle not found"),
    ],
)
def test_cli_errors(
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    assert message in capsys.readouterr().err


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
