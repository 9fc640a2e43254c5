"""The Transformer encoder-decoder (Vaswani et al. 2017), pre-norm by default.

Dropout, attention and the growing self-attention cache are the operations of `nmt.kernels.ops`: PyTorch's
own (`nmt/kernels/reference.py`) or faster kernels that compute the same. Incremental decoding keeps each
decoder layer's self-attention keys/values and the encoder's projected keys/values in the decoding state,
so a step costs one position, not the prefix.
"""
import math
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from nmt.kernels import ops
from nmt.models.base import Seq2Seq, reverse_source_tokens, word_dropout
from nmt.models.dropout import Dropout
from nmt.models.state import DecodingState
from nmt.tokenize.base import PAD_ID


def sinusoidal_positions(max_positions, d_model):
    position = torch.arange(max_positions).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
    table = torch.zeros(max_positions, d_model)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table


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
        out = ops.attention(q, k, v, mask, causal, dropout_p=self.dropout if self.training else 0.0)
        b, _, length, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, length, -1))


class FeedForward(nn.Sequential):
    """Linear, ReLU, dropout, Linear, the middle two as one operation (`ops.relu_dropout`, whose CPU kernel
    keeps one activation for the backward pass, not two). The ReLU and Dropout modules stay as the layer's
    outline, and the second Linear stays at index 3: saved models keep their parameter names."""

    def __init__(self, d_model, ff_size, dropout):
        super().__init__(nn.Linear(d_model, ff_size), nn.ReLU(), Dropout(dropout), nn.Linear(ff_size, d_model))

    def forward(self, x):
        expand, _, dropout, contract = self
        return contract(ops.relu_dropout(expand(x), dropout.p, self.training))


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
            k, v = ops.append_history(past_k, rows, k), ops.append_history(past_v, rows, v)
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
        return self.embed_dropout(ops.residual_stream(x))

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
