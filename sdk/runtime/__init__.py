"""Running a bundle: `Model` (preprocessing + a backend), which artifact runs where and why
(selection, measured speed), re-checking a bundle on the device (validate), the backends
(ONNX Runtime; TensorRT in runtime.tensorrt)."""

from __future__ import annotations

from mmedge.runtime.model import Model, Prediction, softmax

__all__ = ["Model", "Prediction", "softmax"]
