"""torchrun's environment, read once into a value, plus the few collective calls the trainer needs.

``torchrun --nproc_per_node N`` sets RANK / WORLD_SIZE / LOCAL_RANK (and MASTER_ADDR / PORT);
a plain ``python`` run has none and is rank 0 of 1. Backend: NCCL on GPUs (with gloo for CPU
tensors), gloo on CPUs, so the same two-process test runs anywhere. Model code never imports
``torch.distributed``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_environment(cls) -> "DistEnv":
        return cls(
            rank=int(os.environ.get("RANK", 0)),
            world_size=int(os.environ.get("WORLD_SIZE", 1)),
            local_rank=int(os.environ.get("LOCAL_RANK", 0)),
        )


def init(env: DistEnv, device: torch.device) -> None:
    """Join the process group torchrun prepared (no-op for a single process)."""
    if env.enabled and not dist.is_initialized():
        # NOTE: flags and validation sums travel as CPU tensors, so a GPU run needs gloo beside NCCL.
        backend = "cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=env.rank, world_size=env.world_size)


def shutdown(env: DistEnv) -> None:
    if env.enabled and dist.is_initialized():
        # NOTE: every rank arrives before any tears its group down: a rank that destroyed its gloo group and
        # exited while a peer was still finishing its last collective once aborted that peer ("terminate
        # called without an active exception", seen once in a BiLSTM FSDP test on 2 busy cores)
        dist.barrier()
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor, env: DistEnv) -> torch.Tensor:
    if env.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def barrier(env: DistEnv) -> None:
    if env.enabled:
        dist.barrier()


def broadcast_flag(flag: bool, env: DistEnv) -> bool:
    """Rank 0's decision for every rank (e.g. 'the wall-clock budget is spent')."""
    if not env.enabled:
        return flag
    t = torch.tensor([1 if flag else 0])
    dist.broadcast(t, src=0)
    return bool(t.item())
