"""Detection data on disk in the COCO layout: DIR/annotations.json (images with file_name and
id; annotations with image_id, bbox [x, y, width, height] in pixels and category_id; categories
with id and name) and the images beside it, as most labelling tools export. Read into
BoxLabelled (boxes xyxy in frame pixels, classes indexed by the categories sorted by id)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mmedge.errors import ExportError
from mmedge.export.data import IMAGE_SUFFIXES, BoxLabelled, _read_image, image_as

ANNOTATIONS = "annotations.json"


def read_coco(
    path: str | Path,
    image_format: str = "BGR",
    labels: Sequence[str] | None = None,
    what: str = "evaluation",
) -> BoxLabelled:
    """Reads DIR/annotations.json and its images. labels: the model's label list (category
    names must be among them, in that order of indices; default: the category names by id)."""
    root = Path(path)
    index = root / ANNOTATIONS
    if not index.is_file():
        raise ExportError(f"{what}: {index} not found (a COCO folder: annotations.json + images)")
    try:
        coco = json.loads(index.read_text())
        categories = sorted(coco["categories"], key=lambda c: c["id"])
        names = list(labels) if labels is not None else [str(c["name"]) for c in categories]
        class_of = {c["id"]: names.index(str(c["name"])) for c in categories}
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{what}: {index} is not COCO annotations: {exc}") from exc
    except ValueError as exc:
        raise ExportError(
            f"{what}: {index} has categories the model does not know ({exc})"
        ) from exc
    per_image: dict[int, list[dict]] = {}
    for a in coco.get("annotations", []):
        per_image.setdefault(a["image_id"], []).append(a)
    out = BoxLabelled([], [], [], names)
    for image in tqdm(coco.get("images", []), desc=f"read {what}", unit="image", leave=False):
        file = root / image["file_name"]
        if not file.is_file():
            raise ExportError(f"{what}: image {file} listed in {index} is missing")
        anns = per_image.get(image["id"], [])
        xywh = np.array([a["bbox"] for a in anns], np.float32).reshape(-1, 4)
        out.samples.append(image_as(_read_image(file), image_format))
        out.boxes.append(np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1))
        out.classes.append(np.array([class_of[a["category_id"]] for a in anns], np.int64))
    if not out.samples:
        raise ExportError(f"{what}: {index} lists no images")
    return out


def read_images(
    path: str | Path, image_format: str = "BGR", what: str = "calibration"
) -> BoxLabelled:
    """Every image under DIR (recursively), without boxes: calibration data for a detector."""
    root = Path(path)
    if not root.is_dir():
        raise ExportError(f"{what} folder not found: {root}")
    files = sorted(f for f in root.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ExportError(f"{what} folder {root} holds no images")
    samples = [image_as(_read_image(f), image_format) for f in files]
    empty = [np.zeros((0, 4), np.float32) for _ in files]
    return BoxLabelled(samples, empty, [np.zeros(0, np.int64) for _ in files], [])


def write_coco(data: BoxLabelled, folder: str | Path) -> Path:
    """Writes `data` as a COCO folder (PNG images, BGR input) and returns it."""
    import cv2

    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i, (img, boxes, classes) in enumerate(
        zip(data.samples, data.boxes, data.classes, strict=True)
    ):
        name = f"{i:05d}.png"
        cv2.imwrite(str(root / name), img)
        images.append({"id": i, "file_name": name, "width": img.shape[1], "height": img.shape[0]})
        for b, c in zip(boxes, classes, strict=True):
            annotations.append(
                {"id": len(annotations) + 1, "image_id": i, "category_id": int(c),
                 "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]}
            )  # fmt: skip
    categories = [{"id": k, "name": n} for k, n in enumerate(data.label_names)]
    coco = {"images": images, "annotations": annotations, "categories": categories}
    (root / ANNOTATIONS).write_text(json.dumps(coco))
    return root
