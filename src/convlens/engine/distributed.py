"""Devices and many processes, through PyTorch's own machinery.

`resolve_device("auto")` picks CUDA, then Apple's MPS, then the CPU. Under `torchrun`
(which sets RANK, WORLD_SIZE and LOCAL_RANK) `init_from_env` joins the process group:
`nccl` on GPUs, `gloo` on CPUs. Each rank then trains on its shard of every global batch
(`shard`), gradients are averaged by `DistributedDataParallel`, running sums are added up
across ranks (`all_sum`), and only rank 0 writes the run folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from convlens.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """The torch.device for `name` (one of DEVICES); ConfigError if it is not there."""
    if name not in DEVICES:
        raise ConfigError(f"Expected device one of {', '.join(DEVICES)}. Received: {name!r}")
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps and mps.is_available())
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                "--device cuda: no CUDA GPU is visible to torch here; use --device auto or cpu"
            )
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if name == "mps" and not has_mps:
        raise ConfigError("--device mps: Apple's Metal backend is not available here")
    return torch.device(name)


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_from_env(device_name: str) -> World:
    """Join the process group torchrun set up (no-op for a single process)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        cuda = resolve_device(device_name, local).type == "cuda"
        if cuda:
            torch.cuda.set_device(local)
        dist.init_process_group("nccl" if cuda else "gloo")
    return World(rank, size, local)


def leave(wait_for_the_others: bool = False) -> None:
    """Leave the process group, if this process joined one. A rank that exits with its gloo
    group still alive can abort ("terminate called without an active exception") while the
    other ranks finish; freeing it first lets every rank exit cleanly. A rank that finished
    its work first waits at a barrier for the others, so no rank tears down its connections
    while another still talks to it (seen under load: the early rank aborted); a rank that
    failed leaves at once (the others may never come)."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    if wait_for_the_others:
        try:
            dist.barrier()
        except Exception:  # noqa: BLE001  a rank that died: leaving is all that is left
            pass
    dist.destroy_process_group()


def current() -> World:
    """The World of an initialised process group, else a single process."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    return World()


def shard(x: torch.Tensor, world: World) -> torch.Tensor:
    """This rank's slice of a global batch (every world.size-th item from its rank on)."""
    return x if world.size == 1 else x[world.rank :: world.size]


def all_sum(values: list[float], device: torch.device) -> list[float]:
    """Add `values` up across ranks (identity for one process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()
