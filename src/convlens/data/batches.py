"""One pass over a split as normalised, augmented batches, cut from memory with a permutation
(no DataLoader) or, for a `FolderStream`, read from disk by worker processes in that order.

Randomness: one generator per epoch draws the permutation and one base seed; batch b's
augmentation uses a generator seeded with base + b, so a resumed epoch that skips its first
k batches sees exactly the batches an uninterrupted epoch would.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import torch

from convlens.data.containers import FolderStream, ImageDataset
from convlens.data.transforms import Augment, augment_batch, normalize
from convlens.errors import DataError


class _StreamBatches(torch.utils.data.Dataset):
    """Batch b of a FolderStream epoch, read by a DataLoader worker."""

    def __init__(self, ds: FolderStream, order: torch.Tensor, starts: list[int], size: int):
        self.ds, self.order, self.starts, self.size = ds, order, starts, size

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, k: int) -> torch.Tensor:
        i = self.starts[k]
        return self.ds.load(self.order[i : i + self.size])


def iterate_batches(
    ds: ImageDataset | FolderStream,
    batch_size: int,
    *,
    shuffle: bool,
    generator: torch.Generator | None,
    augment: Augment | None = None,
    device: str | torch.device = "cpu",
    drop_last: bool = False,
    start_batch: int = 0,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Normalised float batches (B, C, H, W) and labels (B,) of one pass over `ds`.

    Random scheme (so that a resumed epoch is bitwise the uninterrupted one): `generator`
    draws the permutation (`torch.randperm`), then one base seed; batch b is augmented with
    its own `torch.Generator().manual_seed(base + b)`. Skipping the first `start_batch`
    batches therefore changes nothing in the batches that follow. Images go to `device` as
    uint8 and are augmented and normalised there.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise DataError(f"Expected batch_size >= 1. Received: batch_size={batch_size!r}")
    if start_batch < 0:
        raise DataError(f"Expected start_batch >= 0. Received: start_batch={start_batch}")
    n = len(ds)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    base = (
        int(torch.randint(0, 2**62, (1,), generator=generator))
        if shuffle or generator is not None
        else 0
    )
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    starts = list(range(0, stop, batch_size))
    if isinstance(ds, FolderStream):  # read from disk by worker processes, in order
        loader = torch.utils.data.DataLoader(
            _StreamBatches(ds, order, starts[start_batch:], batch_size),
            batch_size=None,
            num_workers=min(4, os.cpu_count() or 1),
            persistent_workers=False,
        )
        pixels = iter(loader)
    for b, i in enumerate(starts):
        if b < start_batch:
            continue
        idx = order[i : i + batch_size]
        x = next(pixels) if isinstance(ds, FolderStream) else ds.images[idx]  # (B, C, H, W)
        x = x.to(device, non_blocking=True)  # uint8 travels: 4x fewer bytes than float
        if augment:
            x = augment_batch(x, augment, torch.Generator().manual_seed(base + b))
        x = normalize(x, ds.mean, ds.std)
        yield x, ds.labels[idx].to(device, non_blocking=True)
