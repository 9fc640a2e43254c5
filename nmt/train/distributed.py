"""Data-parallel training over the processes that torchrun starts (one per GPU, or a few on CPUs).

    torchrun --nproc_per_node 2 -m nmt.cli train --config C.yaml --run-dir R
    torchrun --nnodes 2 --nproc_per_node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29500 -m nmt.cli train ...

Every rank reads the same seeded, length-bucketed batch plan; of each update's `world x accumulate`
consecutive batches, rank r takes batches r, r + world, ... Gradients are summed over the ranks
and every rank divides by the target tokens of the whole update, so two ranks of one batch each
make the update that one process makes with `train.accumulate: 2`. The gradients are summed with
one all-reduce after the backward passes rather than by the DDP wrapper: the model's own methods
(encode, decode_step) stay callable, which per-step scheduled sampling needs, and accumulation
needs no no_sync(). Rank 0 validates and writes every file; the others receive its scores.
"""
import os

import torch
import torch.distributed as dist


class Ranks:
    """The process group of this run, or a group of one when torchrun did not start it."""

    def __init__(self, rank=0, world=1, local_rank=0, local_world=1):
        self.rank, self.world, self.local_rank, self.local_world = rank, world, local_rank, local_world

    @classmethod
    def from_environment(cls):
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world == 1:
            return cls()
        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return cls(dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0")),
                   int(os.environ.get("LOCAL_WORLD_SIZE", "1")))

    @property
    def is_main(self):
        return self.rank == 0

    def device_name(self, configured):
        """This rank's GPU when the config asks for CUDA (or auto finds one), else the configured device."""
        if self.world > 1 and configured in ("auto", "cuda") and torch.cuda.is_available():
            return f"cuda:{self.local_rank}"
        return configured

    def threads(self, configured):
        """CPU threads for torch: the configured number, or this machine's cores shared by its ranks."""
        return configured or max(1, (os.cpu_count() or 1) // self.local_world)

    def mine(self, batches):
        """This rank's share of an update's batches."""
        return batches[self.rank::self.world]

    def sum(self, value):
        """The sum of a number over the ranks."""
        if self.world == 1:
            return value
        total = torch.tensor([float(value)], dtype=torch.float64)
        dist.all_reduce(total)
        return total.item()

    def any(self, flag):
        """True on every rank when it is true on any: ranks stop together."""
        return bool(self.sum(int(bool(flag))))

    def share(self, value):
        """Rank 0's `value` on every rank (a small picklable object)."""
        if self.world == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def sum_gradients(self, parameters):
        """Sum every parameter's gradient over the ranks, in one flat all-reduce."""
        if self.world == 1:
            return
        parameters = [p for p in parameters if p.requires_grad]
        for p in parameters:
            if p.grad is None:  # a rank with no batch in this update still takes part
                p.grad = torch.zeros_like(p)
        flat = torch.cat([p.grad.reshape(-1) for p in parameters])
        dist.all_reduce(flat)
        offset = 0
        for p in parameters:
            p.grad.copy_(flat[offset:offset + p.numel()].view_as(p.grad))
            offset += p.numel()

    def close(self):
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()
