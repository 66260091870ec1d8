"""Small reference models with factory functions. Users bring their own; these serve the tests,
the benchmarks and the built-in bundles.

Every model maps one input tensor (or, for the fusion head, one per modality) to class logits.
With `with_embedding=True` it returns (logits, embedding): a two-output model whose embedding
feeds feature-level fusion.
"""

from __future__ import annotations

import torch
from torch import nn


class _Classifier(nn.Module):
    """features -> embedding (B, embed_dim) -> logits; optionally both."""

    def __init__(
        self, features: nn.Module, embed_dim: int, num_classes: int, with_embedding: bool
    ) -> None:
        super().__init__()
        self.features = features
        self.classifier = nn.Linear(embed_dim, num_classes)
        self.with_embedding = with_embedding

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        embedding = self.features(x)
        logits = self.classifier(embedding)
        return (logits, embedding) if self.with_embedding else logits


class TinyCNN(nn.Module):
    """Two conv blocks and a two-layer head: ~100k parameters, ~99% on MNIST after a few
    epochs. Input (N, in_channels, input_size, input_size), output logits (N, num_classes);
    with_embedding: (logits, the 64-d hidden layer)."""

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        input_size: int = 28,
        width: int = 16,
        with_embedding: bool = False,
    ) -> None:
        super().__init__()
        self.with_embedding = with_embedding
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

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if not self.with_embedding:
            return self.head(self.features(x))
        embedding = self.head[:3](self.features(x))
        return self.head[3](embedding), embedding


def tiny_cnn(
    in_channels: int = 1, num_classes: int = 10, input_size: int = 28, with_embedding: bool = False
) -> TinyCNN:
    """The MNIST-sized CNN of the built-in `mnist_cnn` bundle."""
    return TinyCNN(in_channels, num_classes, input_size, with_embedding=with_embedding)


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.down is None else self.down(x)
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + identity)


def resnet18_like(
    num_classes: int = 1000, in_channels: int = 3, width: int = 64, with_embedding: bool = False
) -> nn.Module:
    """ResNet-18's shape (7x7 stem, four stages of two basic blocks, global pooling) for
    224x224 inputs: 11.7M parameters at width 64, like torchvision's resnet18."""
    widths = [width, 2 * width, 4 * width, 8 * width]
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, width, 7, 2, 3, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),
    ]
    cin = width
    for i, w in enumerate(widths):
        layers += [_BasicBlock(cin, w, 1 if i == 0 else 2), _BasicBlock(w, w, 1)]
        cin = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return _Classifier(nn.Sequential(*layers), widths[-1], num_classes, with_embedding)


class FeatureNorm(nn.Module):
    """Per-coefficient normalisation of (N, 1, F, T) or (N, F, T) features, learned like
    BatchNorm. MFCC coefficients differ in range by 100x (C0 spans hundreds of dB, the upper
    coefficients a few): without this, one int8 scale for the input tensor crushes the small
    ones, and training converges slower."""

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(n_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            return self.norm(x.squeeze(1)).unsqueeze(1)
        return self.norm(x)


def audio_cnn(
    num_classes: int = 10, n_features: int = 40, width: int = 32, with_embedding: bool = False
) -> nn.Module:
    """A CNN over MFCC / log-mel frames, input (N, 1, n_features, frames) (layout N1FT), any
    frame count (global pooling); the input is normalised per coefficient (FeatureNorm)."""
    features = nn.Sequential(
        FeatureNorm(n_features),
        nn.Conv2d(1, width, 3, padding=1),
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1),
        nn.BatchNorm2d(2 * width),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(2 * width, 4 * width, 3, padding=1),
        nn.BatchNorm2d(4 * width),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )
    return _Classifier(features, 4 * width, num_classes, with_embedding)


class _CRNNFeatures(nn.Module):
    def __init__(self, n_features: int, width: int, hidden: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            FeatureNorm(n_features),
            nn.Conv1d(n_features, width, 5, padding=2),
            nn.BatchNorm1d(width),
            nn.ReLU(inplace=True),
            nn.Conv1d(width, width, 5, padding=2, stride=2),
            nn.BatchNorm1d(width),
            nn.ReLU(inplace=True),
        )
        self.gru = nn.GRU(width, hidden, batch_first=True, bidirectional=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, frames, n_features)
        y = self.conv(x.transpose(1, 2)).transpose(1, 2)  # (N, frames / 2, width)
        out, _ = self.gru(y)
        return out.mean(dim=1)  # (N, 2 * hidden)


def crnn(
    num_classes: int = 10,
    n_features: int = 40,
    width: int = 64,
    hidden: int = 64,
    with_embedding: bool = False,
) -> nn.Module:
    """Convolutions over time, then a bidirectional GRU, averaged over time. Input
    (N, frames, n_features) (layout NTF). GRU exports have had silent numeric bugs (pytorch
    issue 189225): the parity gate covers it."""
    return _Classifier(
        _CRNNFeatures(n_features, width, hidden), 2 * hidden, num_classes, with_embedding
    )


class _R2Plus1D(nn.Module):
    """A (2+1)D block: spatial 1xkxk convolution, then temporal kx1x1."""

    def __init__(self, cin: int, cout: int, stride: tuple[int, int, int]) -> None:
        super().__init__()
        mid = (cin + cout) // 2
        self.spatial = nn.Conv3d(
            cin, mid, (1, 3, 3), (1, stride[1], stride[2]), (0, 1, 1), bias=False
        )
        self.bn1 = nn.BatchNorm3d(mid)
        self.temporal = nn.Conv3d(mid, cout, (3, 1, 1), (stride[0], 1, 1), (1, 0, 0), bias=False)
        self.bn2 = nn.BatchNorm3d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn2(self.temporal(torch.relu(self.bn1(self.spatial(x))))))


def video_r2plus1d(
    num_classes: int = 10, in_channels: int = 3, width: int = 16, with_embedding: bool = False
) -> nn.Module:
    """A small R(2+1)D network over clips (N, C, T, H, W) (layout NCTHW), any T, H, W."""
    features = nn.Sequential(
        _R2Plus1D(in_channels, width, (1, 2, 2)),
        _R2Plus1D(width, 2 * width, (2, 2, 2)),
        _R2Plus1D(2 * width, 4 * width, (2, 2, 2)),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
    )
    return _Classifier(features, 4 * width, num_classes, with_embedding)


class FusionHead(nn.Module):
    """Learned (feature-level) fusion: each modality's embedding (or logits) is projected,
    the projections are concatenated and classified. forward(*per_modality_tensors)."""

    def __init__(self, input_dims: list[int], num_classes: int, hidden: int = 64) -> None:
        super().__init__()
        self.projections = nn.ModuleList(
            nn.Sequential(nn.Linear(d, hidden), nn.ReLU()) for d in input_dims
        )
        self.classifier = nn.Sequential(
            nn.Linear(hidden * len(input_dims), hidden), nn.ReLU(), nn.Linear(hidden, num_classes)
        )

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        if len(inputs) != len(self.projections):
            raise ValueError(f"FusionHead takes {len(self.projections)} inputs, got {len(inputs)}")
        parts = [p(x) for p, x in zip(self.projections, inputs, strict=True)]
        return self.classifier(torch.cat(parts, dim=1))


def fusion_head(
    input_dims: tuple[int, ...] = (64, 128), num_classes: int = 10, hidden: int = 64
) -> FusionHead:
    """Fusion head over the embeddings of several modality models."""
    return FusionHead(list(input_dims), num_classes, hidden)
