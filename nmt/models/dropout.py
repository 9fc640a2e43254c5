"""`Dropout`, the module both model families use: nn.Dropout's behaviour through the kernel seam."""
from torch import nn

from nmt.kernels import ops


class Dropout(nn.Module):
    """Zero each element with probability p in training and scale the rest by 1 / (1 - p); the identity in
    evaluation. `residual=r`: r + dropout(x), a residual connection's output (one pass in nmt's CPU kernel)."""

    def __init__(self, p):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x, residual=None):
        if residual is None:
            return ops.dropout(x, self.p, self.training)
        return ops.add_dropout(residual, x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"
