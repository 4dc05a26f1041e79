"""Checks for the lessons' build-it exercises whose reference cannot sit in the check cell.

A lesson imports them (`from checks import check_train_epoch`); the notebooks run in this
folder. Each check runs the student's function and the reference on the same tiny synthetic
problem and hands both to `cl.check`, with the answers that the usual mistakes give.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import convlens as cl
from convlens.primer.check import Check

TrainEpoch = Callable[[nn.Module, DataLoader, torch.optim.Optimizer], object]


def reference_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    *,
    zero_grad: bool = True,
    train: bool = True,
    step: bool = True,
) -> None:
    """One epoch of notebook 004's loop; the switches make the usual mistakes."""
    if train:
        model.train()
    for images, labels in loader:
        if zero_grad:
            optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        if step:
            optimizer.step()


def _weights_after(train_epoch: TrainEpoch) -> torch.Tensor:
    """Every weight of a tiny CNN after one epoch of `train_epoch` on 24 random images."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Dropout(0.5), nn.Linear(4 * 6 * 6, 3)
    )
    data = TensorDataset(torch.randn(24, 1, 8, 8), torch.randint(0, 3, (24,)))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model.eval()  # a loop that forgets model.train() trains with dropout off
    torch.manual_seed(1)  # the same dropout masks for every loop
    train_epoch(model, DataLoader(data, batch_size=8), optimizer)
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def check_train_epoch(train_epoch: TrainEpoch) -> Check:
    """`cl.check` of a student's `train_epoch(model, loader, optimizer)`."""
    return cl.check(
        _weights_after(train_epoch),
        _weights_after(reference_epoch),
        mistakes={
            "the weights did not move: call optimizer.step() after loss.backward()": (
                _weights_after(partial(reference_epoch, step=False))
            ),
            "the gradients add up over the batches: call optimizer.zero_grad() before "
            "loss.backward()": _weights_after(partial(reference_epoch, zero_grad=False)),
            "dropout was off while training: call model.train() before the loop": (
                _weights_after(partial(reference_epoch, train=False))
            ),
        },
    )
