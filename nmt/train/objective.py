"""The training loss of a batch, as the module that DistributedDataParallel wraps.

Everything that runs on the parameters during an update runs inside `forward` (the teacher-forced
pass with the output layer a slice of tokens at a time, or scheduled sampling's passes), so the
wrapper sees each update's use of the parameters and reduces every gradient once. Decoding for
validation calls the model itself.
"""
import torch
from torch import nn

from nmt.train.losses import chunked_cross_entropy, label_smoothed_cross_entropy

AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class TrainingLoss(nn.Module):
    def __init__(self, model, label_smoothing=0.0, scheduled_sampling=None, precision="fp32"):
        super().__init__()
        self.model, self.label_smoothing, self.scheduled_sampling = model, label_smoothing, scheduled_sampling
        self.autocast_dtype = AUTOCAST_DTYPES[precision]

    def forward(self, batch, scale, step):
        """The label-smoothed loss of `batch` (float32, summed over its target tokens) at update `step`, to
        read, and the tensor to call backward() on: it adds the gradients of `scale` x that loss."""
        device = batch.src.device
        with torch.autocast(device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None):
            if self.scheduled_sampling is None:
                states = self.model.decoder_states(batch.src, batch.tgt_in)
                loss = chunked_cross_entropy(states, batch.tgt_out, self.model.project, self.model.parameters(),
                                             self.label_smoothing, scale)
                return loss.detach(), loss
            # logits or float32 log-probabilities: the loss below is the same on either
            scores = self.scheduled_sampling.scores(self.model, batch.src, batch.tgt_in, step)
        loss = label_smoothed_cross_entropy(scores, batch.tgt_out, self.label_smoothing)
        return loss.detach(), loss * scale
