"""Training recipes on the public data sets (MNIST, FSDD, the synthetic scene, audio-visual
digits): they train and export the bundles the examples, tests, benchmarks and built-in demo
use. Not part of the toolchain: a user's own training replaces them."""

from __future__ import annotations

from mmedge.export.recipes.digits import (
    DIGIT_LABELS,
    FSDD_SPECS,
    MNIST_LABELS,
    MNIST_SPEC,
    RecipeResult,
    fsdd_cnn,
    fsdd_crnn,
    fsdd_labelled,
    fsdd_model,
    mnist_test_tensors,
    render_digit_frames,
    save_frames,
    train_fsdd,
    train_fsdd_model,
    train_mnist,
)

__all__ = [
    "DIGIT_LABELS",
    "FSDD_SPECS",
    "MNIST_LABELS",
    "MNIST_SPEC",
    "RecipeResult",
    "fsdd_cnn",
    "fsdd_crnn",
    "fsdd_labelled",
    "fsdd_model",
    "mnist_test_tensors",
    "render_digit_frames",
    "save_frames",
    "train_fsdd",
    "train_fsdd_model",
    "train_mnist",
]
