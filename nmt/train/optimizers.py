"""`train.optimizer`: the optimizers of the NMT literature, each a config section that builds itself
for a model.

The learning rate set here is the peak one: the trainer sets the rate before every update from
`train.lr_schedule`. Gradient-norm clipping (`train.clip_norm`) applies to all of them.
A new optimizer is one class here, added to `OptimizerConfig`.
"""
import typing

import torch
from pydantic import Field

from nmt.schema import Float, FloatPair, Probability, Section, one_of


class CommonOptimizerConfig(Section):
    type: str = Field(description="adam | adamw | sgd | adadelta")
    lr: Float = Field(5e-4, gt=0, description="peak learning rate (end of warmup); adadelta expects ~1.0")
    weight_decay: Float = Field(0.0, ge=0, description="L2 penalty added to the gradient")


class AdamConfig(CommonOptimizerConfig):
    """Vaswani et al. 2017."""
    type: typing.Literal["adam"] = Field("adam", description="Kingma & Ba 2015")
    betas: FloatPair = Field((0.9, 0.98), description="decay of the first and second moment averages")
    eps: Float = Field(1e-9, gt=0, description="added to the denominator")

    def build(self, model):
        return torch.optim.Adam(model.parameters(), lr=self.lr, betas=self.betas, eps=self.eps,
                                weight_decay=self.weight_decay, fused=fused_kernel(model))


class AdamWConfig(AdamConfig):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019), on weight matrices only."""
    type: typing.Literal["adamw"] = Field("adamw", description="Loshchilov & Hutter 2019")
    weight_decay: Float = Field(0.01, ge=0, description="decoupled decay of weight matrices; never biases, "
                                                        "norms or embeddings")

    def build(self, model):
        decayed, kept = weight_matrices(model)
        groups = [{"params": decayed, "weight_decay": self.weight_decay}, {"params": kept, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=self.lr, betas=self.betas, eps=self.eps, fused=fused_kernel(model))


class SGDConfig(CommonOptimizerConfig):
    """SGD with momentum (Ma & Hovy 2016); plain SGD (Sutskever et al. 2014; Luong et al. 2015) is momentum 0."""
    type: typing.Literal["sgd"] = Field("sgd", description="stochastic gradient descent")
    momentum: Probability = Field(0.9, description="heavy-ball momentum")

    def build(self, model):
        return torch.optim.SGD(model.parameters(), lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)


class AdadeltaConfig(CommonOptimizerConfig):
    """Bahdanau et al. 2014: rho 0.95, eps 1e-6; Adadelta's lr scales its own step, so ~1.0."""
    type: typing.Literal["adadelta"] = Field("adadelta", description="Zeiler 2012")
    rho: Float = Field(0.95, gt=0, lt=1, description="decay of the running averages")
    eps: Float = Field(1e-6, gt=0, description="added inside the square roots")

    def build(self, model):
        return torch.optim.Adadelta(model.parameters(), lr=self.lr, rho=self.rho, eps=self.eps,
                                    weight_decay=self.weight_decay)


OptimizerConfig = one_of(AdamConfig, AdamWConfig, SGDConfig, AdadeltaConfig)


def fused_kernel(model):
    """Whether Adam's update runs as one fused kernel over the parameters rather than a pass over all of
    them per operation (torch.optim's default "foreach" implementation): 18 -> 5 ms a step for the Multi30k
    recipe's 7.6 M parameters on a 2-core Xeon (docs/BENCHMARKS.md, "Training speed and memory"), the
    parameters equal to rounding. PyTorch has one for CPUs and CUDA GPUs; other devices keep its default."""
    return next(model.parameters()).device.type in ("cpu", "cuda")


def weight_matrices(model):
    """(weight matrices, everything else): biases and norm gains are vectors, and an embedding (tied
    to the output layer or not) is a table of word vectors, which decay would shrink towards zero."""
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    decayed, kept = [], []
    for param in model.parameters():  # each shared (tied) parameter once
        (decayed if param.ndim >= 2 and id(param) not in embeddings else kept).append(param)
    return decayed, kept
