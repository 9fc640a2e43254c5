"""`nmt export --format ctranslate2`: a Transformer model directory as a CTranslate2 model.

CTranslate2 describes a Transformer by a *spec*, a tree of named weights; its converter
checks the spec and writes the model files. We fill the spec from our weights and let the
converter write, so nmt never writes CTranslate2's binary format itself. CTranslate2 reads
token strings, not ids, so the vocabularies are the sentencepiece pieces in id order, and the
tokenizer folder is copied beside the model for the user to split and join text with.

What needs care, because CTranslate2's defaults differ from our model:
- positions: our sinusoids interleave sin/cos (even/odd dimensions), CTranslate2's own table
  puts all sines first, so our table goes in as the spec's `encodings`;
- layer norm epsilon: PyTorch's 1e-5, not CTranslate2's default;
- the source ends in EOS in nmt, so the model adds it (`add_source_eos`);
- nmt's decoders never write PAD or BOS: a large negative output bias does the same here.
Embeddings scaled by sqrt(d_model), positions from 0 (BOS) and pre-/post-norm layers are
CTranslate2's own conventions too.
"""
import shutil
from pathlib import Path

import torch

from nmt import atomic
from nmt.errors import NmtError
from nmt.export import TOKENIZER, load_model
from nmt.models.transformer import Transformer
from nmt.tokenize.base import BOS_ID, EOS_ID, PAD_ID, UNK_ID

try:
    import ctranslate2
except ImportError:  # an optional extra: say how to get it
    raise NmtError("exporting to CTranslate2 needs the ctranslate2 package: "
                   "pip install 'nmt[ctranslate2]'") from None

NEVER = -1e4  # output bias of PAD and BOS: exp(-1e4) is 0 in any float type, and -1e4 fits fp16


def export_ctranslate2(model_dir, out, force=False):
    """Write the CTranslate2 model of the exported nmt model in `model_dir` to `out`, tokenizer beside it."""
    model_dir, out = Path(model_dir), Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise NmtError(f"{out}: already exists and is not empty (--force replaces it)")
    model, tokenizers, _ = load_model(model_dir)
    check_exportable(model, model_dir)
    with atomic.atomic_dir(out) as tmp:
        # the converter insists on creating its folder: let it replace the empty temporary one
        NmtTransformerConverter(model, tokenizers).convert(str(tmp), force=True)
        shutil.copytree(model_dir / TOKENIZER, tmp / TOKENIZER)


def check_exportable(model, model_dir):
    if not isinstance(model, Transformer):  # the BiLSTM, our only other family
        raise NmtError(f"{model_dir}: this is a BiLSTM model (model.type: rnn), and CTranslate2 runs "
                       f"Transformers only; translate it with nmt translate")
    if model.reverse_source:
        raise NmtError(f"{model_dir}: a model trained with model.reverse_source cannot be exported to "
                       f"CTranslate2, which reads the source in the order it is given")


class NmtTransformerConverter(ctranslate2.converters.Converter):
    def __init__(self, model, tokenizers):
        self.model, self.tokenizers = model, tokenizers

    def _load(self):
        """The filled-in TransformerSpec (the converter validates and saves it)."""
        model = self.model
        first = model.encoder_layers[0]
        spec = ctranslate2.specs.TransformerSpec.from_config(
            (len(model.encoder_layers), len(model.decoder_layers)), first.attn.heads,
            pre_norm=first.attn_sub.pre_norm)
        set_encoder(spec.encoder, model)
        set_decoder(spec.decoder, model)
        set_vocabularies(spec, self.tokenizers)
        spec.config.layer_norm_epsilon = model.decoder_layers[0].subs[0].norm.eps
        spec.config.add_source_eos = True
        return spec


def set_encoder(spec, model):
    spec.embeddings[0].weight = array(model.src_embed.weight)
    spec.position_encodings.encodings = array(model.positions)
    if spec.pre_norm:  # post-norm stacks have no final norm, in CTranslate2 as in nmt
        set_layer_norm(spec.layer_norm, model.encoder_norm)
    for layer_spec, layer in zip(spec.layer, model.encoder_layers):
        set_attention(layer_spec.self_attention, layer.attn, layer.attn_sub.norm, self_attention=True)
        set_feed_forward(layer_spec.ffn, layer.ff, layer.ff_sub.norm)


def set_decoder(spec, model):
    spec.embeddings.weight = array(model.tgt_embed.weight)
    spec.position_encodings.encodings = array(model.positions)
    if spec.pre_norm:
        set_layer_norm(spec.layer_norm, model.decoder_norm)
    for layer_spec, layer in zip(spec.layer, model.decoder_layers):
        self_sub, cross_sub, ff_sub = layer.subs
        set_attention(layer_spec.self_attention, layer.self_attn, self_sub.norm, self_attention=True)
        set_attention(layer_spec.attention, layer.cross_attn, cross_sub.norm, self_attention=False)
        set_feed_forward(layer_spec.ffn, layer.ff, ff_sub.norm)
    spec.projection.weight = array(model.output.weight)  # the embedding matrix itself when tied
    bias = torch.zeros(model.output.out_features)
    bias[[PAD_ID, BOS_ID]] = NEVER
    spec.projection.bias = array(bias)


def set_attention(spec, attention, norm, self_attention):
    """Our attention projects queries alone and keys+values together ([K; V], as CTranslate2 fuses
    them); in self-attention CTranslate2 fuses all three as [Q; K; V]."""
    q, kv = attention.q_proj, attention.kv_proj
    if self_attention:
        spec.linear[0].weight = array(torch.cat([q.weight, kv.weight]))
        spec.linear[0].bias = array(torch.cat([q.bias, kv.bias]))
    else:
        set_linear(spec.linear[0], q)
        set_linear(spec.linear[1], kv)
    set_linear(spec.linear[-1], attention.out_proj)
    set_layer_norm(spec.layer_norm, norm)


def set_feed_forward(spec, feed_forward, norm):
    inner, outer = feed_forward[0], feed_forward[-1]  # Linear, ReLU, Dropout, Linear
    set_linear(spec.linear_0, inner)
    set_linear(spec.linear_1, outer)
    set_layer_norm(spec.layer_norm, norm)


def set_linear(spec, linear):
    spec.weight, spec.bias = array(linear.weight), array(linear.bias)


def set_layer_norm(spec, norm):
    spec.gamma, spec.beta = array(norm.weight), array(norm.bias)


def set_vocabularies(spec, tokenizers):
    """CTranslate2 vocabularies are token strings in id order; our special ids' pieces are its special tokens."""
    source, target = pieces(tokenizers.src), pieces(tokenizers.tgt)
    spec.register_source_vocabulary(source)
    spec.register_target_vocabulary(target)
    spec.config.unk_token, spec.config.eos_token = target[UNK_ID], target[EOS_ID]
    spec.config.bos_token = spec.config.decoder_start_token = target[BOS_ID]


def pieces(tokenizer):
    return [tokenizer.sp.id_to_piece(i) for i in range(tokenizer.vocab_size)]


def array(tensor):
    return tensor.detach().float().cpu().numpy()
