"""Shared fixtures: the real data in ../shared/data (or $MMEDGE_DATA) and device checks."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def data_root() -> Path:
    return Path(os.environ.get("MMEDGE_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    root = data_root()
    if not (root / "mnist").is_dir():
        pytest.skip(f"real data not found at {root} (set MMEDGE_DATA)")
    return root


@pytest.fixture(scope="session")
def video_frames(data_dir: Path) -> list[np.ndarray]:
    """BGR frames from two real clips: 768x576 MS-MPEG4 (vtest.avi) and 640x480 H.264 (box.mp4)."""
    cv2 = pytest.importorskip("cv2")
    frames = []
    for name, count in (("vtest.avi", 6), ("box.mp4", 6)):
        cap = cv2.VideoCapture(str(data_dir / "video_clips" / name))
        for _ in range(count):
            ok, frame = cap.read()
            assert ok, f"could not decode {name}"
            frames.append(frame)
        cap.release()
    return frames


@pytest.fixture(scope="session")
def fsdd_cnn_weights(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The state_dict of the FSDD audio CNN trained on takes 5-49 (trained once per session)."""
    torch = pytest.importorskip("torch")
    from mmedge.export.recipes import train_fsdd_model

    model, _ = train_fsdd_model("cnn", data_root=data_dir, progress=False)
    path = tmp_path_factory.mktemp("fsdd") / "fsdd_cnn.pt"
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def small_detector(data_dir: Path):
    """(model, calibration, evaluation): the zoo detector after 3 epochs on 800 composited
    images (~30 s; trained once per session), 64 calibration and 120 held-out images."""
    pytest.importorskip("torch")
    from mmedge.export.recipes.detection import train_detector
    from mmedge.export.recipes.digit_boxes import make_split

    train = make_split("train", 800, seed=3, root=data_dir)
    evaluation = make_split("eval", 120, seed=3, root=data_dir)
    calibration = make_split("train", 64, seed=4, root=data_dir)
    model, _ = train_detector(train, epochs=3, seed=0, progress=False)
    return model, calibration, evaluation


def cuda_available() -> bool:
    import mmedge.preprocess.cuda

    return mmedge.preprocess.cuda.is_available()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if cuda_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device (or mmedge._C built without CUDA)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Speed timings mmedge caches (~/.cache/mmedge) go to a temporary folder during tests."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
