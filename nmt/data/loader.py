"""Training batches made ahead of the training loop, by a `torch.utils.data.DataLoader`.

The sampler's plan (nmt/data/batching.py) names every batch from the cursor on; the DataLoader's worker
processes turn each into padded tensors, in pinned memory when they go to a GPU, a few batches ahead, so
the device does not wait on Python between updates. The curriculum's length limit is not known that far
ahead: the loader makes every planned batch, and the sampler admits or passes over each as it comes
(`TokenBatchSampler.follow`), where it also moves the cursor that checkpoints keep. So workers change
where batches are made, never which batches train, and a resumed run starts a new loader at the cursor.
Without workers there is nothing to make ahead: the admitted batches are made on demand, no DataLoader.
"""
import signal

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from nmt.data.batching import make_batch


class PlannedBatches(Dataset):
    """A planned batch (a `Planned` from the sampler's plan) -> (it, its padded Batch)."""

    def __init__(self, pairs):
        self.pairs = pairs

    def __getitem__(self, planned):
        return planned, make_batch(*self.pairs.epoch(planned.epoch), planned.indices)


class Plan(Sampler):
    """The sampler's plan from its cursor as it stands when the loader starts."""

    def __init__(self, sampler):
        self.sampler = sampler

    def __iter__(self):
        return self.sampler.plan()


def as_made(item):
    return item  # each item is already one whole batch: nothing to collate


def leave_signals_to_the_trainer(worker_id):
    """A SIGTERM or Ctrl-C sent to the whole process group (Slurm preempting a job, a terminal) is for the
    training process, which finishes its update and saves; a worker killed by it would abort the run
    instead. A worker ends when the loader ends it, or on its own once the training process is gone."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def loader_workers(workers, device, pairs):
    """`train.compute.loader_workers` resolved: auto is 2 on a GPU and none on a CPU, where one changed
    nothing measurable (docs/BENCHMARKS.md, "Training engine choices"); none either where each epoch's ids
    are made in this process (subword sampling: a worker would segment the epoch again)."""
    if not pairs.readable_by_workers:
        return 0
    if workers == "auto":
        return 2 if device.type == "cuda" else 0
    return workers


def admitted_batches(sampler, pairs, workers, pin_memory):
    """The Batch of every batch the sampler admits, from its cursor on, forever (in pinned memory with
    `pin_memory` and workers, for a copy to the GPU that overlaps its computation)."""
    if not workers:  # made on demand in this process: only the batches the sampler admits
        return (make_batch(*pairs.epoch(epoch), indices) for epoch, indices in sampler)
    made = DataLoader(PlannedBatches(pairs), sampler=Plan(sampler), batch_size=None, collate_fn=as_made,
                      num_workers=workers, pin_memory=pin_memory, prefetch_factor=4,
                      worker_init_fn=leave_signals_to_the_trainer,
                      generator=torch.Generator())  # its workers' seed is drawn from this, not from the stream
                                                    # that dropout draws from: a resumed run draws as the straight one
    return (batch for _, batch in sampler.follow(made))
