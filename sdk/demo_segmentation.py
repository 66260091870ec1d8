"""`mmedge demo --task segmentation`: the built-in digit segmenter over a DigitScene (digits
moving across a wall, or across your video); writes the frames with each digit's strokes
coloured by their class (an MP4, or one PNG of the middle frame) and prints what it found
against the scene's truth: per second, the digits in view and the classes the masks hold, then
the mIoU over every pixel (mmedge.tasks.metrics) and the time per frame.

Glyphs: MNIST's test digits when the data folder is found ($MMEDGE_DATA), else the package's
printed sample digits, which the segmenter, trained on handwriting, reads less well."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mmedge.demo_detection import mnist_glyphs
from mmedge.errors import MMEdgeError
from mmedge.runtime.model import Model
from mmedge.sinks import VideoWriter
from mmedge.sources import VideoFile
from mmedge.sources.digit_scene import DigitScene
from mmedge.tasks.draw import overlay_masks
from mmedge.tasks.masks import Masks
from mmedge.tasks.metrics import confusion, iou_per_class

MIN_AREA = 40  # px: a class is reported in a frame from this many pixels on


def _classes(masks: Masks) -> str:
    areas = masks.areas()
    return " ".join(masks.labels[k] for k in np.flatnonzero(areas[1:] >= MIN_AREA) + 1) or "-"


def _writer(out: Path, fps: float, size: tuple[int, int]) -> VideoWriter | None:
    if out.suffix.lower() == ".png":
        return None
    if out.suffix.lower() not in (".mp4", ".avi"):
        raise MMEdgeError(f"--out {out}: an .mp4 (or .avi) video, or a .png picture")
    return VideoWriter(out, fps, size)


def _write_png(out: Path, image: np.ndarray) -> None:
    import os
    import tempfile

    import cv2

    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".png", dir=out.parent or ".")
    os.close(fd)
    try:
        if not cv2.imwrite(tmp, image):
            raise MMEdgeError(f"could not write {out}")
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(
    *,
    video: str | None = None,
    out: str | Path = "mmedge-segmentation.mp4",
    seconds: float = 6.0,
    seed: int = 0,
    backend: str = "auto",
    as_json: bool = False,
    emit: Callable[[str], None] = print,
) -> int:
    """Runs the segmentation demo; returns the process exit code."""
    from mmedge.bundle import builtin_bundle

    out = Path(out)
    glyphs = mnist_glyphs(seed=seed)
    background = VideoFile(video, loop=True) if video else None
    scene = DigitScene(seconds, seed=seed, background=background, glyphs=glyphs)
    rows, predicted, truth, middle = [], [], [], scene.frames // 2
    with Model(builtin_bundle("digit_segmenter"), backend) as model:
        if not as_json:
            emit(
                f"mmedge demo --task segmentation: {len(scene.objects)} "
                f"{'MNIST test' if glyphs else 'printed'} digits over "
                f"{Path(video).name if video else 'a generated wall'}, {scene.frames} frames; "
                f"{model}"
            )
            emit(f"{'t (s)':>6}  {'truth':<12}  classes in the masks")
        writer = _writer(out, scene.fps, (scene.width, scene.height))
        source = scene.video
        try:
            while (item := source.read()) is not None:
                found = model.predict(item.image)
                picture = overlay_masks(item.image, found)
                if writer is not None:
                    writer.write(picture)
                elif item.index == middle:
                    _write_png(out, picture)
                true_mask = scene.mask(item.index)
                predicted.append(found.mask)
                truth.append(true_mask)
                rows.append({"t_s": item.t_s, **found.to_dict()})
                if not as_json and item.index % round(scene.fps) == 0:
                    digits = " ".join(str(c) for c in scene.truth(item.index).class_ids)
                    emit(f"{item.t_s:6.2f}  {digits:<12}  {_classes(found)}")
        except BaseException:
            if writer is not None:
                writer.close(keep=False)
            raise
        finally:
            source.close()
        if writer is not None:
            writer.close(keep=bool(rows))
        labels = list(model.labels)
    per_class = iou_per_class(confusion(predicted, truth, len(labels)))
    digits = [v for k, v in enumerate(per_class) if k > 0 and not np.isnan(v)]
    summary = {
        "frames": len(rows),
        "output": str(out.resolve()) if rows else None,
        "miou": float(np.nanmean(per_class)),
        "digits_mean_iou": float(np.mean(digits)) if digits else float("nan"),
        "per_class_iou": {
            labels[k]: None if np.isnan(v) else float(v) for k, v in enumerate(per_class)
        },
        "latency_ms_p50": float(np.median([r["latency_ms"] for r in rows])) if rows else None,
    }
    if as_json:
        emit(json.dumps({"results": rows, **summary}, indent=2, default=str))
        return 0 if rows else 1
    emit(
        f"mIoU {summary['miou']:.3f} over {len(labels)} classes (the digits' strokes "
        f"{summary['digits_mean_iou']:.3f}, background {per_class[0]:.3f}), every pixel of "
        f"{len(rows)} frames; {summary['latency_ms_p50']:.1f} ms per frame (p50)"
    )
    emit(f"overlay: {summary['output']}")
    return 0 if rows else 1
