"""The README is a contract: every Python block runs as written, in order, in one folder that
holds what the guide says it holds (best.pt, labels.txt, calib/, heldout/); lines marked
`# hardware` get a file of the same kind instead of the camera or microphone (and every such
line must have a stand-in). Every `mmedge` command line in a bash block parses with the CLI's own
parser, every `mmedge <command>` the text mentions exists and answers --help. The examples in
the public API's docstrings run as doctests."""

from __future__ import annotations

import doctest
import importlib
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from audio_data import labelled_tree

from mmedge.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)

# Hardware calls of the README and the file-backed stand-ins the test puts in their place.
STAND_INS = {
    "Camera(0)": "_readme_media().video",
    "Camera(1)": "_readme_media().video",
    "Microphone(16000, block_ms=100)": "_readme_media().audio",
}
DOCTESTED = ["mmedge", "mmedge.pipeline.pipeline"]


def fenced(language: str) -> list[tuple[int, str]]:
    """(line number, code) of every fenced block in `language`."""
    return [
        (README[: m.start()].count("\n") + 2, m.group(2))
        for m in FENCE.finditer(README)
        if m.group(1) == language
    ]


def with_stand_ins(code: str) -> str:
    lines = []
    for line in code.splitlines():
        if "# hardware" in line:
            swapped = line
            for call, stand_in in STAND_INS.items():
                swapped = swapped.replace(call, stand_in)
            assert swapped != line, f"no stand-in for the hardware line: {line.strip()}"
            line = swapped
        lines.append(line)
    return "\n".join(lines)


@pytest.fixture(scope="module")
def readme_folder(
    data_dir: Path,
    fsdd_cnn_weights: Path,
    small_detector: tuple,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """What the guide's examples assume in the working directory: the spoken-digit model's
    weights and recordings; a detector's weights, camera frames and held-out boxes (COCO); a
    segmenter's weights (briefly trained) and held-out masks."""
    import cv2
    import torch

    from mmedge.export.coco import write_coco
    from mmedge.export.mask_folder import write_masks
    from mmedge.export.recipes.digit_boxes import make_mask_split
    from mmedge.export.recipes.segmentation import train_segmenter

    root = tmp_path_factory.mktemp("readme")
    recordings = data_dir / "fsdd" / "recordings"
    (root / "best.pt").symlink_to(fsdd_cnn_weights)
    detector, calibration, evaluation = small_detector
    torch.save(detector.state_dict(), root / "detector.pt")
    (root / "frames").mkdir()
    for i, frame in enumerate(calibration.samples):
        cv2.imwrite(str(root / "frames" / f"{i:03d}.png"), frame)
    write_coco(evaluation, root / "boxes")
    (root / "labels.txt").write_text("\n".join(str(d) for d in range(10)) + "\n")
    segmenter, _ = train_segmenter(
        make_mask_split("train", 32, seed=5, root=data_dir), epochs=1, progress=False
    )
    torch.save(segmenter.state_dict(), root / "segmenter.pt")
    write_masks(make_mask_split("eval", 16, seed=5, root=data_dir), root / "seg")
    labelled_tree(root / "calib", recordings, range(5, 50, 15))
    labelled_tree(root / "heldout", recordings, range(0, 2))
    return root


@pytest.fixture(scope="module")
def namespace(data_dir: Path) -> dict[str, Any]:
    """One namespace for all blocks: the guide builds on what earlier blocks made."""
    from mmedge.sources import MediaFile

    return {"_readme_media": lambda: MediaFile(data_dir / "video_clips" / "cup.mp4")}


PYTHON_BLOCKS = fenced("python")


@pytest.mark.parametrize(
    ("line", "code"), PYTHON_BLOCKS, ids=[f"line{n}" for n, _ in PYTHON_BLOCKS]
)
def test_python_block_runs(
    line: int,
    code: str,
    readme_folder: Path,
    namespace: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
) -> None:
    monkeypatch.chdir(readme_folder)
    monkeypatch.setenv("MMEDGE_DATA", str(data_dir))  # where the guide says data is read from
    exec(compile(with_stand_ins(code), f"README.md:{line}", "exec"), namespace)


def test_the_guide_makes_what_it_says(readme_folder: Path, namespace: dict[str, Any]) -> None:
    """After the blocks ran: the exported bundle, a fused pipeline run over real media."""
    import mmedge

    if "pipe" not in namespace:
        pytest.skip("the README blocks did not run")
    with mmedge.Bundle.load(readme_folder / "keywords.mmb") as bundle:
        precisions = sorted({a.precision for a in bundle.artifacts})
        assert precisions == ["fp16", "fp32", "int8"]
        assert bundle.reports["accuracy"]["fp32"] > 0.8  # a trained model, real recordings
    stats = namespace["pipe"].stats()
    assert stats["modalities"]["fusion"]["fuse"]["count"] > 0 and not stats["errors"]


def command_lines() -> list[str]:
    """`mmedge ...` commands of the bash blocks (continuation lines joined)."""
    commands = []
    for _, code in fenced("bash"):
        for command in code.replace("\\\n", " ").splitlines():
            if command.strip().startswith("mmedge "):
                commands.append(command.strip())
    return commands


@pytest.mark.parametrize("command", command_lines())
def test_cli_line_parses(command: str) -> None:
    build_parser().parse_args(shlex.split(command)[1:])  # exits (fails) on an unknown flag


def test_every_command_mentioned_exists(capsys: pytest.CaptureFixture[str]) -> None:
    mentioned = set(re.findall(r"`mmedge ([a-z][a-z-]+)", README))
    assert mentioned >= {"info", "export", "build-engine", "validate", "run", "demo"}
    for command in sorted(mentioned):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0, command
        assert f"usage: mmedge {command}" in capsys.readouterr().out


@pytest.mark.parametrize("module", DOCTESTED)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
