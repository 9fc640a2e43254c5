"""The model families: each one's config section (its keys only) and how that section builds the model.

`model.type` picks the family; a key of another family is an error, not silently ignored.
A new family is one class here, added to `ModelConfig`.
"""
import typing

import torch
from pydantic import Field, model_validator

from nmt.models.rnn import ATTENTION_KINDS, INIT_SCHEMES, RNNModel
from nmt.models.transformer import Transformer
from nmt.schema import Probability, Section, choice, one_of


class CommonModelConfig(Section):
    type: str = Field(description="model family: transformer | rnn")
    tie_output: bool = Field(True, description="decoder input embedding = output projection")
    tie_source: bool = Field(True, description="with a joint vocabulary, the encoder shares it too (three-way)")
    reverse_source: bool = Field(False, description="read the source backwards (Sutskever et al. 2014); EOS stays last")
    dropout: Probability = Field(0.1, description="dropout on sublayer outputs (rnn: on non-recurrent connections)")
    word_dropout: Probability = Field(0.0, description="replace whole input tokens by UNK (training only)")


class TransformerConfig(CommonModelConfig):
    type: typing.Literal["transformer"] = Field("transformer", description="Vaswani et al. 2017")
    d_model: int = Field(512, gt=0, description="width of embeddings and every sublayer")
    heads: int = Field(8, gt=0, description="attention heads; d_model must be a multiple of it")
    encoder_layers: int = Field(6, gt=0, description="encoder blocks")
    decoder_layers: int = Field(6, gt=0, description="decoder blocks")
    ff_size: int = Field(2048, gt=0, description="inner size of the feed-forward sublayers")
    attention_dropout: Probability = Field(0.0, description="dropout on attention weights")
    norm: typing.Literal["pre", "post"] = Field("pre", description="layer norm before (pre) or after (post) blocks")
    max_positions: int = Field(1024, gt=1, description="longest sequence (tokens) the model reads or writes")

    @model_validator(mode="after")
    def _heads_divide_width(self):
        if self.d_model % self.heads:
            raise ValueError(f"model.d_model ({self.d_model}) must be a multiple of model.heads ({self.heads})")
        return self

    def build(self, src_vocab, tgt_vocab, joint_vocab):
        return Transformer(
            src_vocab, tgt_vocab, d_model=self.d_model, heads=self.heads, encoder_layers=self.encoder_layers,
            decoder_layers=self.decoder_layers, ff_size=self.ff_size, dropout=self.dropout,
            attention_dropout=self.attention_dropout, pre_norm=self.norm == "pre", tie_output=self.tie_output,
            share_embeddings=self.tie_source and joint_vocab, max_positions=self.max_positions,
            reverse_source=self.reverse_source, word_dropout=self.word_dropout)


class RNNConfig(CommonModelConfig):
    type: typing.Literal["rnn"] = Field("rnn", description="BiLSTM encoder + attentional LSTM decoder")
    embedding_dim: int = Field(512, gt=0, description="source and target embedding size")
    hidden: int = Field(512, gt=0, multiple_of=2,
                        description="decoder size; each encoder direction has half, so their concatenation matches")
    encoder_layers: int = Field(1, gt=0, description="bidirectional LSTM layers")
    decoder_layers: int = Field(1, gt=0, description="LSTM decoder layers")
    attention: choice(ATTENTION_KINDS) = Field("additive", description="additive (Bahdanau) | dot | general (Luong)")
    input_feeding: bool = Field(True, description="feed the previous attentional vector back (Luong et al. 2015)")
    residual: bool = Field(False, description="residual connections between stacked LSTM layers")
    layer_norm: bool = Field(False, description="on every LSTM layer's output and on the attentional vector")
    emb_dropout: Probability = Field(0.1, description="dropout on source and target embeddings")
    init: choice(INIT_SCHEMES) = Field("xavier", description="non-recurrent weights: xavier | uniform | normal")

    def build(self, src_vocab, tgt_vocab, joint_vocab):
        return RNNModel(
            src_vocab, tgt_vocab, embedding_dim=self.embedding_dim, hidden=self.hidden,
            encoder_layers=self.encoder_layers, decoder_layers=self.decoder_layers, attention=self.attention,
            input_feeding=self.input_feeding, residual=self.residual, layer_norm=self.layer_norm,
            dropout=self.dropout, emb_dropout=self.emb_dropout, word_dropout=self.word_dropout,
            tie_output=self.tie_output, share_embeddings=self.tie_source and joint_vocab, init=self.init,
            reverse_source=self.reverse_source)


ModelConfig = one_of(TransformerConfig, RNNConfig)


def build_model(cfg, src_vocab, tgt_vocab, joint_vocab):
    return cfg.build(src_vocab, tgt_vocab, joint_vocab)


def parameter_shapes(cfg, src_vocab, tgt_vocab, joint_vocab):
    """[(names, shape)] of the model's state dict, found without allocating it (on the meta device).
    Tied weights are one entry with all their names: a weights file stores them under one of them."""
    with torch.device("meta"):
        model = cfg.build(src_vocab, tgt_vocab, joint_vocab)
    tensors = {}
    for name, tensor in model.state_dict(keep_vars=True).items():
        tensors.setdefault(id(tensor), ([], tuple(tensor.shape)))[0].append(name)
    return [(tuple(names), shape) for names, shape in tensors.values()]
