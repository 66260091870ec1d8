"""Real-data acceptance of the export toolchain on spoken digits (FSDD): models trained on takes
5-49, evaluated on takes 0-4 through mmedge.Model from raw 8 kHz recordings; the CLI end to end
with labelled folders; and the CLI's refusals (each a clear error, no partial bundle)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from audio_data import labelled_tree

import mmedge
from mmedge.cli import main
from mmedge.datasets import load_fsdd
from mmedge.export.recipes import DIGIT_LABELS, train_fsdd


@pytest.fixture(scope="module")
def cnn_weights(fsdd_cnn_weights: Path) -> Path:
    return fsdd_cnn_weights


@pytest.fixture(scope="module")
def folders(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("folders")
    recordings = data_dir / "fsdd" / "recordings"
    (root / "labels.txt").write_text("\n".join(DIGIT_LABELS) + "\n")
    return {
        "calib": labelled_tree(root / "calib", recordings, range(5, 50, 9)),
        "eval": labelled_tree(root / "eval", recordings, range(0, 5)),
        "labels": root / "labels.txt",
    }


def export_args(weights: Path, folders: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [
        "export",
        "mmedge.export.recipes:fsdd_cnn",
        "--weights",
        str(weights),
        "--preprocess",
        "fsdd-mfcc",
        "--labels",
        str(folders["labels"]),
        "--calib",
        str(folders["calib"]),
        "--eval",
        str(folders["eval"]),
        "-o",
        str(out),
        "--no-progress",
        *extra,
    ]


def test_cli_exports_fsdd_cnn_at_every_precision(
    cnn_weights: Path, folders: dict[str, Path], tmp_path: Path, data_dir: Path, capsys
) -> None:
    out = tmp_path / "fsdd_cnn.mmb"
    code = main(export_args(cnn_weights, folders, out, "--precision", "fp32,fp16,int8"))
    printed, errors = capsys.readouterr()
    assert code == 0, errors[-2000:]
    assert "| model.int8.onnx | int8 | int8 | PASS |" in printed
    assert "recommended on this CPU" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["modality"] == "audio"  # from the spec; before: "image" without --modality
    accuracy = manifest["reports"]["accuracy"]
    assert accuracy["n_samples"] == 250
    assert accuracy["fp32"] >= 0.90
    assert accuracy["fp32"] - accuracy["int8"] <= 0.01
    # The bundle predicts from raw recordings at their own rate, as the report says.
    test = load_fsdd("test", data_dir)
    with mmedge.Model(out, precision="fp32") as model:
        got = [
            model.predict(x, sample_rate=r).index
            for x, r in zip(test.samples, test.rates, strict=True)
        ]
    assert np.mean(np.array(got) == test.labels) == pytest.approx(accuracy["fp32"], abs=1e-9)
    assert main(["validate", str(out)]) == 0


def test_fsdd_crnn_recipe(data_dir: Path, tmp_path: Path) -> None:
    result = train_fsdd(
        tmp_path / "crnn.mmb",
        "crnn",
        data_root=data_dir,
        precisions=("fp32", "int8"),
        progress=False,
    )
    accuracy = json.loads((result.bundle / "manifest.json").read_text())["reports"]["accuracy"]
    assert accuracy["fp32"] >= 0.90
    assert accuracy["fp32"] - accuracy["int8"] <= 0.01


def write_factory(tmp_path: Path, body: str) -> str:
    path = tmp_path / "factories.py"
    path.write_text("import torch\nfrom mmedge.export.recipes import fsdd_cnn\n\n" + body)
    return str(path)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("failing_factory", "broken() failed: RuntimeError: no GPU in this factory"),
        ("mismatched_weights", "does not fit"),
        ("missing_calib", "calibration folder not found"),
        ("labels_mismatch", "labels file does not belong to this model"),
        ("empty_eval", "holds no audio files"),
        ("modality_contradiction", "--modality image contradicts --preprocess, whose spec is"),
    ],
)
def test_cli_refusals_leave_nothing(
    case: str, message: str, cnn_weights: Path, folders: dict[str, Path], tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out" / "x.mmb"
    out.parent.mkdir()
    args = export_args(cnn_weights, folders, out, "--precision", "fp32,int8")
    if case == "failing_factory":
        args[1] = (
            write_factory(
                tmp_path, "def broken():\n    raise RuntimeError('no GPU in this factory')\n"
            )
            + ":broken"
        )
    elif case == "mismatched_weights":
        args[1] = "mmedge.export.recipes:fsdd_crnn"
    elif case == "missing_calib":
        args[args.index("--calib") + 1] = str(tmp_path / "nowhere")
    elif case == "labels_mismatch":
        labels = tmp_path / "labels.txt"
        labels.write_text("yes\nno\n")
        args[args.index("--labels") + 1] = str(labels)
        args = [*args[: args.index("--calib")], "-o", str(out), "--no-progress"]  # no folders
    elif case == "empty_eval":
        empty = tmp_path / "empty"
        (empty / "3").mkdir(parents=True)
        (empty / "3" / "notes.txt").write_text("not audio")
        args[args.index("--eval") + 1] = str(empty)
    elif case == "modality_contradiction":
        args += ["--modality", "image"]
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert list(out.parent.iterdir()) == []
