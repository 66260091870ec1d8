"""A plain supervised training loop for the small reference models (CPU is enough)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm


@dataclass(frozen=True)
class TrainResult:
    epochs: int
    seconds: float
    final_loss: float
    train_accuracy: float


def train_classifier(
    model: nn.Module,
    inputs: np.ndarray,
    labels: np.ndarray,
    *,
    epochs: int = 3,
    batch_size: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
    progress: bool = True,
) -> TrainResult:
    """Trains `model` (its first output: logits) on preprocessed inputs (N, ...) float32 and
    integer labels (N,) with Adam and a cosine learning-rate decay. Seeded (data order, initial
    weights); PyTorch's threaded CPU kernels can still make runs differ in the last bits."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x_all = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
    y_all = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    n = len(x_all)
    steps_per_epoch = math.ceil(n / batch_size)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs * steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    start = time.perf_counter()
    loss_value, correct, seen = float("nan"), 0, 0
    bar = tqdm(total=epochs * steps_per_epoch, desc="train", unit="step", disable=not progress)
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(n))
        correct, seen = 0, 0
        for i in range(steps_per_epoch):
            idx = order[i * batch_size : (i + 1) * batch_size]
            x, y = x_all[idx], y_all[idx]
            logits = model(x)
            if isinstance(logits, (tuple, list)):  # (logits, embedding) models
                logits = logits[0]
            loss = loss_fn(logits, y)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            loss_value = loss.item()
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
            bar.update()
            bar.set_postfix(loss=f"{loss_value:.3f}")
    bar.close()
    model.eval()
    return TrainResult(epochs, time.perf_counter() - start, loss_value, correct / max(seen, 1))


def fit(
    model: nn.Module,
    n: int,
    loss_of: Callable[[np.ndarray], torch.Tensor],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    desc: str,
    progress: bool = True,
) -> TrainResult:
    """The loop the task recipes share: Adam with a one-cycle schedule (10% warm-up) over
    `epochs` seeded shuffles of n samples; loss_of(indices) is the batch's loss. Leaves the
    model in eval mode."""
    rng = np.random.default_rng(seed)
    steps = math.ceil(n / batch_size)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=lr, total_steps=epochs * steps, pct_start=0.1
    )
    model.train()
    start, loss_value = time.perf_counter(), float("nan")
    bar = tqdm(total=epochs * steps, desc=desc, unit="step", disable=not progress)
    for _ in range(epochs):
        order = rng.permutation(n)
        for s in range(steps):
            loss = loss_of(order[s * batch_size : (s + 1) * batch_size])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            loss_value = loss.item()
            bar.update()
            bar.set_postfix(loss=f"{loss_value:.3f}")
    bar.close()
    model.eval()
    return TrainResult(epochs, time.perf_counter() - start, loss_value, float("nan"))
