"""One optimizer update: the unit where gradient accumulation and the out-of-memory fallback live.

    lr <- schedule(step)
    for each batch of the update: loss <- label-smoothed CE (teacher forcing or scheduled sampling)
                                  backward(loss / target tokens of the whole update)
                                  (teacher forcing: the output layer and loss a slice of tokens at a time)
    a non-finite loss or gradient norm: skip the update (the trainer counts them)
    clip the gradient norm (when above the limit); optimizer step

Dividing by the tokens of the whole update, not of each batch, makes an update of 4 batches of B
sentences the same as one batch of 4B: how an update is split, over batches or over ranks
(nmt/train/distributed.py), never changes it.
"""
import math

import torch

from nmt.errors import NmtError
from nmt.train.distributed import Ranks
from nmt.train.losses import backward_in_chunks, label_smoothed_cross_entropy
from nmt.train.reporting import say


class Update:
    def __init__(self, model, optimizer, lr_schedule, label_smoothing=0.0, clip_norm=0.0, bf16=False,
                 scheduled_sampling=None, ranks=Ranks(), pass_tokens=0):
        self.model, self.optimizer, self.lr_schedule = model, optimizer, lr_schedule
        self.label_smoothing, self.clip_norm, self.bf16 = label_smoothing, clip_norm, bf16
        self.scheduled_sampling, self.ranks, self.pass_tokens = scheduled_sampling, ranks, pass_tokens

    def __call__(self, batches, step):
        """Update the model on `batches` (already on the model's device; this rank's share of the update)
        at update `step`; returns the label-smoothed loss summed over the update, or None when the loss or
        the gradient was not finite and the update was skipped. Each batch runs forward and backward in parts
        of at most `pass_tokens` padded tokens. Out of GPU memory, this rank's part is redone with every
        part split in halves (then quarters, ...). Either way: the same update, smaller peaks."""
        self.model.train()
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_schedule.rate(step)
        normaliser = self.ranks.sum(sum(batch.n_tgt_tokens for batch in batches))
        pieces = [part for batch in batches for part in batch.parts(self.pass_tokens)]
        while True:
            self.optimizer.zero_grad(set_to_none=True)
            try:
                loss = sum(self.forward_backward(piece, normaliser, step) for piece in pieces)
                break
            except torch.cuda.OutOfMemoryError:
                if max(len(piece) for piece in pieces) == 1:
                    raise NmtError(f"out of GPU memory on a single sentence at step {step}; "
                                   "lower train.batch_tokens or the model size") from None
                pieces = [half for piece in pieces for half in piece.halves() if len(half)]
                say(f"step {step}: out of GPU memory, retrying the update in {len(pieces)} parts")
                torch.cuda.empty_cache()
        self.ranks.sum_gradients(self.model.parameters())
        loss = self.ranks.sum(loss)
        params = [p for p in self.model.parameters() if p.grad is not None]
        norm = torch.nn.utils.get_total_norm(p.grad for p in params)
        if not (math.isfinite(loss) and torch.isfinite(norm)):
            self.optimizer.zero_grad(set_to_none=True)
            return None
        if self.clip_norm and norm > self.clip_norm:
            # only then: clip_grad_norm_ scales every gradient by min(1, clip / norm), and past the warmup the
            # norm is rarely above the clip (docs/BENCHMARKS.md), so that pass mostly multiplied by 1
            torch.nn.utils.clip_grads_with_norm_(params, self.clip_norm, norm)
        self.optimizer.step()
        return loss

    def forward_backward(self, batch, normaliser, step):
        """Add the gradients of `batch`'s loss / `normaliser`; returns its loss."""
        device = next(self.model.parameters()).device
        autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.bf16)
        with autocast:
            if self.scheduled_sampling is None:
                states = self.model.decoder_states(batch.src, batch.tgt_in)
                return backward_in_chunks(states, batch.tgt_out, self.model.project, self.label_smoothing,
                                          1 / normaliser).item()
            # logits or float32 log-probabilities: the loss below is the same on either
            scores = self.scheduled_sampling.scores(self.model, batch.src, batch.tgt_in, step)
        loss = label_smoothed_cross_entropy(scores, batch.tgt_out, self.label_smoothing)
        (loss / normaliser).backward()
        return loss.item()
