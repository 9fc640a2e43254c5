"""`train.optimizer` -> torch optimizer: the optimizers of the NMT literature, one line each.

The learning rate set here is only the initial one: the trainer sets it before every update
from the LR schedule. Gradient-norm clipping (`train.clip_norm`) applies to all of them.
"""
import torch

OPTIMIZERS = {
    # Vaswani et al. 2017
    "adam": lambda params, cfg: torch.optim.Adam(params, lr=cfg.lr, betas=cfg.adam_betas, eps=cfg.adam_eps,
                                                 weight_decay=cfg.weight_decay),
    # SGD with momentum (Ma & Hovy 2016); plain SGD (Sutskever et al. 2014; Luong et al. 2015) is momentum 0
    "sgd": lambda params, cfg: torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                                               weight_decay=cfg.weight_decay),
    # Bahdanau et al. 2014: rho 0.95, eps 1e-6; Adadelta's lr scales its own step, so ~1.0
    "adadelta": lambda params, cfg: torch.optim.Adadelta(params, lr=cfg.lr, rho=cfg.adadelta_rho,
                                                         eps=cfg.adadelta_eps, weight_decay=cfg.weight_decay),
}


def build_optimizer(params, cfg):
    """The optimizer named by `cfg.optimizer` (a TrainConfig) over `params`."""
    return OPTIMIZERS[cfg.optimizer](params, cfg)
