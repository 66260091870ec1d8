"""Small reference models with factory functions. Users bring their own; these serve the tests,
the benchmarks and the built-in bundles."""

from __future__ import annotations

import torch
from torch import nn


class TinyCNN(nn.Module):
    """Two conv blocks and a two-layer head: ~100k parameters, >= 99% on MNIST after a few
    epochs. Input (N, in_channels, input_size, input_size), output logits (N, num_classes)."""

    def __init__(
        self, in_channels: int = 1, num_classes: int = 10, input_size: int = 28, width: int = 16
    ) -> None:
        super().__init__()
        if input_size % 4:
            raise ValueError(f"input_size must be a multiple of 4, got {input_size}")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        side = input_size // 4
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(2 * width * side * side, 64),
            nn.ReLU(inplace=True),
            nn.Linear(64, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def tiny_cnn(in_channels: int = 1, num_classes: int = 10, input_size: int = 28) -> TinyCNN:
    """The MNIST-sized CNN of the built-in `mnist_cnn` bundle."""
    return TinyCNN(in_channels, num_classes, input_size)
