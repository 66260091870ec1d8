"""`mmedge export` and `mmedge validate --model`: export through the CLI, parity against the
live PyTorch model, no pickled code is ever run, clear errors."""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import pytest
import torch

import mmedge
from mmedge.cli import main
from mmedge.export.zoo import tiny_cnn


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


def test_export_imports_from_the_working_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mmedge export mypkg.models:build ...` run where mypkg/ lies, as the README says (the
    working directory is searched as `python -m` searches it); re-running it without
    --overwrite stops before any work with the flag to pass."""
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text(
        "from mmedge.export.zoo import tiny_cnn\n\n\ndef build():\n    return tiny_cnn()\n"
    )
    torch.manual_seed(0)
    torch.save(tiny_cnn().state_dict(), tmp_path / "best.pt")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "mypkg", raising=False)
    args = ["export", "mypkg.models:build", "--weights", "best.pt", "--input-shape", "1,28,28"]
    assert main([*args, "-o", "digits.mmb", "--no-progress"]) == 0
    assert "wrote digits.mmb" in capsys.readouterr().out
    before = (tmp_path / "digits.mmb" / "manifest.json").stat().st_mtime_ns
    assert main([*args, "-o", "digits.mmb", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "digits.mmb exists; pass --overwrite to replace it" in err
    assert (tmp_path / "digits.mmb" / "manifest.json").stat().st_mtime_ns == before


def test_export_bundle_refuses_an_existing_output_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "m.mmb").mkdir()

    class Untouchable(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise AssertionError("the model was run")

    with pytest.raises(mmedge.ExportError, match="exists; pass overwrite=True"):
        mmedge.export.export_bundle(
            Untouchable(), tmp_path / "m.mmb", name="m", example_input=torch.zeros(1, 4)
        )
