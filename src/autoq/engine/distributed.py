"""torch.distributed plumbing: one process per device, launched by ``torchrun``.

Without ``torchrun`` (no ``WORLD_SIZE`` in the environment) everything runs in one process and
these helpers do nothing. With it: gloo on CPU, nccl on GPU; rank 0 writes files and runs the agent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from autoq.engine.device import resolve_device
from autoq.engine.loops import Accuracy


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str = "cpu") -> DistContext:
    """Join the process group that ``torchrun`` describes (if any) and pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext(device=resolve_device(device))
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return DistContext(rank=rank, world_size=world, device=dev)


def all_reduce_accuracy(acc: Accuracy, ctx: DistContext) -> Accuracy:
    """Sum the counts and losses of every process: the result equals one process over all images."""
    if not ctx.active:
        return acc
    # one collective: float64 holds the counts exactly (below 2**53) next to the summed loss
    t = torch.tensor([acc.correct1, acc.correct5, acc.n, acc.loss_sum, acc.kl_sum], dtype=torch.float64, device=_comm_device(ctx))
    dist.all_reduce(t)
    return Accuracy(int(t[0]), int(t[1]), int(t[2]), float(t[3]), float(t[4]))


def all_reduce_sum(value: float, ctx: DistContext) -> float:
    """``value`` summed over every process."""
    if not ctx.active:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=_comm_device(ctx))
    dist.all_reduce(t)
    return float(t[0])


def broadcast(obj: Any, ctx: DistContext) -> Any:
    """Rank 0's ``obj`` on every process."""
    if not ctx.active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0, device=_comm_device(ctx))
    return box[0]


def barrier(ctx: DistContext) -> None:
    if ctx.active:
        dist.barrier()


def _comm_device(ctx: DistContext) -> torch.device:
    return ctx.device if ctx.device.type == "cuda" else torch.device("cpu")
