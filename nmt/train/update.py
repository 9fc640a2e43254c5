"""One optimizer update: the unit where gradient accumulation, loss scaling and the out-of-memory fallback live.

    lr <- schedule(step)
    for each batch of the update: loss <- label-smoothed CE (teacher forcing or scheduled sampling)
                                  backward(loss x loss scale / target tokens of the whole update)
                                  (teacher forcing: the output layer and loss a slice of tokens at a time)
    unscale the gradients (fp16)
    a non-finite loss or gradient norm: skip the update (the trainer counts them; fp16 lowers its loss scale)
    clip the gradient norm (when above the limit); optimizer step

Dividing by the tokens of the whole update, not of each batch, makes an update of 4 batches of B
sentences the same as one batch of 4B: how an update is split, over batches or over ranks
(nmt/train/distributed.py), never changes it. In fp16 the loss is also multiplied by
torch.amp.GradScaler's scale, so that small gradients do not vanish below fp16's range; the scale halves
after an overflowing update and doubles after 2,000 in a row without one.
"""
import math

import torch

from nmt.errors import NmtError
from nmt.train.distributed import Ranks, exchange_deferred, exchange_joined
from nmt.train.objective import TrainingLoss
from nmt.train.reporting import say


def loss_scaler(model, precision):
    """The GradScaler of training `model` in `precision`: loss scaling in fp16, a pass-through otherwise."""
    return torch.amp.GradScaler(next(model.parameters()).device.type, enabled=precision == "fp16")


class Update:
    def __init__(self, model, optimizer, lr_schedule, label_smoothing=0.0, clip_norm=0.0, precision="fp32",
                 scheduled_sampling=None, ranks=Ranks(), pass_tokens=0, scaler=None):
        self.model, self.optimizer, self.lr_schedule, self.clip_norm = model, optimizer, lr_schedule, clip_norm
        self.ranks, self.pass_tokens = ranks, pass_tokens
        self.training_loss = ranks.parallel(TrainingLoss(model, label_smoothing, scheduled_sampling, precision))
        self.scaler = scaler or loss_scaler(model, precision)

    def __call__(self, batches, step):
        """Update the model on `batches` (already on the model's device; this rank's share of the update)
        at update `step`; returns the label-smoothed loss summed over the update, or None when the loss or
        the gradient was not finite and the update was skipped. Each batch runs forward and backward in parts
        of at most `pass_tokens` padded tokens. Out of GPU memory in one process, the update is redone with every
        part split in halves (then quarters, ...). Either way: the same update, smaller peaks."""
        self.model.train()
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_schedule.rate(step)
        normaliser = self.ranks.sum(sum(batch.n_tgt_tokens for batch in batches))
        pieces = [part for batch in batches for part in batch.parts(self.pass_tokens)]
        device = next(self.model.parameters()).device
        # 1 / tokens, times the loss scale in fp16: on the device, so reading the scale never waits for it
        scale = self.scaler.scale(torch.tensor(1 / normaliser, dtype=torch.float32, device=device))
        while True:
            self.optimizer.zero_grad(set_to_none=True)
            try:
                loss = self.forward_backward(pieces, scale, step)
                break
            except torch.cuda.OutOfMemoryError:
                pieces = self.split_after_out_of_memory(pieces, step)
        loss = self.ranks.sum(loss)
        self.scaler.unscale_(self.optimizer)
        params = [p for p in self.model.parameters() if p.grad is not None]
        norm = torch.nn.utils.get_total_norm(p.grad for p in params)
        finite = math.isfinite(loss) and bool(torch.isfinite(norm))
        if finite:
            if self.clip_norm and norm > self.clip_norm:
                # only then: clip_grad_norm_ scales every gradient by min(1, clip / norm), and past the warmup
                # the norm is rarely above the clip (docs/BENCHMARKS.md, "Training speed and memory"), so that
                # pass mostly multiplied by 1
                torch.nn.utils.clip_grads_with_norm_(params, self.clip_norm, norm)
            self.scaler.step(self.optimizer)
        self.scaler.update()  # fp16: a lower scale after a non-finite gradient
        if not finite:
            self.optimizer.zero_grad(set_to_none=True)
            return None
        return loss

    def forward_backward(self, pieces, scale, step):
        """Add the gradients of `scale` x the loss of each piece; returns their summed loss. The ranks
        exchange gradients in the last backward pass only; a rank without a piece in this update (the last
        update of an epoch-limited run can have fewer batches than ranks) joins the others' exchange."""
        idle = self.ranks.any(not pieces)
        losses = []
        with exchange_joined(self.training_loss, enable=idle):
            for i, piece in enumerate(pieces):
                with exchange_deferred(self.training_loss, enable=i < len(pieces) - 1):
                    loss, to_backward = self.training_loss(piece, scale, step)
                    to_backward.backward()
                losses.append(loss)
        # read from the device once an update, not once a piece: on a GPU each read waits for the queued work
        return torch.stack(losses).double().sum().item() if losses else 0.0

    def split_after_out_of_memory(self, pieces, step):
        """The update's pieces in halves, after the device ran out of memory."""
        if self.ranks.world > 1:  # another rank may be inside the gradients' exchange: no retry in step
            raise NmtError(f"out of GPU memory at step {step}; set train.compute.pass_tokens to run each batch "
                           "in parts, or lower train.batch_tokens") from None
        if max(len(piece) for piece in pieces) == 1:
            raise NmtError(f"out of GPU memory on a single sentence at step {step}; "
                           "lower train.batch_tokens or the model size") from None
        pieces = [half for piece in pieces for half in piece.halves() if len(half)]
        say(f"step {step}: out of GPU memory, retrying the update in {len(pieces)} parts")
        torch.cuda.empty_cache()
        return pieces
