"""mmedge: edge deployment SDK for multimodal perception.

>>> import mmedge
>>> from mmedge.demo import sample_frames
>>> model = mmedge.Model(mmedge.builtin_bundle("mnist_cnn"))  # TensorRT > ORT (TRT/CUDA/CPU)
>>> frames, digits = sample_frames()  # rendered digits, uint8 (H, W)
>>> model.predict(frames[0]).label == str(digits[0])
True
>>> model.describe()["bundle"]
'mnist_cnn'

The runtime needs NumPy, jsonschema and a backend (ONNX Runtime); never torch. Exporting lives
in mmedge.export (the `export` extra).
"""

from __future__ import annotations

from mmedge import _compat
from mmedge._ext import C as _C
from mmedge._version import __version__
from mmedge.bundle import Bundle, TensorSpec, builtin_bundle
from mmedge.errors import (
    BackendError,
    BundleError,
    ExportError,
    MMEdgeError,
    ParityError,
    PostprocessError,
    PreprocessError,
    SourceError,
)
from mmedge.pipeline import Pipeline
from mmedge.pipeline.fusion import FusedResult
from mmedge.preprocess import ImageSpec
from mmedge.runtime.model import Model, Prediction
from mmedge.tasks import DetectionHead, Detections

_compat.install()


def set_num_threads(n: int) -> None:
    """Threads of the CPU preprocessing kernels (0 = default: $MMEDGE_NUM_THREADS, else the
    number of CPUs, at most 4). Inference threads are the backend's (intra_op_threads)."""
    _C.set_num_threads(int(n))


def get_num_threads() -> int:
    """Threads the CPU preprocessing kernels use, the calling thread included."""
    return int(_C.get_num_threads())


__all__ = [
    "BackendError",
    "Bundle",
    "BundleError",
    "DetectionHead",
    "Detections",
    "ExportError",
    "FusedResult",
    "ImageSpec",
    "MMEdgeError",
    "Model",
    "ParityError",
    "Pipeline",
    "PostprocessError",
    "Prediction",
    "PreprocessError",
    "SourceError",
    "TensorSpec",
    "__version__",
    "builtin_bundle",
    "get_num_threads",
    "set_num_threads",
]
