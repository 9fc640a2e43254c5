"""BiLSTM encoder + attentional LSTM decoder (Bahdanau et al. 2014; Luong et al. 2015; Britz et al. 2017).

Encoder: embeddings -> stacked bidirectional LSTMs over packed sequences, so padding never
enters the recurrence -> memory (B, S, H), each direction contributing H/2. A bridge
(linear + tanh) turns the top layer's final states into every decoder layer's initial (h, c).

The decoder (Luong et al. 2015), the same code for teacher forcing and incremental decoding:
    x_t  = [embed(y_{t-1}); h~_{t-1}]           input feeding (h~_0 = 0); can be switched off
    h_t  = stacked LSTMs(x_t)                   top layer's output is the attention query
    a_t  = softmax(score(h_t, memory))          additive | dot | general; exactly 0 on padding
    h~_t = tanh(W_c [a_t . memory; h_t])        the attentional vector
    p_t  = softmax(W_out dropout(h~_t))         tied: h~ is projected to the embedding size first
Without input feeding nothing flows from attention back into the LSTMs, so teacher forcing runs each
LSTM layer over the whole target in one fused call (oneDNN, cuDNN) and attends for all positions at
once; with it, each step waits for the previous h~, and teacher forcing loops over the steps.

Dropout only touches non-recurrent connections (Zaremba et al. 2014): embeddings, inputs of
layers above the first, the encoder output and the attentional vector on its way to the
output layer; never h/c or the fed-back h~.
"""
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nmt.kernels import ops
from nmt.models.base import Seq2Seq, reverse_source_tokens, word_dropout
from nmt.models.dropout import Dropout
from nmt.models.state import DecodingState
from nmt.tokenize.base import PAD_ID


ATTENTION_KINDS = ("additive", "dot", "general")  # `model.attention` of the rnn family


class Attention(nn.Module):
    """score(q, k): additive v^T tanh(W_q q + W_k k) | dot q . k | general q^T W_a k."""

    def __init__(self, kind, hidden):
        super().__init__()
        self.kind = kind
        if kind == "additive":
            self.key_proj = nn.Linear(hidden, hidden)
            self.query_proj = nn.Linear(hidden, hidden, bias=False)
            self.v = nn.Linear(hidden, 1, bias=False)
        elif kind == "general":
            self.key_proj = nn.Linear(hidden, hidden, bias=False)
        elif kind not in ATTENTION_KINDS:
            raise ValueError(f"unknown attention {kind!r}")

    def keys(self, memory):
        """The part of the score that depends on the memory (B, S, H) alone: computed once per sentence."""
        return memory if self.kind == "dot" else self.key_proj(memory)

    def forward(self, query, keys, memory, mask, beams=1):
        """query (B, H), keys/memory (B/g, S, H), mask (B/g, S) True on real tokens, g = `beams`: the g
        queries of a sentence (its beams) read its one row of keys and memory together
        -> context (B, H), weights (B, S) summing to 1 over real tokens, exactly 0 on padding."""
        queries = query.view(-1, beams, query.size(-1))  # (B/g, g, H)
        if self.kind == "additive":
            scores = ops.additive_scores(keys, self.query_proj(queries), self.v)
        else:  # dot: q . k; general: q . (W_a k), with W_a k precomputed in keys()
            scores = torch.bmm(keys, queries.transpose(1, 2)).transpose(1, 2)
        weights = torch.softmax(scores.float().masked_fill(~mask[:, None], float("-inf")), dim=-1)  # (B/g, g, S)
        context = torch.bmm(weights.to(memory.dtype), memory)
        return context.view(query.shape), weights.view(len(query), -1)


def _norms(layer_norm, size, count):
    return nn.ModuleList(nn.LayerNorm(size) if layer_norm else nn.Identity() for _ in range(count))


class BiLSTMEncoder(nn.Module):
    def __init__(self, input_size, hidden, layers, dropout, residual, layer_norm):
        super().__init__()
        self.lstms = nn.ModuleList(
            nn.LSTM(input_size if i == 0 else hidden, hidden // 2, batch_first=True, bidirectional=True)
            for i in range(layers))
        self.norms = _norms(layer_norm, hidden, layers)
        self.dropout, self.residual = Dropout(dropout), residual

    def forward(self, x, lengths):
        """x (B, S, E) embedded source, lengths (B,) -> memory (B, S, H), zeros at padding, and the
        top layer's final (h, c), each (B, H): [forward direction at the end; backward at the start]."""
        # packed: only real tokens, (N, features) in .data; elementwise ops may act on .data directly
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        for i, (lstm, norm) in enumerate(zip(self.lstms, self.norms)):
            inputs = packed.data if i == 0 else self.dropout(packed.data)
            out, (h, c) = lstm(packed._replace(data=inputs))  # h, c: (2, B, H/2), in batch order
            y = out.data + inputs if self.residual and i > 0 else out.data
            packed = out._replace(data=norm(y))
        memory, _ = pad_packed_sequence(packed, batch_first=True, total_length=x.size(1))
        b = x.size(0)
        return self.dropout(memory), (h.transpose(0, 1).reshape(b, -1), c.transpose(0, 1).reshape(b, -1))


def run_lstm(lstm, inputs, start):
    """An nn.LSTM over inputs from start = (h, c), all in the weights' dtype. CPU autocast is off around
    it: autocast keeps LSTMs in fp32 on CPUs anyway, and oneDNN's fused LSTM fails under it (torch 2.13)."""
    dtype = lstm.weight_hh_l0.dtype
    with torch.autocast("cpu", enabled=False):
        return lstm(inputs.to(dtype), tuple(state.to(dtype) for state in start))


class RNNModel(Seq2Seq):
    scheduled_sampling_mode = "per_step"  # T decoder steps: what teacher forcing with input feeding runs anyway

    @staticmethod
    def former_name(name):
        # decoder layers were nn.LSTMCell modules at first (`cells.0.weight_ih`); nn.LSTM adds `_l0`
        return name.removesuffix("_l0") if name.startswith("cells.") else None

    def __init__(self, cfg, src_vocab, tgt_vocab, share_embeddings=False):
        """`cfg`: the model's config section (`model.type: rnn`, nmt/models/build.py);
        `share_embeddings`: one embedding table for source and target (a joint vocabulary)."""
        super().__init__()
        if share_embeddings and src_vocab != tgt_vocab:
            raise ValueError("sharing embeddings needs one vocabulary for source and target")
        if cfg.hidden % 2:
            raise ValueError("hidden must be even: each encoder direction has hidden / 2 units")
        embedding_dim, hidden, layers = cfg.embedding_dim, cfg.hidden, cfg.decoder_layers
        self.hidden, self.decoder_layers = hidden, layers
        self.input_feeding, self.residual = cfg.input_feeding, cfg.residual
        self.word_dropout, self.reverse_source = cfg.word_dropout, cfg.reverse_source
        self.tgt_embed = nn.Embedding(tgt_vocab, embedding_dim, padding_idx=PAD_ID)
        self.src_embed = self.tgt_embed if share_embeddings else nn.Embedding(src_vocab, embedding_dim,
                                                                              padding_idx=PAD_ID)
        self.emb_dropout, self.dropout = Dropout(cfg.emb_dropout), Dropout(cfg.dropout)
        self.encoder = BiLSTMEncoder(embedding_dim, hidden, cfg.encoder_layers, cfg.dropout, cfg.residual,
                                     cfg.layer_norm)
        self.bridge_h = nn.Linear(hidden, layers * hidden)
        self.bridge_c = nn.Linear(hidden, layers * hidden)
        first_input = embedding_dim + (hidden if cfg.input_feeding else 0)
        # one single-layer nn.LSTM a layer, as norm, dropout and residual sit between layers; it runs one
        # step or a whole sequence
        self.cells = nn.ModuleList(nn.LSTM(first_input if i == 0 else hidden, hidden, batch_first=True)
                                   for i in range(layers))
        self.norms = _norms(cfg.layer_norm, hidden, layers)
        self.attention = Attention(cfg.attention, hidden)
        self.combine = nn.Linear(2 * hidden, hidden, bias=False)  # W_c of h~ = tanh(W_c [context; h])
        self.combine_norm = nn.LayerNorm(hidden) if cfg.layer_norm else nn.Identity()
        # a tied output layer is the (V, E) embedding matrix: h~ (H) must first become E-sized
        tied_projection = cfg.tie_output and hidden != embedding_dim
        self.pre_output = nn.Linear(hidden, embedding_dim) if tied_projection else nn.Identity()
        self.output = nn.Linear(embedding_dim if cfg.tie_output else hidden, tgt_vocab, bias=False)
        init_weights(self, cfg.init)
        if cfg.tie_output:
            self.output.weight = self.tgt_embed.weight

    def embed_source(self, src):
        """(B, S) ids -> (B, S, E), after source reversal (if on) and word dropout (training only)."""
        if self.reverse_source:
            src = reverse_source_tokens(src)
        return self.emb_dropout(self.src_embed(word_dropout(src, self.word_dropout, self.training)))

    def embed_target(self, tokens):
        """(B, ...) ids -> (B, ..., E), with word dropout (training only) on the decoder's inputs."""
        return self.emb_dropout(self.tgt_embed(word_dropout(tokens, self.word_dropout, self.training)))

    def encode(self, src):
        """State: per sentence memory and keys (B, S, H) and src_mask (B, S) (`source`); per row h and c
        (B, layers, H) and, with input feeding, feed (B, H) (`rows`)."""
        mask = src != PAD_ID
        memory, (h, c) = self.encoder(self.embed_source(src), mask.sum(1))
        shape = (src.size(0), self.decoder_layers, self.hidden)
        rows = {"h": torch.tanh(self.bridge_h(h)).view(shape), "c": torch.tanh(self.bridge_c(c)).view(shape)}
        if self.input_feeding:
            rows["feed"] = memory.new_zeros(src.size(0), self.hidden)
        source = {"memory": memory, "keys": self.attention.keys(memory), "mask": mask}
        return DecodingState(source=source, rows=rows)

    def run_layers(self, x, rows):
        """The stacked decoder LSTMs over x (B, T, I) from the rows' h and c (B, layers, H): the top
        layer's outputs (B, T, H) and the last h and c (B, layers, H). T is 1 for a decoding step."""
        hs, cs = [], []
        for i, (lstm, norm) in enumerate(zip(self.cells, self.norms)):
            inputs = x if i == 0 else self.dropout(x)
            start = (rows["h"][:, i].unsqueeze(0).contiguous(), rows["c"][:, i].unsqueeze(0).contiguous())
            out, (h, c) = run_lstm(lstm, inputs, start)
            hs.append(h[0])
            cs.append(c[0])
            x = norm(out + inputs if self.residual and i > 0 else out)
        return x, torch.stack(hs, 1), torch.stack(cs, 1)

    def attend(self, queries, state):
        """Top-layer outputs (B, T, H) -> attentional vectors (B, T, H) and attention weights (B, T, S):
        the T queries of a row read its source together, as the beams of a sentence do."""
        source, beams = state.source_by_group()
        b, t, hidden = queries.shape
        context, weights = self.attention(queries.reshape(b * t, hidden), source["keys"], source["memory"],
                                          source["mask"], beams * t)
        combined = self.combine(torch.cat([context.view(b, t, hidden), queries], -1))
        return torch.tanh(self.combine_norm(combined)), weights.view(b, t, -1)

    def step(self, emb, state):
        """One decoder step from the embedded previous token emb (B, E).
        Returns the attentional vector h~ (B, H), the attention weights (B, S) and the new state."""
        rows = state.rows
        x = torch.cat([emb, rows["feed"]], dim=-1) if self.input_feeding else emb
        top, h, c = self.run_layers(x.unsqueeze(1), rows)
        attentional, weights = self.attend(top, state)
        attentional = attentional.squeeze(1)
        rows = dict(rows, h=h, c=c)
        if self.input_feeding:
            rows["feed"] = attentional
        return attentional, weights.squeeze(1), replace(state, rows=rows)

    def project(self, attentional):
        """(..., H) attentional vectors -> (..., V) output scores."""
        return self.output(self.pre_output(self.dropout(attentional)))

    def decoder_states(self, src, tgt_in):
        """Teacher forcing: attentional vectors (B, T, H) for every target position."""
        state = self.encode(src)
        emb = self.embed_target(tgt_in)  # (B, T, E)
        if not self.input_feeding:  # the LSTMs never read attention: whole target at once
            top, _, _ = self.run_layers(emb, state.rows)
            return self.attend(top, state)[0]
        outputs = []
        for t in range(tgt_in.size(1)):
            attentional, _, state = self.step(emb[:, t], state)
            outputs.append(attentional)
        return torch.stack(outputs, 1)

    def decode_step(self, prev_tokens, state):
        attentional, _, state = self.step(self.embed_target(prev_tokens), state)
        return F.log_softmax(self.project(attentional).float(), dim=-1), state


# Initialisation (defaults as in JoeyNMT's RNN recipes and Britz et al. 2017):
# - recurrent matrices (weight_hh) orthogonal, each gate's (H, H) block separately (Saxe et al. 2014);
# - forget-gate bias 1 (Gers et al. 2000; Jozefowicz et al. 2015). PyTorch adds two biases, b_ih + b_hh:
#   b_ih's forget slice is 1 and b_hh's 0, so their sum is 1; every other bias starts at 0;
# - every non-recurrent matrix (embeddings, input-to-hidden per gate block, linear layers):
#   xavier (Glorot & Bengio 2010, default) | uniform in +-0.1 (Sutskever et al. 2014) | normal, std 0.01.
INIT_SCHEMES = {  # `model.init` of the rnn family: how every non-recurrent matrix starts
    "xavier": nn.init.xavier_uniform_,
    "uniform": lambda weight: nn.init.uniform_(weight, -0.1, 0.1),
    "normal": lambda weight: nn.init.normal_(weight, 0.0, 0.01),
}


def _init_lstm(module, scheme):
    hidden = module.hidden_size
    for name, param in module.named_parameters():
        blocks = param.data.split(hidden)  # PyTorch gate order: input, forget, cell, output
        if name.startswith("weight_hh"):
            for block in blocks:
                nn.init.orthogonal_(block)
        elif name.startswith("weight_ih"):
            for block in blocks:
                INIT_SCHEMES[scheme](block)
        else:
            nn.init.zeros_(param)
            if name.startswith("bias_ih"):
                nn.init.ones_(blocks[1])


@torch.no_grad()
def init_weights(model, scheme="xavier"):
    for module in model.modules():
        if isinstance(module, nn.LSTM):
            _init_lstm(module, scheme)
        elif isinstance(module, nn.Linear):
            INIT_SCHEMES[scheme](module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            INIT_SCHEMES[scheme](module.weight)
            module.weight[PAD_ID].zero_()
