"""Data-parallel training across processes and machines with ``torch.distributed`` (``torchrun``).

``init_from_env`` joins the process group that ``torchrun`` describes in the environment
(``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``...): gloo on CPU, nccl on GPUs. Every
rank builds the same length-grouped global batches from the same seed and takes every
``world``-th window of each (``shard``), so bucketing survives sharding; DDP averages the gradients.
Without ``torchrun`` everything here is a no-op for a world of one.

Nothing assumes one machine: the main process is global rank 0 (``RANK``), the only one that
reads or writes the output directory (its lock, checkpoints, logs, the model), and what it reads
there is sent to the others (``broadcast``), so the other machines need the data and the encoder
but not the output directory; ``LOCAL_RANK`` only picks a GPU of this machine.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from ..backends import DEVICES, resolve_device


@dataclass(frozen=True)
class World:
    """This process's place: ``rank`` of ``size`` processes; ``device`` it computes on."""

    rank: int = 0
    size: int = 1
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def init_from_env(device: str = "auto") -> World:
    """Join the ``torchrun`` process group if the environment names one; pick the device.

    ``device``: ``auto`` (a GPU when there is one), ``cpu`` or ``cuda`` (without a GPU: the
    ``ConfigError`` of ``backends.resolve_device``).
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = resolve_device(device) == "cuda" if device in DEVICES else device.startswith("cuda")
    if size <= 1:
        return World(0, 1, "cuda" if use_cuda and device in ("auto", "cuda") else (device if device != "auto" else "cpu"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(local)
    return World(dist.get_rank(), dist.get_world_size(), f"cuda:{local}" if use_cuda else "cpu")


def current() -> World:
    """The world of an initialised process group, else a world of one (device not tracked)."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    return World()


def shard(items: list, world: World) -> list:
    """This rank's share of a global batch: every ``size``-th item from ``rank``."""
    return items[world.rank :: world.size]


def all_sum(values: list[float], world: World) -> list[float]:
    """Element-wise sum over ranks (floats, in float64)."""
    if not world.distributed:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    return t.cpu().tolist()


def gather(obj: Any, world: World) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank."""
    if not world.distributed:
        return [obj]
    out: list[Any] = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def broadcast(obj: Any, world: World) -> Any:
    """Rank 0's ``obj`` on every rank (what the others pass is ignored): for what only rank 0 reads,
    such as a checkpoint in an output directory that other machines need not share."""
    if not world.distributed:
        return obj
    box = [obj if world.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def map_sharded(fn, items: list, world: World) -> list:
    """``fn(items)`` shared out over the ranks: each runs ``fn`` on every size-th item and every rank
    gets all the results, in the order of ``items`` (for evaluation during distributed training)."""
    if not world.distributed:
        return fn(items)
    mine = list(range(world.rank, len(items), world.size))
    pieces = gather(list(zip(mine, fn([items[i] for i in mine]))), world)
    return [result for _, result in sorted((pair for piece in pieces for pair in piece), key=lambda p: p[0])]
