"""Real data end to end: a CNN trained on MNIST by the repository's recipe, exported, and run
through mmedge.Model on all 10,000 test images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import mmedge
from mmedge.datasets import load_mnist
from mmedge.export.recipes import mnist_test_tensors, train_mnist

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("mnist") / "mnist_cnn.mmb"
    return train_mnist(out, data_root=data_dir, progress=False)


def model_logits(model: mmedge.Model, tensors: np.ndarray) -> np.ndarray:
    return np.concatenate(
        [
            model.infer({"image": tensors[s : s + 1000]})["logits"]
            for s in range(0, len(tensors), 1000)
        ]
    )


def test_recipe_accuracy_through_model(trained, data_dir: Path) -> None:
    images, labels = load_mnist("test", data_dir)
    model = mmedge.Model(trained.bundle)
    predicted = np.concatenate(
        [
            [p.index for p in model.predict_batch(images[s : s + 500])]
            for s in range(0, len(images), 500)
        ]
    )
    accuracy = float((predicted == labels).mean())
    print(
        f"MNIST test accuracy through mmedge.Model: {accuracy:.4f} "
        f"(trained in {trained.train.seconds:.1f} s, {trained.total_seconds:.1f} s with export)"
    )
    assert accuracy >= 0.98
    stored = mmedge.Bundle.load(trained.bundle).reports["accuracy"]
    assert stored["n_samples"] == 10_000
    assert stored["fp32"] == pytest.approx(accuracy, abs=1e-4)


def test_recipe_agrees_with_pytorch(trained, data_dir: Path) -> None:
    """Top-1 of the exported bundle equals PyTorch's on >= 99.99% of the 10k test images; every
    disagreement is reported with PyTorch's logit margin between the two classes."""
    tensors, _ = mnist_test_tensors(data_dir)
    with torch.inference_mode():
        reference = torch.cat(
            [
                trained.model(torch.from_numpy(tensors[s : s + 1000]))
                for s in range(0, len(tensors), 1000)
            ]
        ).numpy()
    ours = model_logits(mmedge.Model(trained.bundle), tensors)
    ref_top, our_top = reference.argmax(1), ours.argmax(1)
    disagreements = np.flatnonzero(ref_top != our_top)
    for i in disagreements:
        margin = reference[i, ref_top[i]] - reference[i, our_top[i]]
        print(f"image {i}: PyTorch {ref_top[i]}, bundle {our_top[i]}, PyTorch margin {margin:.3g}")
    agreement = 1.0 - len(disagreements) / len(tensors)
    print(
        f"top-1 agreement {agreement:.6f} ({len(disagreements)} of {len(tensors)} differ); "
        f"max |logit diff| {np.abs(reference - ours).max():.3g}"
    )
    assert agreement >= 0.9999
    np.testing.assert_allclose(ours, reference, rtol=1e-3, atol=1e-4)


def test_builtin_bundle_accuracy(data_dir: Path) -> None:
    """The committed bundle (no torch involved) on the full test set."""
    images, labels = load_mnist("test", data_dir)
    model = mmedge.Model(mmedge.builtin_bundle())
    correct = sum(
        int(p.index == y)
        for s in range(0, len(images), 500)
        for p, y in zip(model.predict_batch(images[s : s + 500]), labels[s : s + 500], strict=True)
    )
    assert correct / len(images) >= 0.98
