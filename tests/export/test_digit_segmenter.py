"""The built-in segmenter (sdk/bundles/digit_segmenter.mmb, scripts/build_segmenter.py) on data
it never saw: the strokes of MNIST test digits (other writers) composited onto frames of cup.mp4
(a clip training never used), through mmedge.Model, masks at the frames' 640x480. mIoU by
mmedge.tasks.metrics, checked against scikit-learn's jaccard_score. The floors are the shipped
figures (benchmarks/results/amd-epyc-2cpu/segmenter.md) minus a margin for the set drawn here,
which is smaller."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mmedge
from mmedge.export.recipes.digit_boxes import make_mask_split
from mmedge.tasks.metrics import confusion, mean_iou

FLOOR_MIOU = {"fp32": 0.62, "fp16": 0.62, "int8": 0.60}  # shipped 0.655 / 0.655 / 0.649 (int8-u8)


@pytest.fixture(scope="module")
def held_out(data_dir: Path):
    return make_mask_split("eval", 60, seed=7, root=data_dir)


@pytest.fixture(scope="module")
def fp32_masks(held_out) -> list[np.ndarray]:
    with mmedge.Model(mmedge.builtin_bundle("digit_segmenter"), precision="fp32") as model:
        return [m.mask for m in model.predict_batch(held_out.samples)]


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_miou_on_the_held_out_clip(held_out, fp32_masks, precision: str) -> None:
    with mmedge.Model(mmedge.builtin_bundle("digit_segmenter"), precision=precision) as model:
        found = [m.mask for m in model.predict_batch(held_out.samples)]
    for mask, image in zip(found, held_out.samples, strict=True):
        assert mask.shape == image.shape[:2]
    miou = mean_iou(confusion(found, held_out.masks, 11))
    assert miou >= FLOOR_MIOU[precision], miou
    fp32 = mean_iou(confusion(fp32_masks, held_out.masks, 11))
    assert fp32 - miou <= {"fp32": 0.0, "fp16": 0.005, "int8": 0.03}[precision], (fp32, miou)


def test_miou_is_scikit_learns_macro_jaccard(held_out, fp32_masks) -> None:
    """The same number as sklearn.metrics.jaccard_score(average='macro') over the classes
    in the truth or the prediction, on every pixel (predicted 255s would count as misses)."""
    metrics = pytest.importorskip("sklearn.metrics")
    truth = np.concatenate([m.reshape(-1) for m in held_out.masks])
    predicted = np.concatenate([m.reshape(-1) for m in fp32_masks])
    present = np.union1d(np.unique(truth), np.unique(predicted[predicted < 11]))
    expected = metrics.jaccard_score(truth, predicted, labels=present, average="macro")
    assert mean_iou(confusion(fp32_masks, held_out.masks, 11)) == pytest.approx(expected, 1e-12)
