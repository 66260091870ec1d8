"""fp32 ONNX -> mixed-precision fp16 ONNX: the graph's inputs and outputs stay float32 (callers
and preprocessing kernels are unchanged), the ops that overflow or lose accuracy in fp16 stay
float32, everything else runs in fp16. TensorRT builds a strongly typed fp16 engine from it;
ONNX Runtime runs it on any provider."""

from __future__ import annotations

import copy

import onnx
from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16
from onnxruntime.transformers.onnx_model import OnnxModel

from mmedge.errors import ExportError

# Kept in float32 besides ONNX Runtime's own list (ML ops, TopK, NMS, ...): exponentials and
# logs (overflow above 65504, underflow), reductions and normalisations that sum many terms,
# and the recurrent cells (no fp16 CPU kernels; state accumulates over time).
FP32_OPS: tuple[str, ...] = (
    *DEFAULT_OP_BLOCK_LIST,
    "Softmax",
    "LogSoftmax",
    "Exp",
    "Log",
    "Pow",
    "Sqrt",
    "Reciprocal",
    "Erf",
    "ReduceMean",
    "ReduceSum",
    "ReduceSumSquare",
    "ReduceL2",
    "ReduceLogSumExp",
    "LayerNormalization",
    "InstanceNormalization",
    "GroupNormalization",
    "GRU",
    "LSTM",
    "RNN",
)


def to_fp16(model: onnx.ModelProto, keep_fp32_ops: tuple[str, ...] = FP32_OPS) -> onnx.ModelProto:
    """The mixed-precision copy of `model` (float32 I/O, keep_fp32_ops in float32), checked.
    `model` itself is left unchanged (the converter works in place)."""
    try:
        converted = convert_float_to_float16(
            copy.deepcopy(model),
            keep_io_types=True,
            op_block_list=list(keep_fp32_ops),
            disable_shape_infer=False,
        )
        OnnxModel(converted).topological_sort()  # the converter appends its input casts last
        onnx.checker.check_model(converted)
    except Exception as exc:
        raise ExportError(f"fp16 conversion failed: {type(exc).__name__}: {exc}") from exc
    return converted
