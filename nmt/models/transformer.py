"""The Transformer encoder-decoder (Vaswani et al. 2017), pre-norm by default.

Attention runs through PyTorch's scaled_dot_product_attention, except in bf16 training on a CPU
(`attention`). Incremental decoding
keeps each decoder layer's self-attention keys/values and the encoder's projected
keys/values in the decoding state, so a step costs one position, not the prefix.
"""
import math
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from nmt.models.base import Seq2Seq, reverse_source_tokens, word_dropout
from nmt.models.dropout import Dropout, relu_dropout
from nmt.models.state import DecodingState
from nmt.tokenize.base import PAD_ID


def sinusoidal_positions(max_positions, d_model):
    position = torch.arange(max_positions).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
    table = torch.zeros(max_positions, d_model)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table


def continue_history(past, rows, new):
    """Rows `rows` of `past` (B0, H, T, D/H) (all of them, in order, when `rows` is None) followed by `new`
    (B, H, 1, D/H) as position T. The rows are gathered straight into the result: one copy of the prefix a
    step, where reordering it after a step and concatenating at the next took two."""
    if torch.is_grad_enabled() and (past.requires_grad or new.requires_grad):
        # training through decode_step (per-step scheduled sampling): out= copies are invisible to autograd
        return torch.cat([past if rows is None else past.index_select(0, rows), new], dim=2)
    length = past.size(2)
    out = new.new_empty(new.size(0), new.size(1), length + new.size(2), new.size(3))
    if rows is None:
        out[:, :, :length] = past
    else:
        torch.index_select(past, 0, rows, out=out[:, :, :length])
    out[:, :, length:] = new
    return out


def attention(q, k, v, mask=None, causal=False, dropout_p=0.0):
    """softmax(q kᵀ / √(D/H) + mask) v for (B, H, L, D/H) queries, keys and values; `mask` (broadcast to
    (B, H, Lq, Lk)) is True where a key may be attended, `causal` hides later positions.

    PyTorch's fused kernels, except under bf16 autocast on a CPU (training): there PyTorch's math kernel
    upcasts q, k and v to float32 and its flash kernel's backward is slow, so the scores are bf16 matmuls and
    the softmax runs in float32 (autocast's rule), as fairseq's attention does in half precision: forward and
    backward 1.2-2.2x faster than the math kernel on the recipe's batches (docs/BENCHMARKS.md)."""
    if not (q.device.type == "cpu" and torch.is_autocast_enabled("cpu")
            and torch.get_autocast_dtype("cpu") == torch.bfloat16):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, dropout_p=dropout_p)
    (b, heads, q_len, head_size), k_len = q.shape, k.size(-2)
    # the scaling inside the product: scaling q first copied it twice (the scaled q kept the heads' strides)
    scores = torch.baddbmm(q.new_zeros(()), q.reshape(b * heads, q_len, head_size),
                           k.reshape(b * heads, k_len, head_size).transpose(1, 2), beta=0,
                           alpha=head_size ** -0.5).view(b, heads, q_len, k_len)
    if causal:
        mask = torch.ones(q_len, k_len, dtype=torch.bool, device=q.device).tril()
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return F.dropout(scores.softmax(dim=-1), dropout_p) @ v


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, heads, dropout):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.q_proj = nn.Linear(d_model, d_model)
        self.kv_proj = nn.Linear(d_model, 2 * d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def split_heads(self, x):  # (B, L, D) -> (B, H, L, D/H)
        b, length, d = x.shape
        return x.view(b, length, self.heads, d // self.heads).transpose(1, 2)

    def keys_values(self, x):
        k, v = self.kv_proj(x).chunk(2, dim=-1)
        return self.split_heads(k), self.split_heads(v)

    def forward(self, x, k, v, mask=None, causal=False):
        """Attend from queries `x` (B, Lq, D) over keys/values (B, H, Lk, D/H)."""
        q = self.split_heads(self.q_proj(x))
        out = attention(q, k, v, mask, causal, dropout_p=self.dropout if self.training else 0.0)
        b, _, length, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, length, -1))


class FeedForward(nn.Sequential):
    """Linear, ReLU, dropout, Linear, the middle two run as one function (`relu_dropout`, which keeps one
    activation for the backward pass, not two). The ReLU and Dropout modules stay as the layer's outline,
    and the second Linear stays at index 3: saved models keep their parameter names."""

    def __init__(self, d_model, ff_size, dropout):
        super().__init__(nn.Linear(d_model, ff_size), nn.ReLU(), Dropout(dropout), nn.Linear(ff_size, d_model))

    def forward(self, x):
        expand, _, dropout, contract = self
        return contract(relu_dropout(expand(x), dropout.p, self.training))


class Sublayer(nn.Module):
    """Residual around a block with layer norm before (pre-norm) or after (post-norm) it."""

    def __init__(self, d_model, dropout, pre_norm):
        super().__init__()
        self.norm, self.dropout, self.pre_norm = nn.LayerNorm(d_model), Dropout(dropout), pre_norm

    def input(self, x):
        return self.norm(x) if self.pre_norm else x

    def output(self, x, block_out):
        x = self.dropout(block_out, residual=x)
        return x if self.pre_norm else self.norm(x)


class EncoderLayer(nn.Module):
    def __init__(self, d_model, heads, ff_size, dropout, attention_dropout, pre_norm):
        super().__init__()
        self.attn = MultiHeadAttention(d_model, heads, attention_dropout)
        self.ff = FeedForward(d_model, ff_size, dropout)
        self.attn_sub, self.ff_sub = Sublayer(d_model, dropout, pre_norm), Sublayer(d_model, dropout, pre_norm)

    def forward(self, x, src_mask):
        h = self.attn_sub.input(x)
        x = self.attn_sub.output(x, self.attn(h, *self.attn.keys_values(h), mask=src_mask))
        return self.ff_sub.output(x, self.ff(self.ff_sub.input(x)))


class DecoderLayer(nn.Module):
    def __init__(self, d_model, heads, ff_size, dropout, attention_dropout, pre_norm):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, heads, attention_dropout)
        self.cross_attn = MultiHeadAttention(d_model, heads, attention_dropout)
        self.ff = FeedForward(d_model, ff_size, dropout)
        self.subs = nn.ModuleList(Sublayer(d_model, dropout, pre_norm) for _ in range(3))

    def forward(self, x, memory_kv, src_mask, cache=None, beams=1):
        """x: (B, T, D). With `cache` (keys, values of earlier positions, and the row of them each row of x
        continues, None: the same row) x is the next position alone; without it the causal mask hides the future.
        Returns the new x and the keys/values of every position so far.
        With `beams` g, memory_kv and src_mask have a row per g rows of x (the beams of a sentence)."""
        self_sub, cross_sub, ff_sub = self.subs
        h = self_sub.input(x)
        k, v = self.self_attn.keys_values(h)
        if cache is not None:
            past_k, past_v, rows = cache
            k, v = continue_history(past_k, rows, k), continue_history(past_v, rows, v)
        x = self_sub.output(x, self.self_attn(h, k, v, causal=cache is None))
        h = cross_sub.input(x)
        b, length, d = h.shape  # the beams of a sentence query its source together, as one sequence
        attended = self.cross_attn(h.reshape(b // beams, beams * length, d), *memory_kv, mask=src_mask)
        x = cross_sub.output(x, attended.reshape(b, length, d))
        return ff_sub.output(x, self.ff(ff_sub.input(x))), (k, v)


class Transformer(Seq2Seq):
    def __init__(self, cfg, src_vocab, tgt_vocab, share_embeddings=False):
        """`cfg`: the model's config section (`model.type: transformer`, nmt/models/build.py);
        `share_embeddings`: one embedding table for source and target (a joint vocabulary)."""
        super().__init__()
        if share_embeddings and src_vocab != tgt_vocab:
            raise ValueError("sharing embeddings needs one vocabulary for source and target")
        d_model, pre_norm = cfg.d_model, cfg.norm == "pre"
        self.d_model, self.max_positions, self.reverse_source = d_model, cfg.max_positions, cfg.reverse_source
        self.word_dropout = cfg.word_dropout
        self.tgt_embed = nn.Embedding(tgt_vocab, d_model, padding_idx=PAD_ID)
        self.src_embed = self.tgt_embed if share_embeddings else nn.Embedding(src_vocab, d_model, padding_idx=PAD_ID)
        self.register_buffer("positions", sinusoidal_positions(cfg.max_positions, d_model), persistent=False)
        self.embed_dropout = Dropout(cfg.dropout)
        layer_args = (d_model, cfg.heads, cfg.ff_size, cfg.dropout, cfg.attention_dropout, pre_norm)
        self.encoder_layers = nn.ModuleList(EncoderLayer(*layer_args) for _ in range(cfg.encoder_layers))
        self.decoder_layers = nn.ModuleList(DecoderLayer(*layer_args) for _ in range(cfg.decoder_layers))
        # pre-norm leaves the residual stream unnormalised: one final norm per stack
        self.encoder_norm = nn.LayerNorm(d_model) if pre_norm else nn.Identity()
        self.decoder_norm = nn.LayerNorm(d_model) if pre_norm else nn.Identity()
        self.output = nn.Linear(d_model, tgt_vocab, bias=False)
        self._init_weights()
        if cfg.tie_output:
            self.output.weight = self.tgt_embed.weight

    def _init_weights(self):
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                # N(0, d^-1/2): after the sqrt(d) scaling, embeddings have unit variance
                nn.init.normal_(module.weight, 0.0, self.d_model ** -0.5)
                nn.init.zeros_(module.weight[PAD_ID])

    def embed(self, embedding, tokens, start=0):
        """(B, L) ids -> (B, L, D): word dropout (training only), scaled embedding + positions, dropout."""
        length = tokens.size(1)
        if start + length > self.max_positions:
            raise ValueError(f"sequence of {start + length} tokens exceeds max_positions {self.max_positions}")
        tokens = word_dropout(tokens, self.word_dropout, self.training)
        x = embedding(tokens) * math.sqrt(self.d_model) + self.positions[start:start + length]
        if torch.is_autocast_enabled(x.device.type) and torch.get_autocast_dtype(x.device.type) == torch.bfloat16:
            # bf16 training carries the residual stream in bf16: the linear layers take it without a cast and
            # each elementwise pass moves half the bytes (docs/BENCHMARKS.md: 113 MiB less over the recipe's
            # first 200 updates, a few % more tokens/s)
            x = x.to(torch.bfloat16)
        return self.embed_dropout(x)

    def run_encoder(self, src):
        """Encoder output (B, S, D) and the attention mask (B, 1, 1, S) that hides source padding."""
        if self.reverse_source:
            src = reverse_source_tokens(src)
        src_mask = (src != PAD_ID)[:, None, None, :]
        x = self.embed(self.src_embed, src)
        for layer in self.encoder_layers:
            x = layer(x, src_mask)
        return self.encoder_norm(x), src_mask

    def decoder_states(self, src, tgt_in):
        memory, src_mask = self.run_encoder(src)
        x = self.embed(self.tgt_embed, tgt_in)
        for layer in self.decoder_layers:
            x, _ = layer(x, layer.cross_attn.keys_values(memory), src_mask)
        return x

    def project(self, states):
        return self.output(self.decoder_norm(states))

    def encode(self, src):
        """State: per sentence the source mask and each decoder layer's cross-attention keys/values
        (`source`), per layer the self-attention keys/values of the positions decoded so far (`history`)."""
        memory, src_mask = self.run_encoder(src)
        source, history = {"mask": src_mask}, {}
        empty = memory.new_zeros(src.size(0), 0, self.d_model)
        for i, layer in enumerate(self.decoder_layers):
            source[f"keys.{i}"], source[f"values.{i}"] = layer.cross_attn.keys_values(memory)
            history[f"keys.{i}"], history[f"values.{i}"] = layer.self_attn.keys_values(empty)
        return DecodingState(source=source, history=history)

    def decode_step(self, prev_tokens, state):
        step = state.history["keys.0"].size(2)  # positions decoded so far
        x = self.embed(self.tgt_embed, prev_tokens[:, None], start=step)
        source, beams = state.source_by_group()
        history = {}
        for i, layer in enumerate(self.decoder_layers):
            keys, values = f"keys.{i}", f"values.{i}"
            cache = (state.history[keys], state.history[values], state.history_row)
            x, (history[keys], history[values]) = layer(x, (source[keys], source[values]), source["mask"],
                                                        cache=cache, beams=beams)
        log_probs = F.log_softmax(self.project(x[:, 0]).float(), dim=-1)
        return log_probs, replace(state, history=history, history_row=None)
