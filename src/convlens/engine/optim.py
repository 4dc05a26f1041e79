"""Optimizer and learning-rate schedule of a TrainConfig."""

from __future__ import annotations

import torch
from torch import nn

from convlens.config import TrainConfig

__all__ = ["make_optimizer", "make_scheduler"]


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD (Nesterov momentum), Adam or AdamW with the config's lr and weight decay; one
    fused kernel for all parameters when `cfg.fused_optimizer` and the parameters are on CPU
    or CUDA (else PyTorch's default)."""
    params = list(model.parameters())
    devices = {p.device.type for p in params}
    # None: PyTorch's default
    fused = True if cfg.fused_optimizer and devices <= {"cpu", "cuda"} and params else None
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=cfg.lr,
            momentum=cfg.momentum,
            nesterov=cfg.momentum > 0,
            weight_decay=cfg.weight_decay,
            fused=fused,
        )
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)


def make_scheduler(
    optimizer: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-batch schedule: one-cycle (warm up to lr, anneal), cosine to 0, or constant."""
    sched = torch.optim.lr_scheduler
    if cfg.schedule == "onecycle":
        # PyTorch divides by the length of each phase: at least 4 steps, and a warm-up of
        # more than one step (a quarter of the run from 6 steps on, as always)
        total = max(total_steps, 4)
        return sched.OneCycleLR(
            optimizer,
            max_lr=cfg.lr,
            total_steps=total,
            pct_start=max(0.25, 1.5 / total),
            cycle_momentum=False,
        )
    if cfg.schedule == "cosine":
        return sched.CosineAnnealingLR(optimizer, T_max=max(total_steps, 1))
    return sched.LambdaLR(optimizer, lambda _: 1.0)
