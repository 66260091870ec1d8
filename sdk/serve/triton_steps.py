"""What the python-backend models of a Triton repository run (mmedge.serve.triton_repo): the
bundle's own preprocessing before the model and its post-processing after it, configured by the
`serving.json` the repository writer puts beside them. Plain functions of NumPy arrays, so that
they are tested here without a server and run there unchanged.

serving.json: {"input": name, "spec": {...} (ImageSpec/AudioSpec/VideoSpec.to_dict()),
"output": name, "output_kind": "logits" | "probs" | "detection_head", "labels": [...],
"heads": [DetectionHead.to_dict(), ...]}.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mmedge.errors import PreprocessError
from mmedge.preprocess.image import frame_size
from mmedge.preprocess.image_spec import ImageSpec
from mmedge.preprocess.spec import spec_from_dict
from mmedge.runtime.model import softmax
from mmedge.tasks.detection import DetectionHead
from mmedge.tasks.geometry import box_map

SERVING = "serving.json"


def _load(folder: str | Path) -> dict[str, Any]:
    return json.loads((Path(folder) / SERVING).read_text(encoding="utf-8"))


class Pre:
    """Raw frame (uint8 (H, W[, C]) in the spec's input format), clip ((T, H, W, C)) or mono
    float32 samples with their rate -> {'TENSOR': the model input with batch 1, 'FRAME_SIZE':
    int32 (width, height) px (0, 0 for audio)}."""

    def __init__(self, folder: str | Path) -> None:
        self.serving = _load(folder)
        self.spec = spec_from_dict(self.serving["spec"])

    def run(self, raw: np.ndarray, sample_rate_hz: int | None = None) -> dict[str, np.ndarray]:
        if self.spec.kind == "audio" and sample_rate_hz is None:
            raise PreprocessError("audio needs SAMPLE_RATE (Hz)")
        tensor = self.spec.apply(raw, sample_rate_hz=sample_rate_hz)
        size = frame_size(raw, self.spec) if isinstance(self.spec, ImageSpec) else (0, 0)
        return {
            "TENSOR": np.ascontiguousarray(tensor, np.float32),
            "FRAME_SIZE": np.asarray(size, np.int32),
        }


class Post:
    """The model's output (batch 1) and the frame size -> classification: LABEL (bytes, (1,)),
    SCORE (1,), PROBS (C,); detection: BOXES (N, 4) x1, y1, x2, y2 in frame px, SCORES (N,),
    CLASSES (N,) int32, LABELS (N,) bytes."""

    def __init__(self, folder: str | Path) -> None:
        self.serving = _load(folder)
        self.labels = list(self.serving["labels"])
        self.spec = spec_from_dict(self.serving["spec"])
        heads = [DetectionHead.from_dict(h) for h in self.serving.get("heads", [])]
        self.head = heads[0] if heads else None

    def run(self, output: np.ndarray, frame: np.ndarray) -> dict[str, np.ndarray]:
        if self.head is not None:
            assert isinstance(self.spec, ImageSpec)
            width, height = (int(v) for v in np.asarray(frame).reshape(-1)[:2])
            maps = box_map(self.spec, width, height)[None]
            found = self.head.decode(output[:1], maps, self.labels, [(width, height)])[0]
            return {
                "BOXES": found.xyxy.astype(np.float32),
                "SCORES": found.scores.astype(np.float32),
                "CLASSES": found.class_ids.astype(np.int32),
                "LABELS": np.array([s.encode() for s in found.labels], dtype=np.object_),
            }
        row = np.asarray(output, np.float32).reshape(1, -1)
        probs = (softmax(row) if self.serving["output_kind"] == "logits" else row)[0]
        k = int(np.argmax(probs))
        label = self.labels[k] if k < len(self.labels) else str(k)
        return {
            "LABEL": np.array([label.encode()], dtype=np.object_),
            "SCORE": np.array([probs[k]], np.float32),
            "PROBS": probs.astype(np.float32),
        }
