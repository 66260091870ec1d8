"""A transformer in the zoo: TinyViT trained on MNIST (the 60k training images through the
bundle's own preprocessing) and exported at fp32, fp16 and int8 behind the same parity and
top-1 gates as the CNNs (accuracy on all 10k test images); what had to stay in float and why
is read back from the artifacts."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from mmedge import preprocess as pp
from mmedge.datasets import load_mnist
from mmedge.export.bundle_export import export_bundle
from mmedge.export.data import Labelled
from mmedge.export.quantize import QUANTIZED_OPS
from mmedge.export.recipes.digits import MNIST_LABELS, MNIST_SPEC, RecipeResult
from mmedge.export.recipes.training import train_classifier
from mmedge.export.zoo_vit import TinyViT


def train_vit(
    out: str | Path,
    *,
    data_root: str | Path | None = None,
    epochs: int = 6,
    seed: int = 0,
    precisions: tuple[str, ...] = ("fp32", "fp16", "int8"),
    max_accuracy_drop: float = 1.0,
    calibration_samples: int = 1000,
    progress: bool = True,
    overwrite: bool = True,
) -> RecipeResult:
    """Trains TinyViT on MNIST and exports it as the bundle mnist_vit (see the module
    docstring); int8 within max_accuracy_drop top-1 points of fp32."""
    start = time.perf_counter()
    train_images, train_labels = load_mnist("train", data_root)
    test_images, test_labels = load_mnist("test", data_root)
    inputs = pp.image_batch(train_images, MNIST_SPEC)
    torch.manual_seed(seed)
    model = TinyViT()
    result = train_classifier(
        model, inputs, train_labels, epochs=epochs, seed=seed, lr=1e-3, progress=progress
    )
    calibration = Labelled(
        list(train_images[-calibration_samples:]),
        train_labels[-calibration_samples:].astype(np.int64),
        MNIST_LABELS,
    )
    bundle = export_bundle(
        model.eval(),
        out,
        name="mnist_vit",
        example_input=torch.from_numpy(inputs[:1]),
        labels=MNIST_LABELS,
        preprocess=MNIST_SPEC,
        precisions=precisions,
        calibration=calibration if "int8" in precisions else None,
        evaluation=Labelled(list(test_images), test_labels.astype(np.int64), MNIST_LABELS),
        max_accuracy_drop=max_accuracy_drop,
        description=f"TinyViT (export.zoo_vit: 7x7 patches, 4 blocks, dim 64, 4 heads) trained "
        f"on MNIST (60k images, {epochs} epochs, seed {seed}) by mmedge.export.recipes.vit",
        overwrite=overwrite,
        progress=progress,
    )
    return RecipeResult(model, bundle, result, time.perf_counter() - start)


LAYOUT_OPS = ("Shape", "Reshape", "Transpose", "Gather", "Expand", "Concat", "Unsqueeze",
              "Squeeze", "Slice", "Constant", "Flatten", "Identity", "Cast")  # fmt: skip


def float_ops(bundle: str | Path) -> dict[str, Any]:
    """What stayed in float per artifact, by op type. fp16: the ops computed in float32 (the
    converter's block list). int8 (QDQ): 'int8' counts the ops of the quantiser's list whose
    inputs are dequantised int8 tensors (ONNX Runtime and TensorRT run them in int8); 'float'
    the other compute ops (layout ops left out): they read dequantised values and compute in
    float (ONNX Runtime's CPU provider may still fuse a Softmax between Q/DQ pairs into
    QLinearSoftmax); 'excluded' the nodes the accuracy gate put back in float."""
    import json

    root = Path(bundle)
    manifest = json.loads((root / "manifest.json").read_text())
    reports = manifest.get("reports", {}).get("quantization", {})
    out: dict[str, Any] = {}
    for a in manifest["artifacts"]:
        if a["format"] != "onnx" or a["precision"] == "fp32":
            continue
        graph = onnx.load(str(root / a["file"]), load_external_data=False).graph
        if a["precision"] == "fp16":
            out[a["file"]] = dict(Counter(_float32_ops(graph)))
            continue
        dq = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear"}
        compute = [n for n in graph.node if n.op_type not in ("QuantizeLinear",
                   "DequantizeLinear", *LAYOUT_OPS)]  # fmt: skip
        int8 = [n for n in compute if n.op_type in QUANTIZED_OPS and any(i in dq for i in n.input)]
        out[a["file"]] = {
            "int8": dict(Counter(n.op_type for n in int8)),
            "float": dict(Counter(n.op_type for n in compute if n not in int8)),
            "excluded": reports.get(a["file"], {}).get("excluded_nodes", []),
        }
    return out


def _float32_ops(graph: onnx.GraphProto) -> list[str]:
    """Op types of an fp16-converted graph that compute in float32: those whose first input
    comes from a Cast to float (to = 1) or from the graph's float32 inputs."""
    cast_to_float = {n.output[0] for n in graph.node if n.op_type == "Cast" and any(
        at.name == "to" and at.i == onnx.TensorProto.FLOAT for at in n.attribute)}  # fmt: skip
    float_inputs = {i.name for i in graph.input}
    return [
        n.op_type
        for n in graph.node
        if n.op_type != "Cast" and n.input and (n.input[0] in cast_to_float | float_inputs)
    ]
