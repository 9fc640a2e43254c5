"""Data-parallel training over the processes that torchrun starts (one per GPU, or a few on CPUs).

    torchrun --nproc_per_node 2 -m nmt.cli train --config C.yaml --run-dir R
    torchrun --nnodes 2 --nproc_per_node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29500 -m nmt.cli train ...

Every rank reads the same seeded, length-bucketed batch plan; of each update's `world x accumulate`
consecutive batches, rank r takes batches r, r + world, ... The training loss runs inside
DistributedDataParallel, which sums each bucket of gradients over the ranks while the backward pass is
still computing the next ones; every rank divides its loss by the target tokens of the whole update, so
two ranks of one batch each make the update that one process makes with `train.accumulate: 2`. Rank 0
validates and writes every file; the others receive its scores.

Each rank works on its own device: on GPUs `cuda:LOCAL_RANK`, set as the current device before the
process group starts. The group has a backend per device type (gloo for CPU tensors, NCCL for CUDA
tensors), so the small sums and broadcasts of Python numbers below stay on the CPU and the gradients
go through NCCL.
"""
import contextlib
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from nmt.device import cores_each
from nmt.errors import NmtError


def rank_device(configured, local_rank, world, cuda_available):
    """The device name of a rank: its own GPU when the config asks for CUDA (or auto finds one) and
    torchrun started several ranks, else the configured device."""
    if world > 1 and configured.startswith("cuda:"):
        raise NmtError(f"train.compute.device {configured} names one GPU, but torchrun started {world} ranks, "
                       "each on its own GPU: use cuda or auto")
    if world > 1 and configured in ("auto", "cuda") and cuda_available:
        return f"cuda:{local_rank}"
    return configured


def backend_for(device):
    """The process group's backends: every collective on a device its backend supports."""
    return "cpu:gloo,cuda:nccl" if device.startswith("cuda") else "gloo"


def sum_hook(state, bucket):
    """DistributedDataParallel's reduction as a sum, not its default mean: each rank's loss is already
    divided by the target tokens of the whole update."""
    return dist.all_reduce(bucket.buffer(), async_op=True).get_future().then(lambda done: done.value()[0])


def exchange_deferred(module, enable=True):
    """A context in which backward passes of a DistributedDataParallel `module` keep their gradients on this
    rank (all but an update's last), so the ranks exchange them once an update."""
    return module.no_sync() if enable and isinstance(module, DistributedDataParallel) else contextlib.nullcontext()


def exchange_joined(module, enable=True):
    """A context in which a rank that runs out of batches before the others still takes part in their
    gradient exchanges, with zeros (DistributedDataParallel's join)."""
    return module.join(enable=enable) if isinstance(module, DistributedDataParallel) else contextlib.nullcontext()


class Ranks:
    """The process group of this run, or a group of one when torchrun did not start it."""

    def __init__(self, rank=0, world=1, local_rank=0, local_world=1):
        self.rank, self.world, self.local_rank, self.local_world = rank, world, local_rank, local_world

    @classmethod
    def from_environment(cls, configured_device="auto"):
        """The group torchrun's environment describes, started on this rank's device (see rank_device)."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world == 1:
            return cls()
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        device = rank_device(configured_device, local_rank, world, torch.cuda.is_available())
        if device.startswith("cuda"):
            torch.cuda.set_device(device)  # before the group: NCCL binds each rank to the current device
        if not dist.is_initialized():
            dist.init_process_group(backend_for(device))
        return cls(dist.get_rank(), world, local_rank, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))

    @property
    def is_main(self):
        return self.rank == 0

    def device_name(self, configured):
        return rank_device(configured, self.local_rank, self.world, torch.cuda.is_available())

    def threads(self, configured):
        """CPU threads for torch: the configured number, or the cores this process may run on shared by the
        ranks on this machine."""
        return configured or cores_each(self.local_world)

    def mine(self, batches):
        """This rank's share of an update's batches."""
        return batches[self.rank::self.world]

    def parallel(self, module):
        """`module` as DistributedDataParallel (gradients summed over the ranks during backward), or itself
        in a group of one. Its buffers are constants, so they are not broadcast at every forward."""
        if self.world == 1:
            return module
        device = next(module.parameters()).device
        wrapped = DistributedDataParallel(module, device_ids=[device] if device.type == "cuda" else None,
                                          broadcast_buffers=False)
        wrapped.register_comm_hook(None, sum_hook)
        return wrapped

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
        dist.broadcast_object_list(box, src=0, device=torch.device("cpu"))
        return box[0]

    def close(self):
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()
