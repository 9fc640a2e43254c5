"""The model families: each one's config section (its keys only), its named sizes, and how that section
builds the model (each model class takes its section).

`model.type` picks the family; a key of another family is an error, not silently ignored.
`model.preset` names a family's sizes (fairseq's `--arch` in spirit); a key the config gives itself wins.
A new family is one class here, added to `ModelConfig`.
"""
import typing

import torch
from pydantic import Field, model_validator

from nmt.models.rnn import ATTENTION_KINDS, INIT_SCHEMES, RNNModel
from nmt.models.transformer import Transformer
from nmt.schema import Probability, Section, choice, one_of


# Named sizes. transformer: tiny is the quick start's, small the Multi30k recipe's, base and big
# Vaswani et al.'s (2017); rnn: small is the Multi30k recipe's, base Britz et al.'s (2017) 512 units.
TRANSFORMER_PRESETS = {
    "tiny": dict(d_model=128, heads=4, encoder_layers=2, decoder_layers=2, ff_size=256),
    "small": dict(d_model=256, heads=4, encoder_layers=3, decoder_layers=3, ff_size=1024),
    "base": dict(d_model=512, heads=8, encoder_layers=6, decoder_layers=6, ff_size=2048),
    "big": dict(d_model=1024, heads=16, encoder_layers=6, decoder_layers=6, ff_size=4096),
}
RNN_PRESETS = {
    "tiny": dict(embedding_dim=64, hidden=128, encoder_layers=1, decoder_layers=1),
    "small": dict(embedding_dim=256, hidden=256, encoder_layers=1, decoder_layers=1),
    "base": dict(embedding_dim=512, hidden=512, encoder_layers=2, decoder_layers=2),
}


class CommonModelConfig(Section):
    model_class: typing.ClassVar[type]
    presets: typing.ClassVar[dict]
    type: str = Field(description="model family: transformer | rnn")
    tie_output: bool = Field(True, description="decoder input embedding = output projection")
    tie_source: bool = Field(True, description="with a joint vocabulary, the encoder shares it too (three-way)")
    reverse_source: bool = Field(False, description="read the source backwards (Sutskever et al. 2014); EOS stays last")
    dropout: Probability = Field(0.1, description="dropout on sublayer outputs (rnn: on non-recurrent connections)")
    word_dropout: Probability = Field(0.0, description="replace whole input tokens by UNK (training only)")

    @model_validator(mode="before")
    @classmethod
    def _preset_under_given_keys(cls, data):
        if isinstance(data, dict) and data.get("preset") in cls.presets:
            return {**cls.presets[data["preset"]], **data}
        return data  # an unknown preset is refused by the field

    def build(self, src_vocab, tgt_vocab, joint_vocab):
        return self.model_class(self, src_vocab, tgt_vocab, share_embeddings=self.tie_source and joint_vocab)


class TransformerConfig(CommonModelConfig):
    model_class = Transformer
    presets = TRANSFORMER_PRESETS
    type: typing.Literal["transformer"] = Field("transformer", description="Vaswani et al. 2017")
    preset: choice(("", *TRANSFORMER_PRESETS)) = Field("", description="named sizes (d_model, heads, layers, "
                                                                     "ff_size): tiny | small | base | big")
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


class RNNConfig(CommonModelConfig):
    model_class = RNNModel
    presets = RNN_PRESETS
    type: typing.Literal["rnn"] = Field("rnn", description="BiLSTM encoder + attentional LSTM decoder")
    preset: choice(("", *RNN_PRESETS)) = Field("", description="named sizes (embedding_dim, hidden, layers): "
                                                             "tiny | small | base")
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


ModelConfig = one_of(TransformerConfig, RNNConfig)


def build_model(cfg, src_vocab, tgt_vocab, joint_vocab):
    return cfg.build(src_vocab, tgt_vocab, joint_vocab)


def parameter_shapes(cfg, src_vocab, tgt_vocab, joint_vocab):
    """[(names, shape)] of the model's state dict, found without allocating it (on the meta device).
    Tied weights are one entry with all their names: a weights file stores them under one of them; a
    tensor's former name (weights of earlier versions) is one more of its names."""
    with torch.device("meta"):
        model = cfg.build(src_vocab, tgt_vocab, joint_vocab)
    tensors = {}
    for name, tensor in model.state_dict(keep_vars=True).items():
        names = tensors.setdefault(id(tensor), ([], tuple(tensor.shape)))[0]
        names.extend(filter(None, (name, model.former_name(name))))
    return [(tuple(names), shape) for names, shape in tensors.values()]
