"""The zoo's transformer (sdk/bundles/mnist_vit.mmb, scripts/build_vit.py: TinyViT on MNIST) on
the 10k test images it never trained on, through mmedge.Model at every precision; and what its
artifacts keep in float: the fp16 graph computes softmax and LayerNorm in float32, the int8 graph
quantises the attention and MLP matrix products and leaves softmax, LayerNorm and GELU in float.
The floors are the shipped figures (benchmarks/results/amd-epyc-2cpu/vit.md) minus a margin for
the 2,000 images used here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mmedge
from mmedge.datasets import load_mnist
from mmedge.export.recipes.vit import float_ops

BUNDLE = mmedge.builtin_bundle("mnist_vit")
FLOOR = {"fp32": 0.96, "fp16": 0.96, "int8": 0.96}  # shipped 97.80 / 97.81 / 97.68% (10k)


@pytest.fixture(scope="module")
def test_images(data_dir: Path):
    images, labels = load_mnist("test", data_dir)
    return images[:2000], labels[:2000]


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_accuracy_on_mnist_test(test_images, precision: str) -> None:
    images, labels = test_images
    with mmedge.Model(BUNDLE, precision=precision) as model:
        found = model.predict_batch(list(images))
    accuracy = float(np.mean([p.index for p in found] == labels))
    assert accuracy >= FLOOR[precision], accuracy


def test_what_stays_in_float() -> None:
    ops = float_ops(BUNDLE)
    fp16 = ops["model.fp16.onnx"]
    assert fp16.get("Softmax", 0) == 4 and fp16.get("LayerNormalization", 0) == 9, fp16
    for file in ("model.int8.onnx", "model.int8-u8.onnx"):
        if file not in ops:
            continue
        int8 = ops[file]
        assert int8["int8"].get("MatMul", 0) == 24, int8  # qkv, q.k, p.v, out, 2 MLP x 4 blocks
        assert {"Softmax": 4, "LayerNormalization": 9, "Erf": 4}.items() <= int8["float"].items()
