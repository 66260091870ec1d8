"""Segmentation data on disk: ROOT/images/<name>.<png|jpg|...> with ROOT/masks/<name>.png, one
single-channel uint8 PNG of class ids per image (255 = not labelled, ignored): the layout of
Pascal VOC's SegmentationClass (read as indices) and Cityscapes' trainId masks. Class names:
ROOT/labels.txt (one per line, in id order) or labels=."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mmedge.errors import ExportError
from mmedge.export.data import IMAGE_SUFFIXES, MaskLabelled, _read_image, image_as

IGNORE = 255


def _read_mask(path: Path) -> np.ndarray:
    import cv2

    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise ExportError(f"cannot read the mask {path}")
    if mask.ndim != 2 or mask.dtype != np.uint8:
        raise ExportError(
            f"{path}: a mask is a single-channel uint8 PNG of class ids, got {mask.dtype} "
            f"{mask.shape} (a palette PNG reads as colours here: save its indices, e.g. "
            "numpy.array(PIL.Image.open(path)))"
        )
    return mask


def read_masks(
    path: str | Path, image_format: str = "BGR", labels: Sequence[str] | None = None
) -> MaskLabelled:
    """Every image of ROOT/images with its mask (see the module docstring)."""
    root = Path(path)
    images, masks = root / "images", root / "masks"
    if not images.is_dir() or not masks.is_dir():
        raise ExportError(f"{root}: a segmentation folder holds images/ and masks/")
    if labels is None:
        names = root / "labels.txt"
        if not names.is_file():
            raise ExportError(f"{root}: no labels.txt and no labels given")
        labels = [line.strip() for line in names.read_text().splitlines() if line.strip()]
    files = sorted(f for f in images.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ExportError(f"{images} holds no images")
    out = MaskLabelled([], [], list(labels))
    for f in files:
        mask_path = masks / f"{f.stem}.png"
        if not mask_path.is_file():
            raise ExportError(f"{f} has no mask {mask_path}")
        image, mask = _read_image(f), _read_mask(mask_path)
        if mask.shape != image.shape[:2]:
            raise ExportError(
                f"{mask_path} is {mask.shape[1]}x{mask.shape[0]} px, its image "
                f"{image.shape[1]}x{image.shape[0]}"
            )
        bad = np.setdiff1d(np.unique(mask), [*range(len(labels)), IGNORE])
        if bad.size:
            raise ExportError(
                f"{mask_path} holds class ids {bad.tolist()[:5]} beyond the {len(labels)} "
                f"labels (255 = not labelled)"
            )
        out.samples.append(image_as(image, image_format))
        out.masks.append(mask)
    return out


def write_masks(data: MaskLabelled, folder: str | Path) -> Path:
    """Writes `data` as a segmentation folder (PNG images of BGR input, labels.txt)."""
    import cv2

    root = Path(folder)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(exist_ok=True)
    for i, (image, mask) in enumerate(zip(data.samples, data.masks, strict=True)):
        cv2.imwrite(str(root / "images" / f"{i:05d}.png"), image)
        cv2.imwrite(str(root / "masks" / f"{i:05d}.png"), mask)
    (root / "labels.txt").write_text("\n".join(data.label_names) + "\n")
    return root
