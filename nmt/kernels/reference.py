"""The reference operations: what the models compute, in PyTorch's own terms.

Every kernel in this package computes one of these faster somewhere (`nmt/kernels/__init__.py`);
`train.compute.kernels: reference` runs these alone.
"""
import torch
import torch.nn.functional as F

from nmt.tokenize.base import PAD_ID


def dropout(x, p, training):
    return F.dropout(x, p, training)


def add_dropout(residual, x, p, training):
    """residual + dropout(x): a residual connection's output."""
    return residual + F.dropout(x, p, training)


def relu_dropout(x, p, training):
    """dropout(relu(x)): the feed-forward layer's middle."""
    return F.dropout(F.relu(x), p, training)


def attention(q, k, v, mask=None, causal=False, dropout_p=0.0):
    """softmax(q kᵀ / √(D/H) + mask) v for (B, H, L, D/H) queries, keys and values; `mask` (broadcast to
    (B, H, Lq, Lk)) is True where a key may be attended, `causal` hides later positions."""
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, dropout_p=dropout_p)


def additive_scores(keys, queries, v):
    """Bahdanau et al.'s attention scores v(tanh(k + q)), (N, G, S), of keys (N, S, H) and the G queries
    (N, G, H) of each of the N rows, both already projected; v: a linear layer from H to 1."""
    return v(torch.tanh(keys[:, None] + queries[:, :, None])).squeeze(-1)


def residual_stream(x):
    """The residual stream as the embeddings start it (its type: the embeddings')."""
    return x


def append_history(past, rows, new):
    """Rows `rows` of `past` (B0, H, T, D/H) (all of them, in order, when `rows` is None) followed by `new`
    (B, H, 1, D/H) as position T: a decoder's self-attention keys or values after one more step."""
    return torch.cat([past if rows is None else past.index_select(0, rows), new], dim=2)


def smoothed_cross_entropy(logits, gold, smoothing):
    """The summed label-smoothed cross-entropy (Szegedy et al. 2016) of logits (N, V) against gold ids (N,), in
    float32, rows whose gold is PAD_ID left out: -(1 - s) log p[gold] - s mean(log p) a row."""
    return F.cross_entropy(logits.float(), gold, ignore_index=PAD_ID, label_smoothing=smoothing, reduction="sum")


def padded_rows(count):
    """How many rows the loss is computed on, `count` of them real (the rest padding, left out)."""
    return count
