"""Several processes training one model: torchrun's ranks, DistributedDataParallel
and what the ranks must agree on.

torchrun starts one process per GPU (or several on a CPU, with Gloo) and
tells each its place through WORLD_SIZE, RANK and LOCAL_RANK; without
torchrun a run is one process of rank 0 and nothing here touches
`torch.distributed`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from vidrestore.errors import UsageError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_dist(device: str) -> tuple[Dist, torch.device]:
    """This process's place in the run and the device it trains on; joins the
    process group when torchrun started several."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist(), resolve_train_device(device)
    import torch.distributed as dist

    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_train_device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return Dist(rank, world, local), dev


def resolve_train_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available to this PyTorch")
    return torch.device(device)


def ddp(module: nn.Module, device: torch.device, *, sync_batchnorm: bool = False) -> nn.Module:
    """`module` wrapped for DistributedDataParallel on `device`. With `sync_batchnorm`
    its batch norms pool their statistics over the ranks, on CUDA only: PyTorch's
    SyncBatchNorm has no CPU implementation."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    cuda = device.type == "cuda"
    if sync_batchnorm and cuda:
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return DDP(module, device_ids=[device.index] if cuda else None)


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper, or `model` itself."""
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model


def rank0_decides(dist: Dist, device: torch.device, progress: float, stopping: bool) -> tuple[float, bool]:
    """Rank 0's budget progress and stop request, on every rank.

    Each rank times its own steps and receives its own signals, so left alone
    one rank could leave the loop a step before another and hang the next
    collective; all follow rank 0 instead."""
    if dist.world == 1:
        return progress, stopping
    import torch.distributed as tdist

    t = torch.tensor([progress, float(stopping)], dtype=torch.float64, device=device)
    tdist.broadcast(t, 0)
    return float(t[0]), bool(t[1])


def leave() -> None:
    """Wait for every rank, then leave the process group.

    Callers drop their DDP wrappers first (`unwrap`): the reducer can hold Gloo
    work objects that reference tensors, and freed at interpreter exit, after
    the process group, they abort the process ("terminate called without an
    active exception"). The collection here frees them while the group lives."""
    import gc

    import torch.distributed as tdist

    gc.collect()
    tdist.barrier()
    tdist.destroy_process_group()
