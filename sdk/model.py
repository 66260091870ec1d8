"""mmedge.Model: a bundle, its preprocessing and a backend, ready to predict."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmedge import preprocess as pp
from mmedge.backends import BACKEND_FORMATS, Backend, available_backends, create_backend
from mmedge.bundle import Artifact, Bundle
from mmedge.errors import BackendError, PreprocessError

PRECISION_ORDER = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class Prediction:
    """One classification result.

    label/index/score: the top class, its index and probability (0..1).
    probs: probabilities of all classes (float32, sums to 1).
    latency_ms: wall time of this prediction (preprocess + infer + softmax), ms; for a batch,
        the batch's time divided by its size. preprocess_ms/infer_ms: the parts of it.
    """

    label: str
    index: int
    score: float
    probs: np.ndarray
    latency_ms: float
    preprocess_ms: float
    infer_ms: float


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax, computed in float64 and returned as float32."""
    z = logits.astype(np.float64)
    z -= z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=axis, keepdims=True)).astype(np.float32)


def _choose(bundle: Bundle, backend: str, precision: str | None) -> tuple[str, Artifact]:
    """(backend name, artifact): the requested pair, or for 'auto' the first available backend
    with a matching artifact, fp32 first unless a precision is asked for."""
    backends = available_backends() if backend == "auto" else [backend]
    if backend != "auto" and backend not in BACKEND_FORMATS:
        raise BackendError(
            f"unknown backend {backend!r}; known: {sorted(BACKEND_FORMATS)} or 'auto'"
        )
    if not backends:
        raise BackendError(
            "no inference backend is installed: pip install 'mmedge[ort]' (ONNX Runtime CPU) "
            "or 'mmedge[ort-gpu]'"
        )
    precisions = [precision] if precision else list(PRECISION_ORDER)
    for name in backends:
        for fmt in BACKEND_FORMATS[name]:
            for prec in precisions:
                for artifact in bundle.artifacts:
                    if artifact.format == fmt and artifact.precision == prec:
                        return name, artifact
    have = ", ".join(f"{a.format}/{a.precision}" for a in bundle.artifacts)
    raise BackendError(
        f"{bundle.source}: no artifact for backend {backend!r}"
        + (f" at precision {precision}" if precision else "")
        + f" (the bundle has: {have}; usable backends here: {backends})"
    )


class Model:
    """Loads a bundle and runs it.

    bundle: a Bundle or the path of NAME.mmb / NAME.mmb.tar.
    backend: 'auto' (the best available: ONNX Runtime with TensorRT EP > CUDA EP > CPU) or 'ort'.
    precision: 'fp32', 'fp16' or 'int8' to pick that artifact; None = fp32 when present.
    backend_options: passed to the backend (for ONNX Runtime: providers, intra_op_threads,
        graph_optimization, device_id).
    """

    def __init__(
        self,
        bundle: Bundle | str | Path,
        backend: str = "auto",
        *,
        precision: str | None = None,
        **backend_options: Any,
    ) -> None:
        self._owns_bundle = not isinstance(bundle, Bundle)
        self.bundle = bundle if isinstance(bundle, Bundle) else Bundle.load(bundle)
        self.backend_name, self.artifact = _choose(self.bundle, backend, precision)
        self.backend: Backend = create_backend(
            self.backend_name, self.artifact.path, **backend_options
        )
        declared = self.bundle.inputs
        self.input_name = declared[0].name
        self.spec = self.bundle.preprocess(self.input_name)
        outputs = self.bundle.outputs
        scored = [o for o in outputs if o.kind in ("logits", "probs")]
        self.output = scored[0] if scored else outputs[0]
        self.labels = self.bundle.labels

    # -- running -------------------------------------------------------------------------------

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs the backend on ready-made tensors (no preprocessing), keyed by input name."""
        return self.backend.infer(feeds)

    def preprocess(self, image: Any) -> np.ndarray:
        """One frame -> the (1, C, H, W) input tensor, by the bundle's preprocessing spec."""
        return pp.image(image, self._image_spec())

    def predict(self, image: Any) -> Prediction:
        """Classifies one frame (uint8 HWC/HW in the spec's input format)."""
        return self._predict(lambda: pp.image(image, self._image_spec()), 1)[0]

    def predict_batch(self, images: Sequence[Any] | np.ndarray) -> list[Prediction]:
        """Classifies N frames in one backend call."""
        return self._predict(lambda: pp.image_batch(images, self._image_spec()), len(images))

    def _image_spec(self) -> pp.ImageSpec:
        if not isinstance(self.spec, pp.ImageSpec):
            raise PreprocessError(
                f"bundle {self.bundle.name!r} input {self.input_name!r} has no image "
                "preprocessing; pass tensors to Model.infer() instead"
            )
        return self.spec

    def _predict(self, make_tensor: Any, n: int) -> list[Prediction]:
        if self.output.kind not in ("logits", "probs"):
            raise BackendError(
                f"predict needs a logits or probs output; "
                f"{self.output.name!r} is {self.output.kind}"
            )
        t0 = time.perf_counter()
        tensor = make_tensor()
        t1 = time.perf_counter()
        raw = self.backend.infer({self.input_name: tensor})[self.output.name]
        t2 = time.perf_counter()
        probs = softmax(raw) if self.output.kind == "logits" else raw.astype(np.float32)
        t3 = time.perf_counter()
        per = 1000.0 / n
        results = []
        for row in probs:
            index = int(row.argmax())
            label = self.labels[index] if index < len(self.labels) else str(index)
            results.append(
                Prediction(
                    label,
                    index,
                    float(row[index]),
                    row,
                    (t3 - t0) * per,
                    (t1 - t0) * per,
                    (t2 - t1) * per,
                )
            )
        return results

    # -- reporting -----------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """Which bundle, artifact, backend and providers run, and with what preprocessing."""
        return {
            "bundle": self.bundle.name,
            "source": str(self.bundle.source),
            "modality": self.bundle.modality,
            "artifact": {
                "file": self.artifact.file,
                "format": self.artifact.format,
                "precision": self.artifact.precision,
            },
            **self.backend.describe(),
            "input": self.input_name,
            "preprocess": self.spec.to_dict() if self.spec is not None else None,
            "labels": len(self.labels),
        }

    def __str__(self) -> str:
        d = self.describe()
        runs_on = ", ".join(d.get("providers", [])) or d["backend"]
        return (
            f"{d['bundle']}: {d['artifact']['file']} ({d['artifact']['format']} "
            f"{d['artifact']['precision']}) on {d['backend']} [{runs_on}]"
        )

    def close(self) -> None:
        """Releases the backend, and the bundle when this Model opened it."""
        self.backend.close()
        if self._owns_bundle:
            self.bundle.close()

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
