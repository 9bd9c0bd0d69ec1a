"""Data-parallel training over ``torchrun`` without a DDP wrapper.

A supernet step leaves parameters unused (inactive blocks, channels, kernels), which plain
``DistributedDataParallel`` rejects unless ``find_unused_parameters=True``, and the sandwich
rule runs several forward/backward passes per optimizer step. So the model is not wrapped:
every rank samples the same architectures (same seeded generator), accumulates the gradients
of all of them locally, then :func:`all_reduce_gradients` averages each gradient across ranks
(a missing gradient counts as zeros) before the one optimizer step. Ranks start from the same
weights (:func:`broadcast_module`) and so stay identical. BatchNorm running statistics are
averaged at each epoch end (:func:`average_buffers`); they are re-estimated for every subnet
before evaluation anyway.

Example:
    >>> ctx = init_from_env()  # RANK/WORLD_SIZE/LOCAL_RANK from torchrun, else one process
    >>> ctx.world_size >= 1
    True
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from lamoo_nas.supernet.errors import ConfigError


@dataclass(frozen=True)
class DistContext:
    """Where this process sits: ``rank`` of ``world_size``, its ``device``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(requested: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> this rank's CUDA device if there is one, else CPU; or the named device."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(requested)
    except RuntimeError as err:
        raise ConfigError(f"device is {requested!r}; allowed: auto, cpu, cuda, cuda:N") from err
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"device is {requested!r}; allowed: auto, cpu, cuda, cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={requested} but no CUDA device is visible; use device=cpu")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    return device


def is_main_process() -> bool:
    """True on rank 0 of a torchrun launch (``RANK`` unset or 0), before any process group."""
    return int(os.environ.get("RANK", "0")) == 0


def init_from_env(requested_device: str = "auto") -> DistContext:
    """Join the process group that ``torchrun`` describes (nccl on GPU, gloo on CPU)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(requested_device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return DistContext(rank, world_size, local_rank, device)


def shutdown(ctx: DistContext) -> None:
    """Leave the process group if this process joined one."""
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_module(module: torch.nn.Module, ctx: DistContext) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    if not ctx.distributed:
        return
    for tensor in [*module.parameters(), *module.buffers()]:
        dist.broadcast(tensor.data, src=0)


def all_reduce_gradients(module: torch.nn.Module, ctx: DistContext) -> None:
    """Average every parameter's gradient over ranks; a parameter without one gets zeros."""
    if not ctx.distributed:
        return
    for param in module.parameters():
        if not param.requires_grad:
            continue
        if param.grad is None:
            param.grad = torch.zeros_like(param)
        dist.all_reduce(param.grad, op=dist.ReduceOp.SUM)
        param.grad.div_(ctx.world_size)


def average_buffers(module: torch.nn.Module, ctx: DistContext) -> None:
    """Average floating-point buffers (BN running statistics) over ranks."""
    if not ctx.distributed:
        return
    for buffer in module.buffers():
        if buffer.is_floating_point():
            dist.all_reduce(buffer.data, op=dist.ReduceOp.SUM)
            buffer.data.div_(ctx.world_size)


def barrier(ctx: DistContext) -> None:
    """Wait for every rank (no-op in a single process)."""
    if ctx.distributed:
        dist.barrier()


def all_ranks_agree(flag: bool, ctx: DistContext) -> bool:
    """True if ``flag`` is true on every rank (used to stop all ranks on a diverged loss)."""
    if not ctx.distributed:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=ctx.device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item() > 0)
