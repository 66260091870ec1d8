"""A small Vision Transformer (ViT) for the zoo: patch embedding, a class token, learned position
embeddings, pre-norm encoder blocks (LayerNorm, multi-head self-attention, LayerNorm, GELU MLP)
and a linear head on the class token.

Attention is written out (Linear -> reshape -> MatMul -> Softmax -> MatMul), not through
scaled_dot_product_attention, so the ONNX graph holds the plain ops that fp16 conversion and int8
quantisation reason about on every ONNX Runtime and TensorRT version (no fused Attention op).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        qkv = self.qkv(x).reshape(n, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (n, heads, t, head_dim)
        scores = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))
        mixed = torch.matmul(scores.softmax(-1), v)  # (n, heads, t, head_dim)
        return self.out(mixed.transpose(1, 2).reshape(n, t, d))


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp: int) -> None:
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), _Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Linear(mlp, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    """(N, channels, size, size) -> (N, classes) logits; ~0.2M parameters at the defaults."""

    def __init__(
        self,
        num_classes: int = 10,
        *,
        image_size: int = 28,
        patch: int = 7,
        channels: int = 1,
        dim: int = 64,
        depth: int = 4,
        heads: int = 4,
        mlp: int = 128,
    ) -> None:
        super().__init__()
        if image_size % patch or dim % heads:
            raise ValueError("image_size must be a multiple of patch, dim of heads")
        tokens = (image_size // patch) ** 2
        self.embed = nn.Conv2d(channels, dim, patch, patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, tokens + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*[_Block(dim, heads, mlp) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patches = self.embed(x).flatten(2).transpose(1, 2)  # (n, tokens, dim)
        cls = self.cls.expand(patches.shape[0], -1, -1)
        x = torch.cat([cls, patches], 1) + self.pos
        return self.head(self.norm(self.blocks(x))[:, 0])


def tiny_vit() -> TinyViT:
    """The factory `mmedge export mmedge.export.zoo_vit:tiny_vit` calls (MNIST-sized)."""
    return TinyViT()
