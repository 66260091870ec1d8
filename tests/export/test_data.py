"""Reading data folders for calibration and evaluation: images arrive in the spec's input format
(before: an RGB spec got OpenCV's BGR from a folder), and COCO folders round-trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmedge.export.coco import read_coco, write_coco
from mmedge.export.data import BoxLabelled, read_folder

cv2 = pytest.importorskip("cv2")


def test_images_arrive_in_the_spec_format(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    bgr = np.zeros((4, 5, 3), np.uint8)
    bgr[:] = (10, 20, 30)
    cv2.imwrite(str(tmp_path / "a" / "x.png"), bgr)
    bgra = np.dstack([bgr, np.full((4, 5), 7, np.uint8)])
    cv2.imwrite(str(tmp_path / "a" / "y.png"), bgra)
    rgb = read_folder(tmp_path, "image", image_format="RGB")
    assert [tuple(s[0, 0]) for s in rgb.samples] == [(30, 20, 10)] * 2
    assert tuple(read_folder(tmp_path, "image").samples[1][0, 0]) == (10, 20, 30)  # BGR
    gray = read_folder(tmp_path, "image", image_format="GRAY").samples
    assert all(s.ndim == 2 for s in gray)


def test_coco_folders_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(3)]
    boxes = [np.array([[1, 2, 11, 22]], np.float32), np.zeros((0, 4), np.float32),
             np.array([[5, 5, 60, 40], [0, 0, 8, 8]], np.float32)]  # fmt: skip
    classes = [np.array([1]), np.zeros(0, np.int64), np.array([0, 1])]
    data = BoxLabelled(images, boxes, classes, ["cat", "dog"])
    back = read_coco(write_coco(data, tmp_path / "coco"))
    assert back.label_names == ["cat", "dog"]
    for a, b in zip(back.boxes, boxes, strict=True):
        np.testing.assert_allclose(a, b)
    for a, b in zip(back.classes, classes, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(back.samples[2], images[2])  # PNG is lossless
